/**
 * The same merges done by DuckDB (benchmark-only dependency), in its own process:
 * `duckdb-merge.ts full <full-load.csv> <out.parquet> <threads>` and
 * `duckdb-merge.ts changes <table.parquet> <changes.csv> <out.parquet> <threads>`.
 * Last change per key by (dms_commit_ts, row), D removes; prints {"ms", "cpuMs", "maxRssMb", "rows"}.
 */
import { resourceUsage } from "node:process";
import { DuckDBInstance } from "@duckdb/node-api";

const columns =
  "{'order_id': 'BIGINT', 'customer_id': 'BIGINT', 'status': 'VARCHAR', 'amount': 'DECIMAL(12,2)', 'ordered_on': 'DATE', 'updated_at': 'TIMESTAMP', 'dms_commit_ts': 'TIMESTAMP'}";
const names = "order_id, customer_id, status, amount, ordered_on, updated_at, dms_commit_ts";
const csv = (path: string, withOp: boolean) =>
  `read_csv('${path}', header = false, quote = '"', escape = '"', allow_quoted_nulls = false, columns = ${
    withOp ? columns.replace("{", "{'Op': 'VARCHAR', ") : columns
  })`;

const [mode, ...args] = process.argv.slice(2);
const threads = Number(args.at(-1));
const db = await DuckDBInstance.create(":memory:", { threads: String(threads) });
const connection = await db.connect();
const cpuBefore = resourceUsage();
const started = performance.now();
let sql: string;
if (mode === "full") {
  const [file, out] = args as [string, string];
  sql = `COPY (SELECT ${names} FROM (SELECT *, row_number() OVER () AS rn FROM ${csv(file, false)})
    QUALIFY row_number() OVER (PARTITION BY order_id ORDER BY dms_commit_ts DESC, rn DESC) = 1)
    TO '${out}' (FORMAT parquet, COMPRESSION snappy)`;
} else {
  const [table, file, out] = args as [string, string, string];
  sql = `COPY (
    WITH changes AS (SELECT *, row_number() OVER () AS rn FROM ${csv(file, true)}),
    last AS (SELECT * FROM changes QUALIFY row_number() OVER (PARTITION BY order_id ORDER BY dms_commit_ts DESC, rn DESC) = 1)
    SELECT t.* FROM read_parquet('${table}') t ANTI JOIN last USING (order_id)
    UNION ALL SELECT ${names} FROM last WHERE Op <> 'D'
  ) TO '${out}' (FORMAT parquet, COMPRESSION snappy)`;
}
const result = await connection.run(sql);
const rows = Number((await result.getRows())[0]?.[0] ?? 0);
const ms = performance.now() - started;
const usage = resourceUsage();
const cpuMs = (usage.userCPUTime + usage.systemCPUTime - cpuBefore.userCPUTime - cpuBefore.systemCPUTime) / 1000;
process.stdout.write(`${JSON.stringify({ ms, cpuMs, maxRssMb: Math.round(resourceUsage().maxRSS / 1024), rows })}\n`);
