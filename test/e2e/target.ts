/**
 * Where the end-to-end flows run, behind one small interface: the local cloud (the default, `pnpm test`) or a deployed
 * stage (`pnpm test:stage --stage <name>` sets `SLUICE_E2E_TARGET=stage` and runs the same files under `sst shell`).
 * Locally the files of a run share one local cloud (test/e2e/shared-cloud.ts), as the files of a stage run share the
 * stage; a file that asks for a cloud of its own (other options) gets one.
 *
 * A test writes through `clients` to the components named in `resources`, and observes outcomes only through
 * `eventually`, `settle`, `logRecords`, `deadLetters`, `tap` and `invoke`. Locally these are exact and fast (the local
 * cloud knows when every event has been handled); on a stage they poll with deadlines sized for AWS (test/e2e/stage.ts).
 */
import { appendFileSync, existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { GlueClient } from "@aws-sdk/client-glue";
import type { KinesisClient } from "@aws-sdk/client-kinesis";
import { S3Client } from "@aws-sdk/client-s3";
import { SNSClient } from "@aws-sdk/client-sns";
import { SQSClient } from "@aws-sdk/client-sqs";
import { describe, inject, it, type TestFunction } from "vitest";
import * as wiring from "../../infra/wiring.ts";
import { deadLetterQueueOf } from "../../infra/wiring.ts";
import { type LocalCloudOptions, REGION, startLocalCloud } from "../../packages/local/src/cloud.ts";
import { createKinesisClient } from "../../packages/local/src/emulators/kinesalite.ts";
import {
  callSharedCloud,
  faultsOf,
  type SharedCloudDescription,
  type SharedInvokeOutcome,
  TARGET_ENV,
} from "./shared-cloud.ts";
import { startStageTarget } from "./stage.ts";
import { receiveAll, type TopicTap, tapTopic } from "./topic-tap.ts";

export { faultsOf, TARGET_ENV };

export type TargetKind = "local" | "stage";

/** The target this run is for: `local` unless {@link TARGET_ENV} says `stage`. */
export function targetKind(env: Readonly<Record<string, string | undefined>> = process.env): TargetKind {
  const value = env[TARGET_ENV] || "local";
  if (value !== "local" && value !== "stage") throw new Error(`${TARGET_ENV}=${value}: expected "local" or "stage"`);
  return value;
}

/** Physical names by component (wiring) name. */
export interface TargetResources {
  buckets: Record<string, string>;
  /** Topic ARNs. */
  topics: Record<string, string>;
  streams: Record<string, string>;
  tables: Record<string, string>;
  endpoints: Record<string, string>;
  /** Glue catalogs: their databases' name prefix (a database is `<prefix>_<schema>`, `catalogDatabaseName`). */
  catalogs: Record<string, string>;
  /** Dead-letter queue URLs by queue name (`<Function>Dlq`). */
  queues: Record<string, string>;
  /** Lambda function names by wiring function name. */
  functions: Record<string, string>;
}

/** AWS SDK clients configured for the target (emulator endpoints, or AWS with the default credential chain). */
export interface TargetClients {
  s3: S3Client;
  dynamodb: DynamoDBClient;
  sqs: SQSClient;
  sns: SNSClient;
  kinesis: KinesisClient;
  glue: GlueClient;
}

/** One structured record a function logged (a Powertools log line: `level`, `message`, `timestamp`, ...). */
export type LogRecord = Record<string, unknown>;

/** How a direct (synchronous) invocation ended, as `aws lambda invoke` reports it. */
export interface InvokeOutcome {
  status: "ok" | "error" | "timeout";
  /** The handler's return value when `ok`. */
  payload?: unknown;
  /** The error payload (`errorType`, `errorMessage`) otherwise. */
  error?: unknown;
}

export interface EventuallyOptions {
  /** Deadline on a stage (default: test/e2e/stage.ts `stageWaits.eventuallyMs`); the local cloud needs none. */
  timeoutMs?: number;
}

export interface Target {
  kind: TargetKind;
  resources: TargetResources;
  clients: TargetClients;
  /** What `pnpm push` reads (`runPush`'s `io.env`): the local cloud's env file values, or `sst shell`'s environment. */
  env: Record<string, string>;
  /** A scratch directory of this test file. */
  dir: string;
  /**
   * Runs `probe` (which asserts) once everything sent so far has been handled, and returns what it returns. Locally
   * that is once, after the local cloud is idle; on a stage, again and again until it passes or the deadline passes
   * (then its last error is thrown).
   */
  eventually<T>(what: string, probe: () => Promise<T> | T, options?: EventuallyOptions): Promise<T>;
  /**
   * Waits before a negative assertion ("nothing was written"): locally until the local cloud is idle (exact); on a
   * stage for a bounded quiet period, as long as AWS takes to deliver an event (it cannot prove that nothing will come).
   */
  settle(): Promise<void>;
  /** What `functionName` logged from `since` on: `.sluice/logs/<Function>.log` locally, its CloudWatch log group on AWS. */
  logRecords(functionName: string, since: Date): Promise<LogRecord[]>;
  /** The messages in `<functionName>Dlq`, parsed, left in the queue. */
  deadLetters(functionName: string): Promise<Array<Record<string, unknown>>>;
  /** A queue of this test subscribed to `topic` (removed by {@link Target.stop}). */
  tap(topic: string): Promise<TopicTap>;
  /** Invokes a function directly with `payload` (request-response), as `aws lambda invoke` does. */
  invoke(functionName: string, payload: unknown): Promise<InvokeOutcome>;
  /** Removes what the test created outside the stack (taps), closes clients, stops a local cloud of the file's own. */
  stop(): Promise<void>;
}

export interface TargetOptions {
  /** Names the scratch directory and the tap queues (`sluice-e2e-<name>-...`). */
  name: string;
  /**
   * A local cloud of the file's own, with these options (a fixture wiring or a subset of functions, model containers,
   * async retry delays), instead of the run's shared one. A stage runs what was deployed, so these do not apply there.
   */
  local?: Pick<LocalCloudOptions, "wiring" | "models" | "asyncRetryDelaysMs">;
}

/**
 * Starts the target this run is for ({@link targetKind}): a stage, the run's shared local cloud (when the vitest project
 * provides one and the file asks for no options of its own), or a local cloud of the file's own.
 */
export async function startTarget(options: TargetOptions): Promise<Target> {
  if (targetKind() === "stage") return startStageTarget(options.name);
  const shared = options.local ? undefined : inject("sharedLocalCloud");
  return shared ? connectSharedTarget(options, shared.url) : startLocalTarget(options);
}

const localCredentials = { accessKeyId: "local", secretAccessKey: "local" };

/** Parses the JSON lines of a log; other lines (a stack trace, a plain `console.log`) are not records. */
export function parseLogLines(text: string): LogRecord[] {
  const records: LogRecord[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      const value: unknown = JSON.parse(line);
      if (value && typeof value === "object" && !Array.isArray(value)) records.push(value as LogRecord);
    } catch {
      // A line cut by a crash: not a record.
    }
  }
  return records;
}

/**
 * The application records among a function's log records, logged at or after `since`: Powertools records have a
 * `level` and a `timestamp`; platform records (`platform.start`) and metrics (EMF) are not what a function "logged".
 */
export function loggedSince(records: readonly LogRecord[], since: Date): LogRecord[] {
  return records.filter(
    (r) =>
      typeof r.level === "string" && (typeof r.timestamp !== "string" || Date.parse(r.timestamp) >= since.getTime()),
  );
}

/** What a local target needs of a local cloud, its own or the run's shared one. */
interface LocalCloudConnection {
  endpoints: SharedCloudDescription["endpoints"];
  resources: SharedCloudDescription["resources"];
  env: Record<string, string>;
  logDir: string;
  functions: string[];
  idle(): Promise<void>;
  invoke(functionName: string, payload: unknown): Promise<SharedInvokeOutcome>;
  /** Stops a cloud of the file's own; leaves the shared one running. */
  release(): Promise<void>;
}

async function startLocalTarget(options: TargetOptions): Promise<Target> {
  const dir = mkdtempSync(path.join(tmpdir(), `sluice-${options.name}-`));
  const faults = faultsOf(process.env);
  if (faults) {
    console.log(
      `[e2e ${options.name}] faults: ${faults.rules}, seed ${faults.seed} (SLUICE_E2E_FAULTS_SEED replays it)`,
    );
  }
  const faultLog = path.join(dir, "faults.log");
  const cloud = await startLocalCloud({
    basePort: 0,
    stateDir: dir,
    writeEnvFile: false,
    ...options.local,
    ...(faults
      ? {
          faults: {
            ...faults,
            onFault: (fn: string, message: string) => appendFileSync(faultLog, `${fn} ${message}\n`),
          },
        }
      : {}),
  });
  return localTarget(options.name, dir, {
    endpoints: cloud.endpoints,
    resources: cloud.resources,
    env: cloud.env,
    logDir: cloud.logDir,
    functions: Object.keys((options.local?.wiring ?? wiring).functions),
    idle: () => cloud.idle(),
    async invoke(functionName, payload) {
      const { status, payload: returned, error } = await cloud.host.invoke(functionName, payload);
      return { status, payload: returned, error };
    },
    release: () => cloud.stop(),
  });
}

/** Connects to the run's shared local cloud through its control server (test/e2e/shared-cloud.ts). */
async function connectSharedTarget(options: TargetOptions, url: string): Promise<Target> {
  const dir = mkdtempSync(path.join(tmpdir(), `sluice-${options.name}-`));
  const cloud = await callSharedCloud<SharedCloudDescription>(url, "/cloud");
  return localTarget(options.name, dir, {
    ...cloud,
    idle: () => callSharedCloud(url, "/idle"),
    invoke: (functionName, payload) => callSharedCloud(url, "/invoke", { functionName, payload }),
    release: async () => {},
  });
}

function localTarget(name: string, dir: string, cloud: LocalCloudConnection): Target {
  const config = (endpoint: string) => ({ region: REGION, endpoint, credentials: localCredentials });
  const clients: TargetClients = {
    s3: new S3Client({ ...config(cloud.endpoints.s3), forcePathStyle: true }),
    dynamodb: new DynamoDBClient(config(cloud.endpoints.dynamodb)),
    sqs: new SQSClient(config(cloud.endpoints.sqs)),
    sns: new SNSClient(config(cloud.endpoints.sns)),
    kinesis: createKinesisClient(cloud.endpoints.kinesis),
    glue: new GlueClient(config(cloud.endpoints.glue)),
  };
  const { buckets, topics, streams, tables, endpoints, queues, links } = cloud.resources;
  const resources: TargetResources = {
    buckets,
    topics,
    streams,
    tables,
    endpoints,
    catalogs: Object.fromEntries(
      Object.keys(cloud.resources.catalogs).map((name) => [name, JSON.parse(links[name] ?? "{}").name as string]),
    ),
    queues,
    // Locally a function is addressed by its wiring name.
    functions: Object.fromEntries(cloud.functions.map((fn) => [fn, fn])),
  };
  const taps: TopicTap[] = [];

  return {
    kind: "local",
    resources,
    clients,
    env: cloud.env,
    dir,
    async eventually(_what, probe) {
      await cloud.idle();
      return probe();
    },
    settle: () => cloud.idle(),
    async logRecords(functionName, since) {
      const file = path.join(cloud.logDir, `${functionName}.log`);
      return existsSync(file) ? loggedSince(parseLogLines(readFileSync(file, "utf8")), since) : [];
    },
    async deadLetters(functionName) {
      const url = queues[deadLetterQueueOf(functionName)];
      if (!url) throw new Error(`no dead-letter queue for ${functionName}`);
      return (await receiveAll(clients.sqs, url, { waitSeconds: 1 })).map((m) => JSON.parse(m.Body ?? "{}"));
    },
    async tap(topic) {
      const arn = topics[topic];
      if (!arn) throw new Error(`no topic ${topic} in the local cloud`);
      const tap = await tapTopic(clients, arn, `sluice-e2e-${name}-${topic}`);
      taps.push(tap);
      return tap;
    },
    invoke: (functionName, payload) => cloud.invoke(functionName, payload),
    async stop() {
      for (const tap of taps) await tap.remove().catch((err) => console.warn(`could not remove a topic tap: ${err}`));
      for (const client of Object.values(clients)) client.destroy();
      await cloud.release();
    },
  };
}

/** A test (`it`) that runs only on the local cloud; `.describe` for a whole suite. */
export interface LocalOnlyTest {
  (name: string, fn: TestFunction, timeout?: number): void;
  describe(name: string, fn: () => void): void;
}

/**
 * `it` (or `.describe`) for what only makes sense on the local cloud: emulator internals, fault injection, the local
 * CLI. On a stage the test is skipped by name, with `reason` in its name and printed when the file is collected, so
 * that the run's output says what was not run there and why.
 */
export function localOnly(reason: string): LocalOnlyTest {
  const skip = targetKind() === "stage";
  const label = (name: string) => {
    if (!skip) return name;
    console.log(`[test:stage] skipped, local only: "${name}": ${reason}`);
    return `${name} [local only: ${reason}]`;
  };
  const test = (name: string, fn: TestFunction, timeout?: number) => it.skipIf(skip)(label(name), fn, timeout);
  test.describe = (name: string, fn: () => void) => describe.skipIf(skip)(label(name), fn);
  return test;
}
