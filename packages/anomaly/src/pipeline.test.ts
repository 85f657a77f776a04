import { generateClickstream, parseIncident, siteNames } from "@sluice/local/push/clickstream-generator";
import { describe, expect, it } from "vitest";
import type { AlertMessage } from "./alert-policy.ts";
import {
  type AnomalyStateStore,
  createMemoryStateStore,
  processClickstreamBatch,
  type RawRecord,
  StateConflict,
} from "./pipeline.ts";

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
      { shardId: "shard-0", sequenceNumber: "4", reason: expect.stringContaining("in the future") },
    ]);
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
      loadSeries: (keys) => inner.loadSeries(keys),
      async commit(stream, expected, series) {
        if (conflicts-- > 0) {
          // The other shard's invocation wins the race.
          await processClickstreamBatch(records([event(9, "2026-03-01T00:00:05Z")], "shard-1"), {
            store: inner,
            alerts: memoryAlerts(),
            now: () => NOW,
          });
          throw new StateConflict("raced");
        }
        return inner.commit(stream, expected, series);
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

  it("keeps an alert whose publication failed in the outbox and publishes it on the next invocation", async () => {
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
    await store.commit(
      {
        version: 1,
        windowing: (await import("./windowing.ts")).emptyWindowingState(),
        policies: {},
        outbox: [{ alert: pending, leaseUntil: 0 }],
      },
      0,
      new Map(),
    );
    const batch = records([event(1, "2026-03-01T00:00:01Z")]);
    await expect(processClickstreamBatch(batch, { store, alerts, now: () => NOW })).rejects.toThrow("SNS unavailable");
    // Not published, and released: the retry of the batch may publish it at once.
    expect(store.stream?.outbox).toEqual([{ alert: pending, leaseUntil: 0 }]);
    fail = false;
    await processClickstreamBatch(batch, { store, alerts, now: () => NOW });
    expect(sent).toEqual([pending]);
    expect(store.stream?.outbox).toEqual([]);
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
        rate: 5,
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
    expect(store.stream?.windowing.counted).toBe(events.length);
    for (const [key, series] of store.series) {
      expect(Buffer.byteLength(JSON.stringify(series)), key).toBeLessThanOrEqual(64 * 1024);
    }
  });
});
