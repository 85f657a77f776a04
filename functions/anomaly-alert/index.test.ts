import { beforeEach, describe, expect, it, vi } from "vitest";
import { coldStart, kinesisEvent, lambdaContext } from "#kit/testing";

// The function's ports in memory: its state, the Alerts topic and the Audit topic (the adapters have tests of
// their own, the state store on DynamoDB Local too).
const { state, alerts, audit, deadLetters } = await vi.hoisted(async () => {
  const { createMemoryStateStore } = await import("@sluice/anomaly/pipeline");
  const { memoryAuditSink, memoryPoisonQueue } = await import("#kit/testing");
  const published: unknown[] = [];
  return {
    state: createMemoryStateStore(),
    alerts: { published, publish: async (alert: unknown) => void published.push(alert) },
    audit: memoryAuditSink(),
    deadLetters: memoryPoisonQueue(),
  };
});
// Each test starts from empty ones.
beforeEach(() => {
  state.stream = undefined;
  state.series.clear();
  alerts.published.length = 0;
  deadLetters.sent.length = 0;
  deadLetters.refuse = undefined;
});
vi.mock("@sluice/aws/anomaly", () => ({
  createDynamoAnomalyStore: () => state,
  createSnsAlertPublisher: () => alerts,
}));
vi.mock("@sluice/aws/audit", () => ({ createSnsAuditSink: () => audit }));
vi.mock("@sluice/aws/dead-letter", () => ({ createSqsPoisonQueue: () => deadLetters }));

const fn = coldStart(
  "AnomalyAlert",
  {
    AnomalyState: { name: "anomaly-state" },
    Alerts: { arn: "arn:aws:sns:us-east-1:123456789012:Alerts" },
    Audit: { arn: "arn:aws:sns:us-east-1:123456789012:Audit" },
  },
  {
    ANOMALY_WINDOW_SECONDS: "60",
    ANOMALY_LATENESS_SECONDS: "0",
    ANOMALY_MAX_SITES: "1",
    SLUICE_DEAD_LETTER_QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/123456789012/AnomalyAlertDlq",
  },
  () => import("./index.ts"),
  audit,
);

let seq = 0;
const view = (site: string, ts: Date) => ({
  eventId: `e-${++seq}`,
  ts: ts.toISOString(),
  site,
  page: "/",
  productId: "p-1",
  action: "impression",
  sessionId: "s-1",
});

describe("AnomalyAlert handler", () => {
  it("counts the events of its sites into windows, closing those the watermark passes, and commits its state", async () => {
    const start = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000);
    const later = new Date(start.getTime() + 2 * 60_000);

    const response = await fn.handler(
      kinesisEvent([view("shop", start), view("shop", start), view("shop", later)]),
      lambdaContext("AnomalyAlert", "inv-1"),
    );

    expect(response).toEqual({ batchItemFailures: [] });
    expect(state.stream).toBeDefined();
    expect(fn.stdout.logs()).toContainEqual(
      expect.objectContaining({ message: "clickstream scored", records: 3, counted: 3, malformed: 0 }),
    );
    expect(fn.stdout.metric("EventsCounted")).toBe(3);
    expect(fn.stdout.metric("WindowsClosed")).toBeGreaterThan(0);
  });

  it("says in a WARN line how many events it dropped as late, their oldest and newest times, and the watermark's closed horizon", async () => {
    const start = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000);
    const later = new Date(start.getTime() + 3 * 60_000);
    await fn.handler(kinesisEvent([view("shop", start), view("shop", later)]), lambdaContext("AnomalyAlert", "inv-a"));
    expect(fn.stdout.logs().filter((l) => l.level === "WARN")).toEqual([]);

    // One-minute windows, no lateness: the windows before the one holding `later` are closed.
    const early = new Date(start.getTime() + 10_000);
    await fn.handler(
      kinesisEvent([view("shop", start), view("shop", early), view("shop", later)], { first: 3 }),
      lambdaContext("AnomalyAlert", "inv-b"),
    );
    expect(fn.stdout.logs().filter((l) => l.level === "WARN")).toEqual([
      expect.objectContaining({
        message: expect.stringMatching(/^late clickstream events not counted: .*allowed lateness/),
        events: 2,
        sites: 1,
        oldest: start.toISOString(),
        newest: early.toISOString(),
        closedBefore: later.toISOString(),
      }),
    ]);
    expect(fn.stdout.logs()).toContainEqual(
      expect.objectContaining({ message: "clickstream scored", counted: 1, late: 2 }),
    );
  });

  it("sends a malformed record to its DLQ with its data and reason (Audit: the message id), not as a batch item failure, and refuses the events of a site over ANOMALY_MAX_SITES", async () => {
    const now = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 5 * 60_000);
    const event = kinesisEvent([view("shop", now), "{not json", view("another-shop", now)], { first: 200 });

    const response = await fn.handler(event, lambdaContext("AnomalyAlert", "inv-2"));

    const malformed = String(201).padStart(20, "0");
    // Done: in the dead-letter queue, with its data; nothing for the stream to retry.
    expect(response).toEqual({ batchItemFailures: [] });
    expect(deadLetters.sent).toEqual([
      {
        eventSource: "aws:kinesis",
        eventSourceArn: "arn:aws:kinesis:us-east-1:123456789012:stream/Clickstream",
        shardId: "shardId-000000000000",
        partitionKey: "1",
        sequenceNumber: malformed,
        arrivedAt: new Date((1_764_928_800 + 1) * 1000).toISOString(),
        data: Buffer.from("{not json").toString("base64"),
        reason: 'not JSON: "{not json"',
      },
    ]);
    expect(audit.messages).toEqual([
      expect.objectContaining({ pipeline: "anomaly-alert", action: "count", outcome: "refused", sites: 1, events: 1 }),
      expect.objectContaining({
        pipeline: "anomaly-alert",
        action: "decode",
        outcome: "refused",
        reason: 'not JSON: "{not json"',
        sequenceNumber: malformed,
        deadLetterQueue: "AnomalyAlertDlq",
        deadLetterMessageId: "dl-1",
      }),
    ]);
    expect(fn.stdout.metric("EventsOverSiteLimit")).toBe(1);
    // A record its producer must fix, not an error of the function: WARN, like its audit message.
    expect(fn.stdout.logs()).toContainEqual(
      expect.objectContaining({
        level: "WARN",
        message: "malformed clickstream record",
        sequenceNumber: malformed,
        deadLetterMessageId: "dl-1",
      }),
    );
  });

  it("leaves a malformed record to the stream's retries (batch item failure) when its DLQ does not take it", async () => {
    const now = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 4 * 60_000);
    deadLetters.refuse = "AccessDenied: not allowed";
    try {
      const response = await fn.handler(
        kinesisEvent([view("shop", now), "{still not json"], { first: 300 }),
        lambdaContext("AnomalyAlert", "inv-3"),
      );
      const malformed = String(301).padStart(20, "0");
      expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: malformed }] });
      expect(audit.messages).toContainEqual(
        expect.objectContaining({
          action: "decode",
          sequenceNumber: malformed,
          deadLetterQueue: "AnomalyAlertDlq",
          deadLetterError: "AccessDenied: not allowed",
          retried: true,
        }),
      );
      expect(fn.stdout.logs()).toContainEqual(
        expect.objectContaining({
          level: "ERROR",
          message: "poison record not sent to AnomalyAlertDlq: left to the stream's retries",
          sequenceNumber: malformed,
          error: "AccessDenied: not allowed",
        }),
      );
    } finally {
      deadLetters.refuse = undefined;
    }
  });
});
