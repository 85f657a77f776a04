import { describe, expect, it } from "vitest";
import { ArtimeDetector, artimeLookahead, haar } from "./artime.ts";

/** A daily-looking series (288 points a day) with noise from a seeded generator. */
function seasonal(points: number, seed = 1): number[] {
  let s = seed;
  return Array.from({ length: points }, (_, i) => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return 100 + 40 * Math.sin((2 * Math.PI * i) / 288) + (5 * s) / 2 ** 32;
  });
}

describe("haar", () => {
  it("is the orthonormal Haar transform: approximation first, then details from coarsest to finest", () => {
    const out = haar([1, 1, 1, 1, 2, 2, 2, 2]);
    expect(out[0]).toBeCloseTo(12 / Math.sqrt(8), 12);
    expect(out[1]).toBeCloseTo(-4 / Math.sqrt(8), 12);
    expect(out.slice(2).every((d) => Math.abs(d) < 1e-12)).toBe(true);
    // Energy is kept.
    const x = [3, -1, 4, 1, -5, 9, 2, 6];
    const sq = (v: number[]) => v.reduce((a, b) => a + b * b, 0);
    expect(sq(haar(x))).toBeCloseTo(sq(x), 9);
  });
});

describe("ArtimeDetector", () => {
  it("flags a level far outside a learnt daily shape, with or without the range and length known in advance", () => {
    const values = seasonal(4032, 3);
    for (let i = 3000; i < 3012; i++) values[i] = 300;
    for (const config of [artimeLookahead(values), {}]) {
      const detector = new ArtimeDetector(config);
      const scores = values.map((v) => detector.update(v));
      expect(scores.every((s) => s >= 0 && s <= 1)).toBe(true);
      expect(Math.max(...scores.slice(2995, 3020))).toBeGreaterThan(0.5);
    }
  });

  it("derives NAB's probation, step and range from the whole series", () => {
    const values = seasonal(4032, 4);
    const c = artimeLookahead(values);
    // Probation 604 rows: 5 points a step, 120 steps.
    expect(c.step).toBe(5);
    expect(c.trendWindow).toBe(120);
    expect(c.dmin).toBe(Math.min(...values));
    expect(c.dmax).toBe(Math.max(...values));
  });
});
