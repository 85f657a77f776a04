/**
 * A port of ARTime (Mark Hampton's adaptive-resonance detector, the best published NAB score: restated from its
 * published Julia code, markNZed/ARTimeNAB.jl), for the backtest only: it measures what ARTime's score owes to what
 * NAB lets a detector know in advance, which a stream (and our pipeline) cannot: the series' minimum and maximum
 * (`dmin`, `dmax`) and its length (the downsampling `step` and the learning `trendWindow` are derived from NAB's
 * probation period). `pnpm bench nab` with `NAB_ARTIME=1` prints its scores with and without them.
 *
 * 1. Downsampling: every `step` points, the block's extreme (its maximum or minimum, whichever lies further from a
 *    short moving average; the block's mean when that extreme is within 10% of it), normalised by the range
 *    (`dmin`..`dmax`, or the range seen so far, the levels learnt being re-mapped when it grows) and quantised to
 *    `levels` levels; a value within `chomp` of the running median level becomes the median.
 * 2. Features: the last `window` downsampled values, twice: their shape (min-max normalised, Haar wavelet transform,
 *    min-max normalised again) and their levels.
 * 3. A fuzzy ART memory with dual vigilance (complement coding; similarity |min(x, w)| / |w|, cubed, times the
 *    squared similarity of the latest level): a pattern at least `rhoUb` similar to a category refines it; at least
 *    `rhoLb` similar, it becomes a new category of a known cluster; less, a new cluster: an anomaly candidate.
 * 4. The vigilances adapt: the upper one follows the mean similarity, the lower one rises towards the least
 *    similarity of the recent past, or falls by the recent shortfalls under the upper one, and never below the mean
 *    similarity of past anomalies.
 * 5. Masking: after a new cluster, no anomaly until `1.5 window` steps without one (or after a vigilance update),
 *    unless the similarity falls far below the last anomaly's.
 * The score, at a new cluster not masked, is ARTime's confidence: how far under both vigilances the similarity lies.
 * Differences from the original: the first `trendWindow` steps are learnt online at the initial vigilance (ARTime
 * sorts and replays them in a batch), and the categories are bounded (`capacity`, least recently matched forgotten).
 */

export interface ArtConfig {
  /** Raw points per downsampled step. */
  step: number;
  /** Downsampled values per feature window. */
  window: number;
  /** Quantisation levels of the normalised values. */
  levels: number;
  /** Distance to the running median (a fraction of the range) under which a value is the median. */
  chomp: number;
  /** Categories kept (the least recently matched is forgotten). */
  capacity: number;
  /** Downsampled steps learnt before the vigilances are set and anything scores. */
  trendWindow: number;
  /** Vigilance while learning the first `trendWindow` steps. */
  initialRho: number;
  /** The series' minimum and maximum, known in advance (as NAB tells its detectors); unset: the range seen so far. */
  dmin?: number;
  dmax?: number;
}

export const DEFAULT_ART_CONFIG: ArtConfig = {
  step: 5,
  window: 8,
  levels: 80,
  chomp: 0.075,
  capacity: 5000,
  trendWindow: 104,
  initialRho: 0.8,
};

/** Haar wavelet transform, all levels (a length that is a power of 2): [approximation, coarsest .. finest details]. */
/**
 * ARTime's configuration for one series as NAB runs it: the series' range and length known before its first value
 * (probation: 15% of the rows, at most 750; the step such that the probation holds 13 feature windows).
 */
export function artimeLookahead(values: readonly number[]): Partial<ArtConfig> {
  let probation = values.length < 5000 ? Math.floor(0.15 * values.length) : 750;
  probation -= probation % 2;
  const step = Math.max(1, Math.floor(probation / (DEFAULT_ART_CONFIG.window * 13)));
  let dmin = Number.POSITIVE_INFINITY;
  let dmax = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    if (v < dmin) dmin = v;
    if (v > dmax) dmax = v;
  }
  return { dmin, dmax, step, trendWindow: Math.floor(probation / step) };
}

export function haar(x: number[]): number[] {
  let a = [...x];
  const details: number[][] = [];
  while (a.length > 1) {
    const next: number[] = [];
    const d: number[] = [];
    for (let k = 0; k + 1 < a.length; k += 2) {
      next.push(((a[k] as number) + (a[k + 1] as number)) / Math.SQRT2);
      d.push(((a[k] as number) - (a[k + 1] as number)) / Math.SQRT2);
    }
    details.unshift(d);
    a = next;
  }
  return [...a, ...details.flat()];
}

function minMax(x: number[]): number[] {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of x) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const span = hi - lo;
  return x.map((v) => (span !== 0 ? (v - lo) / span : v - lo));
}

/** One series' ARTime detector: `update` each value in time order. */
export class ArtimeDetector {
  private readonly c: ArtConfig;
  private readonly dim: number;
  /** Downsampled steps so far. */
  private n = 0;
  private lo = Number.POSITIVE_INFINITY;
  private hi = Number.NEGATIVE_INFINITY;
  private block: number[] = [];
  /** The range the stored levels are normalised by. */
  private nlo = Number.POSITIVE_INFINITY;
  private nhi = Number.NEGATIVE_INFINITY;
  private ma = 0;
  private med = 0;
  private medbin: number[];
  private below = 0;
  private above = 0;
  private fw: number[];
  private rhoLb: number;
  private rhoUb: number;
  private cats = 0;
  private w: Float32Array;
  private used: Uint32Array;
  private lastAnomaly = 0;
  private lastAnomalySim = 0;
  private lastRhoUpdate = 0;
  private maskAfterCat = false;
  private noNewCat = 0;
  private simSum = 0;
  private simCount = 0;
  private simWindow: number[];
  private diffWindow: number[];
  private anomalySum = 0;
  private anomalyCount = 0;
  private anomalyLast = 0;
  private warmSum = 0;
  private warmCount = 0;
  private readonly mask: number;

  constructor(config: Partial<ArtConfig> = {}) {
    this.c = { ...DEFAULT_ART_CONFIG, ...config };
    this.dim = 4 * this.c.window;
    this.medbin = new Array(this.c.levels + 1).fill(0);
    this.fw = new Array(this.c.window).fill(0);
    this.rhoLb = this.c.initialRho;
    this.rhoUb = this.c.initialRho;
    this.w = new Float32Array(this.c.capacity * this.dim);
    this.used = new Uint32Array(this.c.capacity);
    this.simWindow = new Array(Math.floor(this.c.trendWindow / 2) + 1).fill(1);
    this.diffWindow = new Array(this.c.trendWindow + 1).fill(0);
    this.mask = Math.round(this.c.window * 1.5);
  }

  /** Learns a raw value; returns the member's score for it (0 between downsampled steps and while learning). */
  update(value: number): number {
    const c = this.c;
    if (value < this.lo) this.lo = value;
    if (value > this.hi) this.hi = value;
    this.block.push(value);
    if (this.block.length < c.step) return 0;
    let sum = 0;
    let max = Number.NEGATIVE_INFINITY;
    let min = Number.POSITIVE_INFINITY;
    for (const v of this.block) {
      sum += v;
      if (v > max) max = v;
      if (v < min) min = v;
    }
    this.block = [];
    const mean = sum / c.step;
    this.n++;
    if (this.n === 1) this.ma = mean;
    this.ma = (this.ma + mean) / 2;
    let ds = Math.abs(max - this.ma) < Math.abs(min - this.ma) ? min : max;
    if (Math.abs(ds - mean) < 0.1 * Math.abs(mean)) ds = mean;
    if (c.dmin === undefined && (this.lo !== this.nlo || this.hi !== this.nhi)) this.renormalise();
    const lo = c.dmin ?? this.lo;
    const range = (c.dmax ?? this.hi) - lo;
    ds = range > 0 ? (ds - lo) / range : 0;
    const level = Math.max(0, Math.min(c.levels, Math.round(ds * c.levels)));
    ds = level / c.levels;
    this.levelize(level);
    const median = this.med / c.levels;
    if (Math.abs(ds - median) < c.chomp) ds = median;
    this.fw.shift();
    this.fw.push(ds);
    if (this.n < c.window) return 0;
    const shape = minMax(haar(minMax(this.fw)));
    const features = [...shape, ...this.fw];
    return this.detect(features);
  }

  /**
   * The range seen has grown: the levels learnt so far (the categories' level features, the feature window, the
   * median) are mapped onto the new range, so that every pattern stays comparable (ARTime knows the series' range in
   * advance; a stream learns it).
   */
  private renormalise(): void {
    const oldRange = this.nhi - this.nlo;
    const newRange = this.hi - this.lo;
    if (Number.isFinite(oldRange) && oldRange > 0 && newRange > 0) {
      const a = oldRange / newRange;
      const b = (this.nlo - this.lo) / newRange;
      const map = (v: number) => a * v + b;
      this.fw = this.fw.map(map);
      const half = this.dim / 2;
      const lvl = this.c.window;
      for (let j = 0; j < this.cats; j++) {
        const base = j * this.dim;
        for (let k = half - lvl; k < half; k++) {
          const q = Math.round(map(this.w[base + k] as number) * 255) / 255;
          // The complement part holds 1 - the largest value: mapped likewise.
          const qc = Math.round((1 - map(1 - (this.w[base + half + k] as number))) * 255) / 255;
          this.w[base + k] = q;
          this.w[base + half + k] = qc;
        }
      }
    }
    this.nlo = this.lo;
    this.nhi = this.hi;
  }

  /** ARTime's approximate running median of the levels (a histogram walked one level at a time). */
  private levelize(level: number): void {
    this.medbin[level] = (this.medbin[level] as number) + 1;
    const medpos = Math.floor(this.n / 2);
    if (this.n === 1) this.med = level;
    if (this.med > level) this.below++;
    else if (this.med < level) this.above++;
    if (medpos < this.above) {
      this.below += this.medbin[this.med] as number;
      this.med++;
      while (this.med < this.c.levels && this.medbin[this.med] === 0) this.med++;
      this.above -= this.medbin[this.med] as number;
    } else if (medpos < this.below) {
      this.above += this.medbin[this.med] as number;
      this.med--;
      while (this.med > 0 && this.medbin[this.med] === 0) this.med--;
      this.below -= this.medbin[this.med] as number;
    }
  }

  /** Matches the features against the categories, learns them; returns [best match, its energy, whether a new cluster]. */
  private train(features: number[]): [number, number, boolean] {
    const dim = this.dim;
    const half = dim / 2;
    // Features kept at byte precision (as a compact state would keep them).
    const x = new Float32Array(dim);
    for (let k = 0; k < half; k++) {
      const q = Math.round((features[k] as number) * 255);
      x[k] = q / 255;
      x[half + k] = (255 - q) / 255;
    }
    if (this.cats === 0) {
      this.commit(x);
      return [0, 0, false];
    }
    const m = new Float64Array(this.cats);
    const me = new Float64Array(this.cats);
    for (let j = 0; j < this.cats; j++) {
      const base = j * dim;
      let num = 0;
      let nw = 0;
      for (let k = 0; k < dim; k++) {
        const wk = this.w[base + k] as number;
        num += Math.min(x[k] as number, wk);
        nw += wk;
      }
      if (nw === 0) nw = 0.001;
      const e1 = this.w[base + half - 1] as number;
      const e2 = this.w[base + dim - 1] as number;
      const ne = Math.min(x[half - 1] as number, e1) + Math.min(x[dim - 1] as number, e2);
      const energy = e1 + e2 > 0 ? ne / (e1 + e2) : 1;
      const fs = num / nw;
      m[j] = fs * fs * fs * energy * energy;
      me[j] = energy;
    }
    const order = Array.from({ length: this.cats }, (_, j) => j).sort((a, b) => (m[b] as number) - (m[a] as number));
    const best = order[0] as number;
    const bestM = m[best] as number;
    const bestE = me[best] as number;
    let matched = false;
    let placed = false;
    for (const j of order) {
      const mj = m[j] as number;
      if (mj >= this.rhoUb) {
        const base = j * dim;
        for (let k = 0; k < dim; k++) this.w[base + k] = Math.min(x[k] as number, this.w[base + k] as number);
        this.used[j] = this.n;
        matched = true;
      } else if (mj >= this.rhoLb && !matched) {
        this.commit(x);
        placed = true;
        break;
      } else break;
    }
    if (!matched && !placed) {
      this.commit(x);
      return [bestM, bestE, true];
    }
    return [bestM, bestE, false];
  }

  private commit(x: Float32Array): void {
    let slot = this.cats;
    if (this.cats < this.c.capacity) this.cats++;
    else {
      slot = 0;
      for (let k = 1; k < this.cats; k++) if ((this.used[k] as number) < (this.used[slot] as number)) slot = k;
    }
    this.w.set(x, slot * this.dim);
    this.used[slot] = this.n;
  }

  private detect(features: number[]): number {
    const c = this.c;
    const i = this.n;
    const [sim, energy, newCluster] = this.train(features);
    if (i <= c.trendWindow) {
      // Learning at the initial vigilance; the vigilances start at the mean similarity of the second half.
      if (i > c.trendWindow / 2) {
        this.warmSum += sim;
        this.warmCount++;
      }
      if (i === c.trendWindow) {
        const rho = this.warmCount > 0 ? this.warmSum / this.warmCount : c.initialRho;
        this.rhoLb = rho;
        this.rhoUb = rho;
      }
      this.track(sim);
      return 0;
    }
    const updateAfterAnomaly = i - this.lastAnomaly === this.mask;
    const updateForTrend = i - this.lastRhoUpdate >= Math.floor(c.trendWindow / 2);
    const maskAfterAnomaly = i - this.lastAnomaly <= this.mask;
    if (i > c.trendWindow + this.mask && this.maskAfterCat && this.noNewCat >= this.mask) this.maskAfterCat = false;
    this.noNewCat = newCluster ? 0 : this.noNewCat + 1;
    this.track(sim);
    if (i - this.lastAnomaly < this.mask && this.anomalyCount > 0 && sim < this.anomalyLast) {
      this.anomalySum += sim - this.anomalyLast;
      this.anomalyLast = sim;
    }
    const masking = this.maskAfterCat || maskAfterAnomaly;
    const belowLast = sim < this.lastAnomalySim * (maskAfterAnomaly ? 0.9 : 0.7);
    let score = 0;
    if (newCluster && (!masking || belowLast)) {
      score = this.confidence(sim, energy);
      this.anomalySum += sim;
      this.anomalyCount++;
      this.anomalyLast = sim;
      this.lastAnomalySim = sim;
      this.lastAnomaly = i;
    }
    this.maskAfterCat = newCluster || this.maskAfterCat;
    if (updateAfterAnomaly || updateForTrend) this.adaptVigilance(i);
    return score;
  }

  private track(sim: number): void {
    this.simSum += sim;
    this.simCount++;
    this.simWindow.shift();
    this.simWindow.push(sim);
    this.diffWindow.shift();
    this.diffWindow.push(this.rhoUb - sim);
  }

  private adaptVigilance(i: number): void {
    const c = this.c;
    const minSim = Math.min(...this.simWindow);
    const ub = Math.min(0.97, this.simSum / this.simCount);
    let lb: number;
    if (this.rhoLb <= minSim) lb = this.rhoLb + (minSim - this.rhoLb) * 0.19;
    else {
      let decr = 0;
      if (i > c.trendWindow * 2) {
        let s = 0;
        let k = 0;
        for (const d of this.diffWindow) {
          if (d > 0.05) {
            s += Math.min(0.37, d);
            k++;
          }
        }
        if (k > 0) decr = s / k;
      }
      decr = Math.max(0.01, decr);
      lb = this.rhoLb - decr / 2;
      if (this.anomalyCount > 0) lb = Math.max(this.anomalySum / this.anomalyCount, lb);
    }
    this.rhoLb = Math.min(ub, lb);
    this.rhoUb = ub;
    this.lastRhoUpdate = i;
    this.maskAfterCat = true;
  }

  private confidence(sim: number, energy: number): number {
    const fs = Math.min(0.999, sim);
    const ub = (1 - fs - (1 - this.rhoUb)) / (1 - fs);
    const lb = (1 - fs - (1 - this.rhoLb)) / (1 - fs);
    return Math.max(0, Math.min(1, ub * 0.35 + lb * 0.65 + (1 - energy) * 1.5));
  }
}
