import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it } from "vitest";
import { deadLettersOf, deadLettersTo, kinesisPoison, kinesisPoisonOf } from "./dead-letter.ts";
import { kinesisRecordsOf } from "./kinesis-records.ts";
import { kinesisEvent, memoryPoisonQueue } from "./testing.ts";

const sqs = mockClient(SQSClient);
const url = "https://sqs.us-east-1.amazonaws.com/123456789012/AnomalyAlertDlq";
const observed = () => {
  const lines: Array<[string, Record<string, unknown>]> = [];
  const counts: Record<string, number> = {};
  return {
    lines,
    counts,
    logger: { error: (message: string, fields: Record<string, unknown>) => void lines.push([message, fields]) },
    metrics: {
      addMetric: (name: string, _unit: string, n: number) => {
        counts[name] = (counts[name] ?? 0) + n;
      },
    },
  };
};

describe("#kit/dead-letter", () => {
  afterEach(() => sqs.reset());

  it("needs the URL of the function's own DLQ (SLUICE_DEAD_LETTER_QUEUE_URL) to start", () => {
    expect(() => deadLettersOf("AnomalyAlert", {})).toThrow(
      "AnomalyAlert configuration: SLUICE_DEAD_LETTER_QUEUE_URL=undefined: expected the URL of AnomalyAlertDlq",
    );
  });

  it("sends a Kinesis record as received to that queue, named by the function", async () => {
    sqs.on(SendMessageCommand).resolves({ MessageId: "m-1" });
    const deadLetters = deadLettersOf("AnomalyAlert", { SLUICE_DEAD_LETTER_QUEUE_URL: url, AWS_REGION: "us-east-1" });
    expect(deadLetters.queueName).toBe("AnomalyAlertDlq");
    const [record] = kinesisRecordsOf(kinesisEvent(["{oops"], { first: 7 }));
    const poison = kinesisPoison(record as NonNullable<typeof record>, 'not JSON: "{oops"');
    const sent = await deadLetters.send([poison], observed() as never);
    expect([...sent.fields]).toEqual([
      ["shardId-000000000000:00000000000000000007", { deadLetterQueue: "AnomalyAlertDlq", deadLetterMessageId: "m-1" }],
    ]);
    expect(sent.unsent).toEqual([]);
    const input = sqs.commandCalls(SendMessageCommand)[0]?.args[0].input;
    expect(input?.QueueUrl).toBe(url);
    expect(JSON.parse(input?.MessageBody ?? "")).toMatchObject({
      function: "AnomalyAlert",
      reason: 'not JSON: "{oops"',
      record: {
        shardId: "shardId-000000000000",
        sequenceNumber: "00000000000000000007",
        partitionKey: "1",
        arrivedAt: "2025-12-05T10:00:00.000Z",
        data: Buffer.from("{oops").toString("base64"),
        text: "{oops",
      },
    });
  });

  it("finds the refused records in the batch, and fails loudly on one that is not there (never dropped silently)", () => {
    const records = kinesisRecordsOf(kinesisEvent(["{oops", "{}", "[]"], { first: 7 }));
    const [first, , third] = records;
    const bad = [third, first].map((r) => ({
      shardId: r?.shardId ?? "",
      sequenceNumber: r?.sequenceNumber ?? "",
      reason: "x",
    }));
    expect(kinesisPoisonOf(records, bad).map((p) => p.sequenceNumber)).toEqual([
      third?.sequenceNumber,
      first?.sequenceNumber,
    ]);
    expect(() =>
      kinesisPoisonOf(records, [{ shardId: "shardId-000000000000", sequenceNumber: "999", reason: "lost" }]),
    ).toThrow("refused record shardId-000000000000:999 is not in the batch (lost)");
  });

  it("says, per record, where its dead letter is or why there is none, and logs the ones left to the stream", async () => {
    const queue = memoryPoisonQueue();
    const records = kinesisRecordsOf(kinesisEvent(["a", "b"]));
    const poison = records.map((record) => kinesisPoison(record, "bad"));
    const log = observed();
    const deadLetters = deadLettersTo(queue, "DemandHydration");
    const sent = await deadLetters.send(poison, log as never);
    expect([...sent.fields]).toEqual([
      [
        "shardId-000000000000:00000000000000000001",
        { deadLetterQueue: "DemandHydrationDlq", deadLetterMessageId: "dl-1" },
      ],
      [
        "shardId-000000000000:00000000000000000002",
        { deadLetterQueue: "DemandHydrationDlq", deadLetterMessageId: "dl-2" },
      ],
    ]);
    expect(sent.unsent).toEqual([]);

    queue.refuse = "RequestThrottled: slow down";
    const unsent = await deadLetters.send(poison.slice(0, 1), log as never);
    expect(unsent.unsent).toEqual(poison.slice(0, 1));
    expect(unsent.fields.get("shardId-000000000000:00000000000000000001")).toEqual({
      deadLetterQueue: "DemandHydrationDlq",
      deadLetterError: "RequestThrottled: slow down",
      retried: true,
    });
    expect(log.counts).toEqual({ DeadLettered: 2, DeadLetterFailures: 1 });
    expect(log.lines).toEqual([
      [
        "poison record not sent to DemandHydrationDlq: left to the stream's retries",
        expect.objectContaining({ sequenceNumber: "00000000000000000001", error: "RequestThrottled: slow down" }),
      ],
    ]);
  });
});
