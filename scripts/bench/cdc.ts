import { cpSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createDirectoryStore, InvalidCdcFile, parseTablesConfig, readDmsFile, type TableConfig } from "@sluice/cdc";
import { writeChanges, writeFullLoad, writeSplitFullLoad, writeUnterminatedQuote } from "@sluice/cdc/bench/generate";
import { ORDER_COLUMNS, runBenchScript, secs, writeOrdersTables } from "@sluice/cdc/bench/orders";

const ROWS = Number(process.env.CDC_BENCH_ROWS ?? 10_000_000);
const CHANGES = Number(process.env.CDC_BENCH_CHANGES ?? 100_000);
const SKEW = Number(process.env.CDC_BENCH_SKEW ?? 0.8);
const PARTS = new Set(
  (process.env.CDC_BENCH_PARTS ?? "layouts,split,reject,iceberg,expiry").split(",").map((p) => p.trim()),
);
const work = path.join(tmpdir(), `sluice-cdc-bench-${ROWS}-${CHANGES}`);

const columns = ORDER_COLUMNS;

/**
 * The engine's merges run as in the deployed function: memory bounded by its 3008 MB (CDC_BENCH_MEMORY_MB) and the
 * V8 heap limit its NODE_OPTIONS sets.
 */
const MEMORY_MB = Number(process.env.CDC_BENCH_MEMORY_MB ?? 3008);
const lambdaLike = ["--max-old-space-size=2048"];

function tsx(
  script: string,
  args: string[],
  nodeArgs: string[] = [],
  env: Record<string, string> = {},
): Record<string, unknown> {
  return runBenchScript(script, args, { nodeArgs, env, memoryMb: MEMORY_MB });
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const loadFile = path.join(work, "src/dms/sales/orders/LOAD00000001.csv");
const changeFile = path.join(work, "changes/dms/sales/orders/20261102-0000000000.csv");
console.log(`generating ${fmt(ROWS)} rows and ${fmt(CHANGES)} changes (skew ${SKEW}) in ${work} ...`);
const loadBytes = PARTS.has("layouts") || PARTS.has("split") ? await writeFullLoad(loadFile, ROWS) : 0;
const changeBytes = PARTS.has("layouts") ? await writeChanges(changeFile, ROWS, CHANGES, SKEW) : 0;
// Changes that all hit recent orders (skew 1), in a file named before the other change file: merged first.
const recentFile = path.join(work, "recent/dms/sales/orders/20261101-1200000000.csv");
if (PARTS.has("layouts")) await writeChanges(recentFile, ROWS, CHANGES, 1);
console.log(`full load ${(loadBytes / 1e6).toFixed(0)} MB, change file ${(changeBytes / 1e6).toFixed(1)} MB`);

if (PARTS.has("layouts")) {
  const rows: string[][] = [];
  const recentLines: string[] = [];
  for (const layout of ["hash", "range"] as const) {
    const dir = path.join(work, layout);
    const tables = path.join(work, `${layout}.json`);
    writeOrdersTables(tables, layout);
    const target = path.join(dir, "target");
    const full = tsx("run-merge.ts", [path.join(work, "src"), target, tables], lambdaLike) as {
      ms: number;
      cpuMs: number;
      maxRssMb: number;
    };
    // Each change file is merged from a source of its own: a run measures that merge alone.
    const recent = tsx("run-merge.ts", [path.join(work, "recent"), target, tables], lambdaLike) as {
      ms: number;
      maxRssMb: number;
      report: { outcome: string; bucketsRewritten?: number }[];
    };
    recentLines.push(
      `  sluice (${layout}): ${secs(recent.ms)}, ${((recent.ms / full.ms) * 100).toFixed(1)} % of the full load, ` +
        `${recent.report.find((r) => r.outcome === "merged")?.bucketsRewritten ?? "-"} index shards rewritten, peak RSS ${recent.maxRssMb} MB`,
    );
    const change = tsx("run-merge.ts", [path.join(work, "changes"), target, tables], lambdaLike) as {
      ms: number;
      cpuMs: number;
      maxRssMb: number;
      report: { outcome: string; bucketsRewritten?: number }[];
    };
    const rewritten = change.report.find((r) => r.outcome === "merged")?.bucketsRewritten;
    rows.push([
      `sluice (${layout})`,
      secs(full.ms),
      secs(full.cpuMs),
      fmt((ROWS / full.ms) * 1000),
      `${full.maxRssMb} MB`,
      secs(change.ms),
      secs(change.cpuMs),
      fmt((CHANGES / change.ms) * 1000),
      `${change.maxRssMb} MB`,
      `${((change.ms / full.ms) * 100).toFixed(1)} %`,
      String(rewritten ?? "-"),
    ]);
    rmSync(dir, { recursive: true, force: true });
  }

  const duck: Record<
    number,
    { full: { ms: number; cpuMs: number; maxRssMb: number }; change: { ms: number; cpuMs: number; maxRssMb: number } }
  > = {};
  for (const threads of [1, 2]) {
    const table = path.join(work, `duck-${threads}.parquet`);
    const full = tsx("duckdb-merge.ts", ["full", loadFile, table, String(threads)]) as {
      ms: number;
      cpuMs: number;
      maxRssMb: number;
    };
    const change = tsx("duckdb-merge.ts", [
      "changes",
      table,
      changeFile,
      path.join(work, `duck-${threads}-2.parquet`),
      String(threads),
    ]) as {
      ms: number;
      cpuMs: number;
      maxRssMb: number;
    };
    duck[threads] = { full, change };
    rows.push([
      `duckdb (${threads} thread${threads > 1 ? "s" : ""})`,
      secs(full.ms),
      secs(full.cpuMs),
      fmt((ROWS / full.ms) * 1000),
      `${full.maxRssMb} MB`,
      secs(change.ms),
      secs(change.cpuMs),
      fmt((CHANGES / change.ms) * 1000),
      `${change.maxRssMb} MB`,
      `${((change.ms / full.ms) * 100).toFixed(1)} %`,
      "(1 file)",
    ]);
  }

  const header = [
    "engine",
    "full load",
    "cpu",
    "rows/s",
    "peak RSS",
    "changes",
    "cpu",
    "changes/s",
    "peak RSS",
    "change/full",
    "shards rewritten",
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ");
  console.log(`\n${line(header)}\n${widths.map((w) => "-".repeat(w)).join("  ")}`);
  for (const r of rows) console.log(line(r));
  const single = duck[1];
  if (single) {
    const ours = rows.slice(0, 2).map((r) => r[0]);
    console.log(`\nratios against DuckDB on 1 thread (wall time, and process CPU time; goal <= 1.5x):`);
    for (const [i, name] of ours.entries()) {
      const r = rows[i] as string[];
      const full = Number.parseFloat(r[1] as string) / (single.full.ms / 1000);
      const fullCpu = Number.parseFloat(r[2] as string) / (single.full.cpuMs / 1000);
      const change = Number.parseFloat(r[5] as string) / (single.change.ms / 1000);
      const changeCpu = Number.parseFloat(r[6] as string) / (single.change.cpuMs / 1000);
      console.log(
        `  ${name}: full load ${full.toFixed(1)}x (cpu ${fullCpu.toFixed(1)}x), change merge ${change.toFixed(1)}x (cpu ${changeCpu.toFixed(1)}x)`,
      );
    }
  }
  console.log(
    `\n${fmt(CHANGES)} changes all on the newest 5 % of orders (skew 1), merged after the full load:\n${recentLines.join("\n")}`,
  );
  console.log(`\nsluice ran bounded as the deployed function: ${MEMORY_MB} MB memory, 2048 MB V8 heap`);
  console.log(
    `\nparquet size (duckdb, full): ${(statSync(path.join(work, "duck-1.parquet")).size / 1e6).toFixed(0)} MB`,
  );
}

if (PARTS.has("split")) {
  // The same rows as one file (the layouts' source) and as FILES LOAD files; the table's default layout.
  const FILES = Number(process.env.CDC_BENCH_SPLIT_FILES ?? 10);
  const splitBytes = await writeSplitFullLoad(path.join(work, "split/dms/sales/orders"), ROWS, FILES);
  const tables = path.join(work, "default.json");
  writeFileSync(
    tables,
    JSON.stringify({
      tables: { "sales.orders": { primaryKey: ["order_id"], columns, timestampColumn: "dms_commit_ts" } },
    }),
  );
  type Run = { ms: number; cpuMs: number; maxRssMb: number; report: { outcome: string; version?: number }[] };
  const one = tsx(
    "run-merge.ts",
    [path.join(work, "src"), path.join(work, "split-target-1"), tables],
    lambdaLike,
  ) as Run;
  const many = tsx(
    "run-merge.ts",
    [path.join(work, "split"), path.join(work, `split-target-${FILES}`), tables],
    lambdaLike,
  ) as Run;
  const duckOne = tsx("duckdb-merge.ts", ["full", loadFile, path.join(work, "split-duck-1.parquet"), "1"]) as Run;
  const duckMany = tsx("duckdb-merge.ts", [
    "full",
    path.join(work, "split/dms/sales/orders/LOAD*.csv"),
    path.join(work, `split-duck-${FILES}.parquet`),
    "1",
  ]) as Run;
  const commits = (run: Run) => new Set(run.report.filter((r) => r.outcome === "merged").map((r) => r.version)).size;
  console.log(
    `\nfull load of ${fmt(ROWS)} rows (${(loadBytes / 1e6).toFixed(0)} MB) as one file and split into ${FILES} files ` +
      `(${(splitBytes / 1e6).toFixed(0)} MB), default layout (16 hash buckets):`,
  );
  console.log(
    `  sluice, 1 file:            ${secs(one.ms)} (cpu ${secs(one.cpuMs)}), peak RSS ${one.maxRssMb} MB, ${commits(one)} commit`,
  );
  console.log(
    `  sluice, ${FILES} files:          ${secs(many.ms)} (cpu ${secs(many.cpuMs)}), peak RSS ${many.maxRssMb} MB, ${commits(many)} commit(s)`,
  );
  console.log(`  duckdb 1 thread, 1 file:   ${secs(duckOne.ms)} (cpu ${secs(duckOne.cpuMs)})`);
  console.log(`  duckdb 1 thread, ${FILES} files: ${secs(duckMany.ms)} (cpu ${secs(duckMany.cpuMs)})`);
  console.log(
    `  ${FILES} files / 1 file: ${(many.ms / one.ms).toFixed(2)}x (cpu ${(many.cpuMs / one.cpuMs).toFixed(2)}x; goal <= 1.3x); ` +
      `against DuckDB on the same files: ${(many.ms / duckMany.ms).toFixed(2)}x (1 file: ${(one.ms / duckOne.ms).toFixed(2)}x)`,
  );
}

if (PARTS.has("iceberg")) {
  const FILES = 10;
  const source = (name: string) => path.join(work, `ice-${name}`);
  const splitBytes = await writeSplitFullLoad(path.join(source("load"), "dms/sales/orders"), ROWS, FILES);
  const skewedFile = path.join(source("skewed"), "dms/sales/orders/20261102-0000000000.csv");
  const uniformFile = path.join(source("uniform"), "dms/sales/orders/20261102-0000000000.csv");
  await writeChanges(skewedFile, ROWS, CHANGES, SKEW, { recentShare: 0.1, seed: 3 });
  await writeChanges(uniformFile, ROWS, CHANGES, 0, { seed: 4 });
  type Run = { ms: number; cpuMs: number; maxRssMb: number; report: { outcome: string; bucketsRewritten?: number }[] };
  const sizeOf = (dir: string, sub: string): number => {
    let total = 0;
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (!sub || p.includes(sub)) total += statSync(p).size;
      }
    };
    walk(dir);
    return total;
  };
  const lines: string[][] = [];
  const results: Record<string, { full: Run; skewed: Run; uniform: Run }> = {};
  for (const layout of ["hash", "range"] as const) {
    const name = `iceberg, ${layout}`;
    const tables = path.join(work, `ice-${layout}.json`);
    writeOrdersTables(tables, layout);
    const target = path.join(work, `ice-target-${layout}`);
    const full = tsx("run-merge.ts", [source("load"), target, tables], lambdaLike) as Run;
    const dataMb = sizeOf(path.join(target, "sales/orders"), `${path.sep}data${path.sep}`) / 1e6;
    const indexMb = sizeOf(path.join(target, "sales/orders"), "_cdc/index") / 1e6;
    cpSync(target, `${target}-u`, { recursive: true });
    const skewed = tsx("run-merge.ts", [source("skewed"), target, tables], lambdaLike) as Run;
    const uniform = tsx("run-merge.ts", [source("uniform"), `${target}-u`, tables], lambdaLike) as Run;
    results[name] = { full, skewed, uniform };
    const shards = (run: Run) => String(run.report.find((r) => r.outcome === "merged")?.bucketsRewritten ?? "-");
    lines.push([
      name,
      secs(full.ms),
      secs(full.cpuMs),
      `${full.maxRssMb} MB`,
      secs(skewed.ms),
      `${((skewed.ms / full.ms) * 100).toFixed(1)} %`,
      shards(skewed),
      secs(uniform.ms),
      `${((uniform.ms / full.ms) * 100).toFixed(1)} %`,
      shards(uniform),
      `${dataMb.toFixed(0)} + ${indexMb.toFixed(0)} MB`,
    ]);
    rmSync(target, { recursive: true, force: true });
    rmSync(`${target}-u`, { recursive: true, force: true });
  }
  const duckFull = tsx("duckdb-merge.ts", [
    "full",
    path.join(source("load"), "dms/sales/orders/LOAD*.csv"),
    path.join(work, "ice-duck.parquet"),
    "1",
  ]) as Run;
  const duckSkewed = tsx("duckdb-merge.ts", [
    "changes",
    path.join(work, "ice-duck.parquet"),
    skewedFile,
    path.join(work, "ice-duck-skewed.parquet"),
    "1",
  ]) as Run;
  const duckUniform = tsx("duckdb-merge.ts", [
    "changes",
    path.join(work, "ice-duck.parquet"),
    uniformFile,
    path.join(work, "ice-duck-uniform.parquet"),
    "1",
  ]) as Run;
  lines.push([
    "duckdb, 1 thread",
    secs(duckFull.ms),
    secs(duckFull.cpuMs),
    `${duckFull.maxRssMb} MB`,
    secs(duckSkewed.ms),
    `${((duckSkewed.ms / duckFull.ms) * 100).toFixed(1)} %`,
    "(rewrite)",
    secs(duckUniform.ms),
    `${((duckUniform.ms / duckFull.ms) * 100).toFixed(1)} %`,
    "(rewrite)",
    `${(statSync(path.join(work, "ice-duck.parquet")).size / 1e6).toFixed(0)} MB`,
  ]);
  const header = [
    "engine",
    "full load",
    "cpu",
    "peak RSS",
    "skewed changes",
    "of full",
    "shards",
    "uniform changes",
    "of full",
    "shards",
    "data + index",
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ");
  console.log(
    `\nIceberg merge-on-read vs DuckDB: ${fmt(ROWS)} rows as ${FILES} LOAD files (${(splitBytes / 1e6).toFixed(0)} MB), ` +
      `${fmt(CHANGES)} changes (${SKEW * 100} % of updates/deletes on the newest 10 % of keys), the same number uniform:`,
  );
  console.log(`${line(header)}\n${widths.map((w) => "-".repeat(w)).join("  ")}`);
  for (const r of lines) console.log(line(r));
  console.log("\nratios (wall time; goals from issue 14):");
  for (const [name, r] of Object.entries(results))
    console.log(
      `  ${name}: full load ${(r.full.ms / duckFull.ms).toFixed(2)}x DuckDB (goal <= 1.5x); skewed changes ` +
        `${(r.skewed.ms / duckSkewed.ms).toFixed(2)}x DuckDB's rewrite (goal <= 0.5x), ${((r.skewed.ms / r.full.ms) * 100).toFixed(1)} % of its full load ` +
        `(goal <= 10 %); uniform changes ${((r.uniform.ms / r.full.ms) * 100).toFixed(1)} % of its full load (goal <= 10 %)`,
    );

  const MINUTES = Number(process.env.CDC_BENCH_MINUTES ?? 0);
  if (MINUTES > 0) {
    const PER = Number(process.env.CDC_BENCH_MINUTE_CHANGES ?? 5000);
    for (let m = 0; m < MINUTES; m++) {
      const name = `20261103-${String(m).padStart(4, "0")}000000.csv`;
      await writeChanges(path.join(source("minutes"), "dms/sales/orders", name), ROWS, PER, SKEW, {
        recentShare: 0.1,
        seed: 100 + m,
      });
    }
    const tables = path.join(work, "ice-range.json");
    const target = path.join(work, "ice-target-minutes");
    tsx("run-merge.ts", [source("load"), target, tables], lambdaLike);
    const day = tsx("run-merge.ts", [source("minutes"), target, tables], lambdaLike, { CDC_PASS_FILES: "1" }) as Run;
    const files = (sub: string) => {
      let n = 0;
      const walk = (d: string) => {
        for (const e of readdirSync(d, { withFileTypes: true })) {
          if (e.isDirectory()) walk(path.join(d, e.name));
          else if (path.join(d, e.name).includes(sub)) n++;
        }
      };
      walk(path.join(target, "sales/orders"));
      return n;
    };
    console.log(
      `\n${MINUTES} one-minute files of ${fmt(PER)} changes, one commit each (iceberg, range layout): ` +
        `${secs(day.ms)} in all, ${secs(day.ms / MINUTES)} a file; then ${files(`${path.sep}data${path.sep}`)} data and delete files, ` +
        `${files(`${path.sep}metadata${path.sep}`)} metadata files, ${(sizeOf(path.join(target, "sales/orders"), "") / 1e6).toFixed(0)} MB in all`,
    );
    rmSync(target, { recursive: true, force: true });
  }
}

if (PARTS.has("reject")) {
  // Reading (decoding every row) a file against rejecting the same file with a quote opened in its first row.
  const config = parseTablesConfig({
    tables: { "sales.orders": { primaryKey: ["order_id"], columns, timestampColumn: "dms_commit_ts" } },
  }).tables.get("sales.orders") as TableConfig;
  const store = createDirectoryStore(path.join(work, "reject"));
  const read = async (key: string) => {
    const started = performance.now();
    let rows = 0;
    let outcome = "read";
    try {
      for await (const batch of readDmsFile(config, { relPath: "LOAD00000001.csv", displayName: key }, store.read(key)))
        rows += batch.rowsRead;
    } catch (error) {
      if (!(error instanceof InvalidCdcFile)) throw error;
      outcome = `rejected (row ${error.row}: ${error.reason})`;
    }
    return { ms: performance.now() - started, rows, outcome };
  };
  console.log("\na file whose quote never closes, against the same file without it (read in 4 MB chunks):");
  let previous: number | undefined;
  for (const mb of (process.env.CDC_BENCH_REJECT_MB ?? "20,40,80").split(",").map(Number)) {
    await writeUnterminatedQuote(path.join(work, `reject/valid-${mb}/LOAD00000001.csv`), mb * 1e6, false);
    await writeUnterminatedQuote(path.join(work, `reject/hostile-${mb}/LOAD00000001.csv`), mb * 1e6, true);
    const valid = await read(`valid-${mb}/LOAD00000001.csv`);
    const hostile = await read(`hostile-${mb}/LOAD00000001.csv`);
    console.log(
      `  ${mb} MB: valid ${secs(valid.ms)} (${fmt(valid.rows)} rows), hostile ${secs(hostile.ms)} ${hostile.outcome}: ` +
        `${(hostile.ms / valid.ms).toFixed(2)}x the valid file` +
        (previous ? `, ${(hostile.ms / previous).toFixed(2)}x the previous size's rejection` : ""),
    );
    previous = hostile.ms;
  }
}

if (PARTS.has("expiry")) {
  // A table of 20 000 rows, then 300 one-minute change files of 200 changes (a simulated clock, one commit each, the
  // merge's compaction of small tables): the table's retention at an hour (at least 10 snapshots, 100 metadata
  // versions), against keeping everything.
  const minutes = process.env.CDC_BENCH_EXPIRY_MINUTES ?? "300";
  const tables = path.join(work, "expiry.json");
  writeOrdersTables(tables, "hash");
  const run = (retention: "hour" | "none") =>
    tsx("run-expiry.ts", [
      path.join(work, `expiry-${retention}`),
      tables,
      retention,
      minutes,
      "20000",
      "200",
    ]) as Record<string, number>;
  const kept = run("none");
  const expired = run("hour");
  const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
  console.log(`\nsnapshot expiry: ${minutes} one-minute commits, the table's retention an hour, against none:`);
  for (const [name, a, b] of [
    ["snapshots in the metadata", expired.snapshots, kept.snapshots],
    ["current metadata file", expired.metadataJsonBytes, kept.metadataJsonBytes],
    ["files in data/", expired.dataFiles, kept.dataFiles],
    ["bytes in data/", expired.dataBytes, kept.dataBytes],
    ["files in metadata/", expired.metadataFiles, kept.metadataFiles],
    ["bytes in metadata/", expired.metadataBytes, kept.metadataBytes],
    ["time", expired.ms, kept.ms],
  ] as const) {
    const bytes = name.startsWith("bytes") || name.startsWith("current");
    const show = (v: number) => (name === "time" ? secs(v) : bytes ? mb(v) : fmt(v));
    console.log(
      `  ${name}: ${show(a as number)} against ${show(b as number)} (${((a as number) / (b as number)).toFixed(2)}x)`,
    );
  }
}

rmSync(work, { recursive: true, force: true });
