import type { ClickstreamAction as ClickAction } from "@sluice/messages";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  applyRecords,
  type ClosedWindow,
  emptyWindowingState,
  type ShardRecord,
  sequenceAfter,
  type WindowingConfig,
  type WindowingState,
} from "./windowing.ts";

const MIN = 60_000;
const T0 = Date.UTC(2026, 2, 1, 12, 0, 0);
const config: WindowingConfig = {
  windowMs: MIN,
  latenessMs: 30_000,
  expectedShards: 1,
  idleShardMs: 60_000,
  maxGapWindows: 1440,
  siteIdleMs: 24 * 3_600_000,
  maxSites: 1000,
  allowedSites: null,
};

function rec(shardId: string, seq: number, time: number, site = "a.example", action: ClickAction = "impression") {
  return { shardId, sequenceNumber: String(1000 + seq), event: { time, site, action } } satisfies ShardRecord;
}

function total(windows: ClosedWindow[]): number {
  return windows.reduce(
    (n, w) => n + w.counts.impressions + w.counts.clicks + w.counts.addToCart + w.counts.purchases,
    0,
  );
}

describe("applyRecords", () => {
  it("closes a window once the watermark (max event time - lateness) passes its end", () => {
    const first = applyRecords(emptyWindowingState(), [rec("s1", 1, T0 + 5_000), rec("s1", 2, T0 + 70_000)], config);
    expect(first.closed).toEqual([]); // watermark T0 + 40 s: the first minute is still open
    const second = applyRecords(first.state, [rec("s1", 3, T0 + 95_000, "a.example", "click")], config);
    expect(second.closed).toEqual([
      {
        site: "a.example",
        windowStart: T0,
        windowEnd: T0 + MIN,
        counts: { impressions: 1, clicks: 0, addToCart: 0, purchases: 0 },
      },
    ]);
  });

  it("counts an event for a closed window as late, not in any window", () => {
    const a = applyRecords(emptyWindowingState(), [rec("s1", 1, T0 + 1_000), rec("s1", 2, T0 + 200_000)], config);
    const b = applyRecords(a.state, [rec("s1", 3, T0 + 2_000)], config);
    expect(b.late).toEqual([{ site: "a.example", time: T0 + 2_000 }]);
    expect(b.state.late).toBe(1);
    expect(b.counted).toBe(0);
  });

  it("accepts an out-of-order event within the allowed lateness", () => {
    const a = applyRecords(emptyWindowingState(), [rec("s1", 1, T0 + 75_000)], config);
    const b = applyRecords(a.state, [rec("s1", 2, T0 + 50_000)], config);
    expect(b.late).toEqual([]);
    const c = applyRecords(b.state, [rec("s1", 3, T0 + 200_000)], config);
    expect(c.closed[0]?.counts.impressions).toBe(1);
  });

  it("closes empty windows for a known site that went quiet, and skips a replayed record", () => {
    const a = applyRecords(
      emptyWindowingState(),
      [rec("s1", 1, T0, "quiet.example"), rec("s2", 1, T0, "busy.example")],
      config,
    );
    const b = applyRecords(
      a.state,
      [
        rec("s2", 2, T0 + 4 * MIN, "busy.example"),
        rec("s1", 1, T0, "quiet.example"),
        rec("s1", 2, T0 + 4 * MIN, "busy.example"),
      ],
      config,
    );
    expect(b.replayed).toBe(1);
    const quiet = b.closed.filter((w) => w.site === "quiet.example");
    expect(quiet.map((w) => [w.windowStart - T0, w.counts.impressions])).toEqual([
      [0, 1],
      [MIN, 0],
      [2 * MIN, 0],
    ]);
  });

  it("holds the watermark at the slowest active shard, and for the expected shards to report", () => {
    const two = { ...config, expectedShards: 2 };
    const now = Date.now();
    // Shard s1's Lambda runs ahead (a backfill): nothing closes before s2 has been heard from.
    const a = applyRecords(emptyWindowingState(), [rec("s1", 1, T0), rec("s1", 2, T0 + 10 * MIN)], two, now);
    expect(a.closed).toEqual([]);
    // s2 is behind: its events are not late, and only windows before s2's time close.
    const b = applyRecords(a.state, [rec("s2", 1, T0 + 1_000), rec("s2", 2, T0 + 2 * MIN)], two, now + 1_000);
    expect(b.late).toEqual([]);
    expect(b.closed.map((w) => w.windowStart - T0)).toEqual([0]);
    expect(b.closed[0]?.counts.impressions).toBe(2);
    // s2 then goes silent for longer than idleShardMs: s1 alone drives the watermark.
    const c = applyRecords(b.state, [rec("s1", 3, T0 + 11 * MIN)], two, now + 120_000);
    expect(c.closed.at(-1)?.windowStart).toBe(T0 + 9 * MIN);
  });

  it("evicts a site silent for siteIdleMs once its windows are closed, so that it closes no more (issue 6)", () => {
    const idle = { ...config, siteIdleMs: 10 * MIN };
    let state = applyRecords(emptyWindowingState(), [rec("s1", 1, T0, "gone.example")], idle).state;
    const closedFor = (site: string, windows: ClosedWindow[]) => windows.filter((w) => w.site === site).length;
    // busy.example goes on; gone.example gets its empty windows (a traffic drop) for 10 minutes, then is forgotten.
    let gone = 0;
    const evicted: string[] = [];
    for (let m = 1; m <= 30; m++) {
      const result = applyRecords(state, [rec("s1", 1 + m, T0 + m * MIN, "busy.example")], idle);
      state = result.state;
      gone += closedFor("gone.example", result.closed);
      evicted.push(...result.evicted);
    }
    expect(evicted).toEqual(["gone.example"]);
    expect(gone).toBe(10);
    expect(Object.keys(state.sites)).toEqual(["busy.example"]);
    expect(Object.keys(state.lastEventAt ?? {})).toEqual(["busy.example"]);
    // It comes back as a new site.
    const back = applyRecords(state, [rec("s1", 99, T0 + 30 * MIN + 1, "gone.example")], idle);
    expect(back.counted).toBe(1);
    expect(Object.keys(back.state.sites).sort()).toEqual(["busy.example", "gone.example"]);
  });

  it("starts the silence of a site known from state without lastEventAt at the next close", () => {
    const idle = { ...config, siteIdleMs: 10 * MIN };
    const a = applyRecords(emptyWindowingState(), [rec("s1", 1, T0, "old.example")], idle);
    const legacy = { ...a.state } as WindowingState;
    delete legacy.lastEventAt;
    const b = applyRecords(legacy, [rec("s1", 2, T0 + 5 * MIN, "new.example")], idle);
    expect(b.evicted).toEqual([]);
    expect(b.state.lastEventAt?.["old.example"]).toBe(b.state.closedUntil);
  });

  it("counts only allowed sites, and at most maxSites at once; the others are reported, in no window", () => {
    const limited = { ...config, maxSites: 2, allowedSites: ["a", "b", "c"] };
    const result = applyRecords(
      emptyWindowingState(),
      [
        rec("s1", 1, T0, "a"),
        rec("s1", 2, T0, "x"),
        rec("s1", 3, T0, "b"),
        rec("s1", 4, T0, "c"),
        rec("s1", 5, T0, "c"),
      ],
      limited,
    );
    expect(result.counted).toBe(2);
    expect(result.skipped).toEqual([
      { site: "x", reason: "not-allowed", events: 1 },
      { site: "c", reason: "over-limit", events: 2 },
    ]);
    expect(result.state).toMatchObject({ counted: 2, notAllowed: 1, overLimit: 2 });
    expect(Object.keys(result.state.sites).sort()).toEqual(["a", "b"]);
    // A known site the allow-list no longer names is evicted at the next close.
    const next = applyRecords(result.state, [rec("s1", 6, T0 + 5 * MIN, "a")], { ...limited, allowedSites: ["a"] });
    expect(next.evicted).toEqual(["b"]);
  });

  it("compares sequence numbers as numbers", () => {
    expect(sequenceAfter("10", "9")).toBe(true);
    expect(
      sequenceAfter(
        "49590338271490256608559692538361571095921575989136588898",
        "49590338271490256608559692538361571095921575989136588899",
      ),
    ).toBe(false);
  });

  it("counts every event exactly once (in a window, as late or apart for its site) whatever the batch boundaries, replays and site limits", () => {
    const arbitraryEvent = fc.record({
      shard: fc.constantFrom("s1", "s2"),
      // event time moves forward with jitter up to 50 s back (some later than the allowed 30 s)
      step: fc.integer({ min: 0, max: 20_000 }),
      jitter: fc.integer({ min: 0, max: 50_000 }),
      site: fc.constantFrom("a", "b", "c"),
      action: fc.constantFrom<ClickAction>("impression", "click", "add_to_cart", "purchase"),
    });
    fc.assert(
      fc.property(
        fc.array(arbitraryEvent, { minLength: 1, maxLength: 200 }),
        fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 1, maxLength: 40 }),
        fc.array(fc.boolean(), { maxLength: 40 }),
        fc.record({
          maxSites: fc.integer({ min: 1, max: 3 }),
          siteIdleMs: fc.constantFrom(2 * MIN, 24 * 3_600_000),
          allowedSites: fc.constantFrom(null, ["a", "b"]),
        }),
        (events, cuts, replays, sites) => {
          const limited = { ...config, ...sites };
          let clock = T0;
          const seqs: Record<string, number> = { s1: 0, s2: 0 };
          const records = events.map((e) => {
            clock += e.step;
            seqs[e.shard] = (seqs[e.shard] as number) + 1;
            return rec(e.shard, seqs[e.shard] as number, clock - e.jitter, e.site, e.action);
          });
          // Per-shard batches, as Lambda delivers them; a batch may be delivered again (retry).
          let state: WindowingState = emptyWindowingState();
          const closed: ClosedWindow[] = [];
          let late = 0;
          let skipped = 0;
          const byShard = ["s1", "s2"].map((s) => records.filter((r) => r.shardId === s));
          let cut = 0;
          let i = [0, 0];
          while ((i[0] as number) < (byShard[0]?.length ?? 0) || (i[1] as number) < (byShard[1]?.length ?? 0)) {
            const shard = cut % 2;
            const size = cuts[cut % cuts.length] as number;
            const from = i[shard] as number;
            const batch = (byShard[shard] ?? []).slice(from, from + size);
            for (let round = 0; round < (replays[cut % Math.max(1, replays.length)] ? 2 : 1); round++) {
              const result = applyRecords(state, batch, limited);
              state = result.state;
              closed.push(...result.closed);
              late += result.late.length;
              skipped += result.skipped.reduce((n, s) => n + s.events, 0);
            }
            i = shard === 0 ? [from + batch.length, i[1] as number] : [i[0] as number, from + batch.length];
            cut++;
          }
          // Flush: later, the two shards idle, an event far ahead closes every window.
          const flush = applyRecords(state, [rec("s3", 1, clock + 10 * MIN, "a")], limited, Date.now() + 10 * MIN);
          closed.push(...flush.closed);
          expect(total(closed) + late + skipped).toBe(records.length);
          expect(skipped).toBe((state.notAllowed ?? 0) + (state.overLimit ?? 0));
          expect(Object.keys(flush.state.sites).length).toBeLessThanOrEqual(sites.maxSites);
          // No window is emitted twice.
          const keys = closed.map((w) => `${w.site}@${w.windowStart}`);
          expect(new Set(keys).size).toBe(keys.length);
        },
      ),
      { numRuns: 200 },
    );
  });
});
