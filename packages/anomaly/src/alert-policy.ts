/**
 * The alert policy of one site: an incident opens when any of the site's metrics scores at or above the
 * threshold in a window, and is announced once, naming the metric with the highest score (and every metric that
 * was anomalous with it); while it is open nothing more is sent; it resolves, with one message, when scores have
 * been under the threshold for `resolveAfterWindows` windows in a row and, over those windows, the mean of every
 * metric that opened the incident has come back at least halfway from its anomalous value to its baseline from
 * before the incident (a strict band would never close while traffic follows its daily curve), or after
 * `resolveAfterQuietWindows` quiet windows.
 * One incident is one open and one resolved message, however many metrics it moves (a CTR collapse also moves
 * clicks, carts and purchases).
 *
 * Baselines (exponentially weighted mean and variance per metric) learn only outside incidents, so an incident
 * does not become the new normal while it lasts.
 */
import type { AlertMessage, ExpectedBand } from "@sluice/messages";

export interface Baseline {
  n: number;
  mean: number;
  variance: number;
}

export interface Incident {
  metric: string;
  metrics: string[];
  windowStart: number;
  score: number;
  severity: AlertMessage["severity"];
  /** Expected band of every metric, frozen when the incident opened. */
  expected: Record<string, ExpectedBand>;
  /** Baseline means frozen when the incident opened, and the anomalous values, of the metrics that opened it. */
  baselines: Record<string, number>;
  opened: Record<string, number>;
  /** The last `resolveAfterWindows` values of each metric. */
  recent: Record<string, number[]>;
  /** Consecutive windows with every score under the threshold. */
  quiet: number;
}

export interface SitePolicyState {
  baselines: Record<string, Baseline>;
  incident: Incident | null;
}

export interface PolicyConfig {
  threshold: number;
  resolveAfterWindows: number;
  resolveAfterQuietWindows: number;
  /** Width of the expected band in standard deviations. */
  bandSigmas: number;
  /** Weight of a new value in a baseline (1 / horizon in windows). */
  baselineAlpha: number;
  /** Score at or above which an alert is critical. */
  criticalScore: number;
}

export const DEFAULT_POLICY: Readonly<PolicyConfig> = Object.freeze({
  threshold: 0.5,
  resolveAfterWindows: 5,
  resolveAfterQuietWindows: 60,
  bandSigmas: 3,
  baselineAlpha: 0.02,
  criticalScore: 0.9,
});

export function emptySitePolicy(): SitePolicyState {
  return { baselines: {}, incident: null };
}

/** One metric of a site in one closed window, with its anomaly score. */
export interface MetricPoint {
  metric: string;
  value: number;
  score: number;
  /**
   * The detector's view of the metric, when it has one: the mean of its last `windows` windows against the band
   * it expected for that mean. An open alert on this metric then reports that mean and band (one window's value at
   * small volumes is mostly noise, and the detector judges the mean).
   */
  band?: { value: number; mean: number; low: number; high: number; windows: number };
}

/** An open message's `windows`: only when its value is a mean of several. */
const windowsOf = (windows: number | undefined) => (windows !== undefined && windows > 1 ? { windows } : {});

/** What an open alert on a point reports: its value (or its detector's mean) and the band around it. */
function reportOf(point: MetricPoint, state: SitePolicyState, config: PolicyConfig) {
  if (point.band) {
    const { value, mean, low, high, windows } = point.band;
    return { value: round(value), windows, expected: { mean: round(mean), low: round(low), high: round(high) } };
  }
  return { value: round(point.value), expected: expectedOf(state.baselines[point.metric], config) };
}

export interface SiteWindow {
  site: string;
  windowStart: number;
  windowEnd: number;
  points: readonly MetricPoint[];
}

/** The expected band of a baseline: mean ± bandSigmas standard deviations (at least ±1% of the mean). */
export function expectedOf(baseline: Baseline | undefined, config: PolicyConfig): ExpectedBand {
  const b = baseline ?? { n: 0, mean: 0, variance: 0 };
  const half = Math.max(config.bandSigmas * Math.sqrt(b.variance), Math.abs(b.mean) * 0.01, 1e-9);
  return { mean: round(b.mean), low: round(b.mean - half), high: round(b.mean + half) };
}

/** Applies one window of a site to its policy; returns the new state and the message to send, if any. */
export function applySitePolicy(
  previous: SitePolicyState,
  window: SiteWindow,
  config: PolicyConfig = DEFAULT_POLICY,
): { state: SitePolicyState; message: AlertMessage | null } {
  const state: SitePolicyState = structuredClone(previous);
  const times = {
    windowStart: new Date(window.windowStart).toISOString(),
    windowEnd: new Date(window.windowEnd).toISOString(),
  };
  const incident = state.incident;
  if (incident === null) {
    // An open alert never contradicts itself: a metric counts only if the value it would report lies outside the
    // band it would report.
    const reports = new Map(window.points.map((p) => [p, reportOf(p, state, config)]));
    const outside = (p: MetricPoint) => {
      const r = reports.get(p) as ReturnType<typeof reportOf>;
      return r.value < r.expected.low || r.value > r.expected.high;
    };
    const anomalous = window.points
      .filter((p) => p.score >= config.threshold && outside(p))
      .sort((a, b) => b.score - a.score);
    const top = anomalous[0];
    if (top === undefined) {
      for (const p of window.points) learn(state, p, config);
      return { state, message: null };
    }
    const expected: Record<string, ExpectedBand> = {};
    for (const [metric, baseline] of Object.entries(state.baselines)) expected[metric] = expectedOf(baseline, config);
    for (const p of anomalous) expected[p.metric] = reports.get(p)?.expected as ExpectedBand;
    const severity = top.score >= config.criticalScore ? "critical" : "warning";
    const metrics = anomalous.map((p) => p.metric);
    state.incident = {
      metric: top.metric,
      metrics,
      windowStart: window.windowStart,
      score: top.score,
      severity,
      expected,
      baselines: Object.fromEntries(anomalous.map((p) => [p.metric, state.baselines[p.metric]?.mean ?? 0])),
      opened: Object.fromEntries(anomalous.map((p) => [p.metric, p.value])),
      recent: {},
      quiet: 0,
    };
    const message: AlertMessage = {
      type: "anomaly",
      status: "open",
      site: window.site,
      metric: top.metric,
      ...times,
      value: reports.get(top)?.value as number,
      ...windowsOf(reports.get(top)?.windows),
      expected: expected[top.metric] as ExpectedBand,
      score: round(top.score),
      severity,
      metrics,
    };
    return { state, message };
  }
  const quiet = window.points.every((p) => p.score < config.threshold);
  incident.quiet = quiet ? incident.quiet + 1 : 0;
  const k = config.resolveAfterWindows;
  for (const p of window.points) {
    const recent = incident.recent[p.metric] ?? [];
    recent.push(p.value);
    if (recent.length > k) recent.shift();
    incident.recent[p.metric] = recent;
  }
  const backToBaseline = Object.entries(incident.baselines).every(([metric, baseline]) => {
    const recent = incident.recent[metric] ?? [];
    if (recent.length < k) return false;
    const mean = recent.reduce((a, v) => a + v, 0) / recent.length;
    return Math.abs(mean - baseline) <= Math.abs((incident.opened[metric] ?? baseline) - baseline) / 2;
  });
  if (!((incident.quiet >= k && backToBaseline) || incident.quiet >= config.resolveAfterQuietWindows)) {
    return { state, message: null };
  }
  const current = window.points.find((p) => p.metric === incident.metric);
  const message: AlertMessage = {
    type: "anomaly",
    status: "resolved",
    site: window.site,
    metric: incident.metric,
    ...times,
    value: round(current?.value ?? Number.NaN),
    expected: incident.expected[incident.metric] ?? expectedOf(undefined, config),
    score: round(current?.score ?? 0),
    severity: incident.severity,
    metrics: incident.metrics,
    openedAt: new Date(incident.windowStart).toISOString(),
  };
  state.incident = null;
  for (const p of window.points) learn(state, p, config);
  return { state, message };
}

function learn(state: SitePolicyState, point: MetricPoint, config: PolicyConfig): void {
  const b = state.baselines[point.metric] ?? { n: 0, mean: 0, variance: 0 };
  b.n++;
  const alpha = Math.max(config.baselineAlpha, 1 / b.n);
  const delta = point.value - b.mean;
  b.mean += alpha * delta;
  b.variance = (1 - alpha) * (b.variance + alpha * delta * delta);
  state.baselines[point.metric] = b;
}

function round(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}
