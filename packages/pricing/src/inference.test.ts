import type { AuditMessage as PricingAuditMessage } from "@sluice/messages";
import { catalogItem, STRONG_DEMAND as STRONG, WEAK_DEMAND as WEAK } from "@sluice/testing";
import { describe, expect, it } from "vitest";
import { createInProcessModel, createMemoryCatalog } from "./fixtures/in-memory.ts";
import { type PricingDeps, priceRequests, type RequestRecord } from "./inference.ts";
import { decodeModelRequest, encodeModelAnswer, type ModelContentType } from "./model-contract.ts";
import { ModelCallFailed, type PricingModel } from "./ports.ts";

const NOW = new Date("2026-11-23T10:00:00.000Z");

let seq = 0;
function request(productId: string, features: object, extra: Record<string, unknown> = {}): RequestRecord {
  seq++;
  return {
    itemIdentifier: String(1000 + seq),
    image: {
      requestId: `r-${seq}`,
      productId,
      windowStart: "2026-11-23T09:50:00.000Z",
      windowEnd: "2026-11-23T09:55:00.000Z",
      ...features,
      ...extra,
    },
  };
}

function setup(items: Record<string, unknown>[], model: PricingModel = createInProcessModel()) {
  const catalog = createMemoryCatalog(items);
  const audit: PricingAuditMessage[] = [];
  const deps: PricingDeps = {
    model,
    catalog,
    audit: { publishAll: async (m) => void audit.push(...m) },
    now: () => NOW,
    retryDeps: { sleep: async () => {} },
  };
  return { catalog, audit, deps };
}

describe("priceRequests", () => {
  it("raises for strong demand by at most 10 %, cuts for weak demand, records history and audit", async () => {
    const { catalog, audit, deps } = setup([catalogItem("up"), catalogItem("down", { price: 70, minPrice: 50 })]);
    const result = await priceRequests([request("up", STRONG), request("down", WEAK)], deps);
    expect(result.failures).toEqual([]);
    expect(result.modelCalls).toBe(1);
    expect(catalog.items.get("up")).toMatchObject({ price: 110, version: 2, modelVersion: "demand-v1" });
    // 70 - 10 % = 63 is under cost * 1.10 = 66.
    expect(catalog.items.get("down")).toMatchObject({ price: 66, version: 2 });
    expect(catalog.history.map((h) => [h.productId, h.oldPrice, h.newPrice, h.clampedBy])).toEqual([
      ["up", 100, 110, ["max-change-up"]],
      ["down", 70, 66, ["min-margin"]],
    ]);
    expect(audit.map((a) => a.outcome)).toEqual(["succeeded", "succeeded"]);
  });

  it("refuses a poison request with its reason, without stopping the next one", async () => {
    const { catalog, audit, deps } = setup([catalogItem("a"), catalogItem("b")]);
    const poison = request("a", { ...STRONG, views: "lots" });
    const missing = { itemIdentifier: "9", image: { requestId: "r-x", views: 1 } };
    // What the stream adapter makes of a number beyond 2^53: a bigint, which is not a count either.
    const huge = request("b", { ...STRONG, inventory: 12345678901234567890n });
    const result = await priceRequests([request("a", STRONG), poison, missing, huge, request("b", STRONG)], deps);
    expect(result.failures).toEqual([poison.itemIdentifier, "9", huge.itemIdentifier]);
    expect(catalog.items.get("b")).toMatchObject({ price: 110 });
    expect(audit.find((a) => a.sequenceNumber === poison.itemIdentifier)).toMatchObject({
      outcome: "refused",
      reason: expect.stringContaining("views"),
    });
    expect(audit.find((a) => a.sequenceNumber === "9")?.reason).toMatch(/productId/);
    expect(audit.find((a) => a.sequenceNumber === huge.itemIdentifier)?.reason).toBe(
      "invalid inference request: inventory: 12345678901234567890 is not a safe integer",
    );
  });

  it("hands refused requests to keepRefused before reporting them: kept ones are done, the others batch item failures", async () => {
    const { audit, deps } = setup([catalogItem("a")]);
    const poison = request("a", { ...STRONG, views: "lots" });
    const other = request("a", { ...STRONG, clicks: "many" });
    const asked: unknown[] = [];
    const result = await priceRequests([poison, request("a", STRONG), other], {
      ...deps,
      async keepRefused(refused) {
        asked.push(...refused);
        return new Map([
          [poison.itemIdentifier, { kept: true, fields: { deadLetterMessageId: "dl-1" } }],
          [other.itemIdentifier, { kept: false, fields: { deadLetterError: "throttled" } }],
        ]);
      },
    });
    expect(asked).toEqual([
      { itemIdentifier: poison.itemIdentifier, reason: expect.stringContaining("views") },
      { itemIdentifier: other.itemIdentifier, reason: expect.stringContaining("clicks") },
    ]);
    expect(result.failures).toEqual([other.itemIdentifier]);
    expect(audit.find((a) => a.sequenceNumber === poison.itemIdentifier)).toMatchObject({
      outcome: "refused",
      deadLetterMessageId: "dl-1",
    });
    expect(audit.find((a) => a.sequenceNumber === other.itemIdentifier)).toMatchObject({
      deadLetterError: "throttled",
    });
  });

  it("refuses a count beyond 2^53 as not a safe integer, and an unreadable image with why it could not be read", async () => {
    const { catalog, audit, deps } = setup([catalogItem("a")]);
    const unsafe = request("a", { ...STRONG, views: 1e20 });
    const unreadable: RequestRecord = {
      itemIdentifier: "7",
      image: undefined,
      unreadable: "Unsupported type passed: Q",
    };
    const result = await priceRequests([unsafe, unreadable], deps);
    expect(result.failures).toEqual([unsafe.itemIdentifier, "7"]);
    expect(catalog.history).toEqual([]);
    expect(audit.map((a) => [a.sequenceNumber, a.outcome, a.reason])).toEqual([
      [
        unsafe.itemIdentifier,
        "refused",
        "invalid inference request: views: 100000000000000000000 is not a safe integer",
      ],
      ["7", "refused", "invalid inference request: the stream image could not be read: Unsupported type passed: Q"],
    ]);
  });

  it("changes nothing for an unknown product and reports it, without calling the model", async () => {
    const model = createInProcessModel();
    const { catalog, audit, deps } = setup([], model);
    const result = await priceRequests([request("ghost", STRONG)], deps);
    expect(result.failures).toEqual([]);
    expect(model.calls).toBe(0);
    expect(catalog.items.size).toBe(0);
    expect(audit[0]).toMatchObject({ outcome: "skipped", reason: "unknown-product", productId: "ghost" });
  });

  it("applies a replayed request once, and audits it `succeeded` again, identical (at least once)", async () => {
    const { catalog, audit, deps } = setup([catalogItem("a")]);
    const first = request("a", STRONG);
    await priceRequests([first], deps);
    const replay = await priceRequests([first], { ...deps, config: { guardrails: { ...guardrailsNoCooldown } } });
    expect(replay.failures).toEqual([]);
    expect(replay.outcomes.map((o) => o.kind)).toEqual(["replayed"]);
    expect(catalog.history).toHaveLength(1);
    expect(catalog.items.get("a")).toMatchObject({ price: 110, version: 2 });
    expect(audit).toHaveLength(2);
    expect(audit[0]).toMatchObject({ outcome: "succeeded", correlationId: `r-${seq}`, oldPrice: 100, newPrice: 110 });
    expect(audit[1]).toEqual(audit[0]);
  });

  it("applies requests for one product in stream order within a batch, each on the previous price", async () => {
    const { catalog, deps } = setup([catalogItem("a")]);
    const later = { windowStart: "2026-11-23T09:55:00.000Z", windowEnd: "2026-11-23T10:00:00.000Z" };
    await priceRequests([request("a", STRONG), request("a", STRONG, later)], {
      ...deps,
      config: { guardrails: guardrailsNoCooldown },
    });
    expect(catalog.history.map((h) => [h.oldPrice, h.newPrice])).toEqual([
      [100, 110],
      [110, 121],
    ]);
  });

  it("skips within the cooldown and skips stale windows", async () => {
    const { catalog, audit, deps } = setup([
      catalogItem("cool", { lastChangedAt: "2026-11-23T09:50:00.000Z" }),
      catalogItem("old", { lastWindowEnd: "2026-11-23T10:00:00.000Z" }),
    ]);
    await priceRequests([request("cool", STRONG), request("old", STRONG)], deps);
    expect(catalog.history).toHaveLength(0);
    expect(audit.map((a) => a.reason)).toEqual(["cooldown", "stale"]);
  });

  it("re-reads and decides again after a version conflict (no lost update)", async () => {
    const { catalog, deps } = setup([catalogItem("a")]);
    const real = catalog.applyChange.bind(catalog);
    let raced = false;
    catalog.applyChange = async (change) => {
      if (!raced) {
        raced = true;
        // Another writer changes the price between the read and the write.
        const item = catalog.items.get("a") as Record<string, unknown>;
        catalog.items.set("a", { ...item, price: 120, version: 2 });
      }
      return real(change);
    };
    await priceRequests([request("a", STRONG)], { ...deps, config: { guardrails: guardrailsNoCooldown } });
    expect(catalog.items.get("a")).toMatchObject({ price: 130, version: 3 });
    expect(catalog.history[0]).toMatchObject({ oldPrice: 120, newPrice: 130, expectedVersion: 2 });
  });

  it("batches under the record limit, retries throttled calls, fails only the records of a call that still fails", async () => {
    const inner = createInProcessModel();
    let call = 0;
    const attempts: number[] = [];
    const model: PricingModel = {
      async invoke(body, contentType) {
        call++;
        const records = decodeModelRequest(body, contentType);
        attempts.push(records.length);
        // The first call is throttled once; every call holding a record with 7 views fails for good.
        if (call === 1) throw new ModelCallFailed("ThrottlingException", true, "ThrottlingException");
        if (records.some((r) => r.views === 7)) throw new ModelCallFailed("model crashed", true);
        return inner.invoke(body, contentType);
      },
    };
    const items = Array.from({ length: 6 }, (_, i) => catalogItem(`p${i}`));
    const { catalog, audit, deps } = setup(items, model);
    const records = items.map((item, i) => request(String(item.productId), i >= 4 ? { ...STRONG, views: 7 } : STRONG));
    const result = await priceRequests(records, {
      ...deps,
      config: { batching: { maxPayloadBytes: 1_000_000, maxRecordsPerCall: 2 }, modelParallelism: 1 },
    });
    // Calls: [p0,p1] throttled then ok, [p2,p3] ok, [p4,p5] fails 4 times.
    expect(attempts).toEqual([2, 2, 2, 2, 2, 2, 2]);
    expect(result.modelCalls).toBe(7);
    expect(result.failures).toEqual([records[4]?.itemIdentifier, records[5]?.itemIdentifier]);
    expect(catalog.history.map((h) => h.productId)).toEqual(["p0", "p1", "p2", "p3"]);
    expect(audit.filter((a) => a.outcome === "failed").map((a) => a.reason)).toEqual([
      "model call failed: model crashed",
      "model call failed: model crashed",
    ]);
  });

  it("does not retry a call the model refuses as invalid", async () => {
    let calls = 0;
    const model: PricingModel = {
      async invoke() {
        calls++;
        throw new ModelCallFailed("ValidationError", false);
      },
    };
    const { deps } = setup([catalogItem("a")], model);
    const result = await priceRequests([request("a", STRONG)], deps);
    expect(calls).toBe(1);
    expect(result.failures).toHaveLength(1);
  });

  it("isolates a model error on one record from its neighbours", async () => {
    const model: PricingModel = {
      async invoke(body, contentType) {
        const records = decodeModelRequest(body, contentType);
        const predictions = records.map((r) => (r.inventory === 13 ? { error: "cannot score" } : { adjustment: 0.05 }));
        return { body: encodeModelAnswer({ modelVersion: "m-2", predictions }, contentType), contentType };
      },
    };
    const { catalog, deps } = setup([catalogItem("a"), catalogItem("b"), catalogItem("c")], model);
    const bad = request("b", { ...STRONG, inventory: 13 });
    const result = await priceRequests([request("a", STRONG), bad, request("c", STRONG)], {
      ...deps,
      config: { contentType: "text/csv" },
    });
    expect(result.failures).toEqual([bad.itemIdentifier]);
    expect(result.modelCalls).toBe(1);
    expect([...catalog.items.values()].map((i) => i.price)).toEqual([105, 100, 105]);
    expect(catalog.items.get("a")).toMatchObject({ modelVersion: "m-2" });
  });
});

describe("priceRequests against the invocation's deadline", () => {
  // A fake clock: the invocation has `budgetMs` left when it starts; each model call takes `latencyMs` of it, each
  // back-off its delay. Calls may take up to 60 s (the model client's request timeout), and 10 s is kept for the
  // catalog writes and the audit after the last call.
  const timing = { modelCallTimeoutMs: 60_000, reserveMs: 10_000 };
  function clocked(
    items: Record<string, unknown>[],
    budgetMs: number,
    model: (elapse: (ms: number) => void) => PricingModel,
  ) {
    let elapsed = 0;
    const elapse = (ms: number) => {
      elapsed += ms;
    };
    const { catalog, audit, deps } = setup(items, model(elapse));
    return {
      catalog,
      audit,
      deps: {
        ...deps,
        now: () => new Date(NOW.getTime() + elapsed),
        remainingMs: () => budgetMs - elapsed,
        retryDeps: { sleep: async (ms: number) => elapse(ms) },
        config: { ...timing },
      } satisfies PricingDeps,
      /** A new invocation (the stream's retry): the same catalog, a fresh budget. */
      restart: () => {
        budgetMs = elapsed + budgetMs;
      },
    };
  }
  const slowModel = (latencyMs: number, calls: { n: number }) => (elapse: (ms: number) => void) => {
    const inner = createInProcessModel();
    return {
      async invoke(body: string, contentType: ModelContentType) {
        calls.n++;
        elapse(latencyMs);
        return inner.invoke(body, contentType);
      },
    };
  };

  it("starts no model call that could not end before the deadline, and returns its requests as batch item failures", async () => {
    const calls = { n: 0 };
    // 50 s left: a call that may take 60 s, plus the 10 s kept for the writes, does not fit.
    const { catalog, audit, deps } = clocked([catalogItem("a"), catalogItem("b")], 50_000, slowModel(1_000, calls));
    const records = [request("a", STRONG), request("b", STRONG)];

    const result = await priceRequests(records, deps);

    expect(calls.n).toBe(0);
    expect(result.modelCalls).toBe(0);
    expect(result.failures).toEqual(records.map((r) => r.itemIdentifier));
    expect(catalog.history).toEqual([]);
    expect(audit.map((a) => [a.outcome, a.reason])).toEqual([
      ["failed", "not priced: no time left in this invocation for a model call (the stream retries it)"],
      ["failed", "not priced: no time left in this invocation for a model call (the stream retries it)"],
    ]);
  });

  it("starts no retry that could not end before the deadline", async () => {
    let calls = 0;
    // 100 s left: the first attempt fits (60 s + 10 s), and times out after 30 s; a retry would need 70 s more.
    const { catalog, audit, deps } = clocked([catalogItem("a")], 100_000, (elapse) => ({
      async invoke() {
        calls++;
        elapse(30_000);
        throw new ModelCallFailed("TimeoutError: socket timed out", true, "TimeoutError");
      },
    }));

    const result = await priceRequests([request("a", STRONG)], deps);

    expect(calls).toBe(1);
    expect(result.failures).toHaveLength(1);
    expect(catalog.history).toEqual([]);
    expect(audit[0]?.reason).toBe(
      "model call failed: TimeoutError: socket timed out (no time left in this invocation to retry it; the stream retries it)",
    );
  });

  it("keeps retrying within the deadline as before", async () => {
    let calls = 0;
    const inner = createInProcessModel();
    const { catalog, deps } = clocked([catalogItem("a")], 120_000, (elapse) => ({
      async invoke(body, contentType) {
        calls++;
        elapse(1_000);
        if (calls < 3) throw new ModelCallFailed("ThrottlingException", true, "ThrottlingException");
        return inner.invoke(body, contentType);
      },
    }));

    const result = await priceRequests([request("a", STRONG)], deps);

    expect(calls).toBe(3);
    expect(result.failures).toEqual([]);
    expect(catalog.history).toHaveLength(1);
  });

  it("a batch cut short by the deadline is retried by the stream: the rest is priced, nothing is applied twice", async () => {
    const calls = { n: 0 };
    const items = Array.from({ length: 6 }, (_, i) => catalogItem(`p${i}`));
    // Three calls of two requests, 40 s each, in 120 s: the third would start at 80 s and could end after the
    // deadline (80 + 60 + 10 > 120), so it does not start.
    const { catalog, audit, deps, restart } = clocked(items, 120_000, slowModel(40_000, calls));
    const records = items.map((item) => request(String(item.productId), STRONG));
    const config = {
      ...deps.config,
      batching: { maxPayloadBytes: 1_000_000, maxRecordsPerCall: 2 },
      modelParallelism: 1,
    };

    const first = await priceRequests(records, { ...deps, config });

    expect(calls.n).toBe(2);
    expect(first.failures).toEqual([records[4]?.itemIdentifier, records[5]?.itemIdentifier]);
    expect(catalog.history.map((h) => h.productId)).toEqual(["p0", "p1", "p2", "p3"]);

    // The stream retries from the first failure (ReportBatchItemFailures)...
    restart();
    const retried = await priceRequests(records.slice(4), { ...deps, config });
    expect(retried.failures).toEqual([]);
    // ...or, had the invocation failed as a whole, the whole batch again (bisected): the applied ones are replays.
    restart();
    const again = await priceRequests(records, { ...deps, config });
    expect(again.failures).toEqual([]);
    expect(again.outcomes.map((o) => o.kind)).toEqual(Array(6).fill("replayed"));

    expect(calls.n).toBe(3);
    expect(catalog.history.map((h) => h.requestId).sort()).toEqual(
      records.map((r) => (r.image as { requestId: string }).requestId).sort(),
    );
    expect([...catalog.items.values()].map((i) => [i.price, i.version])).toEqual(Array(6).fill([110, 2]));
    // Each change audited `succeeded` when applied, and again by the whole batch's replay (at least once).
    expect(audit.filter((a) => a.outcome === "succeeded")).toHaveLength(12);
    expect(new Set(audit.filter((a) => a.outcome === "succeeded").map((a) => a.correlationId)).size).toBe(6);
  });
});

describe("priceRequests audits every applied change `succeeded` at least once", () => {
  /** The `succeeded` message of a change from 100 to 110 (+20 % bounded to +10 %), as first published. */
  const succeeded = (record: RequestRecord, productId: string) => {
    const requestId = (record.image as { requestId: string }).requestId;
    return {
      pipeline: "price-inference",
      action: "price-change",
      outcome: "succeeded",
      correlationId: requestId,
      sequenceNumber: record.itemIdentifier,
      requestId,
      productId,
      oldPrice: 100,
      newPrice: 110,
      currency: "USD",
      modelVersion: "demand-v1",
      reason: "model demand-v1 suggested +20.00 %; bounded by max-change-up",
    };
  };

  it("a change applied by an invocation whose audit then failed is audited `succeeded` by its retry, as it would have been", async () => {
    const { catalog, audit, deps } = setup([catalogItem("a"), catalogItem("b")]);
    const records = [request("a", STRONG), request("b", STRONG)];
    const lost: PricingAuditMessage[] = [];
    const failing: PricingDeps = {
      ...deps,
      audit: {
        async publishAll(messages) {
          lost.push(...messages);
          throw new Error("SNS: Internal error");
        },
      },
    };
    await expect(priceRequests(records, failing)).rejects.toThrow("SNS: Internal error");
    expect(catalog.history).toHaveLength(2);

    // The stream retries the batch: both are replays now, and their `succeeded` messages are the ones lost.
    const retry = await priceRequests(records, deps);
    expect(retry.failures).toEqual([]);
    expect(catalog.history).toHaveLength(2);
    expect(audit).toEqual([succeeded(records[0] as RequestRecord, "a"), succeeded(records[1] as RequestRecord, "b")]);
    expect(audit).toEqual(lost);
  });

  it("a change applied by an invocation that another record's error threw is audited `succeeded` by its retry", async () => {
    const { catalog, audit, deps } = setup([catalogItem("a"), catalogItem("b")]);
    const records = [request("a", STRONG), request("b", STRONG)];
    const real = catalog.applyChange.bind(catalog);
    let broken = true;
    catalog.applyChange = async (change) => {
      if (broken && change.productId === "b") throw new Error("ProvisionedThroughputExceededException");
      return real(change);
    };
    await expect(priceRequests(records, deps)).rejects.toThrow("ProvisionedThroughputExceededException");
    expect(catalog.history.map((h) => h.productId)).toEqual(["a"]);
    expect(audit).toEqual([]);

    broken = false;
    const retry = await priceRequests(records, deps);
    expect(retry.outcomes.map((o) => o.kind)).toEqual(["replayed", "applied"]);
    expect(retry.failures).toEqual([]);
    expect(audit).toEqual([succeeded(records[0] as RequestRecord, "a"), succeeded(records[1] as RequestRecord, "b")]);
  });

  it("a replay the catalog no longer names (a later change applied since) is found by its history record, not skipped as stale", async () => {
    const { catalog, audit, deps } = setup([catalogItem("a")]);
    const later = { windowStart: "2026-11-23T09:55:00.000Z", windowEnd: "2026-11-23T10:00:00.000Z" };
    const records = [request("a", STRONG), request("a", STRONG, later)];
    const config = { guardrails: guardrailsNoCooldown };
    await expect(
      priceRequests(records, {
        ...deps,
        config,
        audit: {
          publishAll: async () => {
            throw new Error("SNS down");
          },
        },
      }),
    ).rejects.toThrow("SNS down");
    expect(catalog.history.map((h) => [h.oldPrice, h.newPrice])).toEqual([
      [100, 110],
      [110, 121],
    ]);

    const retry = await priceRequests(records, { ...deps, config });
    expect(retry.outcomes.map((o) => o.kind)).toEqual(["replayed", "replayed"]);
    expect(audit[0]).toEqual(succeeded(records[0] as RequestRecord, "a"));
    expect(audit[1]).toMatchObject({ outcome: "succeeded", oldPrice: 110, newPrice: 121 });
    expect(catalog.history).toHaveLength(2);
  });

  it("a replay whose history record is not found keeps the `replay` message (nothing to say of the change)", async () => {
    const { catalog, audit, deps } = setup([catalogItem("a", { lastRequestId: "r-gone" })]);
    const record: RequestRecord = { ...request("a", STRONG) };
    (record.image as { requestId: string }).requestId = "r-gone";
    const result = await priceRequests([record], deps);
    expect(result.failures).toEqual([]);
    expect(catalog.history).toEqual([]);
    expect(audit).toEqual([
      expect.objectContaining({ outcome: "skipped", reason: "replay", detail: "request r-gone was already applied" }),
    ]);
  });

  it("a replay whose history record cannot be read fails, for the stream to retry it: its audit is not given up", async () => {
    const { catalog, audit, deps } = setup([catalogItem("a")]);
    const record = request("a", STRONG);
    await priceRequests([record], deps);
    catalog.getChange = async () => {
      throw new Error("AccessDeniedException");
    };
    const retry = await priceRequests([record], deps);
    expect(retry.failures).toEqual([record.itemIdentifier]);
    expect(audit[1]).toMatchObject({
      outcome: "failed",
      reason:
        "already applied, but its history record could not be read: AccessDeniedException (the stream retries it)",
    });
  });
});

const guardrailsNoCooldown = { maxChangeRatio: 0.1, minMarginRatio: 1.1, minChangeRatio: 0.01, cooldownMs: 0 };
