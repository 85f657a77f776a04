/**
 * Echo alerts (issue 13): after an incident resolves, the detector's averaged scales draining the incident must not
 * open a new alert, and an open alert is only sent for a window whose value lies outside the band it reports.
 */

import type { AlertMessage } from "@sluice/messages";
import { seededRandom } from "@sluice/testing";
import { generateClickstream, siteNames } from "@sluice/testing/clickstream";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { simulate, simulateCounts } from "../backtest/clickstream-sim.ts";
import { StreamingDetector } from "./detector.ts";
import { CLICKSTREAM_DETECTOR, createMemoryStateStore, processClickstreamBatch, type RawRecord } from "./pipeline.ts";

const START = Date.UTC(2026, 2, 1, 0, 0, 0);
const HOUR = 3_600_000;

function records(values: unknown[], shardId: string, from: number): RawRecord[] {
  return values.map((v, i) => ({
    shardId,
    sequenceNumber: String(from + i),
    data: Buffer.from(JSON.stringify(v)).toString("base64"),
  }));
}

const outside = (a: AlertMessage) => a.value !== null && (a.value < a.expected.low || a.value > a.expected.high);

describe("echo alerts", () => {
  it("a 5-minute traffic spike after 7 hours of steady traffic is one open and one resolved alert, nothing after", async () => {
    const store = createMemoryStateStore();
    const published: AlertMessage[] = [];
    const incident = { kind: "traffic-spike" as const, start: START + 7 * HOUR, durationMs: 5 * 60_000 };
    const events = [
      ...generateClickstream({ sites: 3, rate: 5, start: START, durationMs: 8 * HOUR, incidents: [incident], seed: 1 }),
    ];
    for (let i = 0; i < events.length; i += 1000) {
      await processClickstreamBatch(records(events.slice(i, i + 1000), i % 2000 === 0 ? "shard-0" : "shard-1", i + 1), {
        store,
        alerts: { publish: async (a: AlertMessage) => void published.push(a) },
        now: () => START + 48 * HOUR,
      });
    }
    const [victim] = siteNames(3);
    expect(published.map((a) => [a.site, a.status, a.metric])).toEqual([
      [victim, "open", "impressions"],
      [victim, "resolved", "impressions"],
    ]);
    const open = published[0] as AlertMessage;
    expect(Date.parse(open.windowStart)).toBeGreaterThanOrEqual(incident.start);
    expect(Date.parse(open.windowStart)).toBeLessThan(incident.start + incident.durationMs);
    expect(outside(open)).toBe(true);
  });

  it("a site alerts on an incident 2 hours after its first event (warm-up: 120 windows)", async () => {
    const store = createMemoryStateStore();
    const published: AlertMessage[] = [];
    const incident = { kind: "traffic-spike" as const, start: START + 2 * HOUR + 5 * 60_000, durationMs: 10 * 60_000 };
    const events = [
      ...generateClickstream({ sites: 2, rate: 5, start: START, durationMs: 3 * HOUR, incidents: [incident], seed: 2 }),
    ];
    for (let i = 0; i < events.length; i += 1000) {
      await processClickstreamBatch(records(events.slice(i, i + 1000), i % 2000 === 0 ? "shard-0" : "shard-1", i + 1), {
        store,
        alerts: { publish: async (a: AlertMessage) => void published.push(a) },
        now: () => START + 48 * HOUR,
      });
    }
    const [victim] = siteNames(2);
    expect(published.map((a) => [a.site, a.status])).toEqual([
      [victim, "open"],
      [victim, "resolved"],
    ]);
    const open = published[0] as AlertMessage;
    expect(Date.parse(open.windowStart)).toBeGreaterThanOrEqual(incident.start);
    expect(Date.parse(open.windowStart)).toBeLessThan(incident.start + 3 * 60_000);
  });

  it("90 incidents of every kind, size, length and time: none echoed by its metrics in the hour after it, every open alert outside its band", () => {
    const kinds = ["traffic-spike", "traffic-drop", "ctr-collapse"] as const;
    let detected = 0;
    for (let i = 0; i < 90; i++) {
      const kind = kinds[i % 3] as (typeof kinds)[number];
      const size = [30, 150, 600][Math.floor(i / 3) % 3] as number;
      const minutes = 3 + ((i * 7) % 28);
      const at = 130 + ((i * 37) % 290);
      const factor = kind === "traffic-spike" ? 3 + (i % 8) : kind === "traffic-drop" ? 1 / (3 + (i % 8)) : 0.1;
      const alerts = simulate({
        start: START,
        minutes: at + minutes + 60,
        seed: i + 1,
        sites: [{ impressionsPerMinute: size, incidents: [{ kind, minute: at, minutes, factor }] }],
      });
      const opens = alerts.filter((a) => a.status === "open");
      for (const a of opens) expect(outside(a), JSON.stringify(a)).toBe(true);
      const during = opens.filter((a) => a.minute >= at && a.minute < at + minutes);
      expect(during.length).toBeLessThanOrEqual(1);
      if (during[0]) detected++;
      const metrics = new Set(during[0]?.metrics ?? []);
      const echoes = opens.filter((a) => a.minute >= at + minutes && metrics.has(a.metric));
      expect(echoes, JSON.stringify({ i, kind, size, minutes, at })).toEqual([]);
    }
    // Most are detected (the rest: CTR collapses and drops at 30 impressions a minute, under the volume rules). 71 on
    // the metrics' square-root scales (`METRIC_SCALES`); 57 on raw values.
    expect(detected).toBeGreaterThanOrEqual(65);
  });
});

describe("counts and rates on their square-root scale (METRIC_SCALES)", () => {
  it("raises no alert on 3 days of steady traffic at 8 site sizes (5 to 1 000 impressions a minute), seeds 1 to 3", () => {
    // On raw values, 5 false alerts here: a minute's small count (carts, purchases) in its upper Poisson tail, a new high
    // of the site's first morning, beyond a normal band.
    for (let seed = 1; seed <= 3; seed++) {
      const alerts = simulate({
        start: START + seed * 5 * HOUR,
        minutes: 3 * 1440,
        seed,
        sites: [5, 10, 20, 50, 100, 200, 500, 1000].map((impressionsPerMinute) => ({ impressionsPerMinute })),
      });
      expect(alerts.filter((a) => a.status === "open").map((a) => `${seed}: ${a.metric} ${a.value}`)).toEqual([]);
    }
  });

  it("alerts traffic drops to a third to a tenth at 150 impressions a minute while they last (9 of 10; 3 on raw values)", () => {
    let detected = 0;
    for (let k = 0; k < 10; k++) {
      // The drops at 150 impressions a minute of the 90 incidents above.
      const i = 1 + 3 * (1 + 3 * k);
      const minutes = 3 + ((i * 7) % 28);
      const at = 130 + ((i * 37) % 290);
      const alerts = simulate({
        start: START,
        minutes: at + minutes + 60,
        seed: i + 1,
        sites: [
          {
            impressionsPerMinute: 150,
            incidents: [{ kind: "traffic-drop", minute: at, minutes, factor: 1 / (3 + (i % 8)) }],
          },
        ],
      });
      if (alerts.some((a) => a.status === "open" && a.minute >= at && a.minute < at + minutes)) detected++;
    }
    expect(detected).toBeGreaterThanOrEqual(9);
  });
});

describe("band gate", () => {
  it("never scores a point whose recent mean (or latest value) lies inside the band it reports", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.constantFrom("traffic-spike", "traffic-drop", "ctr-collapse"),
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 5, max: 2000 }),
        (seed, kind, minutes, size) => {
          const counts = simulateCounts(
            { impressionsPerMinute: size, incidents: [{ kind, minute: 200, minutes }] },
            START,
            400,
            seededRandom(seed),
          );
          const detector = new StreamingDetector(CLICKSTREAM_DETECTOR);
          for (const c of counts) {
            const score = detector.update(c.impressions);
            const band = detector.expected();
            if (score > 0) {
              expect(band).not.toBeNull();
              const { value, low, high } = band as NonNullable<typeof band>;
              expect(value < low || value > high).toBe(true);
            }
          }
        },
      ),
      { numRuns: 30 },
    );
  });
});
