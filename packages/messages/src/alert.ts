/**
 * The alert message AnomalyAlert publishes to the `Alerts` topic: once when an incident opens, once when it
 * resolves. Consumers deduplicate on site, metric, window and status (SNS delivers at least once).
 *
 * Besides the fields a program reads, an alert carries what an on-call engineer needs to act without opening a
 * console: the alert's metric over its last windows against the expected band (`recent`), the site's other metrics
 * that moved in the same window (`moved`), and both as text (`summary`, one line per element, from
 * {@link alertSummary}). These three are optional in the schema: alerts decided before they existed (in a state's
 * outbox during a deployment) do not have them.
 */
import * as z from "zod/mini";

/** A metric's expected band: its baseline mean and the band around it. */
export const expectedBand = z.object({
  mean: z.number(),
  low: z.number(),
  high: z.number(),
});

export type ExpectedBand = z.infer<typeof expectedBand>;

/** One window of the alert's metric (its band is the alert's `expected`). */
export const alertWindow = z.object({
  /** ISO-8601 UTC. */
  windowStart: z.string(),
  value: z.number(),
});

export type AlertWindow = z.infer<typeof alertWindow>;

/**
 * Another metric of the alert's site in the alert's window: its value against its own expected band, and its average
 * over the last windows against the band of such an average (a window's band narrowed by the square root of the
 * number of windows: at small volumes one window is mostly noise, a few windows' average is not).
 */
export const movedMetric = z.object({
  metric: z.string(),
  value: z.number(),
  expected: expectedBand,
  score: z.number(),
  average: z.optional(z.object({ windows: z.number(), value: z.number(), low: z.number(), high: z.number() })),
});

export type MovedMetric = z.infer<typeof movedMetric>;

export const alertMessage = z.object({
  type: z.literal("anomaly"),
  status: z.enum(["open", "resolved"]),
  site: z.string(),
  metric: z.string(),
  /** ISO-8601 UTC. */
  windowStart: z.string(),
  windowEnd: z.string(),
  value: z.number(),
  /**
   * On an open message: `value` is the mean of this many windows up to this one, and `expected` the band of such a
   * mean (the detector's view, over the windows its band gate looks at). Absent: `value` is this window's own.
   */
  windows: z.optional(z.number()),
  expected: expectedBand,
  score: z.number(),
  severity: z.enum(["warning", "critical"]),
  /** Every metric anomalous when the incident opened (the `metric` first). */
  metrics: z.array(z.string()),
  /** On a resolved message: when its incident opened (the window start of the open message). */
  openedAt: z.optional(z.string()),
  /** The alert's metric in the last windows up to and including this one, oldest first, against `expected`. */
  recent: z.optional(z.array(alertWindow)),
  /**
   * The site's other metrics that moved in this window (outside their expected band, or anomalous), the furthest
   * out first; empty when none did.
   */
  moved: z.optional(z.array(movedMetric)),
  /** The alert as text for a person, one line per element ({@link alertSummary}). */
  summary: z.optional(z.array(z.string())),
});

export type AlertMessage = z.infer<typeof alertMessage>;

/** Where a value lies against a band. */
export function bandPosition(value: number, band: ExpectedBand): "below" | "within" | "above" {
  if (value < band.low) return "below";
  if (value > band.high) return "above";
  return "within";
}

/** The band of an average of `windows` windows, each with band `band`: its half-width divided by √windows. */
export function averageBand(band: ExpectedBand, windows: number): ExpectedBand {
  const n = Math.sqrt(Math.max(1, windows));
  const r = (x: number) => Math.round(x * 1e4) / 1e4;
  return {
    mean: band.mean,
    low: r(band.mean - (band.mean - band.low) / n),
    high: r(band.mean + (band.high - band.mean) / n),
  };
}

/** How far out of its band a value is, in half-widths of the band (0 inside it). */
export function bandDistance(value: number, band: ExpectedBand): number {
  const half = Math.max((band.high - band.low) / 2, 1e-12);
  if (value < band.low) return (band.low - value) / half;
  if (value > band.high) return (value - band.high) / half;
  return 0;
}

const time = (iso: string) => iso.slice(11, 16);
const day = (iso: string) => iso.slice(0, 10);
/** A number for a person: whole numbers as they are, others to 4 significant digits (whole from 1 000 up). */
function number(x: number): string {
  if (!Number.isFinite(x)) return "none";
  if (Number.isInteger(x) || Math.abs(x) >= 1000) return String(Math.round(x));
  return String(Number(x.toPrecision(4)));
}

/** `-93%` against the band's mean (nothing when the mean is 0). */
function change(value: number, band: ExpectedBand): string {
  if (band.mean === 0 || !Number.isFinite(value)) return "";
  const percent = Math.round(((value - band.mean) / Math.abs(band.mean)) * 100);
  return `, ${percent > 0 ? "+" : ""}${percent}% from its mean ${number(band.mean)}`;
}

function against(value: number, band: ExpectedBand): string {
  const position = bandPosition(value, band);
  const where = position === "within" ? "within" : position;
  return `${where} its expected band ${number(band.low)} to ${number(band.high)}${change(value, band)}`;
}

function averageAgainst(value: number, band: ExpectedBand, windows: number): string {
  const position = bandPosition(value, band);
  return `${position} the band ${number(band.low)} to ${number(band.high)} of a ${windows}-window average`;
}

/**
 * The alert as lines of text: what happened (status, metric, site, window, value against its band, score and
 * severity), the metric's last windows each with where it lies against the band (and their average against the band of an
 * average), and the other metrics that moved.
 * Derived from the message's fields only, so any consumer can render it again.
 */
export function alertSummary(alert: AlertMessage): string[] {
  const window = `${day(alert.windowStart)} ${time(alert.windowStart)}-${time(alert.windowEnd)} UTC`;
  const lines: string[] = [];
  if (alert.status === "open") {
    const averaged = alert.windows !== undefined && alert.windows > 1;
    const what = averaged
      ? `averaged ${number(alert.value)} over the ${alert.windows} windows to ${window}`
      : `was ${number(alert.value)} in ${window}`;
    lines.push(
      `OPEN ${alert.severity}: ${alert.metric} on ${alert.site} ${what}, ` +
        `${against(alert.value, alert.expected)} (score ${number(alert.score)}).`,
    );
    if (alert.metrics.length > 1) lines.push(`Anomalous together: ${alert.metrics.join(", ")}.`);
  } else {
    const opened = alert.openedAt ? `, opened ${day(alert.openedAt)} ${time(alert.openedAt)} UTC` : "";
    lines.push(
      `RESOLVED ${alert.severity}: ${alert.metric} on ${alert.site}${opened}; ${number(alert.value)} in ${window}, ` +
        `${against(alert.value, alert.expected)}.`,
    );
  }
  if (alert.recent && alert.recent.length > 0 && alert.windows !== undefined && alert.windows > 1) {
    // The band is that of a mean of `windows` windows: the windows themselves are listed, not placed against it.
    lines.push(`${alert.metric}, last ${alert.recent.length} windows:`);
    for (const w of alert.recent) lines.push(`  ${time(w.windowStart)}  ${number(w.value)}`);
  } else if (alert.recent && alert.recent.length > 0) {
    const band = alert.expected;
    lines.push(
      `${alert.metric}, last ${alert.recent.length} windows against its band ${number(band.low)} to ${number(band.high)}:`,
    );
    for (const w of alert.recent) {
      const position = bandPosition(w.value, band);
      lines.push(`  ${time(w.windowStart)}  ${number(w.value)}${position === "within" ? "" : `  ${position}`}`);
    }
    if (alert.recent.length > 1) {
      const n = alert.recent.length;
      const mean = alert.recent.reduce((sum, w) => sum + w.value, 0) / n;
      lines.push(`  on average ${number(mean)}, ${averageAgainst(mean, averageBand(band, n), n)}`);
    }
  }
  if (alert.moved !== undefined) {
    if (alert.moved.length === 0) lines.push(`Other metrics of ${alert.site}: none moved.`);
    else {
      lines.push(`Other metrics of ${alert.site} that moved:`);
      for (const m of alert.moved) {
        const average = m.average
          ? `; ${number(m.average.value)} on average over ${m.average.windows} windows, ${averageAgainst(m.average.value, { mean: m.expected.mean, low: m.average.low, high: m.average.high }, m.average.windows)}`
          : "";
        lines.push(
          `  ${m.metric} ${number(m.value)}, ${against(m.value, m.expected)}${average} (score ${number(m.score)})`,
        );
      }
    }
  }
  return lines;
}
