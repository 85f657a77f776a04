import { captureWrites } from "@sluice/testing";
import type { SNSEventRecord, SNSMessageAttributes } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { SluiceLogger } from "./logger.ts";
import { createRedactionPolicy } from "./redaction.ts";
import {
  buildSnsLogRecord,
  InvalidSnsEvent,
  levelFromSeverity,
  logSnsRecord,
  parseMessage,
  snsRecordsOf,
  topicNameOf,
} from "./sns-log-record.ts";

/** An SNS record shaped like AWS's sample (see functions/sns-logger/fixtures/sns-base.json). */
function snsRecord(
  overrides: { message?: string; attributes?: Record<string, string>; subject?: string | null } = {},
): SNSEventRecord {
  const attributes: SNSMessageAttributes = {};
  for (const [name, value] of Object.entries(overrides.attributes ?? {}))
    attributes[name] = { Type: "String", Value: value };
  return {
    EventVersion: "1.0",
    EventSubscriptionArn: "arn:aws:sns:eu-west-1:123456789012:Audit:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55",
    EventSource: "aws:sns",
    Sns: {
      SignatureVersion: "1",
      Timestamp: "2026-08-20T10:00:00.000Z",
      Signature: "EXAMPLE",
      SigningCertUrl: "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService.pem",
      MessageId: "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
      Message: overrides.message ?? "Hello from SNS!",
      MessageAttributes: attributes,
      Type: "Notification",
      UnsubscribeUrl: "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe",
      TopicArn: "arn:aws:sns:eu-west-1:123456789012:Audit",
      Subject: overrides.subject === undefined ? "TestInvoke" : (overrides.subject as string),
    },
  };
}

describe("levelFromSeverity", () => {
  it.each([
    ["DEBUG", "DEBUG"],
    ["debug", "DEBUG"],
    ["Info", "INFO"],
    ["WARN", "WARN"],
    ["warning", "WARN"],
    [" error ", "ERROR"],
    ["CRITICAL", "CRITICAL"],
    ["fatal", "CRITICAL"],
    ["loud", "INFO"],
    ["", "INFO"],
    [undefined, "INFO"],
    [3, "INFO"],
  ])("%s -> %s", (severity, level) => {
    expect(levelFromSeverity(severity)).toBe(level);
  });
});

describe("buildSnsLogRecord", () => {
  it("takes the topic, ids, subject, timestamp and flattened attributes from the record", () => {
    const record = snsRecord({ attributes: { source: "file-mover" } });
    record.Sns.MessageAttributes.count = { Type: "Number", Value: "42" };
    record.Sns.MessageAttributes.huge = { Type: "Number", Value: "123456789012345678901234" };
    record.Sns.MessageAttributes.tags = { Type: "String.Array", Value: '["a","b"]' };
    record.Sns.MessageAttributes.raw = { Type: "Binary", Value: "AQID" };

    expect(buildSnsLogRecord(record)).toEqual({
      level: "INFO",
      topic: "Audit",
      topicArn: "arn:aws:sns:eu-west-1:123456789012:Audit",
      subscriptionArn: "arn:aws:sns:eu-west-1:123456789012:Audit:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55",
      messageId: "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
      subject: "TestInvoke",
      timestamp: "2026-08-20T10:00:00.000Z",
      attributes: { source: "file-mover", count: 42, huge: "123456789012345678901234", tags: ["a", "b"], raw: "AQID" },
      message: "Hello from SNS!",
      messageFormat: "text",
    });
  });

  it("omits the subject when SNS sends null", () => {
    expect(buildSnsLogRecord(snsRecord({ subject: null }))).not.toHaveProperty("subject");
  });

  it.each([
    [{ severity: "error" }, "ERROR"],
    [{ Severity: "WARN" }, "WARN"],
    [{ level: "debug" }, "DEBUG"],
    [{ severity: "critical", level: "debug" }, "CRITICAL"],
    [{ severity: "whatever" }, "INFO"],
    [{}, "INFO"],
  ])("takes the level from the attributes %j -> %s", (attributes, level) => {
    expect(buildSnsLogRecord(snsRecord({ attributes })).level).toBe(level);
  });

  it("parses a JSON message and keeps text as text", () => {
    expect(buildSnsLogRecord(snsRecord({ message: '{"event":"moved","key":"a/b.csv"}' }))).toMatchObject({
      message: { event: "moved", key: "a/b.csv" },
      messageFormat: "json",
    });
    expect(buildSnsLogRecord(snsRecord({ message: "[1, 2, 3]" }))).toMatchObject({
      message: [1, 2, 3],
      messageFormat: "json",
    });
    expect(buildSnsLogRecord(snsRecord({ message: "{not json" }))).toMatchObject({
      message: "{not json",
      messageFormat: "text",
    });
    expect(parseMessage("42")).toEqual({ message: "42", messageFormat: "text" });
  });

  it("takes the correlation id from the attribute first, then from the message", () => {
    const both = snsRecord({
      attributes: { correlationId: "from-attribute" },
      message: '{"correlationId":"from-body"}',
    });
    const body = snsRecord({ message: '{"correlation_id":"from-body"}' });
    const dashed = snsRecord({ attributes: { "Correlation-Id": "dashed" } });
    const none = snsRecord({ message: "text mentioning correlationId" });

    expect(buildSnsLogRecord(both).correlationId).toBe("from-attribute");
    expect(buildSnsLogRecord(body).correlationId).toBe("from-body");
    expect(buildSnsLogRecord(dashed).correlationId).toBe("dashed");
    expect(buildSnsLogRecord(none)).not.toHaveProperty("correlationId");
  });

  it("does not redact: that is the logger's job, on every line", () => {
    const record = buildSnsLogRecord(snsRecord({ message: '{"password":"p"}' }));

    expect(record.message).toEqual({ password: "p" });
  });
});

describe("deeply nested JSON", () => {
  /** JSON arrays nested `depth` levels deep around `inner`. */
  const nested = (depth: number, inner = "") => `${"[".repeat(depth)}${inner}${"]".repeat(depth)}`;

  it("parses a message nested up to 128 levels, and keeps a deeper one as its text, saying why", () => {
    expect(buildSnsLogRecord(snsRecord({ message: nested(128) }))).toMatchObject({ messageFormat: "json" });
    expect(buildSnsLogRecord(snsRecord({ message: nested(128) }))).not.toHaveProperty("messageNotParsed");
    for (const depth of [129, 5_000, 100_000]) {
      const message = nested(depth);
      expect(buildSnsLogRecord(snsRecord({ message }))).toMatchObject({
        message,
        messageFormat: "text",
        messageNotParsed: "JSON nested deeper than 128 levels",
      });
    }
  });

  it("keeps a String.Array attribute nested too deep as its text", () => {
    const record = snsRecord();
    const value = nested(5_000);
    record.Sns.MessageAttributes.tags = { Type: "String.Array", Value: value };
    expect(buildSnsLogRecord(record).attributes.tags).toBe(value);
  });

  it.each([5_000, 100_000])(
    "logs a valid message nested %i levels deep (10 KB; 200 KB) as one line holding its text, redacted",
    (depth) => {
      const stdout = captureWrites(process.stdout);
      try {
        const logger = new SluiceLogger({ serviceName: "sns-logger", redaction: createRedactionPolicy() });
        const message = nested(depth, '{"password":"hunter2","to":"bob@example.com"}');

        logSnsRecord(logger, buildSnsLogRecord(snsRecord({ message })));

        const [line, ...rest] = stdout.jsonLines();
        expect(rest).toEqual([]);
        expect(line).toMatchObject({
          level: "INFO",
          message: "SNS message",
          sns: {
            messageFormat: "text",
            messageNotParsed: "JSON nested deeper than 128 levels",
            message: nested(depth, '{"password":"[REDACTED:password]","to":"[REDACTED:email]"}'),
          },
        });
      } finally {
        stdout.restore();
      }
    },
  );
});

describe("snsRecordsOf", () => {
  it("returns the records of an SNS event", () => {
    const event = { Records: [snsRecord(), snsRecord()] };

    expect(snsRecordsOf(event)).toHaveLength(2);
  });

  it.each([
    [null, "no Records array"],
    [{ Records: "x" }, "no Records array"],
    [{ Records: [{ EventSource: "aws:sqs", Sns: {} }] }, "Records[0] is not an SNS record"],
    [{ Records: [{ ...snsRecord(), Sns: { ...snsRecord().Sns, Message: 1 } }] }, "Records[0].Sns.Message"],
  ])("refuses %j", (event, message) => {
    expect(() => snsRecordsOf(event)).toThrow(InvalidSnsEvent);
    expect(() => snsRecordsOf(event)).toThrow(message);
  });
});

describe("topicNameOf", () => {
  it("takes the last part of the ARN", () => {
    expect(topicNameOf("arn:aws:sns:eu-west-1:123456789012:sluice-dev-AuditTopic-abc.fifo")).toBe(
      "sluice-dev-AuditTopic-abc.fifo",
    );
  });
});
