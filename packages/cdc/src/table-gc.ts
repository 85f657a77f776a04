/**
 * Garbage collection of a table's storage (layout in `table.ts`), run by a merge pass once its commit is confirmed
 * live: superseded files after their grace period, old metadata versions, and the files of crashed attempts.
 */
import type { TableConfig } from "./config.ts";
import type { ObjectStore } from "./storage.ts";
import { metadataPrefix, type TableMetadata, tablePrefix, versionOf } from "./table.ts";

/** Sweep orphans (files of crashed attempts) every this many versions. */
export const SWEEP_EVERY = 10;

/** Keeps this many metadata versions before the newest (readers listing versions, debugging). */
export const KEEP_METADATA_VERSIONS = 10;

/**
 * Housekeeping after a confirmed commit (never after an uncertain one): deletes the superseded files whose grace
 * period has `expired`, metadata versions more than `KEEP_METADATA_VERSIONS` below the committed one, and every
 * `sweepEvery` versions the orphans of crashed attempts.
 */
export async function collectGarbage(
  store: ObjectStore,
  config: TableConfig,
  committed: TableMetadata,
  expired: string[],
  sweepEvery: number,
): Promise<void> {
  const old = (await store.list(metadataPrefix(config)))
    .map((o) => o.key)
    .filter((k) => versionOf(k) < committed.version - KEEP_METADATA_VERSIONS);
  const orphans = committed.version % sweepEvery === 0 ? await findOrphans(store, config, committed) : [];
  await store.delete([...expired, ...old, ...orphans]);
}

/**
 * Files a crashed attempt left behind (a killed or timed-out merge never deletes what it wrote): data, state and
 * spill files that the committed version does not reference, current or superseded, and that were written for a
 * version at most the committed one. An attempt still running then can no longer commit (its version exists), so
 * its files are garbage too; a merge working on the next version is left alone.
 */
async function findOrphans(store: ObjectStore, config: TableConfig, committed: TableMetadata): Promise<string[]> {
  const referenced = new Set<string>([...committed.obsolete.map((o) => o.key), ...(committed.archives ?? [])]);
  for (const files of Object.values(committed.buckets)) {
    referenced.add(files.state);
    if (files.data) referenced.add(files.data);
  }
  const prefix = tablePrefix(config);
  const orphans: string[] = [];
  for (const folder of ["data/", "_cdc/state/", "_cdc/tmp/", "_cdc/applied/"]) {
    for (const { key } of await store.list(prefix + folder)) {
      if (referenced.has(key)) continue;
      // b0007-00000012-<id>.parquet, b0007-00000012-<id>.state, _cdc/tmp/00000012-<id>/b7-r0.state,
      // _cdc/applied/v00000000000000000012-<id>.json (v00000000000000000012.json before archives were named by attempt)
      const match = /(?:^|[/-])(\d{8})-[0-9a-f]{12}[/.]|^v(\d{20})(?:-[0-9a-f]{12})?\.json$/.exec(
        key.slice(prefix.length + folder.length),
      );
      const version = match ? Number(match[1] ?? match[2]) : Number.NaN;
      if (version <= committed.version) orphans.push(key);
    }
  }
  return orphans;
}
