/**
 * Simulated clickstream minute windows, scored the way the AnomalyAlert pipeline scores them (one detector per site
 * and metric with the pipeline's configuration, the volume rules, the site's alert policy), without decoding or
 * windowing events: for measuring false alerts per site-day, warm-up and echo alerts over many site-days in
 * seconds. The traffic model is the push generator's (`@sluice/testing/clickstream`): its daily shape,
 * its funnel and its incident kinds, drawn per minute (a minute's impressions are Poisson, clicks, carts and purchases
 * binomial along the funnel).
 */

import type { AlertMessage } from "@sluice/messages";
import { seededRandom } from "@sluice/testing";
import { dailyShape, FUNNEL, type IncidentKind } from "@sluice/testing/clickstream";
import { type RecentWindow, rememberWindow } from "../src/alert-context.ts";
import { applySitePolicy, emptySitePolicy, type MetricPoint, type SitePolicyState } from "../src/alert-policy.ts";
import { StreamingDetector } from "../src/detector.ts";
import {
  DEFAULT_PIPELINE,
  METRICS,
  type MetricName,
  metricValue,
  type PipelineConfig,
  scoreMetric,
} from "../src/pipeline.ts";
import type { WindowCounts } from "../src/windowing.ts";

export interface SimIncident {
  kind: IncidentKind;
  /** Minute index (from the start) of the first affected window. */
  minute: number;
  minutes: number;
  /** Traffic multiplier of a spike or drop (default: the generator's 4 and 0.1); CTR multiplier of a collapse (0.1). */
  factor?: number;
}

export interface SimSite {
  /** Impressions per minute on average over a day. */
  impressionsPerMinute: number;
  incidents?: readonly SimIncident[];
}

export interface SimOptions {
  sites: readonly SimSite[];
  /** Epoch ms of the first window (the daily shape depends on the hour). */
  start: number;
  minutes: number;
  seed?: number;
  config?: PipelineConfig;
}

export interface SimAlert extends AlertMessage {
  siteIndex: number;
  minute: number;
}

function poisson(lambda: number, random: () => number): number {
  if (lambda > 30) {
    const g = Math.sqrt(-2 * Math.log(random() || 1e-12)) * Math.cos(2 * Math.PI * random());
    return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * g));
  }
  const limit = Math.exp(-lambda);
  let k = 0;
  let p = random();
  while (p > limit) {
    k++;
    p *= random();
  }
  return k;
}

function binomial(n: number, p: number, random: () => number): number {
  if (n > 60) {
    const g = Math.sqrt(-2 * Math.log(random() || 1e-12)) * Math.cos(2 * Math.PI * random());
    return Math.min(n, Math.max(0, Math.round(n * p + Math.sqrt(n * p * (1 - p)) * g)));
  }
  let k = 0;
  for (let i = 0; i < n; i++) if (random() < p) k++;
  return k;
}

/** One site's minute counts. */
export function simulateCounts(site: SimSite, start: number, minutes: number, random: () => number): WindowCounts[] {
  const out: WindowCounts[] = [];
  for (let m = 0; m < minutes; m++) {
    let rate = site.impressionsPerMinute * dailyShape(start + m * 60_000 + 30_000);
    let ctr: number = FUNNEL.ctr;
    for (const incident of site.incidents ?? []) {
      if (m < incident.minute || m >= incident.minute + incident.minutes) continue;
      if (incident.kind === "ctr-collapse") ctr *= incident.factor ?? 0.1;
      else if (incident.kind === "traffic-spike") rate *= incident.factor ?? 4;
      else rate *= incident.factor ?? 0.1;
    }
    const impressions = poisson(rate, random);
    const clicks = binomial(impressions, ctr, random);
    const addToCart = binomial(clicks, FUNNEL.cartPerClick, random);
    const purchases = binomial(addToCart, FUNNEL.purchasePerCart, random);
    out.push({ impressions, clicks, addToCart, purchases } as WindowCounts);
  }
  return out;
}

/** Scores one site's windows as the pipeline does; returns the messages its policy sends. */
export function scoreSite(counts: readonly WindowCounts[], start: number, config: PipelineConfig = DEFAULT_PIPELINE) {
  const detectors = new Map<MetricName, StreamingDetector>();
  const recent = new Map<MetricName, RecentWindow[]>();
  let policy: SitePolicyState = emptySitePolicy();
  const messages: Array<{ minute: number; message: AlertMessage }> = [];
  for (const [minute, c] of counts.entries()) {
    const points: MetricPoint[] = [];
    for (const metric of config.metrics as readonly MetricName[]) {
      const value = metricValue(metric, c);
      if (value === undefined) continue;
      let detector = detectors.get(metric);
      if (!detector) {
        detector = new StreamingDetector(config.detector);
        detectors.set(metric, detector);
      }
      // The pipeline's own list of recent windows, whose values an alert's mean is of.
      const history = rememberWindow(recent.get(metric), start + minute * 60_000, value, config.contextWindows);
      recent.set(metric, history);
      const scored = scoreMetric(
        detector,
        metric,
        c,
        history.map(([, v]) => v),
      );
      if (!scored) continue;
      const { score, band } = scored;
      const volume = metric === "ctr" ? c.impressions : policy.baselines[metric]?.mean;
      const eligible =
        metric === "ctr" ? (volume ?? 0) >= config.minImpressionsForCtr : (volume ?? 0) >= config.minMeanCount;
      points.push({
        metric,
        value,
        score: eligible ? score : 0,
        ...(band ? { band: { ...band, windows: band.points } } : {}),
      });
    }
    const windowStart = start + minute * 60_000;
    const { state, message } = applySitePolicy(
      policy,
      { site: "s", windowStart, windowEnd: windowStart + 60_000, points },
      config.policy,
    );
    policy = state;
    if (message) messages.push({ minute, message });
  }
  return messages;
}

/** Runs every site; returns all messages with their site index and minute. */
export function simulate(options: SimOptions): SimAlert[] {
  const random = seededRandom(options.seed ?? 1);
  const out: SimAlert[] = [];
  for (const [siteIndex, site] of options.sites.entries()) {
    const counts = simulateCounts(site, options.start, options.minutes, random);
    for (const { minute, message } of scoreSite(counts, options.start, options.config)) {
      out.push({ ...message, siteIndex, minute });
    }
  }
  return out;
}

export { METRICS };
