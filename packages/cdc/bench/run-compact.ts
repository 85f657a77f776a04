/**
 * `run-compact.ts <target dir> <tables.json>`: the merge's own compaction (`compactIceberg`: every live row rewritten
 * into new data files, no delete file left) of the table in `tables.json` under a file catalog, whatever its size.
 * Prints {"ms", "cpuMs", "maxRssMb", "rows", "filesBefore", "filesAfter"}.
 */
import { readFileSync } from "node:fs";
import { resourceUsage } from "node:process";
import { createFileCatalog } from "../src/iceberg-catalog.ts";
import { compactIceberg } from "../src/iceberg-pass.ts";
import { createDirectoryStore, parseTablesConfig, type TableConfig } from "../src/index.ts";

const [target, tables] = process.argv.slice(2) as [string, string];
const config = [...parseTablesConfig(JSON.parse(readFileSync(tables, "utf8"))).tables.values()][0] as TableConfig;
const store = createDirectoryStore(target);
const cpuBefore = resourceUsage();
const started = performance.now();
const result = await compactIceberg(store, createFileCatalog(store), config);
const ms = performance.now() - started;
const usage = resourceUsage();
const cpuMs = (usage.userCPUTime + usage.systemCPUTime - cpuBefore.userCPUTime - cpuBefore.systemCPUTime) / 1000;
process.stdout.write(`${JSON.stringify({ ms, cpuMs, maxRssMb: Math.round(usage.maxRSS / 1024), ...result })}\n`);
