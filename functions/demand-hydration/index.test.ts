import { beforeEach, describe, expect, it, vi } from "vitest";
import { coldStart, kinesisEvent, lambdaContext } from "#kit/testing";

// The function's ports in memory: its window store, the inference requests it writes, the Catalog's inventory and
// the Audit topic (the adapters have tests of their own). Each test starts from empty ones: the handler holds the
// window store it got at its cold start, so that one forwards to the test's (`ports.windows`, new before each test).
const { ports, requests, audit, deadLetters } = await vi.hoisted(async () => {
  const { createMemoryWindowStore } = await import("@sluice/pricing/fixtures");
  const { memoryAuditSink, memoryPoisonQueue } = await import("#kit/testing");
  return {
    ports: { createMemoryWindowStore, windows: createMemoryWindowStore() },
    requests: new Map<string, Record<string, unknown>>(),
    audit: memoryAuditSink(),
    deadLetters: memoryPoisonQueue(),
  };
});
beforeEach(() => {
  ports.windows = ports.createMemoryWindowStore();
  requests.clear();
  deadLetters.sent.length = 0;
  deadLetters.refuse = undefined;
});
vi.mock("@sluice/aws/demand-windows", () => ({
  createDynamoWindowStore: () => new Proxy({}, { get: (_, method) => Reflect.get(ports.windows, method) }),
}));
vi.mock("@sluice/aws/pricing", () => ({
  createDynamoRequestStore: () => ({
    putRequest: async (request: { requestId: string }) => {
      if (requests.has(request.requestId)) return "exists";
      requests.set(request.requestId, request);
      return "created";
    },
  }),
  createDynamoInventory: () => ({
    inventoryOf: async (ids: readonly string[]) => new Map(ids.map((id) => [id, 12])),
  }),
}));
vi.mock("@sluice/aws/audit", () => ({ createSnsAuditSink: () => audit }));
vi.mock("@sluice/aws/dead-letter", () => ({ createSqsPoisonQueue: () => deadLetters }));

const fn = coldStart(
  "DemandHydration",
  {
    Catalog: { name: "catalog" },
    InferenceRequests: { name: "inference-requests" },
    DemandWindows: { name: "demand-windows" },
    Audit: { arn: "arn:aws:sns:us-east-1:123456789012:Audit" },
  },
  // One-minute windows, no lateness: an event a minute later closes the window before it.
  {
    DEMAND_WINDOW_SECONDS: "60",
    DEMAND_LATENESS_SECONDS: "0",
    DEMAND_MAX_FUTURE_SECONDS: "300",
    SLUICE_DEAD_LETTER_QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/123456789012/DemandHydrationDlq",
  },
  () => import("./index.ts"),
  audit,
);

let seq = 0;
const click = (productId: string, ts: Date, action = "click") => ({
  eventId: `e-${++seq}`,
  ts: ts.toISOString(),
  site: "shop",
  page: `/p/${productId}`,
  productId,
  action,
  sessionId: "s-1",
});

describe("DemandHydration handler", () => {
  it("counts events into windows of DEMAND_WINDOW_SECONDS and writes one inference request per closed window", async () => {
    const start = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000);
    const later = new Date(start.getTime() + 2 * 60_000);
    const event = kinesisEvent([click("p-1", start), click("p-1", start, "purchase"), click("p-2", later)]);

    const response = await fn.handler(event, lambdaContext("DemandHydration", "inv-1"));

    expect(response).toEqual({ batchItemFailures: [] });
    expect([...requests.values()]).toEqual([
      expect.objectContaining({ productId: "p-1", windowStart: start.toISOString(), inventory: 12 }),
    ]);
    expect(fn.stdout.logs()).toContainEqual(expect.objectContaining({ message: "demand hydrated", eventsCounted: 3 }));
    expect(fn.stdout.metric("EventsCounted")).toBe(3);
  });

  it("sends what is not a clickstream event and an event dated too far ahead to its DLQ with their data and reasons (Audit), and counts the rest", async () => {
    const start = new Date(Date.now() - 60_000);
    const future = new Date(Date.now() + 3_600_000);
    const long = click("p".repeat(5000), start);
    const event = kinesisEvent(["not json", { productId: "p-3" }, click("p-3", future), long, click("p-4", start)], {
      first: 100,
    });

    const response = await fn.handler(event, lambdaContext("DemandHydration", "inv-2"));

    // Done: each in the dead-letter queue with its data; nothing for the stream to retry.
    expect(response).toEqual({ batchItemFailures: [] });
    const seq = (n: number) => String(n).padStart(20, "0");
    expect(deadLetters.sent.map((r) => [r.sequenceNumber, r.reason])).toEqual([
      [seq(100), 'not JSON: "not json"'],
      [seq(101), "action: missing; ts: missing"],
      [seq(103), expect.stringMatching(/^productId: 5000 bytes long, more than 200 \(it is part of table keys\)/)],
      [seq(102), expect.stringMatching(/^ts .* is more than 300 s after the time of processing/)],
    ]);
    expect(deadLetters.sent[3]).toMatchObject({ eventSource: "aws:kinesis", shardId: "shardId-000000000000" });
    expect(Buffer.from((deadLetters.sent[2] as { data: string }).data, "base64").toString()).toBe(JSON.stringify(long));
    expect(fn.stdout.logs()).toContainEqual(expect.objectContaining({ message: "demand hydrated", eventsCounted: 1 }));
    // Records their producer must fix, not errors of the function: WARN, like their audit messages.
    const refusedLines = fn.stdout.logs().filter((line) => String(line.message).endsWith("refused"));
    expect(refusedLines.map((line) => [line.level, line.sequenceNumber, line.deadLetterMessageId])).toEqual([
      ["WARN", seq(100), "dl-1"],
      ["WARN", seq(101), "dl-2"],
      ["WARN", seq(103), "dl-3"],
      ["WARN", seq(102), "dl-4"],
    ]);
    expect(audit.messages.map((m) => [m.action, m.outcome, m.sequenceNumber, m.deadLetterMessageId])).toEqual([
      ["decode", "refused", seq(100), "dl-1"],
      ["decode", "refused", seq(101), "dl-2"],
      ["decode", "refused", seq(103), "dl-3"],
      ["count", "refused", seq(102), "dl-4"],
    ]);
  });

  it("says in a WARN line how many events it dropped as late, their oldest and newest times, and the watermark they were judged against", async () => {
    // A shard of its own: its watermark moves to a minute ago (an event from the present), then a backfill arrives.
    const shardId = "shardId-000000000007";
    const now = Math.floor(Date.now() / 60_000) * 60_000;
    const at = (minutesAgo: number) => new Date(now - minutesAgo * 60_000);
    await fn.handler(kinesisEvent([click("p-9", at(1))], { shardId }), lambdaContext("DemandHydration", "inv-4"));
    fn.stdout.clear();

    const backfill = kinesisEvent([click("p-9", at(120)), click("p-9", at(90), "purchase"), click("p-9", at(0.5))], {
      shardId,
      first: 10,
    });
    await fn.handler(backfill, lambdaContext("DemandHydration", "inv-5"));

    // One-minute windows, no lateness: the windows up to the one ending at the watermark (a minute ago) are closed.
    const warnings = fn.stdout.logs().filter((line) => line.level === "WARN");
    expect(warnings).toEqual([
      expect.objectContaining({
        message: expect.stringMatching(/^late clickstream events not counted: .*allowed lateness/),
        shardId,
        events: 2,
        oldest: at(120).toISOString(),
        newest: at(90).toISOString(),
        watermark: at(1).toISOString(),
        closedBefore: at(1).toISOString(),
        windowSeconds: 60,
        latenessSeconds: 0,
      }),
    ]);
    expect(fn.stdout.logs()).toContainEqual(
      expect.objectContaining({ message: "demand hydrated", eventsCounted: 1, late: 2 }),
    );
  });

  it("leaves a refused record to the stream's retries (batch item failure) when its DLQ does not take it", async () => {
    deadLetters.refuse = "RequestThrottled: slow down";
    try {
      const response = await fn.handler(
        kinesisEvent(["not json"], { first: 200 }),
        lambdaContext("DemandHydration", "inv-3"),
      );
      expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: String(200).padStart(20, "0") }] });
      expect(audit.messages).toEqual([
        expect.objectContaining({ deadLetterError: "RequestThrottled: slow down", retried: true }),
      ]);
    } finally {
      deadLetters.refuse = undefined;
    }
  });
});
