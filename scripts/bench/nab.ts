/**
 * `pnpm bench nab`: the anomaly detector on the Numenta Anomaly Benchmark subset in `../shared/data/nab`
 * (or `$NAB_DIR`), with its default configuration, scored by our NAB scorer. Prints, asserts nothing:
 * - normalised scores for the standard, reward_low_FP_rate and reward_low_FN_rate profiles (with the threshold
 *   each profile's optimisation picked, and TP/FP/FN windows at it), and the standard score of each half of the
 *   series (even and odd positions in name order);
 * - detector speed (points per second, scoring only) and the backtest CLI's time (read, score, write CSVs);
 * - detector state: the largest serialised state (JSON bytes) over all series, at the end of each series.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { runBacktest } from "@sluice/anomaly/backtest/backtest";
import { loadNabCorpus, scoreAllProfiles } from "@sluice/anomaly/backtest/nab-corpus";
import { scoreCorpus } from "@sluice/anomaly/backtest/nab-score";
import { StreamingDetector } from "@sluice/anomaly/detector";

const root = process.env.NAB_DIR ?? path.resolve(import.meta.dirname, "../../../shared/data/nab");
const corpus = loadNabCorpus(root);
const points = corpus.reduce((sum, s) => sum + s.rows.length, 0);

let maxState = 0;
let maxStateSeries = "";
const started = performance.now();
const scores = corpus.map((s) => {
  const detector = new StreamingDetector();
  const out = new Float64Array(s.rows.length);
  for (let i = 0; i < s.rows.length; i++) out[i] = detector.update((s.rows[i] as { value: number }).value);
  return { out, detector };
});
const scoringMs = performance.now() - started;
for (const [i, { detector }] of scores.entries()) {
  const bytes = Buffer.byteLength(JSON.stringify(detector.snapshot()));
  if (bytes > maxState) {
    maxState = bytes;
    maxStateSeries = corpus[i]?.name ?? "";
  }
}

const results = scoreAllProfiles(
  corpus,
  scores.map((s) => s.out),
);
console.log(`NAB subset: ${corpus.length} series, ${points} points, ${root}`);
for (const r of Object.values(results)) {
  console.log(
    `  ${r.profile.padEnd(20)} normalised ${r.normalized.toFixed(1).padStart(5)}  (threshold ${r.threshold.toFixed(3)}, ` +
      `windows ${r.windows}: TP ${r.tp} FN ${r.fn}, FP ${r.fp}, raw ${r.raw.toFixed(2)})`,
  );
}
// The spread a choice made on some series can have on others: each half (even and odd positions in name order)
// scored on its own, with its own best threshold.
const halves = [0, 1].map(
  (k) =>
    scoreCorpus(
      corpus.flatMap((s, i) =>
        i % 2 === k ? [{ name: s.name, scores: scores[i]?.out ?? [], windows: s.windows }] : [],
      ),
      "standard",
    ).normalized,
);
console.log(`  standard on each half: A ${halves[0]?.toFixed(1)}, B ${halves[1]?.toFixed(1)}`);
console.log(
  `  detector: ${(points / (scoringMs / 1000)).toFixed(0)} points/s (${scoringMs.toFixed(0)} ms for ${points} points)`,
);
console.log(`  largest serialised state: ${maxState} bytes (${maxStateSeries})`);

const out = mkdtempSync(path.join(tmpdir(), "sluice-nab-backtest-"));
try {
  const summary = runBacktest({ inputDir: path.join(root, "data"), outputDir: out });
  console.log(
    `  backtest CLI path (read, score, write): ${summary.series} series, ${summary.points} points in ${summary.elapsedMs.toFixed(0)} ms`,
  );
} finally {
  rmSync(out, { recursive: true, force: true });
}
