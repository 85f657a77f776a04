import { seededRandom } from "@sluice/testing";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_DETECTOR_CONFIG, InvalidDetectorState, normalTail, StreamingDetector } from "./detector.ts";

/** A daily-looking series (288 points a day) with noise from a seeded generator. */
function seasonal(points: number, seed = 1): number[] {
  const rand = seededRandom(seed);
  return Array.from({ length: points }, (_, i) => 100 + 40 * Math.sin((2 * Math.PI * i) / 288) + 5 * rand());
}

/** The band gate as the clickstream uses it (`CLICKSTREAM_DETECTOR`, without its persistence rule). */
const GATED = { scales: [5, 15], bandSigmas: 3, gateWindow: 5, levelSigmas: 8, warmupPoints: 120, spatialSigmas: 5 };

function scoreAll(values: number[], detector = new StreamingDetector()): number[] {
  return values.map((v) => detector.update(v));
}

describe("StreamingDetector", () => {
  it("scores every point in [0, 1], 0 during warm-up", () => {
    const scores = scoreAll(seasonal(3000));
    expect(scores.every((s) => s >= 0 && s <= 1)).toBe(true);
    expect(scores.slice(0, DEFAULT_DETECTOR_CONFIG.warmupPoints).every((s) => s === 0)).toBe(true);
  });

  it("gives a spike a high score and rests after it (one detection per incident)", () => {
    const values = seasonal(3000);
    values[2000] = 400;
    values[2001] = 380;
    const scores = scoreAll(values);
    expect(scores[2000]).toBeGreaterThanOrEqual(0.9);
    expect(scores.slice(2001, 2000 + DEFAULT_DETECTOR_CONFIG.restPoints + 1).every((s) => s === 0)).toBe(true);
  });

  it("stays quiet on a flat line", () => {
    const scores = scoreAll(Array.from({ length: 2000 }, () => 5));
    expect(Math.max(...scores)).toBe(0);
  });

  it("detects a level shift in a steady noisy series", () => {
    const values = seasonal(4000, 7).map((v, i) => (i >= 3000 ? v + 120 : v));
    const scores = scoreAll(values);
    const firstAlert = scores.findIndex((s, i) => i >= 2000 && s >= 0.25);
    expect(firstAlert).toBeGreaterThanOrEqual(3000);
    expect(firstAlert).toBeLessThan(3010);
  });

  it("ignores non-finite values (scored 0, not learnt)", () => {
    const detector = new StreamingDetector();
    expect(detector.update(Number.NaN)).toBe(0);
    expect(detector.points).toBe(0);
  });

  it("continues identically from a snapshot (JSON round trip), at any cut", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2500 }), (cut) => {
        const values = seasonal(2600, 3);
        values[2300] = 300;
        const whole = scoreAll(values);
        const first = new StreamingDetector();
        const head = values.slice(0, cut).map((v) => first.update(v));
        const restored = new StreamingDetector({}, JSON.parse(JSON.stringify(first.snapshot())));
        const tail = values.slice(cut).map((v) => restored.update(v));
        expect([...head, ...tail]).toEqual(whole);
      }),
      { numRuns: 15 },
    );
  });

  it("keeps its serialised state under 64 KB however long and varied the series", () => {
    const detector = new StreamingDetector();
    const rand = seededRandom(42);
    for (let i = 0; i < 50_000; i++) {
      detector.update(rand() * 1e6 * (1 + (i % 977)));
    }
    const bytes = Buffer.byteLength(JSON.stringify(detector.snapshot()));
    expect(bytes).toBeLessThanOrEqual(64 * 1024);
  });

  it("continues identically from a snapshot with the band gate on (JSON round trip), at any cut", () => {
    const config = { ...GATED, persistSigmas: 5, persistPoints: 3 };
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1500 }), (cut) => {
        const values = seasonal(1600, 5);
        for (let i = 1200; i < 1210; i++) values[i] = 400;
        const whole = scoreAll(values, new StreamingDetector(config));
        const first = new StreamingDetector(config);
        const head = values.slice(0, cut).map((v) => first.update(v));
        const restored = new StreamingDetector(config, JSON.parse(JSON.stringify(first.snapshot())));
        const tail = values.slice(cut).map((v) => restored.update(v));
        expect([...head, ...tail]).toEqual(whole);
      }),
      { numRuns: 15 },
    );
  });

  it("reads a state of version 2 (before the band gate): the gate starts learning, scores are unchanged until it has", () => {
    const values = seasonal(1000, 9);
    const config = { bandSigmas: 3, gateWindow: 5 };
    const before = new StreamingDetector(config);
    for (const v of values.slice(0, 500)) before.update(v);
    const { gate: _gate, ...state } = before.snapshot();
    const old = new StreamingDetector(config, { ...state, v: 2 });
    const ungated = new StreamingDetector({}, { ...state, v: 2 });
    // Until the gate has learnt 1 / bandAlpha points it lets every score through.
    for (const v of values.slice(500, 519)) expect(old.update(v)).toBe(ungated.update(v));
    expect(old.expected()).toBeNull();
  });

  it("scores nothing before warmupPoints, and can alert right after (warm-up is configurable)", () => {
    const values = seasonal(400, 11);
    values[130] = 500;
    const scores = scoreAll(values, new StreamingDetector({ warmupPoints: 120 }));
    expect(scores.slice(0, 120).every((s) => s === 0)).toBe(true);
    expect(scores[130]).toBeGreaterThanOrEqual(0.9);
  });

  it("with the band gate, gives a level far out of its band (inside the range seen) a full score at once", () => {
    // A steady noisy series that once dipped to 40 for a while: a later drop to 60 is inside the range seen, far
    // outside the band of that moment.
    const at = 900;
    const values = seasonal(1200, 13).map((v, i) =>
      i >= 300 && i < 340 ? 40 : i >= at && i < at + 30 ? 60 : 100 + (v - 100) / 8,
    );
    const config = { scales: [5, 15], bandSigmas: 3, gateWindow: 5, levelSigmas: 8, restPoints: 10 };
    const scores = scoreAll(values, new StreamingDetector(config));
    expect(scores[at]).toBe(1);
    const ungated = scoreAll(values, new StreamingDetector({ ...config, bandSigmas: 0, levelSigmas: 0 }));
    expect(ungated[at]).toBeLessThan(1);
  });

  it("with spatialSigmas, a new high a few deviations out of its band is no spatial anomaly, one far out is", () => {
    const rand = seededRandom(21);
    const values = Array.from({ length: 400 }, () => 100 + 5 * rand());
    const config = { scales: [5, 15], bandSigmas: 3, gateWindow: 5, restPoints: 10, warmupPoints: 120 };
    const scoreAt = (value: number, spatialSigmas: number) =>
      scoreAll([...values, value], new StreamingDetector({ ...config, spatialSigmas })).at(-1) as number;
    // 108: beyond the range seen (100 to 105) by more than 40 % of it, about 4 deviations (1.4) from the band's mean.
    expect(scoreAt(108, 0)).toBe(1);
    expect(scoreAt(108, 5)).toBeLessThan(1);
    expect(scoreAt(115, 5)).toBe(1);
  });

  it("with persistPoints, a mean 5 to 6 deviations out scores only once it has stayed out that many points", () => {
    const rand = seededRandom(23);
    // Steady around 102.5 (uniform noise, deviation 1.4), after a dip to 96 that put the range's low there.
    const values = Array.from({ length: 400 }, (_, i) => (i >= 150 && i < 190 ? 96 : 100) + 5 * rand());
    // A drop to about 97.6: inside the range seen, its 5-window mean 5.5 deviations out once the 5 values are all in
    // it (under levelSigmas 8): only its persistence says it is real.
    const drop = Array.from({ length: 8 }, () => 97.4 + 0.4 * rand());
    const config = { ...GATED, restPoints: 10 };
    const scores = (persistPoints: number) =>
      scoreAll([...values, ...drop], new StreamingDetector({ ...config, persistSigmas: 5, persistPoints })).slice(400);
    const first = (s: number[]) => s.findIndex((x) => x >= 1);
    expect(first(scores(0))).toBe(-1);
    // The mean is 5 deviations out from the drop's 5th point: it scores at its 7th, the 3rd point in a row out.
    expect(first(scores(3))).toBe(6);
    expect(first(scores(1))).toBe(4);
    // The count of points out is state: a detector restored from a snapshot taken in the middle goes on alike.
    const series = [...values, ...drop];
    const make = () => new StreamingDetector({ ...config, persistSigmas: 5, persistPoints: 3 });
    const whole = scoreAll(series, make());
    for (let cut = 400; cut <= 408; cut++) {
      const head = make();
      const before = series.slice(0, cut).map((v) => head.update(v));
      const restored = new StreamingDetector(
        { ...config, persistSigmas: 5, persistPoints: 3 },
        JSON.parse(JSON.stringify(head.snapshot())),
      );
      expect([...before, ...series.slice(cut).map((v) => restored.update(v))]).toEqual(whole);
    }
  });

  it("with clipDevs, an extreme early spike leaves the raw scale more sensitive to a later, smaller one", () => {
    for (const seed of [1, 2, 3]) {
      let s = seed;
      const values = Array.from({ length: 4000 }, () => {
        s = (Math.imul(s, 1103515245) + 12345) >>> 0;
        return 100 + (5 * s) / 2 ** 32;
      });
      values[600] = 300;
      // Inside the range the first spike set: no spatial anomaly, only the patterns see it.
      for (let i = 3000; i < 3003; i++) values[i] = (values[i] as number) + 15;
      const [plain, clipped] = [0, 30].map((clipDevs) => scoreAll(values, new StreamingDetector({ clipDevs })));
      for (const scores of [plain, clipped])
        expect(Math.max(...(scores as number[]).slice(700, 3000))).toBeLessThan(0.05);
      const peak = (scores: number[]) => Math.max(...scores.slice(3000, 3005));
      expect(peak(clipped as number[])).toBeGreaterThan(peak(plain as number[]) + 0.03);
    }
  });

  it("with the cycle context (default), finds a day whose high phase does not come; without it, finds nothing", () => {
    // 14 days of 288 points: low at night, high from 08:00 to 16:00, noise; day 10 stays low all day.
    let s = 5;
    const rand = () => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      return s / 2 ** 32;
    };
    const values = Array.from({ length: 14 * 288 }, (_, i) => {
      const high = i % 288 >= 96 && i % 288 < 192 && Math.floor(i / 288) !== 10;
      return (high ? 80 : 20) + 5 * rand();
    });
    const firstAlert = (scores: number[]) => scores.findIndex((v, i) => i >= 2000 && v >= 0.5);
    const withCycle = firstAlert(scoreAll(values));
    expect(withCycle).toBeGreaterThanOrEqual(10 * 288 + 96);
    expect(withCycle).toBeLessThan(10 * 288 + 192);
    expect(firstAlert(scoreAll(values, new StreamingDetector({ seasonLags: [] })))).toBe(-1);
  });

  it("refuses a state from another configuration", () => {
    const state = new StreamingDetector().snapshot();
    expect(() => new StreamingDetector({ scales: [1] }, state)).toThrow(InvalidDetectorState);
  });
});

describe("normalTail", () => {
  it("matches the normal distribution's upper tail", () => {
    expect(normalTail(0)).toBeCloseTo(0.5, 7);
    expect(normalTail(1.959964)).toBeCloseTo(0.025, 6);
    expect(normalTail(-1.959964)).toBeCloseTo(0.975, 6);
    expect(normalTail(4.264891)).toBeCloseTo(1e-5, 6);
  });
});
