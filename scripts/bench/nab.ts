/**
 * `pnpm bench nab`: the anomaly detector on the Numenta Anomaly Benchmark subset in `../shared/data/nab`
 * (or `$NAB_DIR`), with its default configuration, scored by our NAB scorer. Prints, asserts nothing:
 * - normalised scores for the standard, reward_low_FP_rate and reward_low_FN_rate profiles (with the threshold
 *   each profile's optimisation picked, and TP/FP/FN windows at it), and the standard score of each half of the
 *   series (even and odd positions in name order);
 * - detector speed (points per second, scoring only) and the backtest CLI's time (read, score, write CSVs);
 * - detector state: the largest serialised state (JSON bytes) over all series, at the end of each series.
 * `NAB_CONFIG` (JSON, a partial detector configuration, e.g. `{"clipDevs":30}`) scores a variant instead of the default,
 * the same on every series: how the rows of the README's table of tried ideas are reproduced. `NAB_ARTIME=1` also
 * scores the ARTime port (`backtest/artime.ts`) with and without what NAB tells a detector in advance. `NAB_SPIKY=1`
 * also runs the detector on synthetic counts shaped like the hidden series' tweet volumes (a daily cycle, heavy-tailed
 * bursts that are normal): its detections at the corpus threshold on 10 series without anomalies, and how many of 10
 * injected surges (6 times the volume for 2 hours) it finds; no labels, a check of direction only.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ArtimeDetector, artimeLookahead } from "@sluice/anomaly/backtest/artime";
import { runBacktest } from "@sluice/anomaly/backtest/backtest";
import { loadNabCorpus, scoreAllProfiles } from "@sluice/anomaly/backtest/nab-corpus";
import { scoreCorpus } from "@sluice/anomaly/backtest/nab-score";
import { type DetectorConfig, StreamingDetector } from "@sluice/anomaly/detector";

const root = process.env.NAB_DIR ?? path.resolve(import.meta.dirname, "../../../shared/data/nab");
const corpus = loadNabCorpus(root);
const points = corpus.reduce((sum, s) => sum + s.rows.length, 0);
const config = JSON.parse(process.env.NAB_CONFIG ?? "{}") as Partial<DetectorConfig>;

let maxState = 0;
let maxStateSeries = "";
const started = performance.now();
const scores = corpus.map((s) => {
  const detector = new StreamingDetector(config);
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
console.log(
  `NAB subset: ${corpus.length} series, ${points} points, ${root}` +
    (process.env.NAB_CONFIG ? `, configuration ${JSON.stringify(config)}` : ""),
);
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

if (process.env.NAB_ARTIME) {
  // ARTime knows each series' minimum, maximum and length before its first value (NAB passes them); a stream does not.
  for (const [label, lookahead] of [
    ["with the series' range and length known in advance", true],
    ["streaming (range seen so far, 5 points a step)", false],
  ] as const) {
    const art = corpus.map((s) => {
      const values = s.rows.map((r) => r.value);
      const detector = new ArtimeDetector(lookahead ? artimeLookahead(values) : {});
      return values.map((v) => detector.update(v));
    });
    const r = scoreAllProfiles(corpus, art).standard;
    console.log(
      `  ARTime port, ${label}: standard ${r.normalized.toFixed(1)} (threshold ${r.threshold.toFixed(3)}, TP ${r.tp} FN ${r.fn}, FP ${r.fp})`,
    );
  }
}

if (process.env.NAB_SPIKY) {
  const threshold = results.standard.threshold;
  let quiet = 0;
  let found = 0;
  for (let seed = 1; seed <= 10; seed++) {
    const plain = new StreamingDetector(config);
    quiet += spikyCounts(seed).filter((v, i) => plain.update(v) >= threshold && i >= 750).length;
    const surged = new StreamingDetector(config);
    const scores = spikyCounts(seed, 10_000).map((v) => surged.update(v));
    if (scores.slice(10_000, 10_030).some((s) => s >= threshold)) found++;
  }
  console.log(
    `  synthetic spiky counts (threshold ${threshold.toFixed(3)}): ${quiet} detections on 10 series without anomalies ` +
      `(14 250 scored points each), ${found} of 10 surges found`,
  );
}

/** 15 000 counts with a daily cycle (288 points) and heavy-tailed bursts; a 6-fold surge of 24 points at `surgeAt`. */
function spikyCounts(seed: number, surgeAt = -1): number[] {
  let s = seed;
  const u = () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s + 0.5) / 2 ** 32;
  };
  const gauss = () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  const out: number[] = [];
  let burst = 0;
  for (let i = 0; i < 15_000; i++) {
    const base = 20 * (1.3 + Math.sin((2 * Math.PI * i) / 288));
    if (u() < 0.004) burst = Math.exp(1.5 + 1.2 * gauss());
    burst *= 0.8;
    let rate = base + burst * base * 0.3;
    if (surgeAt >= 0 && i >= surgeAt && i < surgeAt + 24) rate *= 6;
    out.push(Math.max(0, Math.round(rate + Math.sqrt(rate) * gauss())));
  }
  return out;
}

const out = mkdtempSync(path.join(tmpdir(), "sluice-nab-backtest-"));
try {
  const summary = runBacktest({ inputDir: path.join(root, "data"), outputDir: out, config });
  console.log(
    `  backtest CLI path (read, score, write): ${summary.series} series, ${summary.points} points in ${summary.elapsedMs.toFixed(0)} ms`,
  );
} finally {
  rmSync(out, { recursive: true, force: true });
}
