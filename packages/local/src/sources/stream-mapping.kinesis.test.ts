import { readFileSync } from "node:fs";
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  type KinesisClient,
  PutRecordsCommand,
  type PutRecordsResultEntry,
  SplitShardCommand,
} from "@aws-sdk/client-kinesis";
import { SQSClient } from "@aws-sdk/client-sqs";
import type { StreamBatchOptions } from "@sluice/infra/wiring";
import { waitUntil } from "@sluice/testing";
import { type FauxqsServer, startFauxqs } from "fauxqs";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createKinesisClient, type Kinesalite, startKinesalite } from "../emulators/kinesalite.ts";
import {
  type FixtureHandler,
  fixtureInvoker,
  returnedState,
  shapeOf,
  sqsDeadLetters,
} from "./fixtures/stream-handlers.ts";
import { type StreamMapping, startStreamMapping } from "./stream-mapping.ts";
import type { StreamFailureRecord } from "./stream-records.ts";

const REGION = "us-east-1";
const ACCOUNT = "000000000000";
const DLQ = "StreamDlq";
const timing = { pollIntervalMs: 20, discoveryIntervalMs: 200, retryDelayMs: 5 };
const defaults: StreamBatchOptions = {
  batchSize: 10,
  maximumBatchingWindowInSeconds: 0,
  startingPosition: "TRIM_HORIZON",
  bisectBatchOnFunctionError: false,
  maximumRetryAttempts: 2,
  maximumRecordAgeInSeconds: -1,
  reportBatchItemFailures: true,
};
// biome-ignore lint/suspicious/noExplicitAny: captured AWS JSON
const fixture = (name: string): any =>
  JSON.parse(readFileSync(new URL(`./fixtures/${name}.json`, import.meta.url), "utf8"));

// biome-ignore lint/suspicious/noExplicitAny: Kinesis event records
type KinesisEventRecord = any;
const dataOf = (record: KinesisEventRecord): string => Buffer.from(record.kinesis.data, "base64").toString();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("Kinesis stream mapping (against kinesalite, DLQ on the SQS emulator)", () => {
  let kinesalite: Kinesalite;
  let fauxqs: FauxqsServer;
  let kinesis: KinesisClient;
  let sqs: SQSClient;
  let deadLetters: ReturnType<typeof sqsDeadLetters>;
  let mappings: StreamMapping[] = [];
  let streamCount = 0;

  beforeAll(async () => {
    [kinesalite, fauxqs] = await Promise.all([startKinesalite(), startFauxqs({ port: 0, logger: false })]);
    kinesis = createKinesisClient(kinesalite.endpoint, { region: REGION });
    sqs = new SQSClient({
      region: REGION,
      endpoint: `http://127.0.0.1:${fauxqs.port}`,
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
    deadLetters = sqsDeadLetters(sqs);
  });
  afterEach(async () => {
    await Promise.all(mappings.map((m) => m.stop()));
    mappings = [];
    await deadLetters.drain(DLQ);
  });
  afterAll(async () => {
    kinesis.destroy();
    sqs.destroy();
    await Promise.all([kinesalite?.stop(), fauxqs?.stop()]);
  });

  async function createStream(shards = 1): Promise<string> {
    const name = `clicks-${++streamCount}`;
    await kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
    // Even kinesalite's instant creation completes just after CreateStream answers: wait for ACTIVE, as on AWS.
    for (;;) {
      const { StreamDescriptionSummary } = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: name }));
      if (StreamDescriptionSummary?.StreamStatus === "ACTIVE") return name;
      await sleep(5);
    }
  }

  /** Puts records in order; same partition key = same shard. */
  async function put(stream: string, data: string[], partitionKey = "p"): Promise<PutRecordsResultEntry[]> {
    const { Records = [] } = await kinesis.send(
      new PutRecordsCommand({
        StreamName: stream,
        Records: data.map((d) => ({ Data: Buffer.from(d), PartitionKey: partitionKey })),
      }),
    );
    return Records;
  }

  async function map(stream: string, handler: FixtureHandler, batch: Partial<StreamBatchOptions> = {}) {
    const invoker = fixtureInvoker({ Fn: handler }, { region: REGION, accountId: ACCOUNT });
    const mapping = await startStreamMapping({
      kind: "kinesis",
      source: stream,
      functionName: "Fn",
      batch: { ...defaults, ...batch },
      invoker,
      deadLetter: deadLetters,
      dlqName: DLQ,
      clients: { kinesis },
      region: REGION,
      accountId: ACCOUNT,
      timing,
    });
    mappings.push(mapping);
    const batches = () => invoker.of("Fn").map((i) => (i.event.Records as KinesisEventRecord[]).map(dataOf));
    return { mapping, invoker, batches };
  }

  it("delivers records shaped exactly like the captured AWS Kinesis event", async () => {
    // Prepare
    const stream = await createStream();
    const [entry] = await put(stream, ['{"message": "test message", "username": "test"}']);
    const { mapping, invoker } = await map(stream, () => {});
    // Act
    await mapping.idle();
    // Assess
    const event = invoker.of("Fn")[0]?.event;
    const expected = fixture("kinesis-stream-one-record");
    expect(shapeOf(event)).toEqual(shapeOf(expected));
    expect(Object.keys(event.Records[0])).toEqual(Object.keys(expected.Records[0]));
    expect(Object.keys(event.Records[0].kinesis)).toEqual(Object.keys(expected.Records[0].kinesis));
    const record = event.Records[0];
    expect(record).toMatchObject({
      kinesis: { kinesisSchemaVersion: "1.0", partitionKey: "p", sequenceNumber: entry?.SequenceNumber },
      eventSource: "aws:kinesis",
      eventVersion: "1.0",
      eventID: `${entry?.ShardId}:${entry?.SequenceNumber}`,
      eventName: "aws:kinesis:record",
      invokeIdentityArn: `arn:aws:iam::${ACCOUNT}:role/Fn-role`,
      awsRegion: REGION,
      eventSourceARN: `arn:aws:kinesis:${REGION}:${ACCOUNT}:stream/${stream}`,
    });
    expect(dataOf(record)).toBe('{"message": "test message", "username": "test"}');
    expect(Math.abs(record.kinesis.approximateArrivalTimestamp * 1000 - Date.now())).toBeLessThan(10_000);
    expect(mapping.eventSourceArn).toBe(record.eventSourceARN);
  });

  it("checkpoints before the lowest failed item: earlier records are not re-delivered, it and later ones are", async () => {
    // Prepare: the handler fails r3 and r5 the first time it sees them.
    const stream = await createStream();
    const entries = await put(stream, ["r1", "r2", "r3", "r4", "r5"]);
    const failedOnce = new Set<string>();
    const { mapping, batches } = await map(stream, (event) => {
      const failures = (event.Records as KinesisEventRecord[])
        .filter((r) => ["r5", "r3"].includes(dataOf(r)) && !failedOnce.has(dataOf(r)))
        .reverse()
        .map((r) => {
          failedOnce.add(dataOf(r));
          return { itemIdentifier: r.kinesis.sequenceNumber };
        });
      return { batchItemFailures: failures };
    });
    // Act
    await mapping.idle();
    // Assess
    expect(entries).toHaveLength(5);
    expect(batches()).toEqual([
      ["r1", "r2", "r3", "r4", "r5"],
      ["r3", "r4", "r5"],
    ]);
    expect(await deadLetters.drain(DLQ)).toEqual([]);
  });

  it.each([
    ["an empty itemIdentifier", () => ""],
    ["a null itemIdentifier", () => null],
    ["an unknown sequence number", () => "12345"],
  ])("retries the whole batch when the response names %s", async (_, identifier) => {
    const stream = await createStream();
    await put(stream, ["a", "b"]);
    let calls = 0;
    const { mapping, batches } = await map(stream, () =>
      ++calls === 1 ? { batchItemFailures: [{ itemIdentifier: identifier() }] } : { batchItemFailures: [] },
    );
    await mapping.idle();
    expect(batches()).toEqual([
      ["a", "b"],
      ["a", "b"],
    ]);
  });

  it("bisects a batch on a thrown error, dead-letters the poison record with its metadata, and processes the rest", async () => {
    // Prepare: r3 always throws; one retry allowed.
    const stream = await createStream();
    const entries = await put(stream, ["r1", "r2", "r3", "r4"]);
    const { mapping, invoker, batches } = await map(
      stream,
      (event) => {
        if ((event.Records as KinesisEventRecord[]).some((r) => dataOf(r) === "r3")) throw new Error("poison");
      },
      { bisectBatchOnFunctionError: true, maximumRetryAttempts: 1, reportBatchItemFailures: false },
    );
    // Act
    await mapping.idle();
    await put(stream, ["r5"]);
    await mapping.idle();
    // Assess: halves until r3 stands alone, then its one retry, then the records after it.
    expect(batches()).toEqual([["r1", "r2", "r3", "r4"], ["r1", "r2"], ["r3", "r4"], ["r3"], ["r3"], ["r4"], ["r5"]]);
    const [failure, ...others] = (await deadLetters.drain(DLQ)) as StreamFailureRecord[];
    expect(others).toEqual([]);
    expect(shapeOf(failure)).toEqual(shapeOf(fixture("kinesis-on-failure")));
    const r3 = invoker.of("Fn")[3]?.event.Records[0];
    expect(failure).toEqual({
      requestContext: {
        requestId: invoker.of("Fn")[4]?.result.requestId,
        functionArn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:Fn`,
        condition: "RetryAttemptsExhausted",
        approximateInvokeCount: 4,
      },
      responseContext: { statusCode: 200, executedVersion: "$LATEST", functionError: "Unhandled" },
      version: "1.0",
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      KinesisBatchInfo: {
        shardId: entries[2]?.ShardId,
        startSequenceNumber: entries[2]?.SequenceNumber,
        endSequenceNumber: entries[2]?.SequenceNumber,
        approximateArrivalOfFirstRecord: new Date(r3.kinesis.approximateArrivalTimestamp * 1000).toISOString(),
        approximateArrivalOfLastRecord: new Date(r3.kinesis.approximateArrivalTimestamp * 1000).toISOString(),
        batchSize: 1,
        streamArn: `arn:aws:kinesis:${REGION}:${ACCOUNT}:stream/${stream}`,
      },
    });
  });

  it("dead-letters the failing rest of a batch after maximumRetryAttempts partial failures, then moves on", async () => {
    const stream = await createStream();
    const entries = await put(stream, ["r1", "r2", "r3"]);
    const { mapping, batches } = await map(
      stream,
      (event) => ({
        batchItemFailures: (event.Records as KinesisEventRecord[])
          .filter((r) => dataOf(r) === "r2")
          .map((r) => ({ itemIdentifier: r.kinesis.sequenceNumber })),
      }),
      { maximumRetryAttempts: 2 },
    );
    await mapping.idle();
    await put(stream, ["r4"]);
    await mapping.idle();
    expect(batches()).toEqual([["r1", "r2", "r3"], ["r2", "r3"], ["r2", "r3"], ["r4"]]);
    const failures = (await deadLetters.drain(DLQ)) as StreamFailureRecord[];
    expect(failures).toHaveLength(1);
    expect(failures[0]?.requestContext).toMatchObject({
      condition: "RetryAttemptsExhausted",
      approximateInvokeCount: 3,
    });
    // The function returned normally: no functionError.
    expect(failures[0]?.responseContext).toEqual({ statusCode: 200, executedVersion: "$LATEST" });
    expect(failures[0]?.KinesisBatchInfo).toMatchObject({
      startSequenceNumber: entries[1]?.SequenceNumber,
      endSequenceNumber: entries[2]?.SequenceNumber,
      batchSize: 2,
    });
  });

  it("retries a failing batch without bisecting up to maximumRetryAttempts, then dead-letters all of it", async () => {
    const stream = await createStream();
    const entries = await put(stream, ["r1", "r2", "r3"]);
    const { mapping, batches } = await map(
      stream,
      (event) => {
        if ((event.Records as KinesisEventRecord[]).some((r) => dataOf(r) === "r2")) throw new Error("boom");
      },
      { maximumRetryAttempts: 2, reportBatchItemFailures: false },
    );
    await mapping.idle();
    await put(stream, ["r4"]);
    await mapping.idle();
    expect(batches()).toEqual([["r1", "r2", "r3"], ["r1", "r2", "r3"], ["r1", "r2", "r3"], ["r4"]]);
    const [failure] = (await deadLetters.drain(DLQ)) as StreamFailureRecord[];
    expect(failure?.requestContext.approximateInvokeCount).toBe(3);
    expect(failure?.KinesisBatchInfo).toMatchObject({
      startSequenceNumber: entries[0]?.SequenceNumber,
      endSequenceNumber: entries[2]?.SequenceNumber,
      batchSize: 3,
    });
  });

  it("discards records older than maximumRecordAgeInSeconds without invoking the function", async () => {
    const stream = await createStream();
    const [old] = await put(stream, ["old"]);
    await sleep(1100);
    const { mapping, batches } = await map(stream, () => {}, { maximumRecordAgeInSeconds: 1 });
    await mapping.idle();
    await put(stream, ["fresh"]);
    await mapping.idle();
    expect(batches()).toEqual([["fresh"]]);
    const [failure] = (await deadLetters.drain(DLQ)) as StreamFailureRecord[];
    expect(failure?.requestContext).toMatchObject({ condition: "RecordAgeExceeded", approximateInvokeCount: 0 });
    expect(failure?.KinesisBatchInfo).toMatchObject({ startSequenceNumber: old?.SequenceNumber, batchSize: 1 });
  });

  it("keeps per-shard order across several shards, each batch from one shard, each record once", async () => {
    // Prepare
    const stream = await createStream(3);
    const data = Array.from({ length: 60 }, (_, i) => `m${i}`);
    const { Records: entries = [] } = await kinesis.send(
      new PutRecordsCommand({
        StreamName: stream,
        Records: data.map((d, i) => ({ Data: Buffer.from(d), PartitionKey: `key-${i % 11}` })),
      }),
    );
    const { mapping, invoker } = await map(stream, async () => sleep(2), { batchSize: 4 });
    // Act
    await mapping.idle();
    // Assess
    const seen = new Map<string, string[]>();
    for (const { event } of invoker.of("Fn")) {
      const shards = new Set((event.Records as KinesisEventRecord[]).map((r) => r.eventID.split(":")[0]));
      expect(shards.size).toBe(1);
      for (const record of event.Records as KinesisEventRecord[]) {
        const shard = record.eventID.split(":")[0] as string;
        seen.set(shard, [...(seen.get(shard) ?? []), record.kinesis.sequenceNumber]);
      }
    }
    const written = new Map<string, string[]>();
    for (const entry of entries) {
      written.set(entry.ShardId as string, [
        ...(written.get(entry.ShardId as string) ?? []),
        entry.SequenceNumber as string,
      ]);
    }
    expect(written.size).toBe(3);
    expect(seen).toEqual(written);
  });

  it("finds the child shards of a split and reads them after their parent, from their start", async () => {
    // Prepare
    const stream = await createStream();
    const { mapping, invoker } = await map(stream, () => sleep(30), { startingPosition: "LATEST", batchSize: 1 });
    await put(stream, ["p1", "p2", "p3", "p4"]);
    // Act: split the only shard while its records are still being processed, then write to the children.
    await kinesis.send(
      new SplitShardCommand({
        StreamName: stream,
        ShardToSplit: "shardId-000000000000",
        NewStartingHashKey: (2n ** 127n).toString(),
      }),
    );
    for (;;) {
      const { StreamDescriptionSummary } = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
      if (StreamDescriptionSummary?.StreamStatus === "ACTIVE") break;
      await sleep(5);
    }
    const children = await put(stream, ["c1", "c2", "c3", "c4", "c5", "c6"], "x");
    const more = await kinesis.send(
      new PutRecordsCommand({
        StreamName: stream,
        Records: ["d1", "d2", "d3"].map((d, i) => ({ Data: Buffer.from(d), PartitionKey: `other-${i}` })),
      }),
    );
    await mapping.idle();
    // Assess: the parent's records first, then every child record once, in order within each child shard.
    const delivered = invoker.of("Fn").flatMap((i) => i.event.Records as KinesisEventRecord[]);
    expect(delivered.slice(0, 4).map(dataOf)).toEqual(["p1", "p2", "p3", "p4"]);
    expect(delivered.map(dataOf).sort()).toEqual([
      "c1",
      "c2",
      "c3",
      "c4",
      "c5",
      "c6",
      "d1",
      "d2",
      "d3",
      "p1",
      "p2",
      "p3",
      "p4",
    ]);
    const shardsWritten = new Set([...children, ...(more.Records ?? [])].map((e) => e.ShardId));
    expect(shardsWritten.has("shardId-000000000000")).toBe(false);
    for (const shard of shardsWritten) {
      const written = [...children, ...(more.Records ?? [])]
        .filter((e) => e.ShardId === shard)
        .map((e) => e.SequenceNumber);
      const seen = delivered.filter((r) => r.eventID.startsWith(`${shard}:`)).map((r) => r.kinesis.sequenceNumber);
      expect(seen).toEqual(written);
    }
  });

  it("sends at most batchSize records per invocation", async () => {
    const stream = await createStream();
    await put(stream, ["a", "b", "c", "d", "e"]);
    const { mapping, batches } = await map(stream, () => {}, { batchSize: 2 });
    await mapping.idle();
    expect(batches()).toEqual([["a", "b"], ["c", "d"], ["e"]]);
  });

  it("gathers records for up to the batching window before invoking", async () => {
    // Prepare: one mapping waits up to 2 s, the other invokes as soon as records are there.
    const windowed = await createStream();
    const eager = await createStream();
    const gathered = await map(windowed, () => {}, { maximumBatchingWindowInSeconds: 2, startingPosition: "LATEST" });
    const immediate = await map(eager, () => {}, { startingPosition: "LATEST" });
    // Act: three records, each put once the eager mapping has invoked with the one before (a few polls of 20 ms each,
    // well inside the window).
    for (const [i, d] of ["x", "y", "z"].entries()) {
      await Promise.all([put(windowed, [d]), put(eager, [d])]);
      await waitUntil(() => immediate.batches().length > i, 10_000);
    }
    await Promise.all([gathered.mapping.idle(), immediate.mapping.idle()]);
    // Assess
    expect(gathered.batches()).toEqual([["x", "y", "z"]]);
    expect(immediate.batches()).toEqual([["x"], ["y"], ["z"]]);
  });

  it("starts at the tip with LATEST and at the oldest record with TRIM_HORIZON", async () => {
    const stream = await createStream();
    await put(stream, ["before"]);
    const latest = await map(stream, () => {}, { startingPosition: "LATEST" });
    const horizon = await map(stream, () => {}, { startingPosition: "TRIM_HORIZON" });
    await put(stream, ["after"]);
    await Promise.all([latest.mapping.idle(), horizon.mapping.idle()]);
    expect(latest.batches().flat()).toEqual(["after"]);
    expect(horizon.batches().flat()).toEqual(["before", "after"]);
  });

  it("carries tumbling-window state across invocations and ends each window with a final invocation", async () => {
    // Prepare: a counter summed in the window's state; a first burst, then a second one in the next window.
    const stream = await createStream();
    await put(stream, ["w0", "w1", "w2"]);
    await sleep(1020 - (Date.now() % 1000));
    await put(stream, ["w3", "w4", "w5", "w6"]);
    const { mapping, invoker } = await map(
      stream,
      (event) => {
        if (event.isFinalInvokeForWindow) return { state: event.state };
        return { state: { count: (event.state.count ?? 0) + event.Records.length }, batchItemFailures: [] };
      },
      { batchSize: 2, tumblingWindowInSeconds: 1 },
    );
    // Act: both bursts are read together, so the first window ends on the second window's first record.
    await mapping.idle({ closeWindows: true });
    // Assess
    const calls = invoker.of("Fn");
    const captured = fixture("kinesis-stream-tumbling-window");
    const windows = new Map<string, typeof calls>();
    for (const call of calls) {
      expect(Object.keys(call.event)).toEqual(Object.keys(captured));
      if (call.event.Records.length > 0) {
        expect(shapeOf({ ...call.event, state: {} })).toEqual(shapeOf({ ...captured, state: {} }));
      }
      expect(call.event.shardId).toBe("shardId-000000000000");
      expect(call.event.eventSourceARN).toBe(`arn:aws:kinesis:${REGION}:${ACCOUNT}:stream/${stream}`);
      expect(call.event.isWindowTerminatedEarly).toBe(false);
      const { start, end } = call.event.window;
      expect(Date.parse(end) - Date.parse(start)).toBe(1000);
      for (const record of call.event.Records as KinesisEventRecord[]) {
        const arrival = record.kinesis.approximateArrivalTimestamp * 1000;
        expect(arrival).toBeGreaterThanOrEqual(Date.parse(start));
        expect(arrival).toBeLessThan(Date.parse(end));
      }
      windows.set(start, [...(windows.get(start) ?? []), call]);
    }
    expect(windows.size).toBeGreaterThanOrEqual(2);
    let total = 0;
    for (const [, invocations] of windows) {
      // Each invocation gets the state the previous one of its window returned; the first gets {}.
      expect(invocations[0]?.event.state).toEqual({});
      for (let i = 1; i < invocations.length; i++) {
        expect(invocations[i]?.event.state).toEqual(returnedState(invocations[i - 1]));
      }
      const final = invocations[invocations.length - 1];
      expect(final?.event.isFinalInvokeForWindow).toBe(true);
      expect(final?.event.Records).toEqual([]);
      expect(invocations.slice(0, -1).every((i) => i.event.isFinalInvokeForWindow === false)).toBe(true);
      total += final?.event.state.count ?? 0;
    }
    expect(total).toBe(7);
    expect(calls.filter((c) => c.event.Records.length > 0).length).toBeGreaterThanOrEqual(4);
  });

  it("keeps the state of a partially failed window invocation and retries from the failed record", async () => {
    const stream = await createStream();
    await put(stream, ["a", "b", "c"]);
    let first = true;
    const { mapping, invoker } = await map(
      stream,
      (event) => {
        if (event.isFinalInvokeForWindow) return { state: event.state };
        const records = event.Records as KinesisEventRecord[];
        if (first) {
          first = false;
          return { state: { seen: 1 }, batchItemFailures: [{ itemIdentifier: records[1].kinesis.sequenceNumber }] };
        }
        return { state: { seen: event.state.seen + records.length } };
      },
      { tumblingWindowInSeconds: 60 },
    );
    await mapping.idle();
    const calls = invoker.of("Fn");
    expect(calls.map((c) => (c.event.Records as KinesisEventRecord[]).map(dataOf))).toEqual([
      ["a", "b", "c"],
      ["b", "c"],
    ]);
    expect(calls[1]?.event.state).toEqual({ seen: 1 });
    expect(calls[1]?.result.payload).toEqual({ state: { seen: 3 } });
  });
});
