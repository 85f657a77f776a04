/**
 * Table maintenance by Athena, planned from each Iceberg table's metadata: which tables get `OPTIMIZE … REWRITE DATA
 * USING BIN_PACK` (big tables with many delete files or many small data files: CdcMerge compacts small tables itself,
 * `CompactionPolicy`) and which get `VACUUM` (every table with a snapshot: snapshot expiry, files only old snapshots
 * name, orphan files in `data/` and `metadata/`, old metadata versions; our `_cdc/` folder is outside both). Pure: the
 * metadata summaries come in, the statements go out; `@sluice/aws` lists the tables and starts the statements.
 *
 * The figures are the current snapshot's summary totals (Iceberg writers, this one and Athena, keep
 * `total-data-files`, `total-delete-files`, `total-records`, `total-files-size` there).
 */
import type { IcebergTableMetadata } from "./iceberg-metadata.ts";

/** What the planner knows of one table. */
export interface TableSummary {
  database: string;
  table: string;
  /** The Iceberg metadata's current snapshot totals; undefined for a table without a snapshot (or not Iceberg). */
  totals?: { dataFiles: number; deleteFiles: number; records: number; bytes: number };
}

/** When Athena compacts a table. */
export interface MaintenancePolicy {
  /** Tables of at most this many rows are CdcMerge's to compact (its `CompactionPolicy.maxRows`; default 5 M). */
  smallTableRows: number;
  /** A big table is rewritten once its current snapshot has this many delete files (default 64)... */
  deleteFiles: number;
  /** ... or this many data files (default 256) averaging under `smallFileBytes` (default 64 MiB). */
  dataFiles: number;
  smallFileBytes: number;
}

export const defaultMaintenancePolicy: MaintenancePolicy = {
  smallTableRows: 5_000_000,
  deleteFiles: 64,
  dataFiles: 256,
  smallFileBytes: 64 * 1024 * 1024,
};

export type MaintenanceAction = "optimize" | "vacuum";

export interface PlannedStatement {
  database: string;
  table: string;
  sql: string;
}

export interface MaintenancePlan {
  statements: PlannedStatement[];
  /** Tables left alone, with the reason (reported by the function). */
  skipped: { database: string; table: string; reason: string }[];
}

/** Glue names as Athena takes them unquoted: lower-case letters, digits, underscores (what Glue stores). */
const PLAIN_NAME = /^[a-z0-9_]+$/;

/**
 * The statement of `action` on a table. Names are Glue's (lower case, digits, underscores: others are refused); a
 * table name starting with an underscore is quoted as Athena wants it (VACUUM: backticks; OPTIMIZE, a DML statement:
 * double quotes).
 */
export function maintenanceStatement(action: MaintenanceAction, database: string, table: string): string {
  for (const name of [database, table])
    if (!PLAIN_NAME.test(name)) throw new Error(`${database}.${table}: not a Glue name Athena can be given`);
  const quote = action === "vacuum" ? "`" : '"';
  const target = `${database}.${table.startsWith("_") ? quote + table + quote : table}`;
  return action === "optimize" ? `OPTIMIZE ${target} REWRITE DATA USING BIN_PACK` : `VACUUM ${target}`;
}

/** Which tables get `action`, and why the others do not. */
export function planMaintenance(
  action: MaintenanceAction,
  tables: readonly TableSummary[],
  policy: MaintenancePolicy = defaultMaintenancePolicy,
): MaintenancePlan {
  const plan: MaintenancePlan = { statements: [], skipped: [] };
  for (const { database, table, totals } of tables) {
    const skip = (reason: string) => plan.skipped.push({ database, table, reason });
    if (!PLAIN_NAME.test(database) || !PLAIN_NAME.test(table)) {
      skip("not a plain Glue name (lower-case letters, digits, underscores)");
      continue;
    }
    if (!totals) {
      skip("no Iceberg snapshot");
      continue;
    }
    if (action === "optimize") {
      if (totals.records <= policy.smallTableRows) {
        skip(`small (${totals.records} rows): compacted by CdcMerge`);
        continue;
      }
      const manyDeletes = totals.deleteFiles >= policy.deleteFiles;
      const smallFiles =
        totals.dataFiles >= policy.dataFiles && totals.bytes / totals.dataFiles < policy.smallFileBytes;
      if (!manyDeletes && !smallFiles) {
        skip(`compact enough (${totals.dataFiles} data files, ${totals.deleteFiles} delete files)`);
        continue;
      }
    }
    plan.statements.push({ database, table, sql: maintenanceStatement(action, database, table) });
  }
  return plan;
}

/** The totals of a table's current snapshot, from its metadata (undefined without a snapshot). */
export function snapshotTotals(metadata: IcebergTableMetadata): TableSummary["totals"] {
  const current = metadata["current-snapshot-id"];
  const snapshot = metadata.snapshots.find((s) => s["snapshot-id"] === current);
  if (!snapshot) return undefined;
  const figure = (key: string) => Number(snapshot.summary[key] ?? 0);
  return {
    dataFiles: figure("total-data-files"),
    deleteFiles: figure("total-delete-files"),
    records: figure("total-records"),
    bytes: figure("total-files-size"),
  };
}
