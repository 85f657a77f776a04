/**
 * A self-contained SVG of one backtested series: the values on top, the anomaly scores below with the alert
 * threshold, and every alert (a score at or above the threshold) marked on both. Long series are reduced to a
 * min/max envelope per pixel column so that files stay small and spikes stay visible.
 */

export interface PlotInput {
  title: string;
  /** Epoch milliseconds of each row. */
  times: readonly number[];
  values: readonly number[];
  scores: ArrayLike<number>;
  threshold: number;
}

const WIDTH = 1200;
const VALUE_H = 260;
const SCORE_H = 120;
const PAD = 50;

/** Renders the plot as an SVG document. */
export function renderSeriesSvg(input: PlotInput): string {
  const n = input.values.length;
  const height = PAD + VALUE_H + 30 + SCORE_H + PAD;
  const plotW = WIDTH - 2 * PAD;
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of input.values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!(hi > lo)) {
    hi = lo + 1;
    lo -= 1;
  }
  const x = (i: number) => PAD + (n <= 1 ? 0 : (i / (n - 1)) * plotW);
  const yValue = (v: number) => PAD + VALUE_H - ((v - lo) / (hi - lo)) * VALUE_H;
  const scoreTop = PAD + VALUE_H + 30;
  const yScore = (s: number) => scoreTop + SCORE_H - s * SCORE_H;

  const valuePath = envelopePath(input.values, x, yValue, plotW);
  const scoreValues = Array.from({ length: n }, (_, i) => input.scores[i] as number);
  const scorePath = envelopePath(scoreValues, x, yScore, plotW);
  const alerts: string[] = [];
  for (let i = 0; i < n; i++) {
    if ((input.scores[i] as number) >= input.threshold) {
      const cx = x(i).toFixed(1);
      alerts.push(
        `<line x1="${cx}" x2="${cx}" y1="${PAD}" y2="${scoreTop + SCORE_H}" stroke="#d62728" stroke-opacity="0.5"/>`,
        `<circle cx="${cx}" cy="${yValue(input.values[i] as number).toFixed(1)}" r="4" fill="#d62728"/>`,
      );
    }
  }
  const first = n > 0 ? new Date(input.times[0] as number).toISOString() : "";
  const last = n > 0 ? new Date(input.times[n - 1] as number).toISOString() : "";
  const alertCount = alerts.length / 2;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="${PAD}" y="${PAD - 20}" font-size="15">${escapeXml(input.title)}: ${n} points, ${alertCount} alert(s) at score &gt;= ${input.threshold}</text>
<rect x="${PAD}" y="${PAD}" width="${plotW}" height="${VALUE_H}" fill="none" stroke="#ccc"/>
<text x="${PAD - 5}" y="${PAD + 10}" text-anchor="end">${formatNumber(hi)}</text>
<text x="${PAD - 5}" y="${PAD + VALUE_H}" text-anchor="end">${formatNumber(lo)}</text>
<path d="${valuePath}" fill="none" stroke="#1f77b4" stroke-width="1"/>
<rect x="${PAD}" y="${scoreTop}" width="${plotW}" height="${SCORE_H}" fill="none" stroke="#ccc"/>
<text x="${PAD - 5}" y="${scoreTop + 10}" text-anchor="end">1</text>
<text x="${PAD - 5}" y="${scoreTop + SCORE_H}" text-anchor="end">0</text>
<text x="${PAD}" y="${scoreTop - 5}">anomaly score</text>
<line x1="${PAD}" x2="${PAD + plotW}" y1="${yScore(input.threshold).toFixed(1)}" y2="${yScore(input.threshold).toFixed(1)}" stroke="#d62728" stroke-dasharray="4 3"/>
<path d="${scorePath}" fill="none" stroke="#ff7f0e" stroke-width="1"/>
${alerts.join("\n")}
<text x="${PAD}" y="${height - PAD + 20}">${first}</text>
<text x="${PAD + plotW}" y="${height - PAD + 20}" text-anchor="end">${last}</text>
</svg>
`;
}

/** A polyline through the min and max of each pixel column. */
function envelopePath(
  values: readonly number[],
  x: (i: number) => number,
  y: (v: number) => number,
  columns: number,
): string {
  const n = values.length;
  if (n === 0) return "";
  const parts: string[] = [];
  const per = Math.max(1, Math.ceil(n / columns));
  for (let start = 0; start < n; start += per) {
    const stop = Math.min(n, start + per);
    let minAt = start;
    let maxAt = start;
    for (let i = start; i < stop; i++) {
      if ((values[i] as number) < (values[minAt] as number)) minAt = i;
      if ((values[i] as number) > (values[maxAt] as number)) maxAt = i;
    }
    for (const i of minAt <= maxAt ? [minAt, maxAt] : [maxAt, minAt]) {
      parts.push(`${parts.length === 0 ? "M" : "L"}${x(i).toFixed(1)},${y(values[i] as number).toFixed(1)}`);
      if (per === 1) break;
    }
  }
  return parts.join(" ");
}

function formatNumber(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toPrecision(4);
}

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
