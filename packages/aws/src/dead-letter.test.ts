import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { createSqsPoisonQueue, type KinesisPoisonRecord, MAX_MESSAGE_BYTES } from "./dead-letter.ts";

const sqs = mockClient(SQSClient);
const queueUrl = "https://sqs.us-east-1.amazonaws.com/123456789012/AnomalyAlertDlq";
const NOW = new Date("2026-03-01T12:00:00.000Z");

const kinesisRecord = (
  sequenceNumber: string,
  data: Buffer | string,
  reason = 'not JSON: "{oops"',
): KinesisPoisonRecord => ({
  eventSource: "aws:kinesis",
  eventSourceArn: "arn:aws:kinesis:us-east-1:123456789012:stream/Clickstream",
  shardId: "shardId-000000000001",
  partitionKey: "k-1",
  sequenceNumber,
  arrivedAt: "2026-03-01T11:59:58.500Z",
  data: Buffer.isBuffer(data) ? data.toString("base64") : Buffer.from(data).toString("base64"),
  reason,
});

const queue = () => createSqsPoisonQueue(new SQSClient({ region: "us-east-1" }), queueUrl, "AnomalyAlert", () => NOW);

describe("SQS poison queue (a stream consumer's records to its dead-letter queue)", () => {
  beforeEach(() => sqs.reset());

  it("sends each record as one message: its data as received and as text, where it was in its stream, the reason, the function", async () => {
    sqs.on(SendMessageCommand).resolves({ MessageId: "m-1" });
    const record = kinesisRecord("49590338271490256608559692538361571095921575989136588898", "{oops");
    const result = await queue().send([record]);

    expect(result).toEqual({ sent: [{ record, messageId: "m-1" }], unsent: [] });
    const calls = sqs.commandCalls(SendMessageCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]?.args[0].input;
    expect(input).toEqual({
      QueueUrl: queueUrl,
      MessageBody: expect.any(String),
      MessageAttributes: {
        type: { DataType: "String", StringValue: "PoisonRecord" },
        function: { DataType: "String", StringValue: "AnomalyAlert" },
      },
    });
    expect(JSON.parse(input?.MessageBody ?? "")).toEqual({
      type: "PoisonRecord",
      version: "1.0",
      function: "AnomalyAlert",
      reason: 'not JSON: "{oops"',
      timestamp: "2026-03-01T12:00:00.000Z",
      record: {
        eventSource: "aws:kinesis",
        eventSourceArn: "arn:aws:kinesis:us-east-1:123456789012:stream/Clickstream",
        shardId: "shardId-000000000001",
        partitionKey: "k-1",
        sequenceNumber: "49590338271490256608559692538361571095921575989136588898",
        arrivedAt: "2026-03-01T11:59:58.500Z",
        data: Buffer.from("{oops").toString("base64"),
        text: "{oops",
      },
    });
  });

  it("keeps bytes that are not UTF-8 in base64 only", async () => {
    sqs.on(SendMessageCommand).resolves({ MessageId: "m-2" });
    const bytes = Buffer.from([0xff, 0xfe, 0x00, 0x41]);
    await queue().send([kinesisRecord("1", bytes)]);
    const body = JSON.parse(sqs.commandCalls(SendMessageCommand)[0]?.args[0].input.MessageBody ?? "");
    expect(body.record.data).toBe(bytes.toString("base64"));
    expect(body.record).not.toHaveProperty("text");
  });

  it("sends a DynamoDB stream record's image as received", async () => {
    sqs.on(SendMessageCommand).resolves({ MessageId: "m-3" });
    const dynamodb = { SequenceNumber: "700", Keys: { requestId: { S: "r-1" } }, NewImage: { views: { S: "lots" } } };
    await queue().send([
      {
        eventSource: "aws:dynamodb",
        eventSourceArn: "arn:aws:dynamodb:us-east-1:123456789012:table/InferenceRequests/stream/2026",
        sequenceNumber: "700",
        eventName: "INSERT",
        dynamodb,
        reason: "invalid inference request: views: expected a number",
      },
    ]);
    const body = JSON.parse(sqs.commandCalls(SendMessageCommand)[0]?.args[0].input.MessageBody ?? "");
    expect(body.record).toEqual({
      eventSource: "aws:dynamodb",
      eventSourceArn: "arn:aws:dynamodb:us-east-1:123456789012:table/InferenceRequests/stream/2026",
      sequenceNumber: "700",
      eventName: "INSERT",
      dynamodb,
    });
  });

  it("returns the records SQS did not take, with why, and sends the others", async () => {
    sqs.on(SendMessageCommand).callsFake(async (input: { MessageBody: string }) => {
      if (JSON.parse(input.MessageBody).record.sequenceNumber !== "2") return { MessageId: "m-ok" };
      throw Object.assign(new Error("Access to the resource is denied"), { name: "AccessDenied" });
    });
    const records = [kinesisRecord("1", "a"), kinesisRecord("2", "b"), kinesisRecord("3", "c")];
    const result = await queue().send(records);
    expect(result.sent.map((s) => [s.record.sequenceNumber, s.messageId])).toEqual([
      ["1", "m-ok"],
      ["3", "m-ok"],
    ]);
    expect(result.unsent).toEqual([{ record: records[1], error: "AccessDenied: Access to the resource is denied" }]);
  });

  it("drops the text of a record too large to carry twice, and does not send one too large for a message", async () => {
    sqs.on(SendMessageCommand).resolves({ MessageId: "m-big" });
    // 150 000 bytes: 200 000 in base64, 350 000 with its text: over 256 KiB, under it without the text.
    const large = kinesisRecord("1", "x".repeat(150_000));
    // 250 000 bytes: 333 336 in base64.
    const huge = kinesisRecord("2", "y".repeat(250_000));
    const result = await queue().send([large, huge]);

    const calls = sqs.commandCalls(SendMessageCommand);
    expect(calls).toHaveLength(1);
    const body = calls[0]?.args[0].input.MessageBody ?? "";
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
    expect(JSON.parse(body).record).not.toHaveProperty("text");
    expect(JSON.parse(body).record.data).toBe(large.data);
    expect(result.sent).toEqual([{ record: large, messageId: "m-big" }]);
    expect(result.unsent).toEqual([
      { record: huge, error: expect.stringMatching(/^too large for an SQS message: \d+ bytes, more than 262144$/) },
    ]);
  });

  it("sends nothing for no records", async () => {
    expect(await queue().send([])).toEqual({ sent: [], unsent: [] });
    expect(sqs.commandCalls(SendMessageCommand)).toHaveLength(0);
  });
});
