/**
 * `pnpm query "<SQL>" [--target <dir>] [--tables config/cdc-tables.json] [--json]`: SQL over the curated CDC tables
 * with DuckDB over each table's current Iceberg snapshot (the data files icebird lists from the metadata, minus their
 * position deletes); a table not written yet is empty. Each configured table is `<schema>.<table>`. Without `--target`, the tables are the local cloud's (`.sluice/local.env`, as `pnpm push`):
 * Iceberg tables as the Glue Data Catalog (`CdcCatalog`) names them, files in the Curated bucket; with it, a
 * directory written by `pnpm cdc-merge` (Iceberg tables found by their `version-hint.text`).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import type { ObjectStore, TableConfig } from "@sluice/cdc";
import type { QueryTable } from "@sluice/cdc/tools/duckdb-query";
import { resolveTarget, type Target } from "@sluice/local/cli/env";
import { LocalCloudNotRunning } from "@sluice/local/push/errors";

const usage = 'usage: pnpm query "<SQL>" [--target <dir>] [--tables config/cdc-tables.json] [--json]';

let parsed: { values: { target?: string; tables?: string; json?: boolean; help?: boolean }; positionals: string[] };
try {
  parsed = parseArgs({
    args: process.argv.slice(2),
    allowPositionals: true,
    options: {
      target: { type: "string" },
      tables: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
} catch (error) {
  // parseArgs says e.g. "Unknown option '--bogus'. To specify a positional argument starting with a '-', ...".
  console.error(`pnpm query: ${(error as Error).message.replace(/\. To specify a positional.*$/s, "")}\n${usage}`);
  process.exit(2);
}
const { values, positionals } = parsed;
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const sql = positionals.join(" ").trim();
if (!sql) {
  console.error(usage);
  process.exit(2);
}

// The local cloud (or stage) is resolved before anything is created or loaded.
let target: Target | undefined;
if (!values.target) {
  try {
    target = resolveTarget();
  } catch (error) {
    if (!(error instanceof LocalCloudNotRunning)) throw error;
    console.error(`${error.message}\nOr query a directory written by \`pnpm cdc-merge\`: ${usage}`);
    process.exit(2);
  }
}

// Loaded once the command line is known good: DuckDB and the SDK take seconds to load.
const [
  { EntityNotFoundException, GetTableCommand, GlueClient },
  { S3Client },
  { createS3ObjectStore },
  { createDirectoryStore, parseTablesConfig },
  { queryTables },
  { snapshotFiles },
  { catalogDatabaseName },
] = await Promise.all([
  import("@aws-sdk/client-glue"),
  import("@aws-sdk/client-s3"),
  import("@sluice/aws/cdc"),
  import("@sluice/cdc"),
  import("@sluice/cdc/tools/duckdb-query"),
  import("@sluice/cdc/tools/iceberg-files"),
  import("@sluice/infra/wiring"),
]);

const repo = path.resolve(import.meta.dirname, "..");
const config = parseTablesConfig(
  JSON.parse(readFileSync(values.tables ?? path.join(repo, "config/cdc-tables.json"), "utf8")),
);

let store: ObjectStore;
/** Where a file the snapshot lists is on this machine (downloaded first for S3). */
let localPath: (uri: string) => Promise<string>;
/** The metadata file the catalog names for a table (the local cloud's Glue), if it is an Iceberg table there. */
let catalogued: (table: TableConfig) => Promise<string | undefined> = async () => undefined;
/** Where S3 files are downloaded to; created on first use, removed at exit. */
let scratch: string | undefined;
if (!target) {
  const directory = values.target as string;
  store = createDirectoryStore(directory);
  localPath = async (uri) => fileURLToPath(uri);
} else {
  const curated = JSON.parse(target.env.SST_RESOURCE_Curated ?? "{}").name as string | undefined;
  if (!curated) throw new Error(`no Curated bucket in ${target.description}`);
  const s3 = new S3Client({
    region: target.env.AWS_REGION ?? "us-east-1",
    forcePathStyle: Boolean(target.env.AWS_ENDPOINT_URL_S3),
    ...(target.env.AWS_ENDPOINT_URL_S3 ? { endpoint: target.env.AWS_ENDPOINT_URL_S3 } : {}),
    ...(target.env.AWS_ACCESS_KEY_ID
      ? {
          credentials: {
            accessKeyId: target.env.AWS_ACCESS_KEY_ID,
            secretAccessKey: target.env.AWS_SECRET_ACCESS_KEY ?? "",
          },
        }
      : {}),
  });
  store = createS3ObjectStore(s3, curated);
  const prefix = JSON.parse(target.env.SST_RESOURCE_CdcCatalog ?? "{}").name as string | undefined;
  if (prefix) {
    const glue = new GlueClient({
      region: target.env.AWS_REGION ?? "us-east-1",
      ...(target.env.AWS_ENDPOINT_URL_GLUE ? { endpoint: target.env.AWS_ENDPOINT_URL_GLUE } : {}),
      ...(target.env.AWS_ACCESS_KEY_ID
        ? {
            credentials: {
              accessKeyId: target.env.AWS_ACCESS_KEY_ID,
              secretAccessKey: target.env.AWS_SECRET_ACCESS_KEY ?? "",
            },
          }
        : {}),
    });
    catalogued = async (table) => {
      try {
        const { Table } = await glue.send(
          new GetTableCommand({
            DatabaseName: catalogDatabaseName(prefix, table.schema),
            Name: table.table.toLowerCase(),
          }),
        );
        const parameters = Table?.Parameters ?? {};
        return parameters.table_type?.toUpperCase() === "ICEBERG" ? parameters.metadata_location : undefined;
      } catch (error) {
        if (error instanceof EntityNotFoundException) return undefined;
        throw error;
      }
    };
  }
  let n = 0;
  localPath = async (uri) => {
    const key = uri.replace(/^s3:\/\/[^/]+\//, "");
    const body = await store.get(key);
    if (!body) throw new Error(`a file the table lists is missing: ${uri}`);
    scratch ??= mkdtempSync(path.join(tmpdir(), "sluice-query-"));
    const file = path.join(scratch, `${n++}.parquet`);
    writeFileSync(file, body);
    return file;
  };
}

try {
  const tables: QueryTable[] = [];
  for (const table of config.tables.values()) {
    // Its current snapshot's data files minus its position deletes.
    const tableDir = values.target && path.join(values.target, table.schema, table.table);
    if (tableDir && (await store.get(`${table.schema}/${table.table}/metadata/version-hint.text`))) {
      const snapshot = await snapshotFiles(pathToFileURL(tableDir).href);
      tables.push({
        config: table,
        files: snapshot.data.map((uri) => fileURLToPath(uri)),
        positionDeletes: {
          files: snapshot.positionDeletes.map((uri) => fileURLToPath(uri)),
          dataFileUris: snapshot.data,
        },
      });
      continue;
    }
    const metadataLocation = await catalogued(table);
    if (metadataLocation) {
      const tableUrl = metadataLocation.slice(0, metadataLocation.lastIndexOf("/metadata/"));
      const snapshot = await snapshotFiles(tableUrl, { store, metadataLocation });
      tables.push({
        config: table,
        files: await Promise.all(snapshot.data.map(localPath)),
        positionDeletes: {
          files: await Promise.all(snapshot.positionDeletes.map(localPath)),
          dataFileUris: snapshot.data,
        },
      });
      continue;
    }
    // Not merged into yet: an empty table of the configured columns.
    tables.push({ config: table, files: [] });
  }
  const result = await queryTables(sql, tables);
  const show = (v: unknown) => (v === null ? "NULL" : String(v));
  if (values.json) {
    for (const row of result.rows)
      console.log(
        JSON.stringify(
          Object.fromEntries(
            result.columns.map((c, i) => {
              const v = row[i];
              return [c, v === null || typeof v === "number" || typeof v === "boolean" ? v : String(v)];
            }),
          ),
        ),
      );
  } else {
    const cells = result.rows.map((r) => r.map(show));
    const widths = result.columns.map((c, i) =>
      Math.min(60, Math.max(c.length, ...cells.map((r) => (r[i] ?? "").length))),
    );
    const line = (r: string[]) => r.map((c, i) => c.replace(/\n/g, "\\n").padEnd(widths[i] ?? 0)).join(" | ");
    console.log(line(result.columns));
    console.log(widths.map((w) => "-".repeat(w)).join("-+-"));
    for (const r of cells) console.log(line(r));
    console.log(`(${result.rows.length} row${result.rows.length === 1 ? "" : "s"})`);
  }
} catch (error) {
  process.exitCode = 1;
  console.error(`pnpm query: ${describeFailure(error, target)}`);
} finally {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
}

/** One line for a failure: a local cloud that does not answer is named as such. */
function describeFailure(error: unknown, where: Target | undefined): string {
  const e = error as { name?: string; message?: string; code?: string };
  const refused = e.code === "ECONNREFUSED" || /ECONNREFUSED/.test(e.message ?? "");
  if (refused && where?.local) {
    const stale = where.envFile ? `${where.envFile} may be stale.` : "The environment's endpoints may be stale.";
    return `cannot reach the local cloud (${e.message}). Is \`pnpm local\` still running? ${stale}`;
  }
  return `${e.name ?? "Error"}: ${e.message ?? String(error)}`;
}
