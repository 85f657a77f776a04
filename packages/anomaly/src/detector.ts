/**
 * A streaming anomaly detector for one metric series: one point at a time, bounded memory, every score computed
 * only from the points up to it, and a state that serialises to a few kilobytes (see `snapshot`).
 *
 * How it scores a point:
 * 1. Pattern novelty, at several time scales (the raw series and averages of `scales[i]` points): the last
 *    `window` values form a pattern, compared with a bounded memory of patterns seen before (an ART-like
 *    prototype memory: a pattern further than `vigilance` (a fraction of the range seen so far) from every
 *    prototype becomes one, the least recently matched being forgotten when full). The distance to the nearest
 *    prototype is the raw surprise: a spike, a level shift, a daily shape that changes, a noise level that changes.
 * 2. Likelihood (as Numenta's HTM detector does): the raw surprise is compared with its own long-run mean and
 *    variance; the normal tail probability is mapped to a log scale (0 at or below the average surprise, 0.5 about 1 in 100 000, 1 at 1e-10),
 *    which makes scores comparable between series of any scale and noise.
 * 2b. Ensemble: by default three members with patterns of 2, 3 and 4 values (vigilance 6%, 4%, 3%: the same
 *    tolerance over a pattern) each score as above, the maximum over their scales; the score is their mean, which
 *    smooths out what one pattern length alone finds surprising.
 * 3b. Cycle context (`seasonLags`): a period is found when values L points apart are much closer than values L / 2
 *    apart (daily and weekly cycles of 5- and 30-minute data, an hourly one of 5-minute data); the detector then keeps
 *    what each phase block (`seasonBins` per period) usually holds. A block far from it (z-score of the departure,
 *    persisting `seasonPersist` blocks; periods of at least `seasonRaiseMin` points) scores: the day whose busy hours
 *    do not come, which no short pattern sees. A pattern surprise at a value its phase usually holds (departure under
 *    `seasonDownZ`; periods of at least `seasonDownMin`) is damped by `seasonDownFactor`: a burst at its usual hour.
 * 3. Spatial anomaly (also from HTM on NAB): a value beyond the range seen so far by more than
 *    `spatialTolerance` of it scores at least `spatialScore`.
 * 4. Rest: after a score at or above `alertLevel` the detector stays quiet for `restPoints` points while it keeps
 *    learning, so that one incident is one detection (what an alert policy and NAB both reward).
 * 5. Band gate (optional, `bandSigmas` > 0): the mean of the last `gateWindow` values is compared with its expected
 *    band (an exponentially weighted mean ± `bandSigmas` deviations, learnt robustly: deviations clipped to the band);
 *    a point whose recent mean lies inside the band scores 0, whatever the scales say. An averaged scale that is
 *    still draining an incident that is over (its block holds the incident, the latest values are normal again) then
 *    raises nothing: no echo alert, and a score never contradicts the band {@link StreamingDetector.expected} reports.
 * The score is the ensemble's mean, damped or raised by the cycle context, raised to the spatial score, then gated and
 * rested.
 */

export interface DetectorConfig {
  /** Values per pattern. */
  window: number;
  /** Prototypes each scale remembers; the state grows with it (`window * 4 + 4` bytes each). */
  capacity: number;
  /** Distance (mean absolute difference, as a fraction of the range seen) under which a pattern is known. */
  vigilance: number;
  /**
   * The range seen, for `vigilance`, is at most this many mean absolute deviations of the values (over about 1 000
   * steps): one extreme value does not make every later pattern look alike. 0: the whole range.
   */
  spreadCap: number;
  /**
   * Soft limit on what the raw series' patterns see (needs `spreadCap`): a value is drawn towards the level by
   * `level + L·tanh((value − level) / L)`, L being this many mean absolute deviations, so that values far beyond the
   * usual spread all look alike to the pattern memory (their size is the spatial check's business) and one extreme
   * spike does not inflate the surprise statistics for the rest of the series. 0: off (the default; see the README,
   * "NAB results", for why it is not on).
   */
  clipDevs: number;
  /** Points averaged per step at each scale (1 = the raw series). */
  scales: number[];
  /**
   * Cycle context (see the module comment, 3b): candidate periods in points, each with its half (a period L is
   * found when the values L points apart differ by less than `seasonRatio` times those L / 2 apart). Empty: off.
   */
  seasonLags: number[];
  /** A period is found when its lag's mean absolute difference is under this fraction of its half-lag's. */
  seasonRatio: number;
  /** Shortest period whose departures score (a value far from what this phase of the cycle usually holds). */
  seasonRaiseMin: number;
  /** Shortest period whose usual values damp the pattern score (a surprise at a value this phase usually holds). */
  seasonDownMin: number;
  /** Phase blocks per period (their means are what the cycle memory compares). */
  seasonBins: number;
  /** Blocks of phase jitter tolerated: a block is compared with the usual means of the blocks this far around it. */
  seasonShift: number;
  /** Consecutive blocks a departure must last (the least of their z-scores is scored). */
  seasonPersist: number;
  /** A block whose departure is under this z-score is usual for its phase: the pattern score is damped. */
  seasonDownZ: number;
  /** Factor of the damping. */
  seasonDownFactor: number;
  /**
   * Members of an ensemble, each with pattern memories of its own at every scale (its `window` and `vigilance`
   * override the configuration's); the score is the members' mean (before the spatial check, the gate and the
   * rest). Empty: one member, the configuration itself.
   */
  ensemble: Array<{ window?: number; vigilance?: number }>;
  /** Points before any score is reported (learning); each scale waits `warmupPoints` raw points too. */
  warmupPoints: number;
  /** Weight of the newest raw surprise in its long-run mean and variance (1 / horizon in steps). */
  longAlpha: number;
  /** A value beyond the range seen by more than this fraction of it is a spatial anomaly (0 disables). */
  spatialTolerance: number;
  /** Score of a spatial anomaly. */
  spatialScore: number;
  /** Whether the averaged scales check their own range too (not only the raw series). */
  spatialAllScales: boolean;
  /** Score at or above which the detector rests. */
  alertLevel: number;
  /** Points of silence after an alert-level score. */
  restPoints: number;
  /** Width of the band gate in deviations (0: no gate; see the module comment). */
  bandSigmas: number;
  /** Values averaged by the band gate (1: the latest value only). */
  gateWindow: number;
  /** Weight of a new gate mean in its band (1 / horizon in points). */
  bandAlpha: number;
  /**
   * A recent mean (or latest value) further than this many deviations from the band's mean scores `spatialScore`,
   * whatever the scales say: a level far outside what the band has seen (a drop to a tenth of the traffic inside the
   * range of the daily curve). 0: off; needs the band gate.
   */
  levelSigmas: number;
  /**
   * With the band gate: a spatial anomaly (a value beyond the range seen) scores only when the gate also finds the
   * latest value, or the recent mean (not draining), this many deviations from the band's mean. 0: every spatial
   * anomaly scores.
   */
  spatialSigmas: number;
  /**
   * With the band gate: a recent mean (not draining) at least `persistSigmas` deviations out for `persistPoints`
   * points in a row scores `spatialScore` (0 points: off). A lasting departure that `levelSigmas` alone would wait for.
   */
  persistSigmas: number;
  persistPoints: number;
}

export const DEFAULT_DETECTOR_CONFIG: DetectorConfig = {
  window: 3,
  capacity: 400,
  vigilance: 0.04,
  spreadCap: 20,
  clipDevs: 0,
  scales: [1, 12],
  // Daily and weekly cycles of 5- and 30-minute data, and an hourly one of 5-minute data (each with its half).
  seasonLags: [6, 12, 24, 48, 96, 144, 168, 288, 336, 1008, 2016],
  seasonRatio: 0.5,
  seasonRaiseMin: 48,
  seasonDownMin: 12,
  seasonBins: 24,
  seasonShift: 2,
  seasonPersist: 3,
  seasonDownZ: 1,
  seasonDownFactor: 0.5,
  // The same tolerance over a pattern (window x vigilance = 0.12 of the range) at three pattern lengths.
  ensemble: [
    { window: 2, vigilance: 0.06 },
    { window: 3, vigilance: 0.04 },
    { window: 4, vigilance: 0.03 },
  ],
  warmupPoints: 300,
  longAlpha: 0.0001,
  spatialTolerance: 0.05,
  spatialScore: 1,
  spatialAllScales: false,
  alertLevel: 0.2,
  restPoints: 100,
  bandSigmas: 0,
  gateWindow: 1,
  bandAlpha: 0.05,
  levelSigmas: 0,
  spatialSigmas: 0,
  persistSigmas: 5,
  persistPoints: 0,
};

/** The expected band of a detector's recent mean (see {@link StreamingDetector.expected}). */
export interface DetectorBand {
  /** The mean of the last `points` values. */
  value: number;
  /** Its expected value and band. */
  mean: number;
  low: number;
  high: number;
  points: number;
}

/**
 * Score at or above which a point is an alert: the threshold that maximises the NAB standard score of the default
 * configuration on the 31-series subset (0.122, rounded up).
 */
export const DEFAULT_ALERT_THRESHOLD = 0.13;

const STATE_VERSION = 3;
/** States of version 2 (before the band gate) are read too: their gate starts learning. */
const READABLE_VERSIONS = [2, 3];

/** The serialisable state of one scale (JSON; prototypes as base64 float32, their last use as base64 uint32). */
export interface ScaleState {
  n: number;
  sum: number;
  count: number;
  lo: number | null;
  hi: number | null;
  recent: number[];
  /** With `spreadCap` (version 3). */
  level?: number;
  absDev?: number;
  mean: number;
  varr: number;
  protos: number;
  patterns: string;
  used: string;
}

/** The serialisable state of a detector. */
export interface DetectorState {
  v: number;
  n: number;
  lo: number | null;
  hi: number | null;
  rest: number;
  scales: ScaleState[];
  /**
   * Band gate (version 3): last values, the band's mean after each of them, its mean, the variances of a recent mean
   * and of one value about it, values learnt, the last point of the last incident, consecutive points outside.
   */
  gate?: {
    recent: number[];
    lagged: number[];
    mean: number;
    varr: number;
    varr1: number;
    n: number;
    incidentEnd: number;
    outside: number;
    /** Points in a row `persistSigmas` out (absent: 0). */
    persist?: number;
  };
  /** Cycle context (with `seasonLags`; absent in states written before it: it starts learning). */
  season?: SeasonState;
}

/** The serialisable state of the cycle context (see {@link Cycle}). */
export interface SeasonState {
  /** The last values (base64 float32, oldest first), up to the longest lag. */
  ring: string;
  /** Mean absolute difference at each lag (null: not seen yet). */
  diffs: Array<number | null>;
  period: number;
  sum: number;
  count: number;
  /** The usual mean of each phase block (null: not seen yet). */
  profile: Array<number | null>;
  n: number;
  mean: number;
  varr: number;
  zs: number[];
}

/** Weight of a new difference in each lag's mean (about 500 points). */
const SEASON_LAG_ALPHA = 0.002;
/** Weight of a new block mean in its phase's usual mean (about 5 cycles). */
const SEASON_PROFILE_ALPHA = 0.2;
/** Weight of a new departure in their mean and variance (about 100 blocks), and blocks learnt before any scores. */
const SEASON_ALPHA = 0.01;
const SEASON_MIN_BLOCKS = 48;

/**
 * Cycle context: finds a period among `seasonLags` (the values L points apart much closer than those L / 2 apart),
 * keeps the usual mean of each phase block of it, and measures how far each block's mean is from what its phase (or
 * one up to `seasonShift` blocks around it) usually holds, as a z-score against the departures seen so far.
 */
class Cycle {
  private readonly ring: Float32Array;
  private at = 0;
  private filled = 0;
  private diffs: Array<number | null>;
  private period = 0;
  private sum = 0;
  private count = 0;
  private profile: Array<number | null> = [];
  private n = 0;
  private mean = 0;
  private varr = 0;
  private zs: number[] = [];
  /** The latest completed block's departure (z-score), and the period it belongs to; NaN between blocks. */
  z = Number.NaN;
  /** The least z-score of the last `seasonPersist` blocks, at a completed block of a period ≥ `seasonRaiseMin`. */
  raise = Number.NaN;

  constructor(private readonly c: DetectorConfig) {
    this.ring = new Float32Array(Math.max(...c.seasonLags));
    this.diffs = c.seasonLags.map(() => null);
  }

  /** Learns the `points`-th value of the series. */
  add(value: number, points: number): void {
    const c = this.c;
    const lags = c.seasonLags;
    const size = this.ring.length;
    for (const [i, lag] of lags.entries()) {
      if (this.filled < lag) continue;
      const d = Math.abs(value - (this.ring[(this.at - lag + size) % size] as number));
      const previous = this.diffs[i] ?? d;
      this.diffs[i] = previous + Math.max(SEASON_LAG_ALPHA, 1 / (points - lag)) * (d - previous);
    }
    this.ring[this.at] = value;
    this.at = (this.at + 1) % size;
    this.filled = Math.min(this.filled + 1, size);

    let chosen = 0;
    let best = c.seasonRatio;
    const shortest = Math.min(c.seasonRaiseMin, c.seasonDownMin);
    for (const [i, lag] of lags.entries()) {
      const half = lags.indexOf(lag / 2);
      if (half < 0 || points <= 3 * lag || lag < shortest) continue;
      const ratio = (this.diffs[i] as number) / Math.max(this.diffs[half] as number, 1e-12);
      if (ratio < best) {
        best = ratio;
        chosen = lag;
      }
    }
    this.z = Number.NaN;
    this.raise = Number.NaN;
    if (chosen !== this.period) {
      if (chosen > 0 && this.period > 0) this.profile = [];
      this.period = chosen;
      this.sum = 0;
      this.count = 0;
    }
    if (chosen === 0) return;
    const block = Math.max(1, Math.round(chosen / c.seasonBins));
    this.sum += value;
    this.count++;
    if (this.count < block) return;
    const m = this.sum / this.count;
    this.sum = 0;
    this.count = 0;
    const blocks = Math.round(chosen / block);
    if (this.profile.length !== blocks) {
      this.profile = new Array(blocks).fill(null);
      this.n = 0;
      this.mean = 0;
      this.varr = 0;
      this.zs = [];
    }
    const b = Math.floor((points % chosen) / block) % blocks;
    let r = Number.POSITIVE_INFINITY;
    for (let j = -c.seasonShift; j <= c.seasonShift; j++) {
      const usual = this.profile[(((b + j) % blocks) + blocks) % blocks];
      if (usual !== null && usual !== undefined) r = Math.min(r, Math.abs(m - usual));
    }
    const old = this.profile[b];
    this.profile[b] = old === null || old === undefined ? m : old + SEASON_PROFILE_ALPHA * (m - old);
    if (!Number.isFinite(r)) return;
    this.n++;
    const z = (r - this.mean) / Math.sqrt(Math.max(this.varr, 1e-12));
    this.zs.push(z);
    if (this.zs.length > c.seasonPersist) this.zs.shift();
    if (this.n > SEASON_MIN_BLOCKS) {
      if (chosen >= c.seasonRaiseMin) this.raise = Math.min(...this.zs);
      if (chosen >= c.seasonDownMin) this.z = z;
    }
    const a = Math.max(SEASON_ALPHA, 1 / this.n);
    const delta = r - this.mean;
    this.mean += a * delta;
    this.varr = (1 - a) * (this.varr + a * delta * delta);
  }

  snapshot(): SeasonState {
    const size = this.ring.length;
    const ordered = new Float32Array(this.filled);
    for (let i = 0; i < this.filled; i++) ordered[i] = this.ring[(this.at - this.filled + i + size) % size] as number;
    return {
      ring: toBase64(ordered),
      diffs: [...this.diffs],
      period: this.period,
      sum: this.sum,
      count: this.count,
      profile: [...this.profile],
      n: this.n,
      mean: this.mean,
      varr: this.varr,
      zs: [...this.zs],
    };
  }

  restore(s: SeasonState): void {
    const values = new Float32Array(fromBase64(s.ring));
    const size = this.ring.length;
    const kept = values.subarray(Math.max(0, values.length - size));
    this.ring.set(kept);
    this.filled = kept.length;
    this.at = kept.length % size;
    this.diffs = this.c.seasonLags.map((_, i) => s.diffs[i] ?? null);
    this.period = s.period;
    this.sum = s.sum;
    this.count = s.count;
    this.profile = [...s.profile];
    this.n = s.n;
    this.mean = s.mean;
    this.varr = s.varr;
    this.zs = [...s.zs];
  }
}

/** Pattern novelty and its likelihood on the series averaged over `factor` points. */
class PatternScale {
  n = 0;
  sum = 0;
  count = 0;
  lo = Number.POSITIVE_INFINITY;
  hi = Number.NEGATIVE_INFINITY;
  recent: number[] = [];
  /** Exponentially weighted level and mean absolute deviation of the scale's values (with `spreadCap`). */
  level = 0;
  absDev = 0;
  mean = 0;
  varr = 0;
  protos = 0;
  patterns: Float32Array;
  used: Uint32Array;
  /** The last scored step's likelihood, and whether it was beyond the scale's range (not persisted). */
  likelihood = 0;
  spatial = false;

  constructor(
    private readonly c: DetectorConfig,
    readonly factor: number,
  ) {
    this.patterns = new Float32Array(c.capacity * c.window);
    this.used = new Uint32Array(c.capacity);
  }

  /** Adds a raw value; returns a likelihood score when a step of this scale completes, else -1. */
  add(value: number, scoring: boolean): number {
    this.sum += value;
    this.count++;
    if (this.count < this.factor) return -1;
    // An average to 7 significant digits (the precision its patterns are stored in, float32): the state's JSON holds
    // the recent averages and their range, and a 17-digit double is 10 bytes more each.
    const v = this.count === 1 ? this.sum : Number((this.sum / this.count).toPrecision(7));
    this.sum = 0;
    this.count = 0;
    return this.step(v, scoring);
  }

  private step(value: number, scoring: boolean): number {
    const c = this.c;
    const w = c.window;
    this.n++;
    // The raw scale's spatial check is the detector's own (it runs before warm-up ends too).
    const tolerance = c.spatialTolerance * (this.hi - this.lo);
    const outOfRange =
      this.factor > 1 &&
      c.spatialAllScales &&
      c.spatialTolerance > 0 &&
      (value > this.hi + tolerance || value < this.lo - tolerance);
    if (value < this.lo) this.lo = value;
    if (value > this.hi) this.hi = value;
    const limit = c.clipDevs * this.absDev;
    this.recent.push(
      this.factor === 1 && c.spreadCap > 0 && limit > 0
        ? this.level + limit * Math.tanh((value - this.level) / limit)
        : value,
    );
    if (this.recent.length > w) this.recent.shift();
    if (this.recent.length < w) return 0;
    // The range the vigilance is a fraction of: at most `spreadCap` mean absolute deviations, so that one extreme
    // value does not make every later pattern look alike.
    if (c.spreadCap > 0 && this.n === 1) this.level = value;
    else if (c.spreadCap > 0) {
      const a = Math.max(0.001, 1 / this.n);
      this.absDev = (1 - a) * this.absDev + a * Math.abs(value - this.level);
      this.level += a * (value - this.level);
    }
    const range = this.hi - this.lo;
    const span = c.spreadCap > 0 && this.absDev > 0 ? Math.min(range, c.spreadCap * this.absDev) : range;
    let best = Number.POSITIVE_INFINITY;
    let bestAt = -1;
    const p = this.patterns;
    const r = this.recent;
    for (let k = 0; k < this.protos; k++) {
      let d = 0;
      const base = k * w;
      for (let i = 0; i < w && d < best; i++) d += Math.abs((p[base + i] as number) - (r[i] as number));
      if (d < best) {
        best = d;
        bestAt = k;
      }
    }
    const distance = span > 0 ? Math.min(1, best / w / span) : best === 0 ? 0 : 1;
    if (bestAt >= 0 && distance <= c.vigilance) this.used[bestAt] = this.n;
    else this.memorise();
    const raw = this.protos <= 1 ? 0 : distance;

    const alpha = Math.max(c.longAlpha, 1 / this.n);
    const delta = raw - this.mean;
    const mean = this.mean;
    const std = Math.sqrt(Math.max(this.varr, 1e-8));
    this.mean += alpha * delta;
    this.varr = (1 - alpha) * (this.varr + alpha * delta * delta);
    if (!scoring) return 0;
    this.likelihood = likelihoodScore((raw - mean) / std);
    this.spatial = outOfRange;
    return outOfRange ? c.spatialScore : this.likelihood;
  }

  /** Stores the current pattern in a free slot or over the least recently matched prototype. */
  private memorise(): void {
    const w = this.c.window;
    let slot = this.protos;
    if (this.protos < this.c.capacity) {
      this.protos++;
    } else {
      slot = 0;
      for (let k = 1; k < this.protos; k++) if ((this.used[k] as number) < (this.used[slot] as number)) slot = k;
    }
    for (let i = 0; i < w; i++) this.patterns[slot * w + i] = this.recent[i] as number;
    this.used[slot] = this.n;
  }

  snapshot(): ScaleState {
    return {
      n: this.n,
      sum: this.sum,
      count: this.count,
      lo: Number.isFinite(this.lo) ? this.lo : null,
      hi: Number.isFinite(this.hi) ? this.hi : null,
      recent: [...this.recent],
      ...(this.c.spreadCap > 0 ? { level: this.level, absDev: this.absDev } : {}),
      mean: this.mean,
      varr: this.varr,
      protos: this.protos,
      patterns: toBase64(this.patterns.subarray(0, this.protos * this.c.window)),
      used: toBase64(this.used.subarray(0, this.protos)),
    };
  }

  restore(s: ScaleState): void {
    this.n = s.n;
    this.sum = s.sum;
    this.count = s.count;
    this.lo = s.lo ?? Number.POSITIVE_INFINITY;
    this.hi = s.hi ?? Number.NEGATIVE_INFINITY;
    this.recent = [...s.recent];
    this.level = s.level ?? 0;
    this.absDev = s.absDev ?? 0;
    this.mean = s.mean;
    this.varr = s.varr;
    this.protos = Math.min(s.protos, this.c.capacity);
    this.patterns.set(new Float32Array(fromBase64(s.patterns)).subarray(0, this.protos * this.c.window));
    this.used.set(new Uint32Array(fromBase64(s.used)).subarray(0, this.protos));
  }
}

export class InvalidDetectorState extends Error {
  override name = "InvalidDetectorState";
}

/** Online anomaly detector for one series (see the module comment). */
export class StreamingDetector {
  readonly config: DetectorConfig;
  private n = 0;
  private lo = Number.POSITIVE_INFINITY;
  private hi = Number.NEGATIVE_INFINITY;
  private rest = 0;
  /** The last point of the last incident (band gate only). */
  private incidentEnd = 0;
  /** The ensemble's members, each its scales; `scales` is all of them, member by member (the state's order). */
  private readonly members: PatternScale[][];
  private readonly scales: PatternScale[];
  private gateRecent: number[] = [];
  private gateLagged: number[] = [];
  private gateMean = 0;
  private gateVar = 0;
  private gateVar1 = 0;
  /** Consecutive points outside the band. */
  private gateOutside = 0;
  /** Points in a row whose recent mean was `persistSigmas` out. */
  private gatePersist = 0;
  private gateN = 0;
  private band: DetectorBand | null = null;
  /** Whether the latest point was beyond `levelSigmas` (not persisted: recomputed at each point). */
  private level = false;
  /** Whether the latest point was beyond `spatialSigmas` (true without them; not persisted). */
  private farOut = true;
  private readonly cycle: Cycle | null;

  constructor(config: Partial<DetectorConfig> = {}, state?: DetectorState) {
    this.config = { ...DEFAULT_DETECTOR_CONFIG, ...config };
    const members = this.config.ensemble.length > 0 ? this.config.ensemble : [{}];
    this.members = members.map((member) =>
      this.config.scales.map((factor) => new PatternScale({ ...this.config, ...member }, factor)),
    );
    this.scales = this.members.flat();
    this.cycle = this.config.seasonLags.length > 0 ? new Cycle(this.config) : null;
    if (state) this.restore(state);
  }

  /** Points seen so far. */
  get points(): number {
    return this.n;
  }

  /** Scores the next value of the series (in time order) and learns it. Returns a score in [0, 1]. */
  update(value: number): number {
    const c = this.config;
    if (!Number.isFinite(value)) return 0;
    this.n++;
    const scoring = this.n > c.warmupPoints;
    const tolerance = c.spatialTolerance * (this.hi - this.lo);
    const outOfRange = c.spatialTolerance > 0 && (value > this.hi + tolerance || value < this.lo - tolerance);
    if (value < this.lo) this.lo = value;
    if (value > this.hi) this.hi = value;
    this.cycle?.add(value, this.n);
    const gated = c.bandSigmas > 0;
    const inBand = gated && !this.gate(value);
    // Each member's score is the maximum over its scales; the score, the members' mean.
    let score = 0;
    for (const member of this.members) {
      let memberScore = 0;
      for (const scale of member) {
        let scaleScore = scale.add(value, scoring);
        if (scaleScore >= 0 && scale.spatial && !this.farOut) scaleScore = scale.likelihood;
        // With the gate, an averaged block that holds points of the last incident is stale: ignored (still learnt).
        if (gated && scale.factor > 1 && this.n - scale.factor < this.incidentEnd) continue;
        memberScore = Math.max(memberScore, scaleScore);
      }
      score += memberScore / this.members.length;
    }
    if (!scoring) return 0;
    if (this.cycle) {
      // A surprise at a value this phase of the cycle usually holds is damped; a departure from it scores.
      if (this.cycle.z < c.seasonDownZ) score *= c.seasonDownFactor;
      if (!Number.isNaN(this.cycle.raise)) score = Math.max(score, likelihoodScore(this.cycle.raise));
    }
    if ((outOfRange && this.farOut) || this.level) score = Math.max(score, c.spatialScore);
    if (inBand) score = 0;
    // An incident lasts from an alert-level point while the gate keeps finding the series outside its band.
    if (gated && (score >= c.alertLevel || (!inBand && this.incidentEnd === this.n - 1))) this.incidentEnd = this.n;
    if (this.rest > 0) {
      this.rest--;
      return 0;
    }
    if (score >= c.alertLevel) this.rest = c.restPoints;
    return score;
  }

  /**
   * The band gate's view of the latest point: the mean of the last `gateWindow` values against its expected band
   * (learnt before that point); null before the gate has learnt `1 / bandAlpha` points, or without a gate.
   */
  expected(): DetectorBand | null {
    return this.band;
  }

  /**
   * Learns the value into the band gate; returns whether the point may score: the latest value is outside the band
   * of one value, or the recent mean is outside its band and not draining (the latest value is beyond the band's
   * mean on the same side, by at least half the recent mean's deviation; a mean still outside only because it holds
   * values of an incident that is over is draining); or the band is not learnt yet.
   */
  private gate(value: number): boolean {
    const c = this.config;
    this.gateRecent.push(value);
    if (this.gateRecent.length > c.gateWindow) this.gateRecent.shift();
    let sum = 0;
    for (const v of this.gateRecent) sum += v;
    const x = sum / this.gateRecent.length;
    // The band is centred on the mean as it was before the recent values (none of them in it), so that the spread
    // of the deviations is that of a new mean around an expectation that does not know it.
    const centre = this.gateLagged[0] ?? this.gateMean;
    const learnt = this.gateN >= 1 / c.bandAlpha;
    const floor = 1e-9 * (1 + Math.abs(centre));
    const half = Math.max(c.bandSigmas * Math.sqrt(this.gateVar), floor);
    const half1 = Math.max(c.bandSigmas * Math.sqrt(this.gateVar1), floor);
    const deviation = x - centre;
    const latest = value - centre;
    const outside = Math.abs(deviation) > half;
    // The latest value alone, against the band of one value: the first point of a spike or a drop, before the
    // recent mean has moved far enough.
    const outside1 = Math.abs(latest) > half1;
    const draining = latest * deviation <= 0 || Math.abs(latest) < Math.abs(deviation) / 2;
    const far = c.levelSigmas;
    this.level =
      learnt &&
      far > 0 &&
      ((Math.abs(deviation) * c.bandSigmas > far * half && !draining) || Math.abs(latest) * c.bandSigmas > far * half1);
    this.gatePersist =
      c.persistPoints > 0 && learnt && Math.abs(deviation) * c.bandSigmas > c.persistSigmas * half && !draining
        ? this.gatePersist + 1
        : 0;
    if (c.persistPoints > 0 && this.gatePersist >= c.persistPoints) this.level = true;
    const spatial = c.spatialSigmas;
    this.farOut =
      spatial <= 0 ||
      !learnt ||
      (Math.abs(deviation) * c.bandSigmas > spatial * half && !draining) ||
      Math.abs(latest) * c.bandSigmas > spatial * half1;
    this.band = !learnt
      ? null
      : outside1 && !outside
        ? { value, mean: centre, low: centre - half1, high: centre + half1, points: 1 }
        : { value: x, mean: centre, low: centre - half, high: centre + half, points: c.gateWindow };
    // Robust exponentially weighted mean and variances (over a horizon 5 times longer): a mean outside the band is
    // learnt at a tenth of the weight, as a deviation of the band's half-width, so an incident does not widen the
    // band around itself, while a lasting change of level is learnt within about ten horizons.
    this.gateN++;
    let alpha = Math.max(c.bandAlpha, 1 / this.gateN);
    let alphaVar = Math.max(c.bandAlpha / 5, 1 / this.gateN);
    let delta = x - this.gateMean;
    let spread = deviation;
    let spread1 = latest;
    // Outside for longer than the band's horizon is a new normal (traffic following its daily curve, a lasting
    // change): learnt at the full weight again, so the band cannot lock on a level the series has left. During the
    // detector's warm-up every value is learnt at the full weight.
    this.gateOutside = outside || outside1 ? this.gateOutside + 1 : 0;
    if (learnt && (outside || outside1) && this.n > c.warmupPoints && this.gateOutside <= 1 / c.bandAlpha) {
      alpha /= 10;
      alphaVar /= 10;
      delta = Math.max(-half, Math.min(half, delta));
      spread = Math.max(-half, Math.min(half, spread));
      spread1 = Math.max(-half1, Math.min(half1, spread1));
    }
    this.gateMean += alpha * delta;
    this.gateVar = (1 - alphaVar) * (this.gateVar + alphaVar * spread * spread);
    this.gateVar1 = (1 - alphaVar) * (this.gateVar1 + alphaVar * spread1 * spread1);
    this.gateLagged.push(this.gateMean);
    if (this.gateLagged.length > c.gateWindow) this.gateLagged.shift();
    return !learnt || outside1 || (outside && !draining);
  }

  /** The detector's state, to persist and hand back to the constructor (same configuration). */
  snapshot(): DetectorState {
    return {
      v: STATE_VERSION,
      n: this.n,
      lo: Number.isFinite(this.lo) ? this.lo : null,
      hi: Number.isFinite(this.hi) ? this.hi : null,
      rest: this.rest,
      scales: this.scales.map((s) => s.snapshot()),
      ...(this.config.bandSigmas > 0
        ? {
            gate: {
              recent: [...this.gateRecent],
              lagged: [...this.gateLagged],
              mean: this.gateMean,
              varr: this.gateVar,
              varr1: this.gateVar1,
              n: this.gateN,
              incidentEnd: this.incidentEnd,
              outside: this.gateOutside,
              ...(this.gatePersist > 0 ? { persist: this.gatePersist } : {}),
            },
          }
        : {}),
      ...(this.cycle ? { season: this.cycle.snapshot() } : {}),
    };
  }

  private restore(s: DetectorState): void {
    if (!READABLE_VERSIONS.includes(s.v) || s.scales.length !== this.scales.length) {
      throw new InvalidDetectorState(`detector state version ${s.v} with ${s.scales.length} scales does not fit`);
    }
    this.n = s.n;
    this.lo = s.lo ?? Number.POSITIVE_INFINITY;
    this.hi = s.hi ?? Number.NEGATIVE_INFINITY;
    this.rest = s.rest;
    for (const [i, scale] of s.scales.entries()) this.scales[i]?.restore(scale);
    if (s.gate) {
      this.gateRecent = [...s.gate.recent];
      this.gateLagged = [...s.gate.lagged];
      this.gateMean = s.gate.mean;
      this.gateVar = s.gate.varr;
      this.gateVar1 = s.gate.varr1;
      this.gateN = s.gate.n;
      this.incidentEnd = s.gate.incidentEnd;
      this.gateOutside = s.gate.outside;
      this.gatePersist = s.gate.persist ?? 0;
    }
    if (s.season && this.cycle) this.cycle.restore(s.season);
  }
}

function toBase64(view: ArrayBufferView): string {
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString("base64");
}

function fromBase64(text: string): ArrayBuffer {
  const bytes = Buffer.from(text, "base64");
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

/** A z-score on the log scale of its tail probability: 0 at or below 0, 0.5 at about 1 in 100 000, 1 at 1e-10. */
function likelihoodScore(z: number): number {
  if (z <= 0) return 0;
  // Twice the tail: a surprise at its average scores 0.
  return Math.min(1, Math.max(0, Math.log(2 * normalTail(z) + 1e-10) / Math.log(1e-10)));
}

/** Upper tail of the standard normal distribution, Q(z) (Abramowitz-Stegun 7.1.26, error below 1e-7). */
export function normalTail(z: number): number {
  const x = z / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erfc = poly * Math.exp(-x * x);
  return x >= 0 ? erfc / 2 : 1 - erfc / 2;
}
