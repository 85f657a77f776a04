/**
 * Backtesting the detector on a directory of series: every `<input>/<category>/<name>.csv` (`timestamp,value`)
 * is run through a fresh {@link StreamingDetector} with the default configuration, and
 * `<output>/<category>/<name>.csv` gets `timestamp,value,anomaly_score`, one row per input row; with `plot`,
 * `<output>/<category>/<name>.svg` shows the series, its scores and its alerts.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { DEFAULT_ALERT_THRESHOLD, type DetectorConfig, StreamingDetector } from "../src/detector.ts";
import { renderSeriesSvg } from "./plot.ts";
import { formatScoredCsv, parseSeriesCsv, parseTimestamp } from "./series-csv.ts";

export interface BacktestOptions {
  inputDir: string;
  outputDir: string;
  plot?: boolean;
  config?: Partial<DetectorConfig>;
  /** Score at or above which a row is drawn as an alert. */
  threshold?: number;
}

export interface BacktestSummary {
  series: number;
  points: number;
  alerts: number;
  /** Time spent reading, scoring and writing, in milliseconds. */
  elapsedMs: number;
  files: Array<{ name: string; points: number; alerts: number }>;
}

/** Relative paths of every `.csv` file under `dir` (any depth), sorted. */
export function findCsvFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const entry of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const child = rel === "" ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) walk(child);
      else if (entry.isFile() && entry.name.toLowerCase().endsWith(".csv")) out.push(child);
    }
  };
  walk("");
  return out.sort();
}

/** Scores one series' values with a fresh detector. */
export function scoreSeries(values: readonly number[], config?: Partial<DetectorConfig>): Float64Array {
  const detector = new StreamingDetector(config);
  const scores = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) scores[i] = detector.update(values[i] as number);
  return scores;
}

/** Runs the backtest over a directory; see the module comment for the layout. */
export function runBacktest(options: BacktestOptions): BacktestSummary {
  const started = performance.now();
  const threshold = options.threshold ?? DEFAULT_ALERT_THRESHOLD;
  const summary: BacktestSummary = { series: 0, points: 0, alerts: 0, elapsedMs: 0, files: [] };
  for (const rel of findCsvFiles(options.inputDir)) {
    const rows = parseSeriesCsv(readFileSync(path.join(options.inputDir, rel), "utf8"));
    const scores = scoreSeries(
      rows.map((r) => r.value),
      options.config,
    );
    const target = path.join(options.outputDir, rel);
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, formatScoredCsv(rows, scores));
    let alerts = 0;
    for (const s of scores) if (s >= threshold) alerts++;
    if (options.plot) {
      const svg = renderSeriesSvg({
        title: rel,
        times: rows.map((r) => parseTimestamp(r.timestamp)),
        values: rows.map((r) => r.value),
        scores,
        threshold,
      });
      writeFileSync(target.replace(/\.csv$/i, ".svg"), svg);
    }
    summary.series++;
    summary.points += rows.length;
    summary.alerts += alerts;
    summary.files.push({ name: rel, points: rows.length, alerts });
  }
  summary.elapsedMs = performance.now() - started;
  return summary;
}
