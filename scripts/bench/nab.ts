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
 * `NAB_WINDOWS=1` prints, for each labelled window, its best score, the row where it comes (and its offset in the
 * window, which NAB rewards: earlier is better) and the first row at the standard profile's threshold, weakest first.
 * `NAB_SPLITS=1` compares `NAB_CONFIG` with `NAB_BASE` (default `{}`, the default configuration) over 300 random splits
 * of the series into halves of 16 and 15 (fixed seed): the share of the 600 halves whose standard score rises, stays
 * or falls, and the spread of the change (whether a change's gain is luck of the A/B split).
 * With `NAB_DIR` naming another corpus (e.g. all 58 series of NAB's repository, exported by
 * `scripts/nab-corpus-from-git.sh`), it also prints the three profiles on the series that are not in
 * `../shared/data/nab` alone (held out from every design choice). `NAB_RESULTS_DIR=<dir>` writes the scores in the
 * layout of NAB's own results (`<dir>/sluice/<category>/sluice_<name>.csv`: `timestamp,value,anomaly_score,label`),
 * for NAB's Python scorer (`run.py -d sluice --optimize --score --normalize`, see the anomaly README).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ArtimeDetector, artimeLookahead } from "@sluice/anomaly/backtest/artime";
import { runBacktest } from "@sluice/anomaly/backtest/backtest";
import { loadNabCorpus, scoreAllProfiles } from "@sluice/anomaly/backtest/nab-corpus";
import { NAB_PROFILES, scoreCorpus, sweepThresholds } from "@sluice/anomaly/backtest/nab-score";
import { type DetectorConfig, StreamingDetector } from "@sluice/anomaly/detector";

const subsetRoot = path.resolve(import.meta.dirname, "../../../shared/data/nab");
const root = process.env.NAB_DIR ?? subsetRoot;
if (!existsSync(path.join(root, "windows.json"))) {
  // The corpus is not in this repository (NAB's licence and size): name what is missing and how to point at one.
  console.error(
    `no NAB corpus at ${root} (data/ and windows.json): set NAB_DIR to a NAB-layout directory, e.g. a checkout of ` +
      "github.com/numenta/NAB with its labels/combined_windows.json copied to windows.json",
  );
  process.exit(1);
}
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
// The standard score at fixed thresholds around the best one: what a corpus threshold chosen on other series costs.
const sweep = sweepThresholds(
  corpus.map((s, i) => ({ name: s.name, scores: scores[i]?.out ?? [], windows: s.windows })),
  NAB_PROFILES.standard,
);
const atThreshold = [0.1, 0.11, 0.13, 0.14, 0.15, 0.17, 0.2].map((t) => {
  let at = sweep[0];
  for (const e of sweep) if (e.threshold >= t) at = e;
  const n = (at?.tp ?? 0) + (at?.fn ?? 0);
  return `${t}: ${((100 * ((at?.raw ?? 0) + n)) / (2 * n || 1)).toFixed(1)} (TP ${at?.tp}, FP ${at?.fp})`;
});
console.log(`  standard at fixed thresholds: ${atThreshold.join(", ")}`);
// Series of another corpus that are not in the 31-series subset every design choice was made on: scored alone.
const subsetWindows = path.join(subsetRoot, "windows.json");
if (path.resolve(root) !== subsetRoot && existsSync(subsetWindows)) {
  const known = new Set(Object.keys(JSON.parse(readFileSync(subsetWindows, "utf8")) as object));
  const held = corpus.flatMap((s, i) => (known.has(s.name) ? [] : [i]));
  if (held.length > 0 && held.length < corpus.length) {
    const heldResults = scoreAllProfiles(
      held.map((i) => corpus[i] as (typeof corpus)[number]),
      held.map((i) => scores[i]?.out ?? []),
    );
    const windows = held.reduce((sum, i) => sum + (corpus[i]?.windows.length ?? 0), 0);
    console.log(`  the ${held.length} series not in ${subsetRoot} (${windows} windows), alone:`);
    for (const r of Object.values(heldResults)) {
      console.log(
        `    ${r.profile.padEnd(20)} normalised ${r.normalized.toFixed(1).padStart(5)}  (threshold ${r.threshold.toFixed(3)}, ` +
          `TP ${r.tp} FN ${r.fn}, FP ${r.fp})`,
      );
    }
  }
}
if (process.env.NAB_WINDOWS) {
  const threshold = results.standard.threshold;
  const rows = corpus.flatMap((s, i) =>
    s.windows.map(([a, b]) => {
      const out = scores[i]?.out ?? [];
      let best = 0;
      let at = a;
      let first = -1;
      for (let j = a; j <= b; j++) {
        const v = out[j] ?? 0;
        if (v > best) [best, at] = [v, j];
        if (first < 0 && v >= threshold) first = j;
      }
      const found = first < 0 ? "missed" : `first at ${first} (+${first - a})`;
      return { best, line: `${s.name} [${a}-${b}]: best ${best.toFixed(3)} at ${at} (+${at - a}), ${found}` };
    }),
  );
  console.log(`  windows, weakest first (threshold ${threshold.toFixed(3)}):`);
  for (const r of rows.sort((x, y) => x.best - y.best)) console.log(`    ${r.line}`);
}
if (process.env.NAB_SPLITS) {
  const base = JSON.parse(process.env.NAB_BASE ?? "{}") as Partial<DetectorConfig>;
  const baseScores = corpus.map((s) => {
    const detector = new StreamingDetector(base);
    return s.rows.map((r) => detector.update(r.value));
  });
  let seed = 12345;
  const rand = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  const half = Math.ceil(corpus.length / 2);
  const diffs: number[] = [];
  for (let k = 0; k < 300; k++) {
    const order = corpus.map((_, i) => i).sort(() => rand() - 0.5);
    const first = new Set(order.slice(0, half));
    for (const inFirst of [true, false]) {
      const pick = (all: ReadonlyArray<ArrayLike<number>>) =>
        corpus.flatMap((s, i) =>
          first.has(i) === inFirst ? [{ name: s.name, scores: all[i] ?? [], windows: s.windows }] : [],
        );
      diffs.push(
        scoreCorpus(pick(scores.map((s) => s.out)), "standard").normalized -
          scoreCorpus(pick(baseScores), "standard").normalized,
      );
    }
  }
  diffs.sort((a, b) => a - b);
  const share = (f: (d: number) => boolean) => `${((100 * diffs.filter(f).length) / diffs.length).toFixed(0)}%`;
  const mean = diffs.reduce((a, b) => a + b, 0) / diffs.length;
  const at = (q: number) => (diffs[Math.floor(q * diffs.length)] ?? 0).toFixed(2);
  console.log(
    `  against ${JSON.stringify(base)} over 300 random splits (600 halves): better ${share((d) => d > 1e-9)}, ` +
      `same ${share((d) => Math.abs(d) <= 1e-9)}, worse ${share((d) => d < -1e-9)}; change mean ${mean.toFixed(2)}, ` +
      `10th percentile ${at(0.1)}, median ${at(0.5)}, min ${at(0)}, max ${(diffs[diffs.length - 1] ?? 0).toFixed(2)}`,
  );
}
if (process.env.NAB_RESULTS_DIR) {
  // NAB's results layout: one CSV per series, the detector's name as prefix, the label 1 inside a window.
  for (const [i, s] of corpus.entries()) {
    const [category, file] = s.name.split("/") as [string, string];
    const dir = path.join(process.env.NAB_RESULTS_DIR, "sluice", category);
    mkdirSync(dir, { recursive: true });
    const out = scores[i]?.out ?? [];
    const lines = s.rows.map((r, j) => {
      const label = s.windows.some(([a, b]) => j >= a && j <= b) ? 1 : 0;
      return `${r.timestamp},${r.value},${out[j]},${label}`;
    });
    writeFileSync(path.join(dir, `sluice_${file}`), `timestamp,value,anomaly_score,label\n${lines.join("\n")}\n`);
  }
  console.log(`  scores written in NAB's results layout under ${process.env.NAB_RESULTS_DIR}/sluice`);
}
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
