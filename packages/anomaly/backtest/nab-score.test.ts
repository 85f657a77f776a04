import { describe, expect, it } from "vitest";
import {
  probationLength,
  type ScoredSeries,
  scaledSigmoid,
  scoreCorpus,
  sweepThresholds,
  windowsToRows,
} from "./nab-score.ts";

/** 100 rows, one window on rows 50..59 (width 10), probation 15 rows; detections (score 1) at `at`. */
function series(at: number[], windows: Array<[number, number]> = [[50, 59]], rows = 100): ScoredSeries {
  const scores = new Float64Array(rows);
  for (const i of at) scores[i] = 1;
  return { name: "s.csv", scores, windows };
}

const MAX_TP = 2 / (1 + Math.exp(-5)) - 1; // 0.98661...

describe("scaledSigmoid", () => {
  it("is about 0.987 at the window start, 0 at its end, -1 beyond 3 widths", () => {
    expect(scaledSigmoid(-1)).toBeCloseTo(0.986614, 6);
    expect(scaledSigmoid(0)).toBe(0);
    expect(scaledSigmoid(1)).toBeCloseTo(-0.986614, 6);
    expect(scaledSigmoid(3.01)).toBe(-1);
  });
});

describe("probationLength", () => {
  it("is 15% of the rows, at most 750", () => {
    expect(probationLength(100)).toBe(15);
    expect(probationLength(4032)).toBe(604);
    expect(probationLength(22695)).toBe(750);
  });
});

describe("windowsToRows", () => {
  it("maps timestamp windows to the rows inside them", () => {
    expect(
      windowsToRows(
        [0, 10, 20, 30, 40],
        [
          [10, 30],
          [35, 100],
        ],
      ),
    ).toEqual([
      [1, 3],
      [4, 4],
    ]);
  });
});

describe("scoreCorpus (standard profile)", () => {
  it("a detection on the first row of the window earns exactly tpWeight: 100", () => {
    const r = scoreCorpus([series([50])], "standard");
    expect(r.raw).toBeCloseTo(1, 9);
    expect(r.normalized).toBeCloseTo(100, 9);
    expect(r).toMatchObject({ tp: 1, fp: 0, fn: 0, windows: 1, threshold: 1 });
  });

  it("a detection on the last row earns sigmoid(-1/width)/sigmoid(-1)", () => {
    // position -(59 - 59 + 1) / 10 = -0.1
    const reward = (2 / (1 + Math.exp(-0.5)) - 1) / MAX_TP; // 0.248242
    const r = scoreCorpus([series([59])], "standard");
    expect(r.raw).toBeCloseTo(reward, 9);
    expect(r.normalized).toBeCloseTo((100 * (reward + 1)) / 2, 9);
  });

  it("only the first detection of a window counts, and a false positive before any window costs fpWeight", () => {
    // detections at 20 (FP, no preceding window), 55 and 57 (same window: only 55 counts)
    const reward55 = (2 / (1 + Math.exp(-2.5)) - 1) / MAX_TP; // position -0.5: 0.859793
    const r = scoreCorpus([series([20, 55, 57])], "standard");
    expect(r.raw).toBeCloseTo(reward55 - 0.11, 9);
    expect(r.fp).toBe(1);
  });

  it("a false positive after a window costs fpWeight times the sigmoid of its distance in widths - 1", () => {
    // row 68: |59 - 68| / (10 - 1) = 1 -> sigmoid(1) = -0.986614
    const r = sweepThresholds([series([50, 68])], { tpWeight: 1, fpWeight: 0.11, fnWeight: 1 });
    const atOne = r.find((s) => s.threshold === 1);
    expect(atOne?.raw).toBeCloseTo(1 + 0.11 * (2 / (1 + Math.exp(5)) - 1), 9);
  });

  it("ignores detections in the probation period", () => {
    const r = scoreCorpus([series([5, 50])], "standard");
    expect(r.raw).toBeCloseTo(1, 9);
    expect(r.fp).toBe(0);
  });

  it("a detector that never fires scores 0 (the null detector)", () => {
    const r = scoreCorpus([series([])], "standard");
    expect(r.raw).toBe(-1);
    expect(r.normalized).toBe(0);
  });
});

describe("scoreCorpus profiles and threshold", () => {
  it("reward_low_FN_rate doubles the cost of a miss; reward_low_FP_rate doubles false positives", () => {
    // Series A: window caught at its start (score 0.9) plus an FP before it (score 0.9). Series B: missed.
    const a: ScoredSeries = { ...series([20, 50]), name: "a" };
    const b: ScoredSeries = { ...series([]), name: "b" };
    const fn = scoreCorpus([a, b], "reward_low_FN_rate");
    expect(fn.raw).toBeCloseTo(1 - 0.11 - 2, 9);
    expect(fn.normalized).toBeCloseTo((100 * (1 - 0.11 - 2 + 4)) / (2 + 4), 9);
    const fp = scoreCorpus([a, b], "reward_low_FP_rate");
    expect(fp.raw).toBeCloseTo(1 - 0.22 - 1, 9);
  });

  it("picks the one threshold for the whole corpus that maximises the total", () => {
    // A window caught with 0.8 on its first row; lowering the threshold to 0.4 catches another window (row 59,
    // 0.248) but adds 20 false positives (-2.2): the best threshold is 0.8.
    const a = series([]);
    (a.scores as Float64Array)[50] = 0.8;
    const b = series([]);
    (b.scores as Float64Array)[59] = 0.4;
    for (let i = 16; i < 36; i++) (b.scores as Float64Array)[i] = 0.4;
    const r = scoreCorpus([a, b], "standard");
    expect(r.threshold).toBe(0.8);
    expect(r.raw).toBeCloseTo(1 - 1, 9);
    expect(r.normalized).toBeCloseTo(50, 9);
  });
});
