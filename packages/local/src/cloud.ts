/**
 * The local cloud: starts the emulators, creates every resource of the wiring, and runs the event-source
 * runtime (S3 notifications, SNS subscriptions, Kinesis and DynamoDB stream mappings) that invokes the
 * handlers in `functions/` the way AWS does. `pnpm local` is a thin CLI over `startLocalCloud`.
 */
import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { KinesisClient } from "@aws-sdk/client-kinesis";
import { S3Client } from "@aws-sdk/client-s3";
import { SNSClient } from "@aws-sdk/client-sns";
import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { assertDeployable } from "@sluice/infra/validate";
import * as wiring from "@sluice/infra/wiring";
import { deadLetterQueueOf, endpointPhysicalName } from "@sluice/infra/wiring";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { startFauxqs } from "fauxqs";
import { ensureDynamoDbLocal, startDynamoDbLocal } from "./emulators/dynamodb-local.ts";
import { startKinesalite } from "./emulators/kinesalite.ts";
import { freePort } from "./emulators/ports.ts";
import { type ModelContainer, startSageMakerRuntime } from "./emulators/sagemaker-runtime.ts";
import { createFaultInjector, type FaultRules, parseFaultSpec } from "./faults.ts";
import { startIamGateway } from "./iam/gateway.ts";
import { type FunctionIdentity, functionCredentials, functionPrincipal } from "./iam/identities.ts";
import { eventSourcePermissionProblems, localArns, localPolicies } from "./iam/policies.ts";
import { assertEvaluable, type PolicyDocument } from "./iam/policy.ts";
import type { ServiceFamily } from "./iam/requests.ts";
import { ACCOUNT_ID, APP, REGION } from "./names.ts";
import { repoRoot } from "./paths.ts";
import { type Clients, type CreatedResources, createResources, type WiringResources } from "./resources.ts";
import { createAsyncInvoker } from "./runtime/async-invoke.ts";
import { createFunctionHost, type FunctionHost } from "./runtime/function-host.ts";
import type { DeadLetterSink } from "./runtime/types.ts";
import { eventMatches, keyMatches, s3EventRecord } from "./sources/s3-events.ts";
import { startS3Gateway } from "./sources/s3-gateway.ts";
import { startSnsSubscription } from "./sources/sns-subscription.ts";
import { startStreamMapping } from "./sources/stream-mapping.ts";

export { ACCOUNT_ID, APP, REGION, repoRoot };

/** Default ports, one per emulator, from `basePort` up: SNS+SQS, S3, DynamoDB, Kinesis, SageMaker runtime. */
export const DEFAULT_BASE_PORT = 4566;

/**
 * The model containers of a wiring's endpoints (each `model` directory's `server.ts`), served behind the SageMaker
 * runtime under the names `sst deploy` gives the endpoints.
 */
export function wiringModels(spec: WiringResources): ModelContainer[] {
  return Object.entries(spec.endpoints ?? {}).map(([name, endpoint]) => ({
    endpointName: endpointPhysicalName(APP.name, APP.stage, name),
    entry: path.join(repoRoot, endpoint.model, "server.ts"),
  }));
}

export interface LocalCloudOptions {
  /** First of five consecutive ports; `0` picks free ports (tests). Default 4566. */
  basePort?: number;
  /** Where `local.env` and `logs/` go. Default `<repo>/.sluice`. */
  stateDir?: string;
  /** The wiring to run; default `infra/wiring.ts`. Tests pass their own with fixture handlers. */
  wiring?: WiringResources;
  /** Model containers; default: the wiring's endpoints (`wiringModels`). Tests that call no model pass `[]`. */
  models?: readonly ModelContainer[];
  /** Async retry delays (ms) of S3/SNS invocations; AWS waits about 1 and 2 minutes. Default 1 s and 2 s. */
  asyncRetryDelaysMs?: readonly number[];
  /** Called with each function log line (the CLI prints them). */
  onLog?: (functionName: string, line: string) => void;
  /**
   * Authorize every call a function makes against its IAM policy, as AWS does. Default true; `pnpm local --no-iam`
   * turns it off (to tell a missing permission from a bug quickly; never to make a test pass).
   */
  iam?: boolean;
  /**
   * Fault injection into the calls handlers make (see faults.ts): `rules` is a `--faults` spec (`"5%"`) or parsed
   * rules; `seed` replays a run; `slowMs` is how long a `timeout` fault holds the connection.
   */
  faults?: {
    rules: string | FaultRules;
    seed?: number;
    slowMs?: number;
    onFault?: (functionName: string, message: string) => void;
  };
  /** Called with each request IAM denied (`pnpm local` prints them). */
  onIamDenied?: (functionName: string, message: string) => void;
  /** Write `<stateDir>/local.env`. Default true. */
  writeEnvFile?: boolean;
}

export interface LocalCloud {
  endpoints: {
    s3: string;
    sns: string;
    sqs: string;
    dynamodb: string;
    dynamodbStreams: string;
    kinesis: string;
    sagemakerRuntime: string;
  };
  resources: CreatedResources;
  /** The environment a client needs (what `local.env` holds). */
  env: Record<string, string>;
  envFile?: string;
  logDir: string;
  host: FunctionHost;
  /** Each function's IAM policy: what `sst deploy` attaches to its role, with the local cloud's ARNs. */
  policies: Record<string, PolicyDocument>;
  /** The injected faults' seed and rules, when faults are on. */
  faults?: { seed: number; rules: FaultRules };
  /** Resolves when every event produced so far has been delivered and handled (or dead-lettered). */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

/** The policy identities get when IAM is off (`--no-iam`). */
const allowEverything: PolicyDocument = {
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Action: "*", Resource: "*" }],
};

function clientConfig(endpoint: string) {
  return { region: REGION, endpoint, credentials: { accessKeyId: "local", secretAccessKey: "local" } };
}

export async function startLocalCloud(options: LocalCloudOptions = {}): Promise<LocalCloud> {
  const spec: WiringResources = options.wiring ?? wiring;
  // What the handler runs with, and what Lambda itself uses with the same role (stream polling, dead-lettering): the
  // same policy, but faults are injected into the handler's calls only.
  const credentialsOf = (functionName: string) => functionCredentials(APP, functionName);
  const serviceCredentialsOf = (functionName: string) => functionCredentials(APP, `${functionName}#lambda`);
  // The same checks `sst deploy` runs: a wiring AWS would refuse does not start locally either.
  assertDeployable(spec);
  const stateDir = options.stateDir ?? path.join(repoRoot, ".sluice");
  const logDir = path.join(stateDir, "logs");
  mkdirSync(logDir, { recursive: true });
  const base = options.basePort ?? DEFAULT_BASE_PORT;
  const port = (offset: number) => (base === 0 ? freePort() : Promise.resolve(base + offset));
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
  };

  try {
    // The emulators listen on ports of their own; the public ports are the IAM gateways in front of them.
    const [jarDir, fauxqsPort, s3GatewayPort, dynamoPort, kinesisPort, sagemakerPort, ...publicPorts] =
      await Promise.all([
        ensureDynamoDbLocal(),
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
      ]);
    void jarDir;

    let onChange: (change: import("./sources/s3-events.ts").ObjectChange) => void = () => {};
    const [fauxqs, dynamo, kinesis, sagemaker] = await Promise.all([
      startFauxqs({ port: fauxqsPort, logger: false }),
      startDynamoDbLocal({ port: dynamoPort }),
      startKinesalite({ port: kinesisPort }),
      startSageMakerRuntime({
        containers: options.models ?? wiringModels(spec),
        port: sagemakerPort,
        cwd: repoRoot,
        accountId: ACCOUNT_ID,
        region: REGION,
      }),
    ]);
    stops.push(
      () => fauxqs.stop(),
      () => dynamo.stop(),
      () => kinesis.stop(),
      () => sagemaker.stop(),
    );
    const fauxqsEndpoint = `http://127.0.0.1:${fauxqs.port}`;
    const gateway = await startS3Gateway({
      upstream: fauxqsEndpoint,
      port: s3GatewayPort,
      onChange: (c) => onChange(c),
    });
    stops.push(() => gateway.stop());

    // Each function's identity: its credentials and the policy `sst deploy` attaches to its role.
    const names = { app: APP, region: REGION, accountId: ACCOUNT_ID };
    const policies = localPolicies(spec, names);
    const identities = new Map<string, FunctionIdentity>();
    for (const [name, policy] of Object.entries(policies)) {
      assertEvaluable(policy, name);
      const principal = functionPrincipal(APP, ACCOUNT_ID, name);
      const handler = credentialsOf(name);
      const service = serviceCredentialsOf(name);
      identities.set(handler.accessKeyId, {
        functionName: name,
        credentials: handler,
        principal,
        policy,
        faultable: true,
      });
      identities.set(service.accessKeyId, {
        functionName: name,
        credentials: service,
        principal,
        policy,
        faultable: false,
      });
    }
    const faults = options.faults
      ? createFaultInjector(
          typeof options.faults.rules === "string" ? parseFaultSpec(options.faults.rules) : options.faults.rules,
          {
            seed: options.faults.seed,
            slowMs: options.faults.slowMs,
          },
        )
      : undefined;
    const enforce = options.iam ?? true;
    const iamGateway = async (family: ServiceFamily, upstream: string, publicPort: number) => {
      const started = await startIamGateway({
        family,
        upstream,
        port: publicPort,
        region: REGION,
        accountId: ACCOUNT_ID,
        identityOf: (key) => {
          const identity = identities.get(key);
          // Without IAM, identities still matter for faults: an unrestricted policy keeps them apart.
          return identity && !enforce ? { ...identity, policy: allowEverything } : identity;
        },
        onDenied: options.onIamDenied,
        faults,
        onFault: options.faults?.onFault,
      });
      stops.push(() => started.stop());
      return started.endpoint;
    };
    const [s3Endpoint, snsEndpoint, dynamoEndpoint, kinesisEndpoint, sagemakerEndpoint] = await Promise.all([
      iamGateway("s3", gateway.endpoint, publicPorts[1] as number),
      iamGateway("sns-sqs", fauxqsEndpoint, publicPorts[0] as number),
      iamGateway("dynamodb", dynamo.endpoint, publicPorts[2] as number),
      iamGateway("kinesis", kinesis.endpoint, publicPorts[3] as number),
      iamGateway("sagemaker-runtime", sagemaker.endpoint, publicPorts[4] as number),
    ]);

    const endpoints = {
      s3: s3Endpoint,
      sns: snsEndpoint,
      sqs: snsEndpoint,
      dynamodb: dynamoEndpoint,
      dynamodbStreams: dynamoEndpoint,
      kinesis: kinesisEndpoint,
      sagemakerRuntime: sagemakerEndpoint,
    };
    const clients: Clients = {
      s3: new S3Client({ ...clientConfig(endpoints.s3), forcePathStyle: true }),
      sns: new SNSClient(clientConfig(endpoints.sns)),
      sqs: new SQSClient(clientConfig(endpoints.sqs)),
      kinesis: new KinesisClient({ ...clientConfig(endpoints.kinesis), requestHandler: new NodeHttpHandler() }),
      dynamodb: new DynamoDBClient(clientConfig(endpoints.dynamodb)),
    };
    const prefix = `${APP.name}-${APP.stage}-`;
    const resources = await createResources(spec, clients, APP);
    // The policies name resources by the ARNs the local cloud gives them: check the emulators agree.
    const arns = localArns(spec, names);
    for (const [name, arn] of Object.entries(resources.topics)) {
      if (arns.topics[name] !== arn) throw new Error(`topic ${name} is ${arn}, its policies name ${arns.topics[name]}`);
    }

    const env: Record<string, string> = {
      AWS_REGION: REGION,
      AWS_DEFAULT_REGION: REGION,
      AWS_ACCESS_KEY_ID: "local",
      AWS_SECRET_ACCESS_KEY: "local",
      AWS_ENDPOINT_URL_S3: endpoints.s3,
      AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
      AWS_ENDPOINT_URL_DYNAMODB_STREAMS: endpoints.dynamodbStreams,
      AWS_ENDPOINT_URL_KINESIS: endpoints.kinesis,
      AWS_ENDPOINT_URL_SNS: endpoints.sns,
      AWS_ENDPOINT_URL_SQS: endpoints.sqs,
      AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME: endpoints.sagemakerRuntime,
      SST_RESOURCE_App: JSON.stringify(APP),
    };
    for (const [name, value] of Object.entries(resources.links)) env[`SST_RESOURCE_${name}`] = value;

    const host = createFunctionHost({
      repoRoot,
      functions: spec.functions,
      baseEnv: {
        AWS_ENDPOINT_URL_S3: endpoints.s3,
        AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
        AWS_ENDPOINT_URL_DYNAMODB_STREAMS: endpoints.dynamodbStreams,
        AWS_ENDPOINT_URL_KINESIS: endpoints.kinesis,
        AWS_ENDPOINT_URL_SNS: endpoints.sns,
        AWS_ENDPOINT_URL_SQS: endpoints.sqs,
        AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME: endpoints.sagemakerRuntime,
        SST_RESOURCE_App: JSON.stringify(APP),
      },
      resourceLinks: resources.links,
      credentialsOf: (name) => credentialsOf(name),
      logDir,
      region: REGION,
      accountId: ACCOUNT_ID,
      onLog: options.onLog,
    });
    stops.push(() => host.stop());

    // Lambda sends to a function's on-failure destination with the function's role, so with its credentials.
    const deadLetterClients = new Map<string, SQSClient>();
    for (const name of Object.keys(spec.functions)) {
      const client = new SQSClient({ ...clientConfig(endpoints.sqs), credentials: serviceCredentialsOf(name) });
      deadLetterClients.set(deadLetterQueueOf(name), client);
      stops.push(async () => client.destroy());
    }
    const deadLetter: DeadLetterSink = {
      async send(queueName, body) {
        const url = resources.queues[queueName];
        const client = deadLetterClients.get(queueName);
        if (!url || !client) throw new Error(`no dead-letter queue named ${queueName}`);
        await client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: JSON.stringify(body) }));
      },
    };
    // What Lambda checks when a function's destinations and stream mappings are configured.
    if (enforce) {
      for (const problem of eventSourcePermissionProblems(spec, policies, names)) throw new Error(problem);
    }
    const asyncInvoker = createAsyncInvoker({
      invoker: host,
      deadLetter,
      retryDelaysMs: options.asyncRetryDelaysMs,
    });
    stops.push(async () => asyncInvoker.stop());

    const idlers: Array<() => Promise<void>> = [() => gateway.idle(), () => asyncInvoker.idle()];
    const s3Notifications: Array<{
      bucket: string;
      functionName: string;
      events: readonly wiring.S3EventName[];
      filterPrefix?: string;
      filterSuffix?: string;
      configurationId: string;
    }> = [];

    for (const [functionName, fn] of Object.entries(spec.functions)) {
      const asyncConfig = {
        maximumRetryAttempts: fn.async?.maximumRetryAttempts ?? 2,
        maximumEventAgeInSeconds: fn.async?.maximumEventAgeInSeconds ?? 21600,
        onFailure: deadLetterQueueOf(functionName),
      } as const;
      for (const trigger of fn.triggers) {
        switch (trigger.kind) {
          case "s3": {
            const bucket = resources.buckets[trigger.bucket];
            if (!bucket) throw new Error(`${functionName}: unknown bucket ${trigger.bucket}`);
            s3Notifications.push({
              bucket,
              functionName,
              events: trigger.events,
              filterPrefix: trigger.filterPrefix,
              filterSuffix: trigger.filterSuffix,
              configurationId: `${functionName}-${trigger.bucket}`,
            });
            break;
          }
          case "sns": {
            const topicArn = resources.topics[trigger.topic];
            if (!topicArn) throw new Error(`${functionName}: unknown topic ${trigger.topic}`);
            const subscription = await startSnsSubscription({
              sns: clients.sns,
              sqs: clients.sqs,
              topicArn,
              functionName,
              filterPolicy: trigger.filterPolicy,
              filterPolicyScope: trigger.filterPolicyScope,
              asyncInvoker,
              asyncConfig,
              queuePrefix: `${prefix}sns-`,
            });
            stops.push(() => subscription.stop());
            idlers.push(() => subscription.idle());
            break;
          }
          case "kinesis":
          case "dynamodb": {
            const source =
              trigger.kind === "kinesis" ? resources.streams[trigger.stream] : resources.tables[trigger.table];
            if (!source) throw new Error(`${functionName}: unknown ${trigger.kind} source`);
            const mapping = await startStreamMapping({
              kind: trigger.kind,
              source,
              functionName,
              batch: trigger.batch,
              invoker: host,
              deadLetter,
              dlqName: deadLetterQueueOf(functionName),
              kinesisEndpoint: endpoints.kinesis,
              dynamodbEndpoint: endpoints.dynamodb,
              // Lambda polls a stream with the function's role.
              pollCredentials: serviceCredentialsOf(functionName),
              region: REGION,
              accountId: ACCOUNT_ID,
            });
            stops.push(() => mapping.stop());
            idlers.push(() => mapping.idle());
            break;
          }
        }
      }
    }

    onChange = (change) => {
      for (const n of s3Notifications) {
        if (n.bucket !== change.bucket) continue;
        if (!eventMatches(n.events, change.eventName) || !keyMatches(change.key, n.filterPrefix, n.filterSuffix))
          continue;
        const record = s3EventRecord(change, { region: REGION, configurationId: n.configurationId });
        asyncInvoker.invokeAsync(
          n.functionName,
          { Records: [record] },
          {
            maximumRetryAttempts: spec.functions[n.functionName]?.async?.maximumRetryAttempts ?? 2,
            maximumEventAgeInSeconds: spec.functions[n.functionName]?.async?.maximumEventAgeInSeconds ?? 21600,
            onFailure: deadLetterQueueOf(n.functionName),
          },
        );
      }
    };

    let envFile: string | undefined;
    if (options.writeEnvFile ?? true) {
      envFile = path.join(stateDir, "local.env");
      writeEnvFile(envFile, env);
      const written = envFile;
      stops.unshift(async () => rmSync(written, { force: true }));
    }

    return {
      endpoints,
      resources,
      env,
      envFile,
      logDir,
      host,
      policies,
      ...(faults ? { faults: { seed: faults.seed, rules: faults.rules } } : {}),
      async idle() {
        // Two rounds: an invocation can produce events for another source (e.g. a handler publishing to SNS).
        for (let round = 0; round < 2; round++) {
          for (const idle of idlers) await idle();
        }
      },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** Shell-quotes a value for a `KEY='value'` line. */
function quote(value: string): string {
  return `'${value.replaceAll("'", `'"'"'`)}'`;
}

/** Writes the env file atomically (written last: its presence means the local cloud is ready). */
export function writeEnvFile(file: string, env: Record<string, string>): void {
  const lines = [
    "# Sluice local cloud: `set -a; source .sluice/local.env; set +a` (or `source` it: every line is exported).",
    ...Object.entries(env).map(([key, value]) => `export ${key}=${quote(value)}`),
  ];
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${lines.join("\n")}\n`);
  renameSync(tmp, file);
}
