/**
 * One benchmark merge in its own process: `run-merge.ts <source dir> <target dir> <tables.json>` merges every
 * file not yet applied (the CLI's engine: Iceberg tables in a file catalog) and prints {"ms", "cpuMs" (process CPU
 * time), "maxRssMb", "report"} as JSON.
 */
import { readFileSync } from "node:fs";
import { resourceUsage } from "node:process";
import { createDirectoryStore, mergeAll, parseTablesConfig } from "../src/index.ts";

const [source, target, tables] = process.argv.slice(2) as [string, string, string];
const config = parseTablesConfig(JSON.parse(readFileSync(tables, "utf8")));
const cpuBefore = resourceUsage();
const started = performance.now();
// CDC_MEMORY_MB: bound memory as a Lambda function of that size would (the CLI's --memory-mb).
const memoryMb = Number(process.env.CDC_MEMORY_MB ?? 0);
const report = await mergeAll(createDirectoryStore(source), createDirectoryStore(target), config, {
  ...(memoryMb > 0 ? { memoryLimit: memoryMb * 2 ** 20 } : {}),
  // CDC_PASS_FILES=1: each file merged and committed on its own, as one Lambda invocation per file would.
  ...(process.env.CDC_PASS_FILES ? { maxPassFiles: Number(process.env.CDC_PASS_FILES) } : {}),
});
const ms = performance.now() - started;
const usage = resourceUsage();
const cpuMs = (usage.userCPUTime + usage.systemCPUTime - cpuBefore.userCPUTime - cpuBefore.systemCPUTime) / 1000;
process.stdout.write(
  `${JSON.stringify({ ms, cpuMs, maxRssMb: Math.round(resourceUsage().maxRSS / 1024), report: report.files.map(({ outcome, file, ...rest }) => ({ outcome, file, ...rest })) })}\n`,
);
