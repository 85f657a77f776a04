import { clickstreamEventIssues } from "@sluice/messages";
import { describe, expect, it } from "vitest";
import {
  dailyShape,
  generateClickstream,
  parseDuration,
  parseIncident,
  parseInstant,
  siteNames,
} from "./clickstream.ts";

const START = Date.UTC(2026, 2, 1, 0, 0, 0);
const HOUR = 3_600_000;

function perMinute(events: ReturnType<typeof collect>, site: string, action: string) {
  const counts = new Map<number, number>();
  for (const e of events) {
    if (e.site !== site || e.action !== action) continue;
    const minute = Math.floor((Date.parse(e.ts) - START) / 60_000);
    counts.set(minute, (counts.get(minute) ?? 0) + 1);
  }
  return counts;
}

function collect(options: Parameters<typeof generateClickstream>[0]) {
  return [...generateClickstream(options)];
}

function sum(counts: Map<number, number>, from: number, to: number): number {
  let n = 0;
  for (let m = from; m < to; m++) n += counts.get(m) ?? 0;
  return n;
}

describe("generateClickstream", () => {
  it("produces valid clickstream events in event-time order, the same for the same seed", () => {
    const options = { sites: 3, rate: 20, start: START, durationMs: 10 * 60_000, seed: 7 };
    const events = collect(options);
    expect(events.length).toBeGreaterThan(1000);
    expect(events.every((e) => clickstreamEventIssues(e).length === 0)).toBe(true);
    expect(events.every((e, i) => i === 0 || (events[i - 1] as { ts: string }).ts <= e.ts)).toBe(true);
    expect(new Set(events.map((e) => e.eventId)).size).toBe(events.length);
    expect(collect(options)).toEqual(events);
    expect(new Set(events.map((e) => e.site))).toEqual(new Set(siteNames(3)));
  });

  it("follows a daily shape: quiet at night, busy in the evening, averaging the rate", () => {
    expect(dailyShape(START + 4 * HOUR)).toBeLessThan(0.5);
    expect(dailyShape(START + 18 * HOUR)).toBeGreaterThan(1.4);
    let mean = 0;
    for (let m = 0; m < 1440; m++) mean += dailyShape(START + m * 60_000) / 1440;
    expect(mean).toBeCloseTo(1, 2);
  });

  it("injects a CTR collapse, a traffic spike and a traffic drop on the chosen site only", () => {
    const [first, second] = siteNames(2) as [string, string];
    const base = { sites: 2, rate: 40, start: START + 12 * HOUR, durationMs: HOUR, seed: 3 };
    const at = START + 12 * HOUR + 30 * 60_000;
    const incidents = [
      { kind: "ctr-collapse" as const, start: at, durationMs: 20 * 60_000 },
      { kind: "traffic-spike" as const, start: at, durationMs: 20 * 60_000, site: second },
    ];
    const events = collect({ ...base, incidents });
    const minute0 = 12 * 60;
    const clicks = perMinute(events, first, "click");
    const impressions = perMinute(events, first, "impression");
    const before = sum(clicks, minute0 + 5, minute0 + 25) / sum(impressions, minute0 + 5, minute0 + 25);
    const during = sum(clicks, minute0 + 30, minute0 + 50) / sum(impressions, minute0 + 30, minute0 + 50);
    expect(during).toBeLessThan(before / 4);
    const spiky = perMinute(events, second, "impression");
    expect(sum(spiky, minute0 + 30, minute0 + 50)).toBeGreaterThan(3 * sum(spiky, minute0 + 5, minute0 + 25));
    const dropped = perMinute(
      collect({ ...base, incidents: [{ kind: "traffic-drop", start: at, durationMs: 20 * 60_000 }] }),
      first,
      "impression",
    );
    expect(sum(dropped, minute0 + 30, minute0 + 50)).toBeLessThan(sum(dropped, minute0 + 5, minute0 + 25) / 4);
  });

  it("sizes sites after Zipf's law on request: the site of rank r gets about 1/r of the traffic, most sites small", () => {
    const events = collect({
      sites: 100,
      rate: 200,
      start: START + 12 * HOUR,
      durationMs: 20 * 60_000,
      zipf: 1,
      seed: 3,
    });
    const names = siteNames(100);
    const bySite = new Map<string, number>();
    for (const e of events) bySite.set(e.site, (bySite.get(e.site) ?? 0) + 1);
    const share = (rank: number) => (bySite.get(names[rank - 1] as string) ?? 0) / events.length;
    const harmonic = Array.from({ length: 100 }, (_, i) => 1 / (i + 1)).reduce((a, b) => a + b, 0);
    expect(share(1)).toBeCloseTo(1 / harmonic, 1);
    expect(share(1) / share(10)).toBeGreaterThan(6);
    expect(share(1) / share(10)).toBeLessThan(15);
    // Half the sites share about a tenth of the traffic.
    const tail = names.slice(50).reduce((n, site) => n + (bySite.get(site) ?? 0), 0) / events.length;
    expect(tail).toBeGreaterThan(0.08);
    expect(tail).toBeLessThan(0.2);
  });
});

describe("parsing", () => {
  it("reads durations, instants and offsets, and incident specs", () => {
    expect(parseDuration("90s")).toBe(90_000);
    expect(parseDuration("6h")).toBe(6 * HOUR);
    expect(() => parseDuration("soon")).toThrow("not a duration");
    expect(parseInstant("2026-03-01T12:00:00Z", 0)).toBe(START + 12 * HOUR);
    expect(parseInstant("+5h", START)).toBe(START + 5 * HOUR);
    expect(parseInstant("-30m", START)).toBe(START - 30 * 60_000);
    expect(parseIncident("ctr-collapse@+6h", START)).toEqual({
      kind: "ctr-collapse",
      start: START + 6 * HOUR,
      durationMs: 20 * 60_000,
    });
    expect(parseIncident("traffic-drop@2026-03-01T02:00:00Z/10m@book-nook.example", START)).toEqual({
      kind: "traffic-drop",
      start: START + 2 * HOUR,
      durationMs: 10 * 60_000,
      site: "book-nook.example",
    });
    expect(() => parseIncident("meteor@+1h", START)).toThrow("kind one of");
  });
});
