import { readFileSync } from "node:fs";
import {
  CreateTableCommand,
  DeleteItemCommand,
  DescribeTableCommand,
  DynamoDBClient,
  PutItemCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { DescribeStreamCommand, DynamoDBStreamsClient } from "@aws-sdk/client-dynamodb-streams";
import { SQSClient } from "@aws-sdk/client-sqs";
import type { StreamBatchOptions } from "@sluice/infra/wiring";
import { type FauxqsServer, startFauxqs } from "fauxqs";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type DynamoDbLocal, startDynamoDbLocal } from "../emulators/dynamodb-local.ts";
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
const DLQ = "TableDlq";
const credentials = { accessKeyId: "local", secretAccessKey: "local" };
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

// biome-ignore lint/suspicious/noExplicitAny: DynamoDB stream event records
type DynamoDbEventRecord = any;
const idOf = (record: DynamoDbEventRecord): string => record.dynamodb.Keys.id.S;
/**
 * The stream ARN as AWS writes it: DynamoDB Local's own ARNs name the region `ddblocal`, the local cloud's events
 * name its region, as every other ARN of the local cloud does.
 */
const awsStreamArn = (emulatorArn: string | undefined): string => {
  expect(emulatorArn).toMatch(/^arn:aws:dynamodb:ddblocal:000000000000:table\/[^/]+\/stream\/[\d:.T-]+$/);
  return (emulatorArn as string).replace(":ddblocal:", `:${REGION}:`);
};

describe("DynamoDB stream mapping (against DynamoDB Local, DLQ on the SQS emulator)", () => {
  let dynamo: DynamoDbLocal;
  let fauxqs: FauxqsServer;
  let db: DynamoDBClient;
  let streams: DynamoDBStreamsClient;
  let sqs: SQSClient;
  let deadLetters: ReturnType<typeof sqsDeadLetters>;
  let mappings: StreamMapping[] = [];
  let tableCount = 0;

  beforeAll(async () => {
    [dynamo, fauxqs] = await Promise.all([startDynamoDbLocal(), startFauxqs({ port: 0, logger: false })]);
    db = new DynamoDBClient({ region: REGION, endpoint: dynamo.endpoint, credentials });
    streams = new DynamoDBStreamsClient({ region: REGION, endpoint: dynamo.endpoint, credentials });
    sqs = new SQSClient({ region: REGION, endpoint: `http://127.0.0.1:${fauxqs.port}`, credentials });
    deadLetters = sqsDeadLetters(sqs);
  });
  afterEach(async () => {
    await Promise.all(mappings.map((m) => m.stop()));
    mappings = [];
    await deadLetters.drain(DLQ);
  });
  afterAll(async () => {
    for (const client of [db, streams, sqs]) client?.destroy();
    await Promise.all([dynamo?.stop(), fauxqs?.stop()]);
  });

  async function createTable(key: { name: string; type: "S" | "N" } = { name: "id", type: "S" }): Promise<string> {
    const name = `requests-${++tableCount}`;
    await db.send(
      new CreateTableCommand({
        TableName: name,
        KeySchema: [{ AttributeName: key.name, KeyType: "HASH" }],
        AttributeDefinitions: [{ AttributeName: key.name, AttributeType: key.type }],
        BillingMode: "PAY_PER_REQUEST",
        StreamSpecification: { StreamEnabled: true, StreamViewType: "NEW_AND_OLD_IMAGES" },
      }),
    );
    return name;
  }

  async function putItems(table: string, ids: string[]): Promise<void> {
    for (const id of ids) {
      await db.send(new PutItemCommand({ TableName: table, Item: { id: { S: id }, n: { N: "1" } } }));
    }
  }

  async function map(table: string, handler: FixtureHandler, batch: Partial<StreamBatchOptions> = {}) {
    const invoker = fixtureInvoker({ Fn: handler }, { region: REGION, accountId: ACCOUNT });
    const mapping = await startStreamMapping({
      kind: "dynamodb",
      source: table,
      functionName: "Fn",
      batch: { ...defaults, ...batch },
      invoker,
      deadLetter: deadLetters,
      dlqName: DLQ,
      dynamodbEndpoint: dynamo.endpoint,
      region: REGION,
      accountId: ACCOUNT,
      timing,
    });
    mappings.push(mapping);
    const batches = () => invoker.of("Fn").map((i) => (i.event.Records as DynamoDbEventRecord[]).map(idOf));
    return { mapping, invoker, batches };
  }

  it("delivers INSERT, MODIFY and REMOVE records shaped like the captured AWS DynamoDB events", async () => {
    // Prepare: the captured events' item, written, changed and deleted.
    const table = await createTable({ name: "Id", type: "N" });
    const { mapping, invoker } = await map(table, () => {});
    const before = Math.floor(Date.now() / 1000);
    const Key = { Id: { N: "101" } };
    // Act
    await db.send(new PutItemCommand({ TableName: table, Item: { ...Key, Message: { S: "New item!" } } }));
    await db.send(
      new UpdateItemCommand({
        TableName: table,
        Key,
        UpdateExpression: "SET Message = :m",
        ExpressionAttributeValues: { ":m": { S: "This item has changed" } },
      }),
    );
    await db.send(new DeleteItemCommand({ TableName: table, Key }));
    await mapping.idle();
    // Assess
    const records = invoker.of("Fn").flatMap((i) => i.event.Records as DynamoDbEventRecord[]);
    const captured = fixture("dynamodb-tumbling-window").Records;
    const { Table } = await db.send(new DescribeTableCommand({ TableName: table }));
    expect(records.map((r) => r.eventName)).toEqual(["INSERT", "MODIFY", "REMOVE"]);
    records.forEach((record, i) => {
      const expected = captured[i];
      // Same fields in AWS's order; the capture has no ApproximateCreationDateTime, which AWS puts first.
      expect(Object.keys(record)).toEqual(Object.keys(expected));
      expect(Object.keys(record.dynamodb)).toEqual(["ApproximateCreationDateTime", ...Object.keys(expected.dynamodb)]);
      const { ApproximateCreationDateTime, SequenceNumber, SizeBytes, ...images } = record.dynamodb;
      const { SequenceNumber: _, SizeBytes: __, ...expectedImages } = expected.dynamodb;
      expect(images).toEqual(expectedImages);
      expect(shapeOf(record)).toEqual(
        shapeOf({ ...expected, dynamodb: { ApproximateCreationDateTime, ...expected.dynamodb } }),
      );
      expect(record).toMatchObject({
        eventName: expected.eventName,
        eventVersion: "1.1",
        eventSource: "aws:dynamodb",
        awsRegion: REGION,
        eventSourceARN: awsStreamArn(Table?.LatestStreamArn),
      });
      expect(record.eventID).toMatch(/^[0-9a-f]{32}$/);
      expect(SequenceNumber).toMatch(/^\d+$/);
      expect(SizeBytes).toBeGreaterThan(0);
      expect(Number.isInteger(ApproximateCreationDateTime)).toBe(true);
      expect(ApproximateCreationDateTime).toBeGreaterThanOrEqual(before);
      expect(ApproximateCreationDateTime).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000));
    });
    expect(mapping.eventSourceArn).toBe(awsStreamArn(Table?.LatestStreamArn));
  });

  it("checkpoints before the lowest failed item: earlier records are not re-delivered, it and later ones are", async () => {
    const table = await createTable();
    await putItems(table, ["i1", "i2", "i3", "i4", "i5"]);
    let first = true;
    const { mapping, batches } = await map(table, (event) => {
      const records = event.Records as DynamoDbEventRecord[];
      if (!first) return { batchItemFailures: [] };
      first = false;
      const failed = records.filter((r) => ["i4", "i3"].includes(idOf(r)));
      return { batchItemFailures: failed.map((r) => ({ itemIdentifier: r.dynamodb.SequenceNumber })) };
    });
    await mapping.idle();
    expect(batches()).toEqual([
      ["i1", "i2", "i3", "i4", "i5"],
      ["i3", "i4", "i5"],
    ]);
  });

  it("bisects on a thrown error, dead-letters the poison record with DDBStreamBatchInfo, and processes the rest", async () => {
    // Prepare
    const table = await createTable();
    await putItems(table, ["i1", "i2", "i3", "i4"]);
    const { mapping, invoker, batches } = await map(
      table,
      (event) => {
        if ((event.Records as DynamoDbEventRecord[]).some((r) => idOf(r) === "i2")) throw new Error("poison");
      },
      { bisectBatchOnFunctionError: true, maximumRetryAttempts: 0, reportBatchItemFailures: false },
    );
    // Act
    await mapping.idle();
    await putItems(table, ["i5"]);
    await mapping.idle();
    // Assess
    expect(batches()).toEqual([["i1", "i2", "i3", "i4"], ["i1", "i2"], ["i1"], ["i2"], ["i3", "i4"], ["i5"]]);
    const failures = (await deadLetters.drain(DLQ)) as StreamFailureRecord[];
    expect(failures).toHaveLength(1);
    const failure = failures[0] as StreamFailureRecord;
    expect(shapeOf(failure)).toEqual(shapeOf(fixture("dynamodb-on-failure")));
    const i2 = invoker.of("Fn")[3]?.event.Records[0];
    const { Table } = await db.send(new DescribeTableCommand({ TableName: table }));
    const { StreamDescription } = await streams.send(new DescribeStreamCommand({ StreamArn: Table?.LatestStreamArn }));
    const arrival = new Date(i2.dynamodb.ApproximateCreationDateTime * 1000).toISOString().replace(".000Z", "Z");
    expect(failure).toEqual({
      requestContext: {
        requestId: invoker.of("Fn")[3]?.result.requestId,
        functionArn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:Fn`,
        condition: "RetryAttemptsExhausted",
        approximateInvokeCount: 3,
      },
      responseContext: { statusCode: 200, executedVersion: "$LATEST", functionError: "Unhandled" },
      version: "1.0",
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
      DDBStreamBatchInfo: {
        shardId: StreamDescription?.Shards?.[0]?.ShardId,
        startSequenceNumber: i2.dynamodb.SequenceNumber,
        endSequenceNumber: i2.dynamodb.SequenceNumber,
        approximateArrivalOfFirstRecord: arrival,
        approximateArrivalOfLastRecord: arrival,
        batchSize: 1,
        streamArn: awsStreamArn(Table?.LatestStreamArn),
      },
    });
  });

  it("keeps the shard's order within and across batches", async () => {
    const table = await createTable();
    const ids = Array.from({ length: 25 }, (_, i) => `o${String(i).padStart(2, "0")}`);
    await putItems(table, ids);
    const { mapping, invoker, batches } = await map(table, () => {}, { batchSize: 4 });
    await mapping.idle();
    expect(batches().flat()).toEqual(ids);
    expect(batches().every((b) => b.length <= 4)).toBe(true);
    const sequence = invoker
      .of("Fn")
      .flatMap((i) => i.event.Records.map((r: DynamoDbEventRecord) => BigInt(r.dynamodb.SequenceNumber)));
    expect(sequence).toEqual([...sequence].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  });

  it("starts at the tip with LATEST and at the oldest record with TRIM_HORIZON", async () => {
    const table = await createTable();
    await putItems(table, ["before"]);
    const latest = await map(table, () => {}, { startingPosition: "LATEST" });
    const horizon = await map(table, () => {}, { startingPosition: "TRIM_HORIZON" });
    await putItems(table, ["after"]);
    await Promise.all([latest.mapping.idle(), horizon.mapping.idle()]);
    expect(latest.batches().flat()).toEqual(["after"]);
    expect(horizon.batches().flat()).toEqual(["before", "after"]);
  });

  it("carries tumbling-window state across invocations and ends the window with a final invocation", async () => {
    // Prepare
    const table = await createTable();
    const { mapping, invoker } = await map(
      table,
      (event) => {
        if (event.isFinalInvokeForWindow) return { state: event.state };
        return { state: { count: (event.state.count ?? 0) + event.Records.length } };
      },
      { batchSize: 2, tumblingWindowInSeconds: 1, startingPosition: "LATEST" },
    );
    // Act
    await putItems(table, ["t1", "t2", "t3", "t4", "t5"]);
    await mapping.idle({ closeWindows: true });
    // Assess
    const calls = invoker.of("Fn");
    const captured = fixture("dynamodb-tumbling-window");
    for (const call of calls) expect(Object.keys(call.event)).toEqual(Object.keys(captured));
    const finals = calls.filter((c) => c.event.isFinalInvokeForWindow);
    expect(finals.length).toBeGreaterThanOrEqual(1);
    for (const final of finals) expect(final.event.Records).toEqual([]);
    expect(finals.reduce((sum, c) => sum + c.event.state.count, 0)).toBe(5);
    const aggregations = calls.filter((c) => !c.event.isFinalInvokeForWindow);
    expect(aggregations.flatMap((c) => c.event.Records.map(idOf))).toEqual(["t1", "t2", "t3", "t4", "t5"]);
    // Within a window, each invocation sees the previous one's state.
    for (let i = 1; i < calls.length; i++) {
      const previous = calls[i - 1];
      const current = calls[i];
      if (previous?.event.isFinalInvokeForWindow || previous?.event.window.start !== current?.event.window.start)
        continue;
      expect(current?.event.state).toEqual(returnedState(previous));
    }
  });
});
