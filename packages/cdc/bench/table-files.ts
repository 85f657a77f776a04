/**
 * `table-files.ts <target dir> <tables.json> [read]`: the current snapshot of the table in `tables.json` under a file
 * catalog: its live data and delete files (count and bytes, from its manifests, as icebird lists them), and with `read`
 * the time icebird (a third-party reader) takes to read every row of it, position deletes applied. Prints JSON.
 */
import { readFileSync } from "node:fs";
import { resourceUsage } from "node:process";
import { icebergManifests, icebergMetadata, icebergRead } from "icebird";
import { tableUrl, withFileFetch } from "../src/fixtures/iceberg.ts";
import { parseTablesConfig, type TableConfig } from "../src/index.ts";

const [target, tables, read] = process.argv.slice(2) as [string, string, string | undefined];
const config = [...parseTablesConfig(JSON.parse(readFileSync(tables, "utf8"))).tables.values()][0] as TableConfig;
const url = tableUrl(target, config);
const out = await withFileFetch(async () => {
  const metadata = await icebergMetadata({ tableUrl: url });
  const entries = (await icebergManifests(metadata)).flatMap((m) => m.entries).filter((e) => e.status !== 2);
  const of = (content: number) => entries.filter((e) => Number(e.data_file.content) === content);
  const bytes = (list: typeof entries) => list.reduce((n, e) => n + Number(e.data_file.file_size_in_bytes), 0);
  const result: Record<string, number> = {
    dataFiles: of(0).length,
    dataBytes: bytes(of(0)),
    deleteFiles: of(1).length,
    deleteBytes: bytes(of(1)),
  };
  if (read) {
    const started = performance.now();
    const rows = await icebergRead({ tableUrl: url, metadata });
    result.readMs = performance.now() - started;
    result.rows = rows.length;
    result.maxRssMb = Math.round(resourceUsage().maxRSS / 1024);
  }
  return result;
});
process.stdout.write(`${JSON.stringify(out)}\n`);
