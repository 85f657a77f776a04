/**
 * Loading a NAB-layout corpus (`data/<category>/<name>.csv` and `windows.json`) and scoring a detector on it.
 * Used by the NAB benchmark (`scripts/bench/nab.ts`); Node file-system access only.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import {
  NAB_PROFILES,
  type NabProfileName,
  type NabResult,
  type ScoredSeries,
  scoreCorpus,
  windowsToRows,
} from "./nab-score.ts";
import { parseSeriesCsv, parseTimestamp, type SeriesRow } from "./series-csv.ts";

export interface CorpusSeries {
  /** `<category>/<name>.csv` */
  name: string;
  rows: SeriesRow[];
  times: number[];
  windows: Array<[number, number]>;
}

/** Every `<category>/<name>.csv` under `dataDir`, sorted by name. */
export function listSeriesFiles(dataDir: string): string[] {
  const out: string[] = [];
  for (const category of readdirSync(dataDir, { withFileTypes: true })) {
    if (!category.isDirectory()) continue;
    for (const file of readdirSync(path.join(dataDir, category.name))) {
      if (file.toLowerCase().endsWith(".csv")) out.push(`${category.name}/${file}`);
    }
  }
  return out.sort();
}

/** Loads the series of a NAB-layout corpus with their labelled windows as row ranges. */
export function loadNabCorpus(root: string): CorpusSeries[] {
  const labels = JSON.parse(readFileSync(path.join(root, "windows.json"), "utf8")) as Record<string, string[][]>;
  const dataDir = path.join(root, "data");
  return listSeriesFiles(dataDir).map((name) => {
    const rows = parseSeriesCsv(readFileSync(path.join(dataDir, name), "utf8"));
    const times = rows.map((r) => parseTimestamp(r.timestamp));
    const windows = (labels[name] ?? []).map(
      ([start, end]) => [parseTimestamp(start as string), parseTimestamp(end as string)] as [number, number],
    );
    return { name, rows, times, windows: windowsToRows(times, windows) };
  });
}

/** Scores already-computed anomaly scores under every NAB profile. */
export function scoreAllProfiles(
  corpus: readonly CorpusSeries[],
  scores: ReadonlyArray<ArrayLike<number>>,
): Record<NabProfileName, NabResult> {
  const scored: ScoredSeries[] = corpus.map((s, i) => ({
    name: s.name,
    scores: scores[i] as ArrayLike<number>,
    windows: s.windows,
  }));
  const out = {} as Record<NabProfileName, NabResult>;
  for (const profile of Object.keys(NAB_PROFILES) as NabProfileName[]) out[profile] = scoreCorpus(scored, profile);
  return out;
}
