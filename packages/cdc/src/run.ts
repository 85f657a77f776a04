/**
 * Merging a set of source files into a target store, table by table in DMS order: what the CLI does, and what
 * tests and benchmarks call. A rejected file does not stop the others.
 */
import type { TablesConfig } from "./config.ts";
import { InvalidCdcFile } from "./errors.ts";
import { type LocatedFile, locateFile, sortFiles } from "./source.ts";
import type { ObjectStore } from "./storage.ts";
import { loadApplied, loadMetadata, type MergeOptions, type MergeResult, mergeFile, sha256Of } from "./table.ts";

export type FileOutcome =
  | MergeResult
  | { outcome: "rejected"; file: string; table: string; row: number; reason: string };

export interface RunReport {
  files: (FileOutcome & { table: string })[];
  merged: number;
  replayed: number;
  rejected: number;
}

/** Applies every file under the source store not yet applied to the target. */
export async function mergeAll(
  source: ObjectStore,
  target: ObjectStore,
  config: TablesConfig,
  options: MergeOptions & { onFile?: (outcome: FileOutcome & { table: string }) => void } = {},
): Promise<RunReport> {
  const byTable = new Map<string, LocatedFile[]>();
  for (const object of await source.list("")) {
    const located = locateFile(config, object.key);
    if (!located) continue;
    const list = byTable.get(located.table.name) ?? [];
    list.push(located);
    byTable.set(located.table.name, list);
  }
  const report: RunReport = { files: [], merged: 0, replayed: 0, rejected: 0 };
  for (const name of [...byTable.keys()].sort()) {
    const files = sortFiles(byTable.get(name) as LocatedFile[]);
    const table = files[0]?.table;
    if (!table) continue;
    const applied = await loadApplied(target, await loadMetadata(target, table));
    for (const file of files) {
      let outcome: FileOutcome;
      try {
        const known = applied[file.relPath];
        const sha256 = known ? await sha256Of(source.read(file.key)) : undefined;
        // Already applied with the same content (recently, or long ago and archived): a replay.
        outcome =
          known && known.sha256 === sha256
            ? { outcome: "replay", file: file.key, version: known.version }
            : await mergeFile(
                target,
                table,
                { relPath: file.relPath, displayName: file.key },
                () => source.read(file.key),
                options,
                sha256,
              );
      } catch (error) {
        if (!(error instanceof InvalidCdcFile)) throw error;
        outcome = { outcome: "rejected", file: error.file, table: name, row: error.row, reason: error.reason };
      }
      const entry = { ...outcome, table: name };
      report.files.push(entry);
      if (outcome.outcome === "merged") report.merged++;
      else if (outcome.outcome === "replay") report.replayed++;
      else report.rejected++;
      options.onFile?.(entry);
    }
  }
  return report;
}
