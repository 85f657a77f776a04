/**
 * What an on-call engineer needs to act on an alert without opening a console, added to the alert the policy
 * decided: the alert's metric over its last windows (against the expected band the alert reports), and the site's
 * other metrics that moved in the same window (outside their own expected band, their average over their last
 * windows outside the band of such an average, or scored anomalous), with the whole as text (`summary`, rendered by `alertSummary` of `@sluice/messages`, the contract).
 */
import {
  type AlertMessage,
  alertSummary,
  averageBand,
  bandDistance,
  type ExpectedBand,
  type MovedMetric,
} from "@sluice/messages";
import type { MetricPoint } from "./alert-policy.ts";

/** A window of one series: its start (epoch ms) and its value. */
export type RecentWindow = [windowStart: number, value: number];

export interface AlertContext {
  /** The site's metrics in the alert's window (those that may count as moved: enough volume to mean something). */
  points: readonly MetricPoint[];
  /** Expected band of each metric (for an incident: frozen when it opened). */
  bands: Readonly<Record<string, ExpectedBand>>;
  /** Each metric's last windows, oldest first, this one included. */
  recent: Readonly<Record<string, readonly RecentWindow[]>>;
  /** Score at or above which a metric is anomalous. */
  threshold: number;
}

/** `recent` with one more window (its value to the alert's precision), keeping the last `keep`. */
export function rememberWindow(
  recent: readonly RecentWindow[] | undefined,
  windowStart: number,
  value: number,
  keep: number,
): RecentWindow[] {
  if (keep <= 0) return [];
  return [...(recent ?? []), [windowStart, round(value)] as RecentWindow].slice(-keep);
}

/** The alert with `recent`, `moved` and `summary` (the summary placed right after what the alert is). */
export function withContext(alert: AlertMessage, context: AlertContext): AlertMessage {
  const recent = (context.recent[alert.metric] ?? []).map(([start, value]) => ({
    windowStart: new Date(start).toISOString(),
    value: round(value),
  }));
  const moved: Array<MovedMetric & { distance: number }> = [];
  for (const p of context.points) {
    const expected = context.bands[p.metric];
    // Without a band (no baseline yet) there is nothing to read the value against.
    if (p.metric === alert.metric || expected === undefined) continue;
    const windows = context.recent[p.metric] ?? [];
    const mean = windows.reduce((sum, [, value]) => sum + value, 0) / Math.max(1, windows.length);
    const band = averageBand(expected, windows.length);
    const distance = Math.max(bandDistance(p.value, expected), windows.length > 1 ? bandDistance(mean, band) : 0);
    if (distance === 0 && p.score < context.threshold) continue;
    moved.push({
      metric: p.metric,
      value: round(p.value),
      expected,
      score: round(p.score),
      ...(windows.length > 1 && {
        average: { windows: windows.length, value: round(mean), low: band.low, high: band.high },
      }),
      distance,
    });
  }
  moved.sort((a, b) => b.distance - a.distance || b.score - a.score);
  const full: AlertMessage = { ...alert, recent, moved: moved.map(({ distance: _, ...m }) => m) };
  const { type, status, site, metric, ...rest } = full;
  return { type, status, site, metric, summary: alertSummary(full), ...rest };
}

function round(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}
