import { readFileSync } from "node:fs";
import {
  type CapturedWrites,
  captureWrites,
  isMetricDocument,
  lambdaContext as testLambdaContext,
} from "@sluice/testing";
import type { Context, SNSEvent } from "aws-lambda";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";

/** AWS's captured SNS event (see fixtures/README.md). */
const fixture = JSON.parse(readFileSync(new URL("./fixtures/sns-base.json", import.meta.url), "utf8")) as SNSEvent;

/** The fixture with changes to its first record's message, attributes or topic. */
function snsEvent(change: { message?: string; attributes?: Record<string, string>; topicArn?: string } = {}): SNSEvent {
  const event = structuredClone(fixture);
  const sns = event.Records[0]?.Sns;
  if (!sns) throw new Error("fixture has no record");
  if (change.message !== undefined) sns.Message = change.message;
  if (change.topicArn !== undefined) sns.TopicArn = change.topicArn;
  for (const [name, value] of Object.entries(change.attributes ?? {})) {
    sns.MessageAttributes[name] = { Type: "String", Value: value };
  }
  return event;
}

const lambdaContext = (awsRequestId: string) =>
  testLambdaContext("SnsLogger", { awsRequestId, region: "us-east-2", memoryLimitInMB: "256" });

let stdout: CapturedWrites;
let handler: (event: SNSEvent, context: Context) => Promise<void>;

const printed = () => stdout.jsonLines();
const records = () => printed().filter((line) => line.message === "SNS message");
const metricDocuments = () => printed().filter(isMetricDocument);

beforeAll(async () => {
  // What Lambda and infra/wiring.ts give the function, set before the module creates its logger and metrics.
  vi.stubEnv("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand");
  vi.stubEnv("POWERTOOLS_SERVICE_NAME", "sns-logger");
  vi.stubEnv("POWERTOOLS_METRICS_NAMESPACE", "Sluice");
  vi.stubEnv("POWERTOOLS_LOG_LEVEL", "WARN"); // records are printed whatever the level
  vi.stubEnv("POWERTOOLS_DEV", "");
  stdout = captureWrites(process.stdout);
  ({ handler } = await import("./index.ts"));
});

beforeEach(() => {
  stdout.clear();
});

afterAll(() => {
  stdout.restore();
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

describe("SnsLogger handler", () => {
  it("marks its first invocation as a cold start (log records, ColdStart metric), and the next ones not", async () => {
    // A copy of the module of its own, whatever the other tests invoked before: its first invocation is its cold start.
    vi.resetModules();
    const { handler: coldHandler } = await import("./index.ts");

    await coldHandler(fixture, lambdaContext("req-cold"));
    expect(records().map((record) => record.cold_start)).toEqual([true]);
    expect(metricDocuments().filter((doc) => "ColdStart" in doc)).toEqual([
      expect.objectContaining({ ColdStart: 1, function_name: "SnsLogger" }),
    ]);

    stdout.clear();
    await coldHandler(fixture, lambdaContext("req-warm"));
    expect(records().map((record) => record.cold_start)).toEqual([false]);
    expect(metricDocuments().filter((doc) => "ColdStart" in doc)).toEqual([]);
  });

  it("logs AWS's sample event as one structured record and counts it", async () => {
    await handler(fixture, lambdaContext("req-1"));

    expect(records()).toEqual([
      {
        level: "INFO",
        message: "SNS message",
        timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        service: "sns-logger",
        cold_start: expect.any(Boolean), // whether it is the first invocation: the test above
        function_arn: "arn:aws:lambda:us-east-2:123456789012:function:SnsLogger",
        function_memory_size: "256",
        function_name: "SnsLogger",
        function_request_id: "req-1",
        sampling_rate: 0,
        sns: {
          topic: "ExampleTopic",
          topicArn: "arn:aws:sns:us-east-2:123456789012:ExampleTopic",
          subscriptionArn: "arn:aws:sns:us-east-2:123456789012:ExampleTopic",
          messageId: "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
          subject: "TestInvoke",
          timestamp: "2019-01-02T12:45:07.000Z",
          attributes: { Test: "TestString", TestBinary: "TestBinary" },
          message: "Hello from SNS!",
          messageFormat: "text",
        },
      },
    ]);
    const counted = metricDocuments().find((doc) => "SnsMessagesLogged" in doc);
    expect(counted).toEqual({
      _aws: {
        Timestamp: expect.any(Number),
        CloudWatchMetrics: [
          {
            Namespace: "Sluice",
            Dimensions: [["service", "topic", "severity"]],
            Metrics: [{ Name: "SnsMessagesLogged", Unit: "Count" }],
          },
        ],
      },
      service: "sns-logger",
      topic: "ExampleTopic",
      severity: "INFO",
      SnsMessagesLogged: 1,
    });
  });

  it("logs at the severity's level with the correlation id, and redacts the message and attributes", async () => {
    const message = JSON.stringify({
      correlationId: "corr-42",
      action: "refund",
      customer: { email: "ada@example.com", password: "hunter2" },
      payments: [{ card: "4111 1111 1111 1111" }, { note: "card 4111 1111 1111 1111, order 2024061500017" }],
      note: "AKIAIOSFODNN7EXAMPLE leaked; rejected card 4111 1111 1111 1112",
    });
    const event = snsEvent({ message, attributes: { severity: "error", replyTo: "ops@example.com" } });

    await handler(event, lambdaContext("req-2"));

    const [record] = records();
    expect(record).toMatchObject({
      level: "ERROR",
      function_request_id: "req-2",
      correlation_id: "corr-42",
      sns: {
        attributes: { severity: "error", replyTo: "[REDACTED:email]" },
        messageFormat: "json",
        message: {
          correlationId: "corr-42",
          action: "refund",
          customer: { email: "[REDACTED:email]", password: "[REDACTED:password]" },
          payments: [{ card: "[REDACTED:card]" }, { note: "card [REDACTED:card], order 2024061500017" }],
          note: "[REDACTED:aws_access_key_id] leaked; rejected card 4111 1111 1111 1112",
        },
      },
    });
    const output = stdout.chunks.join("");
    expect(output).not.toMatch(/ada@|ops@|hunter2|AKIAIOSFODNN7EXAMPLE|4111 1111 1111 1111/);
    expect(metricDocuments().find((doc) => "SnsMessagesLogged" in doc)).toMatchObject({ severity: "ERROR" });
  });

  it("redacts inside a plain-text message", async () => {
    await handler(snsEvent({ message: "user bob@example.com reset password=hunter2" }), lambdaContext("req-3"));

    expect(records()[0]).toMatchObject({
      level: "INFO",
      sns: { message: "user [REDACTED:email] reset password=[REDACTED:password]", messageFormat: "text" },
    });
  });

  it("redacts a double-encoded message, a lower-case bearer header, an e-mail used as a key and a bare JWT", async () => {
    const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ";
    const inner = { "ada@example.com": { orders: 3 }, headers: `authorization: bearer ${jwt}`, pwd: "hunter2" };
    const message = JSON.stringify(JSON.stringify(inner));

    await handler(snsEvent({ message, attributes: { session: jwt } }), lambdaContext("req-7"));

    const output = stdout.chunks.join("");
    expect(output).not.toMatch(/ada@example|hunter2|eyJhbGci|eyJzdWIi|c2lnbmF0dXJl/);
    expect(records()[0]).toMatchObject({
      sns: { attributes: { session: "[REDACTED:jwt]" }, messageFormat: "text" },
    });
  });

  it("truncates a 2 MB message below the CloudWatch Logs limit, with a marker, instead of dropping it", async () => {
    const message = JSON.stringify({ correlationId: "big-1", rows: "r".repeat(2 * 1024 * 1024) });

    await handler(snsEvent({ message, attributes: { severity: "warn" } }), lambdaContext("req-4"));

    const lines = stdout.chunks.filter((line) => line.includes('"SNS message"'));
    expect(lines).toHaveLength(1);
    expect(Buffer.byteLength(lines[0] ?? "")).toBeLessThanOrEqual(240 * 1024 + 1);
    const [record] = records();
    expect(record).toMatchObject({
      level: "WARN",
      correlation_id: "big-1",
      truncated: true,
      originalBytes: expect.any(Number),
      truncatedFields: ["sns.message.rows"],
      sns: {
        topic: "ExampleTopic",
        messageId: "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
        message: { correlationId: "big-1" },
      },
    });
    expect(record?.originalBytes).toBeGreaterThan(2 * 1024 * 1024);
  });

  it("logs a valid 10 KB message nested 5 000 levels deep, as its text, instead of failing (and dead-lettering) it", async () => {
    const message = `${"[".repeat(5_000)}{"to":"ada@example.com"}${"]".repeat(5_000)}`;

    await handler(snsEvent({ message, attributes: { severity: "warn" } }), lambdaContext("req-8"));

    expect(records()).toEqual([
      expect.objectContaining({
        level: "WARN",
        sns: expect.objectContaining({
          message: message.replace("ada@example.com", "[REDACTED:email]"),
          messageFormat: "text",
          messageNotParsed: "JSON nested deeper than 128 levels",
        }),
      }),
    ]);
    expect(metricDocuments().find((doc) => "SnsMessagesLogged" in doc)).toMatchObject({ severity: "WARN" });
  });

  it("logs every record of a multi-record event and counts per topic and level", async () => {
    const event = snsEvent({ attributes: { severity: "critical" } });
    const alert = snsEvent({ topicArn: "arn:aws:sns:us-east-2:123456789012:Alerts" }).Records[0];
    const another = snsEvent({ topicArn: "arn:aws:sns:us-east-2:123456789012:Alerts" }).Records[0];
    if (!alert || !another) throw new Error("fixture has no record");
    event.Records.push(alert, another);

    await handler(event, lambdaContext("req-5"));

    expect(records().map((line) => [line.level, (line.sns as { topic: string }).topic])).toEqual([
      ["CRITICAL", "ExampleTopic"],
      ["INFO", "Alerts"],
      ["INFO", "Alerts"],
    ]);
    const counts = metricDocuments().map((doc) => [doc.topic, doc.severity, doc.SnsMessagesLogged]);
    expect(counts).toEqual([
      ["ExampleTopic", "CRITICAL", 1],
      ["Alerts", "INFO", 2],
    ]);
  });

  it("fails the invocation on a malformed record, logging nothing half-way, so Lambda retries then dead-letters it", async () => {
    const event = snsEvent();
    event.Records.push({ EventSource: "aws:sqs" } as never);

    await expect(handler(event, lambdaContext("req-6"))).rejects.toThrow("Records[1] is not an SNS record");

    expect(records()).toEqual([]);
    // The failure only (and Powertools' ColdStart metric if this is the first invocation): no record, no count.
    expect(printed().filter((line) => !("ColdStart" in line))).toEqual([
      expect.objectContaining({ level: "ERROR", message: "Invocation failed", function_request_id: "req-6" }),
    ]);
  });
});
