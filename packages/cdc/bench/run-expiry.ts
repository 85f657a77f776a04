/**
 * `run-expiry.ts <work dir> <tables.json> <retention: hour | none> <minutes> <rows> <changes a minute>`: a table of
 * `rows` rows, then one change file a minute on a simulated clock (the CLI's engine, file catalog, one commit a file,
 * the merge's own compaction of small tables), with the table's retention set to an hour (at least 10 snapshots; the
 * metadata log's default 100 versions) or to keep everything. Prints what its folders hold at the end, as JSON:
 * {"ms", "snapshots", "metadataJsonBytes", "dataFiles", "dataBytes", "metadataFiles", "metadataBytes"}.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { createFileCatalog } from "../src/iceberg-catalog.ts";
import { createDirectoryStore, mergeAll, parseTablesConfig, type TableConfig } from "../src/index.ts";
import { writeChanges, writeFullLoad } from "./generate.ts";

const [work, tables, retention, minutes, rows, per] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
  string,
];
const config = parseTablesConfig(JSON.parse(readFileSync(tables, "utf8")));
const table = [...config.tables.values()][0] as TableConfig;
const target = createDirectoryStore(path.join(work, "target"));
const catalog = createFileCatalog(target);
const start = Date.now();
const started = performance.now();
for (let minute = 0; minute <= Number(minutes); minute++) {
  const dir = path.join(work, `m${minute}`);
  const folder = path.join(dir, "dms", table.schema, table.table);
  if (minute === 0) await writeFullLoad(path.join(folder, "LOAD00000001.csv"), Number(rows));
  else
    await writeChanges(
      path.join(folder, `20261101-${String(minute).padStart(10, "0")}.csv`),
      Number(rows),
      Number(per),
      0.8,
      {
        seed: minute,
      },
    );
  // The files' own clock runs ahead of the wall clock (a minute a file), so the sweep's grace period is passed.
  const now = () => new Date(start + minute * 60_000);
  await mergeAll(createDirectoryStore(dir), target, config, { now, graceMs: 0 });
  if (minute === 0) {
    const loaded = await catalog.load(table.schema, table.table);
    if (!loaded) throw new Error("no table after the full load");
    const properties: Record<string, string> =
      retention === "hour"
        ? {
            vacuum_max_snapshot_age_seconds: "3600",
            "history.expire.max-snapshot-age-ms": "3600000",
            vacuum_min_snapshots_to_keep: "10",
            "history.expire.min-snapshots-to-keep": "10",
          }
        : {
            vacuum_max_snapshot_age_seconds: String(10 * 365 * 86_400),
            "history.expire.max-snapshot-age-ms": String(10 * 365 * 86_400_000),
            "write.metadata.delete-after-commit.enabled": "false",
          };
    const metadata = {
      ...loaded.metadata,
      properties: { ...loaded.metadata.properties, ...properties, "sluice.commit-id": "retention" },
    };
    if ((await catalog.commit(table.schema, table.table, loaded, metadata, "retention")) !== "committed")
      throw new Error("retention not set");
  }
}
const ms = performance.now() - started;
const folder = (name: string) => {
  const dir = path.join(work, "target", table.schema, table.table, name);
  const files = readdirSync(dir, { recursive: true, withFileTypes: true }).filter((f) => f.isFile());
  return { files: files.length, bytes: files.reduce((n, f) => n + statSync(path.join(f.parentPath, f.name)).size, 0) };
};
const current = await catalog.load(table.schema, table.table);
const data = folder("data");
const meta = folder("metadata");
process.stdout.write(
  `${JSON.stringify({
    ms,
    snapshots: current?.metadata.snapshots.length,
    metadataJsonBytes: statSync(
      path.join(work, "target", table.schema, table.table, "metadata", `v${current?.version}.metadata.json`),
    ).size,
    dataFiles: data.files,
    dataBytes: data.bytes,
    metadataFiles: meta.files,
    metadataBytes: meta.bytes,
  })}\n`,
);
