import { describe, expect, it, vi } from "vitest";
import { coldStart, kinesisEvent, lambdaContext } from "#kit/testing";

// The function's ports in memory: its window store, the inference requests it writes, the Catalog's inventory and
// the Audit topic (the adapters have tests of their own).
const { windows, requests, audit } = await vi.hoisted(async () => {
  const { createMemoryWindowStore } = await import("@sluice/pricing/fixtures");
  const { memoryAuditSink } = await import("#kit/testing");
  return {
    windows: createMemoryWindowStore(),
    requests: new Map<string, Record<string, unknown>>(),
    audit: memoryAuditSink(),
  };
});
vi.mock("@sluice/aws/demand-windows", () => ({ createDynamoWindowStore: () => windows }));
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

const fn = coldStart(
  "DemandHydration",
  {
    Catalog: { name: "catalog" },
    InferenceRequests: { name: "inference-requests" },
    DemandWindows: { name: "demand-windows" },
    Audit: { arn: "arn:aws:sns:us-east-1:123456789012:Audit" },
  },
  // One-minute windows, no lateness: an event a minute later closes the window before it.
  { DEMAND_WINDOW_SECONDS: "60", DEMAND_LATENESS_SECONDS: "0", DEMAND_MAX_FUTURE_SECONDS: "300" },
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

  it("skips what is not a clickstream event, and refuses an event dated too far ahead (batch item failure, Audit)", async () => {
    const future = new Date(Date.now() + 3_600_000);
    const event = kinesisEvent(["not json", { productId: "p-3" }, click("p-3", future)], { first: 100 });

    const response = await fn.handler(event, lambdaContext("DemandHydration", "inv-2"));

    const refused = String(102).padStart(20, "0");
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: refused }] });
    const skipped = fn.stdout.logs().filter((line) => line.message === "invalid clickstream event skipped");
    expect(skipped).toHaveLength(2);
    // Each with its own reason: the record that is not JSON says so (as AnomalyAlert says it), with its text.
    expect(skipped.map((line) => line.reason)).toEqual(['not JSON: "not json"', "action: missing; ts: missing"]);
    // An event its producer must fix, not an error of the function: WARN, like its audit message.
    expect(fn.stdout.logs()).toContainEqual(
      expect.objectContaining({ level: "WARN", message: "clickstream event refused", sequenceNumber: refused }),
    );
    expect(audit.messages).toEqual([
      expect.objectContaining({ pipeline: "demand-hydration", outcome: "refused", sequenceNumber: refused }),
    ]);
  });
});
