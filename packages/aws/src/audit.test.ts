import { PublishBatchCommand, PublishCommand, SNSClient } from "@aws-sdk/client-sns";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { attributeText, createSnsAuditSink } from "./audit.ts";

const sns = mockClient(SNSClient);
const topicArn = "arn:aws:sns:us-east-1:000000000000:Audit";

describe("SNS audit sink", () => {
  beforeEach(() => sns.reset());

  it("publishes JSON with the severity and correlation id attributes the SnsLogger reads", async () => {
    sns.on(PublishCommand).resolves({ MessageId: "m1" });
    const sink = createSnsAuditSink(new SNSClient({ region: "us-east-1" }), topicArn);
    await sink.publish({
      pipeline: "file-mover",
      action: "move",
      outcome: "failed",
      correlationId: "r-1",
      reason: "x",
    });
    const input = sns.commandCalls(PublishCommand)[0]?.args[0].input;
    expect(input?.TopicArn).toBe(topicArn);
    expect(JSON.parse(input?.Message ?? "{}")).toMatchObject({
      pipeline: "file-mover",
      outcome: "failed",
      reason: "x",
    });
    expect(input?.MessageAttributes?.severity?.StringValue).toBe("ERROR");
    expect(input?.MessageAttributes?.correlationId?.StringValue).toBe("r-1");
  });

  it("batches by ten and fails loudly when SNS refuses an entry", async () => {
    sns.on(PublishBatchCommand).resolves({ Successful: [], Failed: [] });
    const sink = createSnsAuditSink(new SNSClient({ region: "us-east-1" }), topicArn);
    const messages = Array.from({ length: 23 }, (_, i) => ({
      pipeline: "p",
      action: "a",
      outcome: "succeeded" as const,
      n: i,
    }));
    await sink.publishAll(messages);
    expect(
      sns.commandCalls(PublishBatchCommand).map((c) => c.args[0].input.PublishBatchRequestEntries?.length),
    ).toEqual([10, 10, 3]);
    sns.on(PublishBatchCommand).resolves({ Failed: [{ Id: "0", Code: "Throttled", SenderFault: false }] });
    await expect(sink.publishAll(messages.slice(0, 1))).rejects.toThrow(/Throttled/);
  });

  it("escapes control characters and unpaired surrogates in attribute values, and keeps the rest", () => {
    expect(attributeText("evil\r\nsite\u0000#2026")).toBe("evil\\u000d\\u000asite\\u0000#2026");
    expect(attributeText("bad\ud800 \udc00 ok 😀 é")).toBe("bad\\ud800 \\udc00 ok 😀 é");
  });
});
