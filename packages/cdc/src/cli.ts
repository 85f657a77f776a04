/**
 * `pnpm --silent cdc-merge --source <dir in DMS layout> --target <dir> --tables <config.json> [--grace-minutes N]
 * [--memory-mb N] [--json]`: applies every DMS file under the source not yet applied to the target, with the Lambda's
 * engine and bookkeeping (Iceberg v2 tables in a file catalog, `<schema>/<table>/metadata/v<N>.metadata.json` and
 * `version-hint.text`, as the Lambda writes them through Glue): a table's pending files are merged in one pass and one
 * commit (up to 4 GiB of files a pass). One line per file on stdout (`merged`, `skipped`, `refused ... row N:
 * reason`), a summary line, progress on stderr for long files. Exit code 1 when a file was refused (after merging everything else), 2 on
 * a usage or configuration error; `-h`/`--help` prints the usage and exits 0. `--memory-mb` bounds memory as a Lambda function of that size would (default: the
 * machine's memory).
 */
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { parseTablesConfig } from "./config.ts";
import { InvalidTableConfig } from "./errors.ts";
import { type FileOutcome, mergeAll } from "./run.ts";
import { createDirectoryStore } from "./storage.ts";

const usage =
  "usage: cdc-merge --source <dir in DMS layout> --target <dir> --tables <config.json> [--grace-minutes N] [--memory-mb N] [--json]";

function describe(entry: FileOutcome & { table: string }): string {
  switch (entry.outcome) {
    case "merged":
      return entry.commitFiles > 1
        ? `merged   ${entry.table} ${entry.file}: ${entry.rows} rows, version ${entry.version} (one commit of ${entry.commitFiles} files: ${entry.keysChanged} keys changed, ${entry.bucketsRewritten} buckets rewritten)`
        : `merged   ${entry.table} ${entry.file}: ${entry.rows} rows, ${entry.keysChanged} keys changed, ${entry.bucketsRewritten} buckets rewritten, version ${entry.version}`;
    case "replay":
      return `skipped  ${entry.table} ${entry.file}: already applied`;
    case "rejected":
      return `refused ${entry.table} ${entry.file}: row ${entry.row}: ${entry.reason}`;
  }
}

function help(): number {
  process.stdout.write(`${usage}\n`);
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  let values: {
    source?: string;
    target?: string;
    tables?: string;
    "grace-minutes"?: string;
    "memory-mb"?: string;
    json?: boolean;
    help?: boolean;
  };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        source: { type: "string" },
        target: { type: "string" },
        tables: { type: "string" },
        "grace-minutes": { type: "string" },
        "memory-mb": { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (error) {
    // `-h`/`--help` anywhere asks for the usage, whatever else the arguments hold.
    if (argv.some((arg) => arg === "-h" || arg === "--help")) return help();
    process.stderr.write(`${(error as Error).message}\n${usage}\n`);
    return 2;
  }
  if (values.help) return help();
  if (!values.source || !values.target || !values.tables) {
    process.stderr.write(`${usage}\n`);
    return 2;
  }
  let config: ReturnType<typeof parseTablesConfig>;
  try {
    config = parseTablesConfig(JSON.parse(await readFile(values.tables, "utf8")));
  } catch (error) {
    if (error instanceof InvalidTableConfig || error instanceof SyntaxError || (error as NodeJS.ErrnoException).code) {
      process.stderr.write(`${values.tables}: ${(error as Error).message}\n`);
      return 2;
    }
    throw error;
  }
  const grace = values["grace-minutes"] === undefined ? 15 : Number(values["grace-minutes"]);
  if (!Number.isFinite(grace) || grace < 0) {
    process.stderr.write(`--grace-minutes must be a number >= 0\n${usage}\n`);
    return 2;
  }
  const memoryMb = values["memory-mb"] === undefined ? undefined : Number(values["memory-mb"]);
  if (memoryMb !== undefined && !(memoryMb > 0)) {
    process.stderr.write(`--memory-mb must be a number > 0\n${usage}\n`);
    return 2;
  }
  let lastProgress = Date.now();
  const report = await mergeAll(createDirectoryStore(values.source), createDirectoryStore(values.target), config, {
    graceMs: grace * 60_000,
    ...(memoryMb ? { memoryLimit: memoryMb * 2 ** 20 } : {}),
    onProgress: (rows) => {
      if (Date.now() - lastProgress > 2000) {
        lastProgress = Date.now();
        process.stderr.write(`  ... ${rows} rows read\n`);
      }
    },
    onFile: (entry) => {
      if (!values.json) {
        const line = describe(entry);
        process.stdout.write(`${line}\n`);
        if (entry.outcome === "rejected") process.stderr.write(`${line}\n`);
      }
    },
  });
  if (values.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  else
    process.stdout.write(`${report.merged} merged, ${report.replayed} already applied, ${report.rejected} refused\n`);
  return report.rejected > 0 ? 1 : 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      process.stderr.write(`cdc-merge: ${(error as Error).stack ?? error}\n`);
      process.exitCode = 2;
    },
  );
}
