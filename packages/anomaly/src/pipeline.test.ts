import type { AlertMessage } from "@sluice/messages";
import { generateClickstream, parseIncident, siteNames } from "@sluice/testing/clickstream";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  AlertRefused,
  type AnomalyStateStore,
  createMemoryStateStore,
  DEFAULT_PIPELINE,
  METRIC_SCALES,
  METRICS,
  type PendingAlert,
  processClickstreamBatch,
  type RawRecord,
  StateConflict,
} from "./pipeline.ts";
import { emptyWindowingState } from "./windowing.ts";

const START = Date.UTC(2026, 2, 1, 0, 0, 0);
const NOW = START + 24 * 3_600_000;
const noSleep = async () => {};

function encode(value: unknown): string {
  return Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64");
}

function event(i: number, ts: string, site = "a.example", action = "impression") {
  return { eventId: `e${i}`, ts, site, page: "/p/1", productId: "p1", action, sessionId: "s1" };
}

function records(values: unknown[], shardId = "shard-0", from = 1): RawRecord[] {
  return values.map((v, i) => ({ shardId, sequenceNumber: String(from + i), data: encode(v) }));
}

async function seedOutbox(store: ReturnType<typeof createMemoryStateStore>, outbox: PendingAlert[]) {
  await store.commit({ version: 1, windowing: emptyWindowingState(), policies: {}, outbox }, 0, new Map());
}

function memoryAudit() {
  const messages: Array<Record<string, unknown>> = [];
  return {
    messages,
    publishAll: async (batch: ReadonlyArray<Record<string, unknown>>) => void messages.push(...batch),
  };
}

/** What the SNS adapter throws when SNS refuses the alert itself. */
function refusal(message: string): Error {
  return new AlertRefused(message);
}

function memoryAlerts() {
  const published: AlertMessage[] = [];
  return { published, publish: async (a: AlertMessage) => void published.push(a) };
}

describe("processClickstreamBatch", () => {
  it("reports malformed records with their reason and counts the valid ones", async () => {
    const store = createMemoryStateStore();
    const batch = records([
      event(1, "2026-03-01T00:00:01Z"),
      "not json {",
      { ...event(2, "2026-03-01T00:00:02Z"), action: "hover" },
      event(3, "2099-01-01T00:00:00Z"),
      event(4, "2026-03-01T00:00:03Z"),
    ]);
    const outcome = await processClickstreamBatch(batch, { store, alerts: memoryAlerts(), now: () => NOW });
    expect(outcome.counted).toBe(2);
    expect(outcome.malformed).toEqual([
      { shardId: "shard-0", sequenceNumber: "2", reason: expect.stringContaining("not JSON") },
      { shardId: "shard-0", sequenceNumber: "3", reason: expect.stringContaining('action: "hover"') },
      {
        shardId: "shard-0",
        sequenceNumber: "4",
        // Worded as DemandHydration words it, for the same event.
        reason: `ts 2099-01-01T00:00:00Z is more than 300 s after the time of processing (${new Date(NOW).toISOString()})`,
      },
    ]);
  });

  it("refuses a site name longer than 200 bytes as malformed", async () => {
    const store = createMemoryStateStore();
    const batch = records([
      event(1, "2026-03-01T00:00:01Z", "x".repeat(200)),
      event(2, "2026-03-01T00:00:02Z", "é".repeat(101)),
    ]);
    const outcome = await processClickstreamBatch(batch, { store, alerts: memoryAlerts(), now: () => NOW });
    expect(outcome.counted).toBe(1);
    expect(outcome.malformed).toEqual([
      {
        shardId: "shard-0",
        sequenceNumber: "2",
        reason: expect.stringContaining("site: 202 bytes long, more than 200"),
      },
    ]);
  });

  it("forgets a site silent for siteIdleMs: its policy and series are dropped, and it is reported (issue 6)", async () => {
    const store = createMemoryStateStore();
    const config = {
      ...DEFAULT_PIPELINE,
      windowing: { ...DEFAULT_PIPELINE.windowing, siteIdleMs: 10 * 60_000 },
    };
    const deps = { store, alerts: memoryAlerts(), now: () => NOW, config };
    await processClickstreamBatch(records([event(1, "2026-03-01T00:00:00Z", "gone.example")]), deps);
    const evicted: unknown[] = [];
    for (let m = 1; m <= 20; m++) {
      const ts = new Date(Date.parse("2026-03-01T00:00:00Z") + m * 60_000).toISOString();
      const outcome = await processClickstreamBatch(
        records([event(1 + m, ts, "busy.example")], "shard-0", 1 + m),
        deps,
      );
      evicted.push(...outcome.evicted);
    }
    expect(evicted).toEqual([{ site: "gone.example", openIncident: false }]);
    expect(Object.keys(store.stream?.policies ?? {})).toEqual(["busy.example"]);
    expect([...store.series.keys()].filter((key) => key.startsWith("gone.example#"))).toEqual([]);
    expect([...store.series.keys()].filter((key) => key.startsWith("busy.example#"))).toHaveLength(5);
  });

  it("counts a replayed batch once", async () => {
    const store = createMemoryStateStore();
    const batch = records([event(1, "2026-03-01T00:00:01Z"), event(2, "2026-03-01T00:00:02Z")]);
    const deps = { store, alerts: memoryAlerts(), now: () => NOW };
    expect((await processClickstreamBatch(batch, deps)).counted).toBe(2);
    const again = await processClickstreamBatch(batch, deps);
    expect(again).toMatchObject({ counted: 0, replayed: 2 });
    expect(store.stream?.windowing.counted).toBe(2);
  });

  it("reloads and redoes the batch when another invocation committed first", async () => {
    const inner = createMemoryStateStore();
    let conflicts = 1;
    const store: AnomalyStateStore = {
      loadStream: () => inner.loadStream(),
      loadSeries: (keys, version) => inner.loadSeries(keys, version),
      async commit(stream, expected, series, dropped) {
        if (conflicts-- > 0) {
          // The other shard's invocation wins the race.
          await processClickstreamBatch(records([event(9, "2026-03-01T00:00:05Z")], "shard-1"), {
            store: inner,
            alerts: memoryAlerts(),
            now: () => NOW,
          });
          throw new StateConflict("raced");
        }
        return inner.commit(stream, expected, series, dropped);
      },
    };
    const outcome = await processClickstreamBatch(records([event(1, "2026-03-01T00:00:01Z")]), {
      store,
      alerts: memoryAlerts(),
      now: () => NOW,
      sleep: noSleep,
    });
    expect(outcome.attempts).toBe(2);
    expect(inner.stream?.windowing.counted).toBe(2);
  });

  it("keeps an alert whose publication failed in the outbox and publishes it on a later invocation", async () => {
    const store = createMemoryStateStore();
    const sent: AlertMessage[] = [];
    let fail = true;
    const alerts = {
      async publish(a: AlertMessage) {
        if (fail) throw new Error("SNS unavailable");
        sent.push(a);
      },
    };
    // Seed the outbox as a commit would have left it after a failed publication.
    const pending = { type: "anomaly", status: "open", site: "a.example" } as AlertMessage;
    await seedOutbox(store, [{ alert: pending, leaseUntil: 0 }]);
    const batch = records([event(1, "2026-03-01T00:00:01Z")]);
    // The batch itself succeeds (its records are committed); the alert waits for its next attempt (back-off).
    const first = await processClickstreamBatch(batch, { store, alerts, now: () => NOW });
    expect(first.failedAlerts).toEqual([{ alert: pending, attempts: 1, reason: "Error: SNS unavailable" }]);
    expect(store.stream?.outbox).toEqual([
      { alert: pending, leaseUntil: NOW + 5_000, attempts: 1, lastError: "Error: SNS unavailable" },
    ]);
    fail = false;
    // Not before its back-off has passed.
    await processClickstreamBatch(batch, { store, alerts, now: () => NOW + 4_999 });
    expect(sent).toEqual([]);
    await processClickstreamBatch(batch, { store, alerts, now: () => NOW + 5_000 });
    expect(sent).toEqual([pending]);
    expect(store.stream?.outbox).toEqual([]);
  });

  it("publishes the other alerts when SNS refuses one, and reports the refused one to Audit, out of the outbox (issue 7)", async () => {
    const store = createMemoryStateStore();
    const audit = memoryAudit();
    const bad = { type: "anomaly", status: "open", site: "bad\nsite", windowStart: "2026-03-01T00:00:00.000Z" };
    const good = { type: "anomaly", status: "open", site: "good.example", windowStart: "2026-03-01T00:00:00.000Z" };
    await seedOutbox(store, [
      { alert: bad as AlertMessage, leaseUntil: 0 },
      { alert: good as AlertMessage, leaseUntil: 0 },
    ]);
    const sent: unknown[] = [];
    const alerts = {
      async publish(a: AlertMessage) {
        if (a.site.includes("\n")) throw refusal("InvalidParameterException: Invalid parameter: Subject");
        sent.push(a);
      },
    };
    const outcome = await processClickstreamBatch(records([event(1, "2026-03-01T00:00:01Z")]), {
      store,
      alerts,
      audit,
      now: () => NOW,
    });
    expect(sent).toEqual([good]);
    expect(store.stream?.outbox).toEqual([]);
    expect(outcome.undeliverable).toEqual([
      { alert: bad, attempts: 1, reason: "refused: InvalidParameterException: Invalid parameter: Subject" },
    ]);
    expect(audit.messages).toEqual([
      {
        pipeline: "anomaly-alert",
        action: "publish-alert",
        outcome: "failed",
        reason: "refused: InvalidParameterException: Invalid parameter: Subject",
        attempts: 1,
        alert: bad,
        correlationId: "bad\nsite#2026-03-01T00:00:00.000Z",
      },
    ]);
  });

  it("retries an alert that keeps failing at most 8 times with back-off, then reports it, while new alerts flow", async () => {
    const store = createMemoryStateStore();
    const audit = memoryAudit();
    const stuck = { type: "anomaly", status: "open", site: "stuck.example", windowStart: "2026-03-01T00:00:00.000Z" };
    await seedOutbox(store, [{ alert: stuck as AlertMessage, leaseUntil: 0 }]);
    let tries = 0;
    const sent: unknown[] = [];
    const alerts = {
      async publish(a: AlertMessage) {
        if (a.site === "stuck.example") {
          tries++;
          throw new Error("InternalErrorException: try later");
        }
        sent.push(a);
      },
    };
    let now = NOW;
    for (let i = 0; i < 40 && store.stream?.outbox.length !== 0; i++) {
      // Another alert decided meanwhile: published at once, whatever the stuck one does.
      const fresh = { type: "anomaly", status: "open", site: `fresh-${i}.example`, windowStart: "x" };
      const current = store.stream as NonNullable<typeof store.stream>;
      await store.commit(
        {
          ...current,
          version: current.version + 1,
          outbox: [...current.outbox, { alert: fresh as AlertMessage, leaseUntil: 0 }],
        },
        current.version,
        new Map(),
      );
      await processClickstreamBatch([], { store, alerts, audit, now: () => now });
      expect(sent.at(-1)).toEqual(fresh);
      now += 60_000;
    }
    expect(tries).toBe(8);
    expect(store.stream?.outbox).toEqual([]);
    expect(audit.messages).toMatchObject([
      {
        action: "publish-alert",
        outcome: "failed",
        attempts: 8,
        alert: stuck,
        reason: "gave up after 8 attempts: Error: InternalErrorException: try later",
      },
    ]);
  });

  it("gives up reporting an alert Audit refuses 8 times: dropped, listed with both reasons for the log", async () => {
    const store = createMemoryStateStore();
    const bad = { type: "anomaly", status: "open", site: "bad.example", windowStart: "2026-03-01T00:00:00.000Z" };
    await seedOutbox(store, [{ alert: bad as AlertMessage, leaseUntil: 0 }]);
    const alerts = {
      async publish(): Promise<void> {
        throw refusal("InvalidParameterException: Invalid parameter: MessageAttributes");
      },
    };
    let reports = 0;
    const audit = {
      publishAll: async () => {
        reports++;
        throw new Error("InvalidParameter: Audit refuses it too");
      },
    };
    const given: unknown[] = [];
    for (let i = 0; i < 20 && store.stream?.outbox.length !== 0; i++) {
      const outcome = await processClickstreamBatch([], { store, alerts, audit, now: () => NOW + i * 600_000 });
      given.push(...outcome.undeliverable);
    }
    expect(reports).toBe(8);
    expect(store.stream?.outbox).toEqual([]);
    expect(given).toEqual([
      {
        alert: bad,
        attempts: 1,
        reason: "refused: InvalidParameterException: Invalid parameter: MessageAttributes",
        unreported: "Error: InvalidParameter: Audit refuses it too",
      },
    ]);
  });

  it("keeps an undeliverable alert in the outbox until Audit has it", async () => {
    const store = createMemoryStateStore();
    const bad = { type: "anomaly", status: "open", site: "bad.example", windowStart: "2026-03-01T00:00:00.000Z" };
    await seedOutbox(store, [{ alert: bad as AlertMessage, leaseUntil: 0 }]);
    const alerts = {
      async publish(): Promise<void> {
        throw refusal("InvalidParameterException: Invalid parameter: Message too long");
      },
    };
    const down = { publishAll: async () => Promise.reject(new Error("Audit unavailable")) };
    await processClickstreamBatch([], { store, alerts, audit: down, now: () => NOW });
    expect(store.stream?.outbox).toMatchObject([{ alert: bad, undeliverable: expect.stringContaining("refused") }]);
    const audit = memoryAudit();
    await processClickstreamBatch([], { store, alerts, audit, now: () => NOW + 60_000 });
    expect(store.stream?.outbox).toEqual([]);
    expect(audit.messages).toMatchObject([{ alert: bad, reason: expect.stringContaining("Message too long") }]);
  });

  it("never publishes an alert twice when another shard's invocation commits while it is being published", async () => {
    const store = createMemoryStateStore();
    const { emptyWindowingState } = await import("./windowing.ts");
    // An alert left by a publisher that crashed (its lease has expired): the next invocation takes it over.
    const pending = { type: "anomaly", status: "open", site: "a.example", metric: "ctr" } as AlertMessage;
    await store.commit(
      { version: 1, windowing: emptyWindowingState(), policies: {}, outbox: [{ alert: pending, leaseUntil: NOW - 1 }] },
      0,
      new Map(),
    );
    const sent: AlertMessage[] = [];
    let raced = false;
    const alerts = {
      async publish(a: AlertMessage) {
        if (!raced) {
          raced = true;
          // Another shard's batch runs to completion while this alert is on its way to SNS.
          await processClickstreamBatch(records([event(2, "2026-03-01T00:00:02Z")], "shard-1"), {
            store,
            alerts,
            now: () => NOW,
            sleep: noSleep,
          });
        }
        sent.push(a);
      },
    };

    await processClickstreamBatch(records([event(1, "2026-03-01T00:00:01Z")]), {
      store,
      alerts,
      now: () => NOW,
      sleep: noSleep,
    });

    expect(raced).toBe(true);
    expect(sent).toEqual([pending]);
    expect(store.stream?.outbox).toEqual([]);
    expect(store.stream?.windowing.counted).toBe(2);
  });

  it("turns generated traffic with a CTR collapse into one open and one resolved alert, none for quiet sites", async () => {
    const store = createMemoryStateStore();
    const alerts = memoryAlerts();
    const incident = parseIncident("ctr-collapse@+6h", START);
    const events = [
      ...generateClickstream({
        sites: 3,
        rate: 15,
        start: START,
        durationMs: 7 * 3_600_000,
        incidents: [incident],
        seed: 1,
      }),
    ];
    for (let i = 0; i < events.length; i += 1000) {
      const shard = (i / 1000) % 2 === 0 ? "shard-0" : "shard-1";
      await processClickstreamBatch(records(events.slice(i, i + 1000), shard, i + 1), {
        store,
        alerts,
        now: () => NOW,
      });
    }
    const [victim] = siteNames(3);
    expect(alerts.published.map((a) => [a.site, a.status])).toEqual([
      [victim, "open"],
      [victim, "resolved"],
    ]);
    const open = alerts.published[0] as AlertMessage;
    expect(Date.parse(open.windowStart)).toBeGreaterThanOrEqual(incident.start);
    expect(Date.parse(open.windowStart)).toBeLessThan(incident.start + incident.durationMs);
    // What the on-call engineer reads: the metric's last 6 windows up to the alert's, one a minute, against the
    // band; the site's other metrics that moved (a CTR collapse takes clicks, carts and purchases down with it).
    expect(open.recent?.map((w) => Date.parse(w.windowStart))).toEqual(
      [5, 4, 3, 2, 1, 0].map((k) => Date.parse(open.windowStart) - k * 60_000),
    );
    // The open value is the mean of the last `windows` windows (the detector's band gate), against that mean's band.
    const averaged = (open.recent ?? []).slice(-(open.windows ?? 1));
    const value = open.value ?? Number.NaN; // null only on resolved messages
    expect(averaged.reduce((sum, w) => sum + w.value, 0) / averaged.length).toBeCloseTo(value, 3);
    expect(value < open.expected.low || value > open.expected.high).toBe(true);
    expect(open.moved?.length).toBeGreaterThan(0);
    expect(open.moved?.map((m) => m.metric)).not.toContain(open.metric);
    for (const m of open.moved ?? []) {
      const outside = (value: number, low: number, high: number) => value < low || value > high;
      const { average: a, expected: e } = m;
      expect(outside(m.value, e.low, e.high) || (a && outside(a.value, a.low, a.high)) || m.score >= 0.5).toBe(true);
    }
    expect(open.summary?.[0]).toMatch(
      new RegExp(`^OPEN (warning|critical): ${open.metric} on ${victim} (was|averaged) `),
    );
    expect(open.summary).toContain(
      open.windows
        ? `${open.metric}, last 6 windows:`
        : `${open.metric}, last 6 windows against its band ${open.expected.low} to ${open.expected.high}:`,
    );
    const resolved = alerts.published[1] as AlertMessage;
    expect(resolved.recent).toHaveLength(6);
    expect(resolved.summary?.[0]).toMatch(/^RESOLVED /);
    expect(store.stream?.windowing.counted).toBe(events.length);
    for (const [key, series] of store.series) {
      expect(Buffer.byteLength(JSON.stringify(series)), key).toBeLessThanOrEqual(64 * 1024);
    }
  });
});

describe("the metrics' scales", () => {
  it("map every count back to itself and a window's CTR to (clicks + 3/8) / (impressions + 3/4), to 4 decimals on the scale, in order", () => {
    const counts = (impressions: number, clicks: number, addToCart = 0, purchases = 0) =>
      ({ impressions, clicks, addToCart, purchases }) as Parameters<(typeof METRIC_SCALES)["ctr"]["to"]>[0];
    const n = fc.nat({ max: 10_000_000 });
    for (const metric of METRICS.filter((m) => m !== "ctr")) {
      const scale = METRIC_SCALES[metric];
      fc.assert(
        fc.property(n, n, (a, b) => {
          const of = (x: number) => counts(x, x, x, x);
          // To 4 decimals on the scale: a count of x comes back within sqrt(x) / 10 000 (half a unit of the 4th
          // decimal times dx/dy = y / 2), and a larger count is never lower on the scale.
          const y = scale.to(of(a)) as number;
          expect(Math.abs(y * 1e4 - Math.round(y * 1e4))).toBeLessThan(1e-6);
          expect(Math.abs(scale.from(y) - a)).toBeLessThanOrEqual(Math.sqrt(a + 1) / 1e4 + 1e-9);
          if (a < b) expect(y).toBeLessThanOrEqual(scale.to(of(b)) as number);
        }),
      );
    }
    const ctr = METRIC_SCALES.ctr;
    expect(ctr.to(counts(0, 0))).toBeUndefined();
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.nat(), fc.nat(), (impressions, x, y) => {
        const [low, high] = [x % (impressions + 1), y % (impressions + 1)].sort((p, q) => p - q) as [number, number];
        const scaled = ctr.to(counts(impressions, low)) as number;
        // 4 decimals on the arcsine scale: within 5e-5 of it, so within 5e-5 x 2 sqrt(p (1 - p)) <= 5e-5 of the rate.
        expect(Math.abs(ctr.from(scaled) - (low + 0.375) / (impressions + 0.75))).toBeLessThanOrEqual(5.1e-5);
        if (low < high) expect(scaled).toBeLessThanOrEqual(ctr.to(counts(impressions, high)) as number);
      }),
    );
  });

  it("starts a series learnt on raw values (a state without its scale) again, and keeps one learnt on its scale", async () => {
    const store = createMemoryStateStore();
    const minutes = (from: number, count: number) =>
      Array.from({ length: count * 20 }, (_, i) =>
        event(from * 100 + i, new Date(START + (from + Math.floor(i / 20)) * 60_000 + (i % 20) * 1000).toISOString()),
      );
    const run = (events: unknown[], from: number) =>
      processClickstreamBatch(records(events, "shard-0", from), { store, alerts: memoryAlerts(), now: () => NOW });
    await run(minutes(0, 30), 1);
    const points = () => store.series.get("a.example#impressions")?.detector.n ?? 0;
    const learnt = points();
    expect(learnt).toBeGreaterThan(20);
    expect(store.series.get("a.example#impressions")?.scale).toBe("sqrt");
    await run(minutes(30, 10), 1001);
    expect(points()).toBeGreaterThan(learnt);
    // A state as written before the scales: learnt on raw values, so not carried on.
    for (const state of store.series.values()) delete state.scale;
    const before = points();
    await run(minutes(40, 10), 2001);
    expect(points()).toBeLessThan(before);
    expect(points()).toBeGreaterThan(0);
  });
});
