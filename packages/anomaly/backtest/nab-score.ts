/**
 * The Numenta Anomaly Benchmark's scoring, restated from its public rules (see the data set's README):
 * scaled-sigmoid rewards for the first detection in each labelled window, weighted penalties for detections
 * outside windows and for missed windows, a probation period, one threshold for the whole corpus chosen to
 * maximise the total, and a score normalised between the null detector (never fires) and the perfect one.
 */

export interface NabProfile {
  tpWeight: number;
  fpWeight: number;
  fnWeight: number;
}

export const NAB_PROFILES = {
  standard: { tpWeight: 1, fpWeight: 0.11, fnWeight: 1 },
  reward_low_FP_rate: { tpWeight: 1, fpWeight: 0.22, fnWeight: 1 },
  reward_low_FN_rate: { tpWeight: 1, fpWeight: 0.11, fnWeight: 2 },
} as const satisfies Record<string, NabProfile>;

export type NabProfileName = keyof typeof NAB_PROFILES;

/** One scored series: its scores (one per row) and its labelled windows as inclusive row-index ranges. */
export interface ScoredSeries {
  name: string;
  scores: ArrayLike<number>;
  /** `[firstRow, lastRow]` of each window, in order, not overlapping. */
  windows: ReadonlyArray<readonly [number, number]>;
}

/** `2 / (1 + e^(5y)) - 1`, and -1 when the detection is more than 3 window-widths past a window. */
export function scaledSigmoid(relativePosition: number): number {
  if (relativePosition > 3) return -1;
  return 2 / (1 + Math.exp(5 * relativePosition)) - 1;
}

/** Rows in the probation period: 15% of the file, at most 750 rows. */
export function probationLength(rows: number): number {
  return Math.min(Math.floor(0.15 * rows), 750);
}

/** Converts labelled windows given as timestamps into row ranges (first row at/after start, last at/before end). */
export function windowsToRows(
  timestamps: readonly number[],
  windows: ReadonlyArray<readonly [number, number]>,
): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const [start, end] of windows) {
    let first = timestamps.findIndex((t) => t >= start);
    if (first < 0) continue;
    let last = first;
    while (last + 1 < timestamps.length && (timestamps[last + 1] as number) <= end) last++;
    if ((timestamps[first] as number) > end) continue;
    first = Math.max(first, 0);
    out.push([first, last]);
  }
  return out;
}

/** Per-row contribution if that row were a detection, and which window (if any) it falls in. */
interface RowWeight {
  score: number;
  weight: number;
  /** Global window id, or -1 outside windows. */
  window: number;
}

/**
 * Weight of a detection at every scorable row (probation excluded), NAB's `calcSweepScore`: inside a window,
 * `tpWeight * sigmoid(position) / sigmoid(-1)` with position -1 at the window's first row; outside, `fpWeight *
 * sigmoid(distance past the previous window in widths)`, or `-fpWeight` before the first window.
 */
function rowWeights(series: ScoredSeries, profile: NabProfile, firstWindowId: number): RowWeight[] {
  const maxTp = scaledSigmoid(-1);
  const n = series.scores.length;
  const probation = probationLength(n);
  const out: RowWeight[] = [];
  let w = 0;
  let prevRight = -1;
  let prevWidth = 0;
  for (let i = 0; i < n; i++) {
    const win = series.windows[w];
    let weight: number;
    let windowId = -1;
    if (win && i >= win[0] && i <= win[1]) {
      const width = win[1] - win[0] + 1;
      weight = (scaledSigmoid(-(win[1] - i + 1) / width) * profile.tpWeight) / maxTp;
      windowId = firstWindowId + w;
    } else if (prevRight < 0) {
      weight = -profile.fpWeight;
    } else {
      weight = scaledSigmoid(Math.abs(prevRight - i) / (prevWidth - 1)) * profile.fpWeight;
    }
    if (i >= probation) out.push({ score: series.scores[i] as number, weight, window: windowId });
    if (win && i === win[1]) {
      prevRight = i;
      prevWidth = win[1] - win[0] + 1;
      w++;
    }
  }
  return out;
}

export interface ThresholdScore {
  threshold: number;
  /** Raw score: sum of window rewards (or -fnWeight when missed) and false-positive costs. */
  raw: number;
  tp: number;
  fp: number;
  fn: number;
}

/**
 * Raw score at every candidate threshold (each distinct score, a detection being `score >= threshold`), from
 * the highest threshold down, starting with 1.1 (nothing detected). NAB's `calcScoreByThreshold`.
 */
export function sweepThresholds(corpus: readonly ScoredSeries[], profile: NabProfile): ThresholdScore[] {
  const rows: RowWeight[] = [];
  let windowCount = 0;
  for (const series of corpus) {
    rows.push(...rowWeights(series, profile, windowCount));
    windowCount += series.windows.length;
  }
  // Windows with no scorable row (wholly inside probation) are not counted, as in NAB.
  const best = new Map<number, number>();
  for (const row of rows) if (row.window >= 0) best.set(row.window, -profile.fnWeight);
  rows.sort((a, b) => b.score - a.score);
  let raw = -profile.fnWeight * best.size;
  let tp = 0;
  let fp = 0;
  const out: ThresholdScore[] = [];
  let threshold = 1.1;
  for (const row of rows) {
    if (row.score !== threshold) {
      out.push({ threshold, raw, tp, fp, fn: best.size - tp });
      threshold = row.score;
    }
    if (row.window < 0) {
      fp++;
      raw += row.weight;
    } else {
      const prev = best.get(row.window) as number;
      if (prev === -profile.fnWeight) tp++;
      if (row.weight > prev) {
        raw += row.weight - prev;
        best.set(row.window, row.weight);
      }
    }
  }
  out.push({ threshold, raw, tp, fp, fn: best.size - tp });
  return out;
}

export interface NabResult {
  profile: NabProfileName;
  threshold: number;
  raw: number;
  /** Null detector (never fires): -fnWeight per window. */
  nullRaw: number;
  /** Perfect detector: tpWeight per window. */
  perfectRaw: number;
  normalized: number;
  tp: number;
  fp: number;
  fn: number;
  windows: number;
}

/** Scores a corpus under one profile: best single threshold, normalised score 100 (raw-null)/(perfect-null). */
export function scoreCorpus(corpus: readonly ScoredSeries[], profileName: NabProfileName): NabResult {
  const profile = NAB_PROFILES[profileName];
  const sweep = sweepThresholds(corpus, profile);
  let best = sweep[0] as ThresholdScore;
  for (const s of sweep) if (s.raw > best.raw) best = s;
  const windows = best.tp + best.fn;
  const nullRaw = -profile.fnWeight * windows;
  const perfectRaw = profile.tpWeight * windows;
  const normalized = perfectRaw === nullRaw ? 0 : (100 * (best.raw - nullRaw)) / (perfectRaw - nullRaw);
  return {
    profile: profileName,
    threshold: best.threshold,
    raw: best.raw,
    nullRaw,
    perfectRaw,
    normalized,
    tp: best.tp,
    fp: best.fp,
    fn: best.fn,
    windows,
  };
}
