/**
 * Reading and writing the backtest's CSV files: `timestamp,value` in, `timestamp,value,anomaly_score` out.
 * Tolerates CRLF line ends, a byte-order mark, blank lines and surrounding spaces.
 */

export interface SeriesRow {
  /** The timestamp exactly as written in the file (NAB's `YYYY-MM-DD HH:MM:SS`). */
  timestamp: string;
  value: number;
}

export class InvalidSeriesFile extends Error {
  override name = "InvalidSeriesFile";
}

/** Parses a `timestamp,value` CSV (header required). Throws {@link InvalidSeriesFile} with the line number. */
export function parseSeriesCsv(text: string): SeriesRow[] {
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  const header = (lines[0] ?? "").trim().toLowerCase().split(",");
  const tsCol = header.indexOf("timestamp");
  const valueCol = header.indexOf("value");
  if (tsCol < 0 || valueCol < 0) throw new InvalidSeriesFile(`line 1: expected a header "timestamp,value"`);
  const rows: SeriesRow[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (line === "") continue;
    const cells = line.split(",");
    const timestamp = (cells[tsCol] ?? "").trim();
    const raw = (cells[valueCol] ?? "").trim();
    const value = Number(raw);
    if (timestamp === "" || raw === "" || !Number.isFinite(value)) {
      throw new InvalidSeriesFile(`line ${i + 1}: expected "timestamp,value", got "${line}"`);
    }
    rows.push({ timestamp, value });
  }
  return rows;
}

/** Milliseconds since the epoch of a NAB-style (`2014-04-01 00:00:00`, taken as UTC) or ISO timestamp. */
export function parseTimestamp(text: string): number {
  const iso = text.includes("T") ? text : `${text.replace(" ", "T")}`;
  const withZone = /[zZ]|[+-]\d{2}:?\d{2}$/.test(iso) ? iso : `${iso}Z`;
  const ms = Date.parse(withZone);
  if (Number.isNaN(ms)) throw new InvalidSeriesFile(`not a timestamp: "${text}"`);
  return ms;
}

/** Formats scored rows as `timestamp,value,anomaly_score` CSV (LF line ends). */
export function formatScoredCsv(rows: readonly SeriesRow[], scores: ArrayLike<number>): string {
  const out: string[] = ["timestamp,value,anomaly_score"];
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as SeriesRow;
    out.push(`${row.timestamp},${row.value},${roundScore(scores[i] as number)}`);
  }
  return `${out.join("\n")}\n`;
}

function roundScore(score: number): string {
  return String(Math.round(score * 1e6) / 1e6);
}
