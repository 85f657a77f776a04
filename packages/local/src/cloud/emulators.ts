/**
 * Step of `startLocalCloud`: the emulators, each on a port of its own, and in front of each the IAM gateway clients
 * and handlers call (the public ports), which authorizes every call a function makes and injects faults. Behind the
 * S3 IAM gateway sits the S3 gateway, which observes object changes for bucket notifications.
 */
import type { AddressInfo } from "node:net";
import { buildApp } from "fauxqs";
import type { LocalCloudOptions } from "../cloud.ts";
import { ensureDynamoDbLocal, startDynamoDbLocal } from "../emulators/dynamodb-local.ts";
import { type GlueCatalogEmulator, startGlueCatalog } from "../emulators/glue.ts";
import { startKinesalite } from "../emulators/kinesalite.ts";
import { freePort } from "../emulators/ports.ts";
import { type ModelContainer, startSageMakerRuntime } from "../emulators/sagemaker-runtime.ts";
import { createFaultInjector, type FaultInjector, parseFaultSpec } from "../faults.ts";
import { startIamGateway } from "../iam/gateway.ts";
import type { FunctionIdentity } from "../iam/identities.ts";
import type { PolicyDocument } from "../iam/policy.ts";
import type { ServiceFamily } from "../iam/requests.ts";
import { ACCOUNT_ID, REGION } from "../names.ts";
import { repoRoot } from "../paths.ts";
import type { ObjectChange } from "../sources/s3-events.ts";
import { type S3Gateway, startS3Gateway } from "../sources/s3-gateway.ts";

/** The endpoints clients and handlers call: the IAM gateways. */
export interface CloudEndpoints {
  s3: string;
  sns: string;
  sqs: string;
  dynamodb: string;
  dynamodbStreams: string;
  kinesis: string;
  sagemakerRuntime: string;
  glue: string;
}

export interface EmulatorOptions extends Pick<LocalCloudOptions, "faults" | "onIamDenied"> {
  /** First of six consecutive public ports; `0` picks free ports. */
  basePort: number;
  models: readonly ModelContainer[];
  identities: ReadonlyMap<string, FunctionIdentity>;
  /** The KMS key of each encrypted topic, by topic ARN (publishers need grants on it). */
  topicKeys: ReadonlyMap<string, string>;
  /** Whether IAM policies are enforced (`--no-iam` turns it off). */
  enforce: boolean;
  /** Called with each object change the S3 gateway observes. */
  onObjectChange: (change: ObjectChange) => void;
}

export interface StartedEmulators {
  endpoints: CloudEndpoints;
  /** The S3 gateway: its `idle()` waits for the changes observed so far to be reported. */
  s3Gateway: S3Gateway;
  /** The Glue Data Catalog: provisioning creates the wiring's databases in it. */
  glue: GlueCatalogEmulator;
  faults?: FaultInjector;
}

/** The policy identities get when IAM is off (`--no-iam`). */
const allowEverything: PolicyDocument = {
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Action: "*", Resource: "*" }],
};

/**
 * Starts the emulators and their gateways. Each started piece's stop is pushed onto `stops` as soon as it runs, so
 * that the caller stops them all when a later piece fails to start.
 */
export async function startEmulators(
  options: EmulatorOptions,
  stops: Array<() => Promise<void>>,
): Promise<StartedEmulators> {
  const base = options.basePort;
  const port = (offset: number) => (base === 0 ? freePort() : Promise.resolve(base + offset));
  // The emulators listen on ports of their own; the public ports are the IAM gateways in front of them. All are
  // picked together, before anything listens, so that no two free ports picked with `0` are the same.
  const [jarDir, fauxqsPort, s3GatewayPort, dynamoPort, kinesisPort, sagemakerPort, gluePort, ...publicPorts] =
    await Promise.all([
      ensureDynamoDbLocal(),
      freePort(),
      freePort(),
      freePort(),
      freePort(),
      freePort(),
      freePort(),
      port(0),
      port(1),
      port(2),
      port(3),
      port(4),
      port(5),
    ]);
  void jarDir;
  const upstreams = await startUpstreams(
    options,
    { fauxqsPort, s3GatewayPort, dynamoPort, kinesisPort, sagemakerPort, gluePort },
    stops,
  );
  const faults = options.faults
    ? createFaultInjector(
        typeof options.faults.rules === "string" ? parseFaultSpec(options.faults.rules) : options.faults.rules,
        {
          seed: options.faults.seed,
          slowMs: options.faults.slowMs,
        },
      )
    : undefined;
  const endpoints = await startIamGateways(options, upstreams, publicPorts as number[], faults, stops);
  return { endpoints, s3Gateway: upstreams.s3Gateway, glue: upstreams.glue, ...(faults ? { faults } : {}) };
}

/**
 * Waits for pieces started together, each of which pushes its stop onto the caller's `stops` once it runs. Unlike
 * `Promise.all`, it rejects (with the first failure) only once every piece has settled: a piece still starting (Java,
 * a model container) when another fails would otherwise start after the caller stopped everything, and be left running.
 */
async function allStarted<T extends readonly unknown[] | []>(
  starts: T,
): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const settled = await Promise.allSettled(starts);
  for (const result of settled) if (result.status === "rejected") throw result.reason;
  return Promise.all(starts);
}

/** An IAM gateway in front of each upstream, on the public ports (SNS+SQS, S3, DynamoDB, Kinesis, SageMaker, Glue). */
async function startIamGateways(
  options: EmulatorOptions,
  upstreams: Upstreams,
  publicPorts: readonly number[],
  faults: FaultInjector | undefined,
  stops: Array<() => Promise<void>>,
): Promise<CloudEndpoints> {
  const iamGateway = async (family: ServiceFamily, upstream: string, publicPort: number) => {
    const started = await startIamGateway({
      family,
      upstream,
      port: publicPort,
      region: REGION,
      accountId: ACCOUNT_ID,
      identityOf: (key) => {
        const identity = options.identities.get(key);
        // Without IAM, identities still matter for faults: an unrestricted policy keeps them apart.
        return identity && !options.enforce ? { ...identity, policy: allowEverything } : identity;
      },
      topicKeyOf: (topic) => options.topicKeys.get(topic),
      onDenied: options.onIamDenied,
      faults,
      onFault: options.faults?.onFault,
    });
    stops.push(() => started.stop());
    return started.endpoint;
  };
  const [s3Endpoint, snsEndpoint, dynamoEndpoint, kinesisEndpoint, sagemakerEndpoint, glueEndpoint] = await allStarted([
    iamGateway("s3", upstreams.s3Gateway.endpoint, publicPorts[1] as number),
    iamGateway("sns-sqs", upstreams.fauxqs, publicPorts[0] as number),
    iamGateway("dynamodb", upstreams.dynamodb, publicPorts[2] as number),
    iamGateway("kinesis", upstreams.kinesis, publicPorts[3] as number),
    iamGateway("sagemaker-runtime", upstreams.sagemakerRuntime, publicPorts[4] as number),
    iamGateway("glue", upstreams.glue.endpoint, publicPorts[5] as number),
  ]);

  return {
    s3: s3Endpoint,
    sns: snsEndpoint,
    sqs: snsEndpoint,
    dynamodb: dynamoEndpoint,
    dynamodbStreams: dynamoEndpoint,
    kinesis: kinesisEndpoint,
    sagemakerRuntime: sagemakerEndpoint,
    glue: glueEndpoint,
  };
}

/** Where the IAM gateways forward to. */
interface Upstreams {
  fauxqs: string;
  s3Gateway: S3Gateway;
  dynamodb: string;
  kinesis: string;
  sagemakerRuntime: string;
  glue: GlueCatalogEmulator;
}

/**
 * fauxqs on 127.0.0.1. Its `startFauxqs` listens on 0.0.0.0 whatever it is given (its `host` option is the host its
 * queue URLs name, not an address to bind), so the local cloud builds fauxqs's app, which holds the whole emulator,
 * and listens itself.
 */
async function startFauxqsOnLoopback(port: number): Promise<{ port: number; stop(): Promise<void> }> {
  const app = buildApp({ logger: false });
  await app.listen({ port, host: "127.0.0.1" });
  return {
    port: (app.server.address() as AddressInfo).port,
    stop: async () => {
      await app.close();
    },
  };
}

/** The emulators, and the S3 gateway in front of fauxqs's S3: what the IAM gateways forward to. */
async function startUpstreams(
  options: EmulatorOptions,
  ports: {
    fauxqsPort: number;
    s3GatewayPort: number;
    dynamoPort: number;
    kinesisPort: number;
    sagemakerPort: number;
    gluePort: number;
  },
  stops: Array<() => Promise<void>>,
): Promise<Upstreams> {
  const { fauxqsPort, s3GatewayPort, dynamoPort, kinesisPort, sagemakerPort, gluePort } = ports;

  const track = <T extends { stop(): Promise<void> }>(started: T): T => {
    stops.push(() => started.stop());
    return started;
  };
  const [fauxqs, dynamo, kinesis, sagemaker, glue] = await allStarted([
    startFauxqsOnLoopback(fauxqsPort).then(track),
    startDynamoDbLocal({ port: dynamoPort }).then(track),
    startKinesalite({ port: kinesisPort }).then(track),
    startSageMakerRuntime({
      containers: options.models,
      port: sagemakerPort,
      cwd: repoRoot,
      accountId: ACCOUNT_ID,
      region: REGION,
    }).then(track),
    startGlueCatalog({ port: gluePort, accountId: ACCOUNT_ID }).then(track),
  ]);
  const fauxqsEndpoint = `http://127.0.0.1:${fauxqs.port}`;
  const s3Gateway = await startS3Gateway({
    upstream: fauxqsEndpoint,
    port: s3GatewayPort,
    onChange: (c) => options.onObjectChange(c),
  });
  stops.push(() => s3Gateway.stop());
  return {
    fauxqs: fauxqsEndpoint,
    s3Gateway,
    dynamodb: dynamo.endpoint,
    kinesis: kinesis.endpoint,
    sagemakerRuntime: sagemaker.endpoint,
    glue,
  };
}
