/**
 * The stage side of test/e2e/target.ts: the same observations made against a deployed stage, under `sst shell`.
 *
 * - Resource names come from the `SST_RESOURCE_<Name>` variables `sst shell` sets for every linkable component of the
 *   app: buckets, streams, tables, functions and the `PricingModel` endpoint `{name}`, topics `{arn}`, queues `{url}`.
 * - Credentials and region are the AWS SDK's defaults (`sst shell` passes the stage's on).
 * - Log records are read from CloudWatch Logs. SST creates each function's log group apart from the function (its
 *   own generated name, not `/aws/lambda/<function name>`), so the group is asked of Lambda:
 *   `GetFunctionConfiguration`'s `LoggingConfig.LogGroup`, where Lambda itself writes.
 * - Every wait polls with a deadline from {@link stageWaits}.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { CloudWatchLogsClient, FilterLogEventsCommand } from "@aws-sdk/client-cloudwatch-logs";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { GlueClient } from "@aws-sdk/client-glue";
import { KinesisClient } from "@aws-sdk/client-kinesis";
import { GetFunctionConfigurationCommand, InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import { S3Client } from "@aws-sdk/client-s3";
import { SNSClient } from "@aws-sdk/client-sns";
import { SQSClient } from "@aws-sdk/client-sqs";
import * as wiring from "../../infra/wiring.ts";
import { deadLetterQueueOf, type Wiring } from "../../infra/wiring.ts";
import {
  type InvokeOutcome,
  type LogRecord,
  loggedSince,
  parseLogLines,
  type Target,
  type TargetClients,
  type TargetResources,
} from "./target.ts";
import { receiveAll, type TopicTap, tapTopic } from "./topic-tap.ts";

type Env = Readonly<Record<string, string | undefined>>;

/**
 * How long a stage run waits, from AWS's documented behaviour:
 * - S3 event notifications "typically" arrive in seconds, "sometimes a minute or longer"; SNS to Lambda in seconds;
 *   stream mappings poll every second, plus their batching window (up to 5 s here) and retries of a failing batch.
 * - A failed asynchronous invocation (S3, SNS triggers) is retried about 1 minute, then about 2 minutes later.
 * - CloudWatch Logs shows a record a few seconds after it is written.
 * So a positive outcome gets 5 minutes (a full round of async retries and then some), and a negative one ("nothing
 * was written") a minute of quiet: enough for a late S3 notification, though no wait can prove nothing will come.
 */
export const stageWaits = {
  eventuallyMs: 5 * 60_000,
  /** Between two probes: a few seconds, so that a run does not spend its API quotas on polling. */
  pollMs: 5_000,
  quietMs: 60_000,
  subscriptionMs: 10_000,
} as const;

/** Injectable clock for {@link pollUntil} (tests). */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/**
 * Runs `probe` until it returns without throwing, every `intervalMs`, until `timeoutMs` have passed; then throws the
 * probe's last error, its message prefixed with what was waited for and for how long.
 */
export async function pollUntil<T>(
  what: string,
  probe: () => Promise<T> | T,
  options: { timeoutMs: number; intervalMs: number; clock?: Clock },
): Promise<T> {
  const clock = options.clock ?? realClock;
  const deadline = clock.now() + options.timeoutMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await probe();
    } catch (err) {
      if (clock.now() + options.intervalMs > deadline) {
        const prefix = `${what}: still not so after ${Math.round(options.timeoutMs / 1000)} s (${attempt} tries)`;
        if (err instanceof Error) {
          err.message = `${prefix}: ${err.message}`;
          throw err;
        }
        throw new Error(`${prefix}: ${String(err)}`);
      }
      await clock.sleep(options.intervalMs);
    }
  }
}

/** The property of each kind of link that addresses the resource. */
function linkProperty(env: Env, component: string, property: string, missing: string[]): string {
  const raw = env[`SST_RESOURCE_${component}`];
  try {
    const value = raw === undefined ? undefined : (JSON.parse(raw) as Record<string, unknown>)[property];
    if (typeof value === "string" && value) return value;
  } catch {
    // Reported with the missing ones.
  }
  missing.push(`SST_RESOURCE_${component}.${property}`);
  return "";
}

/**
 * The stage's resources by component name, from `sst shell`'s `SST_RESOURCE_<Name>` variables for every component of
 * the wiring (and each function's `<Function>Dlq` queue). Fails naming every missing link.
 */
export function stageResources(env: Env, spec: Wiring = wiring): TargetResources {
  const missing: string[] = [];
  const each = (names: Iterable<string>, property: string, component = (n: string) => n) =>
    Object.fromEntries([...names].map((n) => [n, linkProperty(env, component(n), property, missing)]));
  const functionNames = Object.keys(spec.functions);
  const resources: TargetResources = {
    buckets: each(Object.keys(spec.buckets), "name"),
    topics: each(Object.keys(spec.topics), "arn"),
    streams: each(Object.keys(spec.streams), "name"),
    tables: each(Object.keys(spec.tables), "name"),
    endpoints: each(Object.keys(spec.endpoints ?? {}), "name"),
    catalogs: each(Object.keys(spec.catalogs ?? {}), "name"),
    functions: each(functionNames, "name"),
    queues: each(functionNames.map(deadLetterQueueOf), "url"),
  };
  if (missing.length > 0) {
    throw new Error(
      `the stage's links are missing from the environment (${missing.join(", ")}): run the stage tests with ` +
        "`pnpm test:stage --stage <name>`, which runs them under `npx sst shell --stage <name>`",
    );
  }
  return resources;
}

/**
 * The record in one CloudWatch Logs event. A Powertools record is the whole message (it writes JSON lines itself);
 * a plain `console.log` in Lambda's text format carries a `<time>\t<request id>\t<LEVEL>\t` prefix before the JSON.
 * Platform lines (`START RequestId: ...`, `REPORT ...`) are not records.
 */
export function logEventRecord(message: string | undefined): LogRecord | undefined {
  const start = message?.indexOf("{") ?? -1;
  if (message === undefined || start < 0) return undefined;
  return parseLogLines(message.slice(start).trim())[0];
}

/** A `lambda.Invoke` answer as an {@link InvokeOutcome}: a `FunctionError` is an error, or a timeout if it says so. */
export function invokeOutcome(functionError: string | undefined, payload: Uint8Array | undefined): InvokeOutcome {
  const text = payload ? Buffer.from(payload).toString("utf8") : "";
  const value: unknown = text ? JSON.parse(text) : undefined;
  if (!functionError) return { status: "ok", payload: value };
  const message = (value as { errorMessage?: unknown } | undefined)?.errorMessage;
  return { status: typeof message === "string" && /Task timed out/.test(message) ? "timeout" : "error", error: value };
}

/** A queue name of at most 80 letters, digits, `-` and `_`. */
function queueName(...parts: string[]): string {
  return parts
    .join("-")
    .replace(/[^A-Za-z0-9_-]/g, "-")
    .slice(0, 80);
}

/**
 * The target of a deployed stage, inside `sst shell`. Refuses to start where `AWS_ENDPOINT_URL_*` would send the
 * SDK's calls to the local emulators (a sourced `.sluice/local.env`).
 */
export async function startStageTarget(name: string, env: Env = process.env): Promise<Target> {
  const local = Object.keys(env).filter((key) => key.startsWith("AWS_ENDPOINT_URL") && env[key]);
  if (local.length > 0)
    throw new Error(`${local.join(", ")} set: a stage run must reach AWS (is .sluice/local.env sourced?)`);
  const resources = stageResources(env);
  const stage = JSON.parse(env.SST_RESOURCE_App ?? "{}").stage ?? "stage";
  // A run id keeps the names of what the run creates (tap queues) apart from an earlier run's: SQS refuses a queue
  // name for 60 s after its deletion.
  const run = Date.now().toString(36);
  const clients: TargetClients = {
    s3: new S3Client({}),
    dynamodb: new DynamoDBClient({}),
    sqs: new SQSClient({}),
    sns: new SNSClient({}),
    kinesis: new KinesisClient({}),
    glue: new GlueClient({}),
  };
  const lambda = new LambdaClient({});
  const logs = new CloudWatchLogsClient({});
  const logGroups = new Map<string, Promise<string>>();
  const taps: TopicTap[] = [];

  const functionName = (fn: string) => {
    const physical = resources.functions[fn];
    if (!physical) throw new Error(`no function ${fn} in the stage`);
    return physical;
  };
  const logGroupOf = (fn: string): Promise<string> => {
    let group = logGroups.get(fn);
    if (!group) {
      group = lambda
        .send(new GetFunctionConfigurationCommand({ FunctionName: functionName(fn) }))
        .then((config) => config.LoggingConfig?.LogGroup ?? `/aws/lambda/${functionName(fn)}`);
      // A failed lookup (throttled, say) is asked again by the next probe, not remembered.
      group.catch(() => logGroups.delete(fn));
      logGroups.set(fn, group);
    }
    return group;
  };

  return {
    kind: "stage",
    resources,
    clients,
    env: Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined)),
    dir: mkdtempSync(path.join(tmpdir(), `sluice-${name}-`)),
    eventually: (what, probe, options) =>
      pollUntil(what, probe, {
        timeoutMs: options?.timeoutMs ?? stageWaits.eventuallyMs,
        intervalMs: stageWaits.pollMs,
      }),
    settle: () => realClock.sleep(stageWaits.quietMs),
    async logRecords(fn, since) {
      const logGroupName = await logGroupOf(fn);
      const records: LogRecord[] = [];
      let nextToken: string | undefined;
      do {
        const page = await logs
          .send(new FilterLogEventsCommand({ logGroupName, startTime: since.getTime(), nextToken }))
          .catch((err: { name?: string }) => {
            // The group appears with the function's first log line.
            if (err.name === "ResourceNotFoundException") return { events: [], nextToken: undefined };
            throw err;
          });
        for (const event of page.events ?? []) {
          const record = logEventRecord(event.message);
          if (record) records.push(record);
        }
        nextToken = page.nextToken;
      } while (nextToken);
      return loggedSince(records, since);
    },
    async deadLetters(fn) {
      const url = resources.queues[deadLetterQueueOf(fn)];
      if (!url) throw new Error(`no dead-letter queue for ${fn}`);
      // Hidden for 10 s only: long enough to read each message once, short enough for the next probe to see them all.
      const messages = await receiveAll(clients.sqs, url, { waitSeconds: 2, visibilitySeconds: 10 });
      return messages.map((m) => JSON.parse(m.Body ?? "{}"));
    },
    async tap(topic) {
      const arn = resources.topics[topic];
      if (!arn) throw new Error(`no topic ${topic} in the stage`);
      const tap = await tapTopic(clients, arn, queueName("sluice-e2e", stage, name, topic, run), { waitSeconds: 1 });
      taps.push(tap);
      // A new subscription can take a few seconds before SNS delivers to it: nothing is published before then.
      await realClock.sleep(stageWaits.subscriptionMs);
      return tap;
    },
    async invoke(fn, payload) {
      const out = await lambda.send(
        new InvokeCommand({ FunctionName: functionName(fn), Payload: Buffer.from(JSON.stringify(payload)) }),
      );
      return invokeOutcome(out.FunctionError, out.Payload);
    },
    async stop() {
      for (const tap of taps) await tap.remove().catch((err) => console.warn(`could not remove a topic tap: ${err}`));
      for (const client of [...Object.values(clients), lambda, logs]) client.destroy();
    },
  };
}
