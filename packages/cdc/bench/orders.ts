/**
 * What the CDC benchmarks (`scripts/bench/cdc.ts`, `cdc-day.ts`) share: the orders table they merge, its tables file
 * per layout, and running one bench script in its own process.
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";

/** The columns of `sales.orders` as the generator writes them (`generate.ts`). */
export const ORDER_COLUMNS = [
  ["order_id", "int64"],
  ["customer_id", "int64"],
  ["status", "string"],
  ["amount", "decimal(12,2)"],
  ["ordered_on", "date"],
  ["updated_at", "timestamp"],
  ["dms_commit_ts", "timestamp"],
].map(([name, type]) => ({ name, type }));

/** Writes the tables file of `sales.orders`: 16 hash buckets, or ranges of 250 000 order ids. */
export function writeOrdersTables(file: string, layout: "hash" | "range"): void {
  writeFileSync(
    file,
    JSON.stringify({
      tables: {
        "sales.orders": {
          primaryKey: ["order_id"],
          columns: ORDER_COLUMNS,
          timestampColumn: "dms_commit_ts",
          ...(layout === "range" ? { bucketBy: { column: "order_id", width: 250_000 } } : { buckets: 16 }),
        },
      },
    }),
  );
}

/**
 * Runs `script` (a file of this folder) in its own process, memory bounded as the deployed function (`memoryMb`, the
 * CLI's --memory-mb), and returns the JSON its last line prints.
 */
export function runBenchScript(
  script: string,
  args: string[],
  {
    nodeArgs = [],
    env = {},
    memoryMb = 3008,
  }: { nodeArgs?: string[]; env?: Record<string, string>; memoryMb?: number } = {},
): Record<string, unknown> {
  const out = execFileSync(
    process.execPath,
    [...nodeArgs, "--import", "tsx", path.join(import.meta.dirname, script), ...args],
    { encoding: "utf8", maxBuffer: 256 << 20, env: { ...process.env, CDC_MEMORY_MB: String(memoryMb), ...env } },
  );
  return JSON.parse(out.trim().split("\n").at(-1) as string);
}

export const secs = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
