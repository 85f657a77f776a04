/**
 * What the handler-level unit tests share: the Lambda context, the environment a function gets (its links as
 * `SST_RESOURCE_*`, Powertools' variables), the JSON lines it prints, and AWS event factories.
 */

import type { PoisonQueue, PoisonRecord, PoisonSendResult } from "@sluice/aws/dead-letter";
import type { FunctionName, LinksOf } from "@sluice/infra/wiring";
import type { AuditMessage, AuditSink } from "@sluice/messages";
import { isMetricDocument, lambdaContext as testLambdaContext } from "@sluice/testing";
import type { Context, KinesisStreamEvent, S3Event, S3EventRecord } from "aws-lambda";
import { afterAll, beforeAll, beforeEach, vi } from "vitest";

/** The Lambda context of function `functionName` (@sluice/testing's, with 512 MB and 10 minutes left by default). */
export function lambdaContext(functionName: FunctionName, awsRequestId: string, remainingMs = 600_000): Context {
  return testLambdaContext(functionName, { awsRequestId, remainingMs, memoryLimitInMB: "512" });
}

/**
 * Sets what Lambda, SST and infra/wiring.ts give function `F` before its module is imported: its links (exactly
 * those its wiring names: the type says which), its service name, and `env`. Undo with `vi.unstubAllEnvs()`.
 */
export function stubFunctionEnv<F extends FunctionName>(
  functionName: F,
  links: LinksOf<F>,
  env: Record<string, string> = {},
): void {
  vi.stubEnv("SST_RESOURCE_App", JSON.stringify({ name: "sluice", stage: "test" }));
  for (const [name, value] of Object.entries(links)) vi.stubEnv(`SST_RESOURCE_${name}`, JSON.stringify(value));
  vi.stubEnv("AWS_LAMBDA_FUNCTION_NAME", functionName);
  vi.stubEnv("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand");
  vi.stubEnv("POWERTOOLS_METRICS_NAMESPACE", "Sluice");
  vi.stubEnv("POWERTOOLS_DEV", "");
  for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
}

/**
 * Function `F` as Lambda starts it, for the tests of one file: before them its links and `env` are set
 * (stubFunctionEnv), stdout is captured and its module is imported once (`load`: a cold start); before each test the
 * output captured and `audit`'s messages are cleared; after them all is undone. `started.handler` and
 * `started.stdout` are there once the tests run.
 */
export function coldStart<F extends FunctionName, H>(
  functionName: F,
  links: LinksOf<F>,
  env: Record<string, string>,
  load: () => Promise<{ handler: H }>,
  audit?: { messages: unknown[] },
): { handler: H; stdout: ReturnType<typeof captureStdout> } {
  const started = {} as { handler: H; stdout: ReturnType<typeof captureStdout> };
  beforeAll(async () => {
    stubFunctionEnv(functionName, links, env);
    started.stdout = captureStdout();
    started.handler = (await load()).handler;
  });
  beforeEach(() => {
    started.stdout.clear();
    if (audit) audit.messages.length = 0;
  });
  afterAll(() => {
    vi.restoreAllMocks();
    vi.unstubAllEnvs();
  });
  return started;
}

/** Captures what the function prints on stdout; `lines()` parses it (a line that is not JSON fails the test). */
export function captureStdout() {
  let chunks: string[] = [];
  vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
    chunks.push(String(chunk));
    return true;
  });
  const lines = (): Record<string, unknown>[] =>
    chunks
      .join("")
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line));
  return {
    lines,
    /** Log records (not EMF metric documents). */
    logs: () => lines().filter((line) => !isMetricDocument(line)),
    /** The value of a metric over the EMF documents printed. */
    metric: (name: string) =>
      lines()
        .filter((line) => isMetricDocument(line) && name in line)
        .reduce((sum, line) => sum + Number(line[name]), 0),
    clear: () => {
      chunks = [];
    },
  };
}

/** An S3 `ObjectCreated:Put` notification of one object per key, as S3 sends it (keys URL-encoded, ETag bare). */
export function s3Event(
  bucket: string,
  objects: ReadonlyArray<{ key: string; size?: number; eTag?: string; requestId?: string }>,
): S3Event {
  return {
    Records: objects.map(
      ({ key, size = 0, eTag = "d41d8cd98f00b204e9800998ecf8427e", requestId = "C3D13FE58DE4C810" }) =>
        ({
          eventVersion: "2.1",
          eventSource: "aws:s3",
          awsRegion: "us-east-1",
          eventTime: "2026-12-05T10:00:00.000Z",
          eventName: "ObjectCreated:Put",
          userIdentity: { principalId: "AWS:AIDAEXAMPLE" },
          requestParameters: { sourceIPAddress: "203.0.113.10" },
          responseElements: {
            "x-amz-request-id": requestId,
            "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD",
          },
          s3: {
            s3SchemaVersion: "1.0",
            configurationId: "notification",
            bucket: {
              name: bucket,
              ownerIdentity: { principalId: "A3NL1KOZZKExample" },
              arn: `arn:aws:s3:::${bucket}`,
            },
            object: {
              key: encodeURIComponent(key).replace(/%2F/g, "/").replace(/%20/g, "+"),
              size,
              eTag,
              sequencer: "0055AED6DCD90281E5",
            },
          },
        }) satisfies S3EventRecord,
    ),
  };
}

/** A Kinesis batch of these JSON values (a string is sent as is), on one shard, sequence numbers from `first`. */
export function kinesisEvent(
  values: readonly unknown[],
  { shardId = "shardId-000000000000", first = 1 } = {},
): KinesisStreamEvent {
  return {
    Records: values.map((value, i) => {
      const sequenceNumber = String(first + i).padStart(20, "0");
      return {
        eventSource: "aws:kinesis",
        eventVersion: "1.0",
        eventID: `${shardId}:${sequenceNumber}`,
        eventName: "aws:kinesis:record",
        invokeIdentityArn: "arn:aws:iam::123456789012:role/lambda-role",
        awsRegion: "us-east-1",
        eventSourceARN: "arn:aws:kinesis:us-east-1:123456789012:stream/Clickstream",
        kinesis: {
          kinesisSchemaVersion: "1.0",
          partitionKey: "1",
          sequenceNumber,
          approximateArrivalTimestamp: 1_764_928_800 + i,
          data: Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64"),
        },
      };
    }),
  };
}

/**
 * A dead-letter queue in memory (`@sluice/aws/dead-letter`'s port): the records sent, in order, with their message
 * ids (`dl-1`, `dl-2`...); `refuse` set to an error makes it take none (returned unsent, with that error).
 */
export function memoryPoisonQueue(): PoisonQueue & { sent: PoisonRecord[]; refuse?: string } {
  const queue = {
    sent: [] as PoisonRecord[],
    refuse: undefined as string | undefined,
    async send(records: readonly PoisonRecord[]): Promise<PoisonSendResult> {
      if (queue.refuse !== undefined) {
        const error = queue.refuse;
        return { sent: [], unsent: records.map((record) => ({ record, error })) };
      }
      return {
        sent: records.map((record) => ({ record, messageId: `dl-${queue.sent.push(record)}` })),
        unsent: [],
      };
    },
  };
  return queue;
}

/** An Audit topic in memory: what the function published, in order. */
export function memoryAuditSink(): AuditSink & { messages: AuditMessage[] } {
  const messages: AuditMessage[] = [];
  return {
    messages,
    publish: async (message) => void messages.push(message),
    publishAll: async (batch) => void messages.push(...batch),
  };
}
