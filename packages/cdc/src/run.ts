/**
 * Merging a set of source files into a target store, table by table: each table's files not yet applied are merged in
 * passes (`MergeEngine.mergePass`: DMS order, one commit a pass). What the CLI does, and what tests and benchmarks call. A rejected
 * file does not stop the others.
 */
import type { TableConfig, TablesConfig } from "./config.ts";
import { loadIcebergApplied } from "./iceberg-applied.ts";
import { createFileCatalog, type IcebergCatalog } from "./iceberg-catalog.ts";
import { compactIceberg, loadIcebergTable, mergeFilesIceberg } from "./iceberg-pass.ts";
import {
  type AppliedFile,
  type FileResult,
  type MergeInput,
  type MergeOptions,
  type PassResult,
  type RejectedFile,
  sha256Of,
} from "./merge-pass.ts";
import { type LocatedFile, locateFile, sortFiles } from "./source.ts";
import type { ObjectStore } from "./storage.ts";

/**
 * The merge bound to where its tables are committed (`icebergEngine`: a catalog, and when to compact): how it lists a
 * table's applied files and merges one pass. The CLI and the tests use the file catalog, the Lambda Glue's.
 */
export interface MergeEngine {
  /** Every file the table applied, archived entries included (replays are recognized against all of them). */
  applied(target: ObjectStore, table: TableConfig): Promise<Record<string, AppliedFile>>;
  /**
   * The files the table's current version lists: applied (the recent ones: what the Lambda's pass looks at) and
   * rejected (by a pass, not replaced since).
   */
  files(
    target: ObjectStore,
    table: TableConfig,
  ): Promise<{ applied: Record<string, AppliedFile>; rejected: Record<string, RejectedFile> }>;
  mergePass(target: ObjectStore, table: TableConfig, pass: MergeInput[], options: MergeOptions): Promise<PassResult>;
}

/** When the Iceberg engine compacts a table after a pass (`compactIceberg`: small tables only). */
export interface CompactionPolicy {
  /** Compact once the snapshot has this many delete files (default 64). */
  deleteFiles?: number;
  /** ... and at most this many rows in its data files (default 5 M; bigger tables are Athena's to compact). */
  maxRows?: number;
}

/**
 * Iceberg v2 tables, merge-on-read (`iceberg-pass.ts`), committed through `catalog` (default: the file catalog);
 * after a pass that merged files, a small table with many delete files is compacted.
 */
export function icebergEngine(
  catalogOf: (target: ObjectStore) => IcebergCatalog = createFileCatalog,
  compaction: CompactionPolicy = {},
): MergeEngine {
  const deleteFiles = compaction.deleteFiles ?? 64;
  const maxRows = compaction.maxRows ?? 5_000_000;
  return {
    applied: async (target, table) =>
      loadIcebergApplied(target, (await loadIcebergTable(target, catalogOf(target), table)).state),
    async files(target, table) {
      const { state } = await loadIcebergTable(target, catalogOf(target), table);
      return { applied: state.applied, rejected: state.rejected ?? {} };
    },
    async mergePass(target, table, pass, options) {
      const catalog = catalogOf(target);
      const result = await mergeFilesIceberg(target, catalog, table, pass, options);
      if (result.files.some((f) => f.outcome === "merged")) {
        const { totals } = (await loadIcebergTable(target, catalog, table)).state;
        if (totals.deleteFiles >= deleteFiles && totals.records <= maxRows)
          await compactIceberg(target, catalog, table, {
            ...(options.now ? { now: options.now } : {}),
            ...(options.graceMs !== undefined ? { graceMs: options.graceMs } : {}),
            ...(options.sweepEvery !== undefined ? { sweepEvery: options.sweepEvery } : {}),
          });
      }
      return result;
    },
  };
}

export type FileOutcome = FileResult;

export interface RunReport {
  files: (FileOutcome & { table: string })[];
  merged: number;
  replayed: number;
  rejected: number;
}

/** How much one pass (one commit) takes on. */
export interface PassLimits {
  /** Bytes of source files a pass reads at most (default 4 GiB); a single larger file is a pass of its own. */
  maxPassBytes?: number;
  /** Files a pass merges at most (default 1000). */
  maxPassFiles?: number;
}

export const DEFAULT_PASS_BYTES = 4 * 2 ** 30;
export const DEFAULT_PASS_FILES = 1000;

/**
 * Splits files (in DMS order) into consecutive passes within the limits. Each pass has at least one file, and no two
 * files with the same path below the table's folder (a source holding several DMS folders).
 */
export function passesOf<T extends { size: number; relPath: string }>(
  files: readonly T[],
  limits: PassLimits = {},
): T[][] {
  const maxBytes = limits.maxPassBytes ?? DEFAULT_PASS_BYTES;
  const maxFiles = limits.maxPassFiles ?? DEFAULT_PASS_FILES;
  const passes: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  let paths = new Set<string>();
  for (const file of files) {
    const full = current.length >= maxFiles || bytes + file.size > maxBytes || paths.has(file.relPath);
    if (current.length > 0 && full) {
      passes.push(current);
      current = [];
      bytes = 0;
      paths = new Set();
    }
    current.push(file);
    bytes += file.size;
    paths.add(file.relPath);
  }
  if (current.length > 0) passes.push(current);
  return passes;
}

/** Applies every file under the source store not yet applied to the target (default engine: the file catalog's). */
export async function mergeAll(
  source: ObjectStore,
  target: ObjectStore,
  config: TablesConfig,
  options: MergeOptions &
    PassLimits & { onFile?: (outcome: FileOutcome & { table: string }) => void; engine?: MergeEngine } = {},
): Promise<RunReport> {
  const engine = options.engine ?? icebergEngine();
  const byTable = new Map<string, (LocatedFile & { size: number })[]>();
  for (const object of await source.list("")) {
    const located = locateFile(config, object.key);
    if (!located) continue;
    const list = byTable.get(located.table.name) ?? [];
    list.push({ ...located, size: object.size });
    byTable.set(located.table.name, list);
  }
  const report: RunReport = { files: [], merged: 0, replayed: 0, rejected: 0 };
  const emit = (outcome: FileOutcome, table: string) => {
    const entry = { ...outcome, table };
    report.files.push(entry);
    if (outcome.outcome === "merged") report.merged++;
    else if (outcome.outcome === "replay") report.replayed++;
    else report.rejected++;
    options.onFile?.(entry);
  };
  for (const name of [...byTable.keys()].sort()) {
    const files = sortFiles(byTable.get(name) as (LocatedFile & { size: number })[]);
    const table = files[0]?.table;
    if (!table) continue;
    // Replays are recognized against every applied file, archived ones included (same path, same content).
    const applied = await engine.applied(target, table);
    const pending: (MergeInput & { size: number; relPath: string })[] = [];
    for (const file of files) {
      const known = applied[file.relPath];
      const sha256 = known ? await sha256Of(source.read(file.key)) : undefined;
      if (known && known.sha256 === sha256) {
        emit({ outcome: "replay", file: file.key, version: known.version }, name);
        continue;
      }
      pending.push({
        file: { relPath: file.relPath, displayName: file.key },
        open: () => source.read(file.key),
        relPath: file.relPath,
        size: file.size,
        ...(sha256 ? { sha256 } : {}),
      });
    }
    for (const pass of passesOf(pending, options)) {
      const result = await engine.mergePass(target, table, pass, options);
      for (const outcome of result.files) emit(outcome, name);
    }
  }
  return report;
}
