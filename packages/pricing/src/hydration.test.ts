import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { aggregateShard, DEFAULT_WINDOWS, demandRequestId, windowKeyOf, windowStartOf } from "./demand-windows.ts";
import { createMemoryWindowStore } from "./fixtures/in-memory.ts";
import { type HydrationDeps, type HydrationRecord, hydrateDemand } from "./hydration.ts";
import { type InferenceRequest, parseInferenceRequest } from "./schemas.ts";

const T0 = Date.parse("2026-11-23T10:00:00.000Z");
const MIN = 60_000;
/** The time of processing in these tests: the events are recent, and ten minutes is never "the future". */
const NOW = T0 + 2 * 3_600_000;

let seq = 100;
function event(productId: string, action: string, atMs: number, shardId = "shard-0"): HydrationRecord {
  seq++;
  return {
    shardId,
    sequenceNumber: String(seq),
    value: { eventId: `e${seq}`, productId, action, ts: new Date(atMs).toISOString() },
  };
}

function setup() {
  const store = createMemoryWindowStore();
  const requests = new Map<string, InferenceRequest>();
  const deps: HydrationDeps = {
    store,
    async putRequest(request) {
      if (requests.has(request.requestId)) return "exists";
      requests.set(request.requestId, request);
      return "created";
    },
    async inventoryOf(ids) {
      return new Map(ids.map((id) => [id, 42]));
    },
    now: () => NOW,
  };
  return { store, requests, deps };
}

describe("demand windows", () => {
  it("aligns 5-minute windows on the epoch", () => {
    expect(new Date(windowStartOf(T0 + 4 * MIN + 59_999)).toISOString()).toBe("2026-11-23T10:00:00.000Z");
    expect(new Date(windowStartOf(T0 + 5 * MIN)).toISOString()).toBe("2026-11-23T10:05:00.000Z");
  });

  it("counts each action into its feature and skips what was already counted", () => {
    const records = [
      event("a", "impression", T0),
      event("a", "click", T0 + 1),
      event("a", "add_to_cart", T0 + 2),
      event("a", "purchase", T0 + 3),
    ];
    const key = windowKeyOf("a", T0);
    const all = aggregateShard(records, 0, () => undefined);
    expect(all.partials.get(key)?.counts).toEqual({ views: 1, clicks: 1, addToCart: 1, purchases: 1 });
    const rest = aggregateShard(records, 0, () => records[1]?.sequenceNumber);
    expect(rest.partials.get(key)).toMatchObject({
      counts: { views: 0, clicks: 0, addToCart: 1, purchases: 1 },
      events: 2,
    });
  });
});

describe("hydrateDemand", () => {
  it("writes one request per product per closed window, with inventory, once the watermark passes end + lateness", async () => {
    const { requests, deps } = setup();
    await hydrateDemand(
      [
        event("a", "impression", T0),
        event("a", "click", T0 + MIN),
        event("b", "purchase", T0 + 2 * MIN),
        event("a", "impression", T0 + 5 * MIN),
      ],
      deps,
    );
    expect(requests.size).toBe(0);
    // A late event (inside the lateness) still counts; then the watermark passes 10:06 and the window closes.
    const result = await hydrateDemand(
      [event("a", "add_to_cart", T0 + 4 * MIN), event("c", "impression", T0 + 6 * MIN)],
      deps,
    );
    expect(result.requestsCreated.sort()).toEqual([
      demandRequestId(windowKeyOf("a", T0)),
      demandRequestId(windowKeyOf("b", T0)),
    ]);
    expect(requests.get(demandRequestId(windowKeyOf("a", T0)))).toEqual({
      requestId: "demand#a#2026-11-23T10:00:00.000Z",
      productId: "a",
      windowStart: "2026-11-23T10:00:00.000Z",
      windowEnd: "2026-11-23T10:05:00.000Z",
      views: 1,
      clicks: 1,
      addToCart: 1,
      purchases: 0,
      inventory: 42,
    });
  });

  it("drops events later than the allowed lateness, and skips invalid events", async () => {
    const { requests, deps } = setup();
    await hydrateDemand([event("a", "click", T0), event("a", "click", T0 + 7 * MIN)], deps);
    const late = await hydrateDemand([event("a", "click", T0 + MIN), event("a", "teleport", T0 + 7 * MIN)], deps);
    expect(late.late).toBe(1);
    // Which: the shard, how many, their event times, and what they were judged against (the watermark before the
    // batch; events dated before the end of the latest closed window are late).
    expect(late.lateEvents).toEqual([
      {
        shardId: "shard-0",
        events: 1,
        oldestMs: T0 + MIN,
        newestMs: T0 + MIN,
        watermarkMs: T0 + 7 * MIN,
        closedBeforeMs: T0 + 5 * MIN,
      },
    ]);
    expect(late.invalid).toEqual([
      { shardId: "shard-0", sequenceNumber: expect.any(String), reason: expect.stringContaining("action") },
    ]);
    expect(requests.get(demandRequestId(windowKeyOf("a", T0)))).toMatchObject({ clicks: 1 });
  });

  it("counts each action on its own, so a request's funnel need not be ordered, and it is still a valid request", async () => {
    const { requests, deps } = setup();
    // The impression falls in the window before its click; the purchase follows no add-to-cart (a cart filled
    // earlier, or "buy now"). Real traffic, so PriceInference must not refuse what it yields.
    await hydrateDemand(
      [
        event("a", "impression", T0 + 5 * MIN - 50),
        event("a", "click", T0 + 5 * MIN + 50),
        event("a", "purchase", T0 + 5 * MIN + 100),
        event("z", "impression", T0 + 12 * MIN),
      ],
      deps,
    );
    const request = requests.get(demandRequestId(windowKeyOf("a", T0 + 5 * MIN)));
    expect(request).toMatchObject({ views: 0, clicks: 1, addToCart: 0, purchases: 1 });
    expect(parseInferenceRequest(request)).toEqual({ ok: true, request });
  });

  it("skips a record whose data could not be read, with the reason the decoder gave", async () => {
    const { deps } = setup();
    const unreadable = { shardId: "shard-0", sequenceNumber: "90", value: undefined, unreadable: 'not JSON: "oops"' };
    const result = await hydrateDemand([unreadable, event("a", "click", T0)], deps);
    expect(result.invalid).toEqual([{ shardId: "shard-0", sequenceNumber: "90", reason: 'not JSON: "oops"' }]);
    expect(result.eventsCounted).toBe(1);
  });

  it("refuses as invalid an event whose productId could not be a DynamoDB key, and counts the others", async () => {
    const { deps } = setup();
    // 5 000 bytes: `window#<productId>#...` is over DynamoDB's 2 048-byte partition key, `open#...#<productId>` over
    // its 1 024-byte sort key; written, it failed every retry of its batch with a ValidationException.
    const long = event("p".repeat(5000), "click", T0);
    const result = await hydrateDemand([event("a", "click", T0), long, event("a", "click", T0 + 1)], deps);
    expect(result.invalid).toEqual([
      {
        shardId: "shard-0",
        sequenceNumber: long.sequenceNumber,
        reason: expect.stringMatching(/^productId: 5000 bytes long, more than 200 \(it is part of table keys\)/),
      },
    ]);
    expect(result.eventsCounted).toBe(2);
  });

  it("gives the same requests whether each batch is delivered once or replayed after failures (property)", async () => {
    const eventArb = fc.record({
      product: fc.constantFrom("a", "b", "c"),
      action: fc.constantFrom("impression", "click", "add_to_cart", "purchase"),
      offset: fc.integer({ min: 0, max: 20 * MIN }),
      shard: fc.constantFrom("s0", "s1"),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(eventArb, { minLength: 1, maxLength: 60 }),
        fc.array(fc.integer({ min: 0, max: 60 }), { maxLength: 6 }),
        async (specs, cuts) => {
          // Events arrive roughly in time order (a stream), each shard in sequence order.
          const sorted = [...specs].sort((x, y) => x.offset - y.offset);
          const records = sorted.map((s) => event(s.product, s.action, T0 + s.offset, s.shard));
          const closer = [event("a", "impression", T0 + 60 * MIN, "s0"), event("a", "impression", T0 + 60 * MIN, "s1")];

          const points = [...new Set([0, ...cuts.map((c) => Math.min(c, records.length)), records.length])].sort(
            (x, y) => x - y,
          );
          // The stream delivers the same pieces in the same order; the second run also replays each piece (and the
          // one before it) after a "failure", as Lambda does after an error.
          const once = setup();
          const retried = setup();
          for (let i = 1; i < points.length; i++) {
            await hydrateDemand(records.slice(points[i - 1], points[i]), once.deps);
            await hydrateDemand(records.slice(points[i - 1], points[i]), retried.deps);
            await hydrateDemand(records.slice(points[Math.max(0, i - 2)], points[i]), retried.deps);
          }
          await hydrateDemand(closer, once.deps);
          await hydrateDemand(closer, retried.deps);
          await hydrateDemand(closer, retried.deps);

          expect(new Map([...retried.requests].sort())).toEqual(new Map([...once.requests].sort()));
        },
      ),
      { numRuns: 100 },
    );
  });

  it("refuses an event dated beyond the allowed future with its reason, and the shard goes on counting (issue 5)", async () => {
    const { requests, deps } = setup();
    const future = event("a", "click", Date.parse("2099-01-01T00:00:00.000Z"));
    const first = await hydrateDemand([event("a", "click", T0), future], { ...deps, now: () => T0 + 2 * MIN });
    // Not counted, so it does not move the watermark: the 10:00 window stays open.
    expect(requests.size).toBe(0);
    expect(first.eventsCounted).toBe(1);
    expect(first.refused).toEqual([
      {
        shardId: "shard-0",
        sequenceNumber: future.sequenceNumber,
        reason:
          "ts 2099-01-01T00:00:00.000Z is more than 300 s after the time of processing (2026-11-23T10:02:00.000Z)",
      },
    ]);
    // Real events after it are on time: counted into their window, which closes when real time passes it.
    const later = await hydrateDemand([event("a", "click", T0 + 3 * MIN), event("z", "click", T0 + 7 * MIN)], {
      ...deps,
      now: () => T0 + 7 * MIN,
    });
    expect(later).toMatchObject({ late: 0, refused: [], requestsCreated: [demandRequestId(windowKeyOf("a", T0))] });
    expect(requests.get(demandRequestId(windowKeyOf("a", T0)))).toMatchObject({ clicks: 2 });
  });

  it("accepts an event up to the allowed future, which is configurable", async () => {
    const { deps } = setup();
    const config = { ...DEFAULT_WINDOWS, maxFutureMs: MIN };
    const batch = [event("a", "click", NOW + MIN), event("a", "click", NOW + MIN + 1)];
    const result = await hydrateDemand(batch, { ...deps, config });
    expect(result.eventsCounted).toBe(1);
    expect(result.refused.map((r) => r.sequenceNumber)).toEqual([batch[1]?.sequenceNumber]);
  });

  it("gives the same requests with future-dated events among the others, retried from each as Lambda does (property)", async () => {
    const eventArb = fc.record({
      product: fc.constantFrom("a", "b"),
      action: fc.constantFrom("impression", "click", "purchase"),
      offset: fc.integer({ min: 0, max: 20 * MIN }),
      shard: fc.constantFrom("s0", "s1"),
      future: fc.integer({ min: 0, max: 9 }).map((n) => n < 3),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(eventArb, { minLength: 1, maxLength: 40 }),
        fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 4 }),
        async (specs, cuts) => {
          const sorted = [...specs].sort((x, y) => x.offset - y.offset);
          const records = sorted.map((s) =>
            event(s.product, s.action, s.future ? NOW + 365 * 24 * 60 * MIN : T0 + s.offset, s.shard),
          );
          const valid = records.filter((_, i) => !sorted[i]?.future);
          const closer = [event("a", "impression", T0 + 60 * MIN, "s0"), event("a", "impression", T0 + 60 * MIN, "s1")];
          const points = [...new Set([0, ...cuts.map((c) => Math.min(c, records.length)), records.length])].sort(
            (x, y) => x - y,
          );
          const clean = setup();
          const refusing = setup();
          const refused: string[] = [];
          for (let i = 1; i < points.length; i++) {
            const piece = records.slice(points[i - 1], points[i]);
            await hydrateDemand(
              piece.filter((r) => valid.includes(r)),
              clean.deps,
            );
            // Lambda retries from the lowest failure of each shard, here up to 3 times.
            let delivery = piece;
            for (let attempt = 0; attempt <= 3 && delivery.length > 0; attempt++) {
              const result = await hydrateDemand(delivery, refusing.deps);
              refused.push(...result.refused.map((r) => r.sequenceNumber));
              const lowest = Math.min(
                ...result.refused.map((r) => delivery.findIndex((d) => d.sequenceNumber === r.sequenceNumber)),
              );
              delivery = Number.isFinite(lowest) ? delivery.slice(lowest) : [];
            }
          }
          await hydrateDemand(closer, clean.deps);
          await hydrateDemand(closer, refusing.deps);
          expect(new Map([...refusing.requests].sort())).toEqual(new Map([...clean.requests].sort()));
          const future = records.filter((r) => !valid.includes(r)).map((r) => r.sequenceNumber);
          expect(new Set(refused)).toEqual(new Set(future));
        },
      ),
      { numRuns: 100 },
    );
  });

  it("counts every shard of a batch before closing a window", async () => {
    const { requests, deps } = setup();
    await hydrateDemand(
      [event("a", "click", T0, "s0"), event("z", "click", T0 + 9 * MIN, "s0"), event("a", "click", T0 + 1, "s1")],
      deps,
    );
    expect(requests.get(demandRequestId(windowKeyOf("a", T0)))).toMatchObject({ clicks: 2 });
  });

  it("writes a window seen by two shards once", async () => {
    const { requests, deps } = setup();
    await hydrateDemand([event("a", "click", T0, "s0"), event("a", "click", T0 + 1, "s1")], deps);
    const closing = await hydrateDemand(
      [event("z", "click", T0 + 7 * MIN, "s0"), event("z", "click", T0 + 7 * MIN, "s1")],
      deps,
    );
    expect(closing.requestsCreated).toEqual([demandRequestId(windowKeyOf("a", T0))]);
    expect(closing.requestsExisting).toEqual([demandRequestId(windowKeyOf("a", T0))]);
    expect(requests.get(demandRequestId(windowKeyOf("a", T0)))).toMatchObject({ clicks: 2 });
    expect(DEFAULT_WINDOWS).toEqual({ windowMs: 5 * MIN, latenessMs: MIN, maxFutureMs: 5 * MIN });
  });
});
