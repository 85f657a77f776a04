import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  compareSequenceNumbers,
  dynamodbEventRecord,
  kinesisEventRecord,
  type ShardRecord,
  streamFailureRecord,
  windowEvent,
  windowOf,
} from "./stream-records.ts";

// biome-ignore lint/suspicious/noExplicitAny: captured AWS JSON
const fixture = (name: string): any =>
  JSON.parse(readFileSync(new URL(`./fixtures/${name}.json`, import.meta.url), "utf8"));

describe("stream event records, compared with captured AWS events", () => {
  it("builds a Kinesis record byte for byte as AWS sends it", () => {
    // Prepare: the inputs behind Powertools' captured record.
    const expected = fixture("kinesis-stream-one-record").Records[0];
    // Act
    const record = kinesisEventRecord(
      {
        SequenceNumber: expected.kinesis.sequenceNumber,
        PartitionKey: expected.kinesis.partitionKey,
        Data: Buffer.from(expected.kinesis.data, "base64"),
        ApproximateArrivalTimestamp: new Date(1545084650987),
      },
      {
        shardId: "shardId-000000000006",
        region: "us-east-2",
        eventSourceArn: "arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream",
        invokeIdentityArn: "arn:aws:iam::123456789012:role/lambda-role",
      },
    );
    // Assess: same fields, same order, same values.
    expect(JSON.stringify(record)).toBe(JSON.stringify(expected));
  });

  it("builds a Kinesis tumbling-window event byte for byte, with the window aligned on arrival time", () => {
    const expected = fixture("kinesis-stream-tumbling-window");
    const arrival = expected.Records[0].kinesis.approximateArrivalTimestamp * 1000;
    const event = windowEvent({
      records: expected.Records,
      window: windowOf(arrival, 120),
      state: expected.state,
      shardId: expected.shardId,
      eventSourceArn: expected.eventSourceARN,
      isFinalInvokeForWindow: false,
      isWindowTerminatedEarly: false,
    });
    expect(JSON.stringify(event)).toBe(JSON.stringify(expected));
  });

  it("builds a DynamoDB record with every field of the captured one, in AWS's order", () => {
    // Prepare: the captured MODIFY record, as the SDK's GetRecords returns it.
    const expected = fixture("dynamodb-tumbling-window").Records[1];
    // Act
    const record = dynamodbEventRecord(
      {
        eventID: expected.eventID,
        eventName: expected.eventName,
        eventVersion: expected.eventVersion,
        dynamodb: { ...expected.dynamodb, ApproximateCreationDateTime: new Date(1693997155000) },
      },
      { region: "us-east-1", eventSourceArn: "stream-ARN", creationSeconds: 1693997155 },
    );
    // Assess: the capture lacks ApproximateCreationDateTime (Powertools' other sample has it, first, as here).
    expect(JSON.stringify(record)).toBe(
      JSON.stringify({ ...expected, dynamodb: { ApproximateCreationDateTime: 1693997155, ...expected.dynamodb } }),
    );
    const base = fixture("dynamodb-base").Records[0];
    expect(Object.keys(record).sort()).toEqual(Object.keys(base).sort());
    expect(Object.keys(record.dynamodb as object).sort()).toEqual([...Object.keys(base.dynamodb), "OldImage"].sort());
  });

  it("turns DynamoDB Local's UUID event ids into AWS's 32 hex digits and binary attributes into base64", () => {
    const record = dynamodbEventRecord(
      {
        eventID: "bf57ad89-5346-421b-a46a-f04d6b8a3ec0",
        eventName: "INSERT",
        eventVersion: "1.1",
        dynamodb: {
          Keys: { id: { S: "a" } },
          NewImage: {
            id: { S: "a" },
            blob: { B: Buffer.from("hi") },
            set: { BS: [Buffer.from("x")] },
            nested: { M: { list: { L: [{ B: Buffer.from("y") }, { N: "1" }] } } },
          },
          SequenceNumber: "000000000000000000001",
          SizeBytes: 9,
          StreamViewType: "NEW_IMAGE",
        },
      },
      { region: "us-east-1", eventSourceArn: "arn", creationSeconds: 1 },
    );
    expect(record.eventID).toBe("bf57ad895346421ba46af04d6b8a3ec0");
    expect((record.dynamodb as { NewImage: unknown }).NewImage).toEqual({
      id: { S: "a" },
      blob: { B: "aGk=" },
      set: { BS: ["eA=="] },
      nested: { M: { list: { L: [{ B: "eQ==" }, { N: "1" }] } } },
    });
  });

  it.each([
    ["kinesis", "kinesis-on-failure", "KinesisBatchInfo"],
    ["dynamodb", "dynamodb-on-failure", "DDBStreamBatchInfo"],
  ] as const)("builds the %s on-failure record byte for byte as AWS documents it", (kind, name, key) => {
    const expected = fixture(name);
    const info = expected[key];
    // A discarded run of `batchSize` records whose first and last match the documented ones.
    const at = (sequenceNumber: string, time: string): ShardRecord => ({
      sequenceNumber,
      arrivalMs: Date.parse(time),
      event: {},
      size: 0,
    });
    const records = Array.from({ length: info.batchSize }, (_, i) =>
      i === info.batchSize - 1
        ? at(info.endSequenceNumber, info.approximateArrivalOfLastRecord)
        : at(info.startSequenceNumber, info.approximateArrivalOfFirstRecord),
    );
    const record = streamFailureRecord({
      kind,
      records,
      shardId: info.shardId,
      streamArn: info.streamArn,
      functionArn: expected.requestContext.functionArn,
      condition: expected.requestContext.condition,
      requestId: expected.requestContext.requestId,
      approximateInvokeCount: expected.requestContext.approximateInvokeCount,
      functionError: "Unhandled",
      now: Date.parse(expected.timestamp),
    });
    expect(JSON.stringify(record)).toBe(JSON.stringify(expected));
  });

  it("aligns tumbling windows on the epoch", () => {
    expect(windowOf(Date.parse("2020-07-30T17:03:59.999Z"), 300)).toEqual({
      startMs: Date.parse("2020-07-30T17:00:00Z"),
      endMs: Date.parse("2020-07-30T17:05:00Z"),
    });
    expect(windowOf(Date.parse("2020-07-30T17:05:00Z"), 300).startMs).toBe(Date.parse("2020-07-30T17:05:00Z"));
  });

  it("orders sequence numbers numerically, whatever their length", () => {
    expect(compareSequenceNumbers("9", "10")).toBe(-1);
    expect(compareSequenceNumbers("000000000000000000002", "1")).toBe(1);
    expect(
      compareSequenceNumbers(
        "49590338271490256608559692538361571095921575989136588898",
        "49590338271490256608559692538361571095921575989136588898",
      ),
    ).toBe(0);
  });
});
