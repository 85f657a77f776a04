import { mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { writeChanges, writeSplitFullLoad } from "@sluice/cdc/bench/generate";
import { runBenchScript, secs, writeOrdersTables } from "@sluice/cdc/bench/orders";

const ROWS = Number(process.env.CDC_DAY_ROWS ?? 10_000_000);
const MINUTES = Number(process.env.CDC_DAY_MINUTES ?? 1440);
const PER = Number(process.env.CDC_DAY_CHANGES ?? 5000);
const HOUR = 60;
const work = path.join(tmpdir(), `sluice-cdc-day-${ROWS}`);
const lambdaLike = ["--max-old-space-size=2048"];

const tsx = (script: string, args: string[], nodeArgs: string[] = [], env: Record<string, string> = {}) =>
  runBenchScript(script, args, { nodeArgs, env }) as Record<string, number>;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;

rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
console.log(`generating ${ROWS.toLocaleString("en-US")} rows and ${MINUTES} files of ${PER} changes in ${work} ...`);
await writeSplitFullLoad(path.join(work, "load/dms/sales/orders"), ROWS, 10);
for (let m = 0; m < MINUTES; m++) {
  const hour = Math.floor(m / HOUR);
  const name = `20261103-${String(hour).padStart(2, "0")}${String(m % HOUR).padStart(2, "0")}000000.csv`;
  await writeChanges(path.join(work, `hour-${hour}/dms/sales/orders`, name), ROWS, PER, 0.8, {
    recentShare: 0.1,
    seed: 100 + m,
  });
}
const tables = path.join(work, "tables.json");
writeOrdersTables(tables, "range");
const target = path.join(work, "target");
const full = tsx("run-merge.ts", [path.join(work, "load"), target, tables], lambdaLike);
console.log(`full load: ${secs(full.ms as number)}`);

let total = 0;
let cpu = 0;
const hours = Math.ceil(MINUTES / HOUR);
for (let hour = 0; hour < hours; hour++) {
  const run = tsx("run-merge.ts", [path.join(work, `hour-${hour}`), target, tables], lambdaLike, {
    CDC_PASS_FILES: "1",
  });
  const files = Math.min(HOUR, MINUTES - hour * HOUR);
  total += run.ms as number;
  cpu += run.cpuMs as number;
  console.log(
    `hour ${String(hour).padStart(2)}: ${files} files in ${secs(run.ms as number)} (${secs((run.ms as number) / files)} a file, cpu ${secs((run.cpuMs as number) / files)}), peak RSS ${run.maxRssMb} MB`,
  );
}
console.log(
  `\n${MINUTES} files merged in ${secs(total)} (${secs(total / MINUTES)} a file, cpu ${secs(cpu / MINUTES)} a file)`,
);

const describe = (label: string, t: Record<string, number>) =>
  console.log(
    `${label}: ${t.dataFiles} data files (${mb(t.dataBytes as number)}), ${t.deleteFiles} delete files (${mb(t.deleteBytes as number)}); ` +
      `icebird reads its ${(t.rows as number).toLocaleString("en-US")} rows in ${secs(t.readMs as number)} (peak RSS ${t.maxRssMb} MB)`,
  );
const readerArgs = ["--max-old-space-size=12288"];
describe("before compaction", tsx("table-files.ts", [target, tables, "read"], readerArgs));
const compaction = tsx("run-compact.ts", [target, tables], lambdaLike);
console.log(
  `compaction: ${secs(compaction.ms as number)} (cpu ${secs(compaction.cpuMs as number)}, peak RSS ${compaction.maxRssMb} MB), ${compaction.filesBefore} files -> ${compaction.filesAfter}`,
);
describe("after compaction", tsx("table-files.ts", [target, tables, "read"], readerArgs));

// The reference: DuckDB rewriting the whole table with one minute's changes, as a copy-on-write table would.
const duckFull = tsx("duckdb-merge.ts", [
  "full",
  path.join(work, "load/dms/sales/orders/LOAD*.csv"),
  path.join(work, "duck.parquet"),
  "1",
]);
const firstMinute = path.join(work, "hour-0/dms/sales/orders/20261103-0000000000.csv");
const duckMinute = tsx("duckdb-merge.ts", [
  "changes",
  path.join(work, "duck.parquet"),
  firstMinute,
  path.join(work, "duck-minute.parquet"),
  "1",
]);
console.log(
  `\nreference: DuckDB (1 thread) rewrites the table with one minute's changes in ${secs(duckMinute.ms as number)} ` +
    `(full load ${secs(duckFull.ms as number)}); the merge took ${((total / MINUTES / (duckMinute.ms as number)) * 100).toFixed(0)} % of that a file`,
);
rmSync(work, { recursive: true, force: true });
