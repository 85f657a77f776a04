/**
 * Following other writers' `replace` snapshots (Athena's `OPTIMIZE … REWRITE DATA USING BIN_PACK`, Spark's
 * `rewrite_data_files`): they rewrite data files — same rows, new files, position deletes applied — so the key index's
 * (data file, position) entries for the rows they moved name files that are gone. What changed is found from the
 * metadata alone: the snapshots since the merge's own (`IcebergMergeState.snapshotId`) must all be `replace`, and the
 * current manifest list is compared with the one the merge state records: only manifests in one list and not the
 * other are read (Iceberg never rewrites a manifest in place), and the files live in the new ones but not in the old
 * ones were added, the reverse removed. The caller then reads the key columns of the added data files (a row's
 * position is its ordinal in the file) and re-points those keys (`IcebergCommit.follow`): a cost proportional to the
 * rewritten data, once. Any other foreign operation (append, overwrite, delete: rows the index does not know) is
 * refused with `ForeignSnapshot`.
 */
import { ForeignSnapshot } from "./errors.ts";
import { tableFileKey } from "./iceberg-catalog.ts";
import { type ManifestEntry, type ManifestListEntry, readManifest, readManifestList } from "./iceberg-manifest.ts";
import type { IcebergSnapshot, IcebergTableMetadata, SnapshotId } from "./iceberg-metadata.ts";
import type { ObjectStore } from "./storage.ts";

/** What foreign `replace` snapshots did since the merge's last snapshot. */
export interface ForeignRewrite {
  /** The foreign snapshots, oldest first; the last is the current one. */
  snapshots: IcebergSnapshot[];
  /** The current snapshot's manifest list, which the next merge commit lists again. */
  manifests: ManifestListEntry[];
  /** Data files no longer in the table (paths relative to the table's folder, as the key index names them). */
  removed: Set<string>;
  /** Data files added (relative paths), with their row counts. */
  added: { file: string; records: number }[];
  /** The table's totals after the rewrite. */
  totals: { dataFiles: number; deleteFiles: number; records: number; positionDeletes: number };
}

/**
 * The foreign snapshots between the merge's last snapshot `ours` and the current one, oldest first: every one must be
 * a `replace` (else `ForeignSnapshot`).
 */
export function foreignChain(metadata: IcebergTableMetadata, ours: SnapshotId, table: string): IcebergSnapshot[] {
  const byId = new Map(metadata.snapshots.map((s) => [s["snapshot-id"], s]));
  const chain: IcebergSnapshot[] = [];
  let id = metadata["current-snapshot-id"];
  while (id !== ours) {
    const snapshot = id === undefined ? undefined : byId.get(id);
    if (!snapshot)
      throw new ForeignSnapshot(
        `${table}: the merge's last snapshot ${ours} is not an ancestor of the current one ` +
          `(${metadata["current-snapshot-id"]}): rolled back, or history expired past it`,
      );
    const operation = snapshot.summary.operation;
    if (operation !== "replace")
      throw new ForeignSnapshot(
        `${table}: snapshot ${id} was written by another writer with operation '${operation}'; only 'replace' ` +
          "snapshots (compactions rewriting data files) are followed",
      );
    chain.unshift(snapshot);
    id = snapshot["parent-snapshot-id"];
  }
  return chain;
}

/** The rewrite the foreign snapshots since `ours` made, read from the manifests that differ. */
export async function foreignRewrite(
  store: ObjectStore,
  prefix: string,
  metadata: IcebergTableMetadata,
  ours: { snapshotId: SnapshotId; manifests: readonly ManifestListEntry[]; totals: ForeignRewrite["totals"] },
  table: string,
): Promise<ForeignRewrite> {
  const snapshots = foreignChain(metadata, ours.snapshotId, table);
  const current = snapshots.at(-1) as IcebergSnapshot;
  const relative = (uri: string) => {
    const key = tableFileKey(store, prefix, uri);
    if (key === undefined)
      throw new ForeignSnapshot(`${table}: snapshot ${current["snapshot-id"]} names ${uri}, outside the table`);
    return key.slice(prefix.length);
  };
  const read = async (uri: string) => {
    const body = await store.get(prefix + relative(uri));
    if (!body) throw new Error(`${table}: ${uri} (of snapshot ${current["snapshot-id"]}) is missing`);
    return body;
  };
  const manifests = readManifestList(await read(current["manifest-list"]));
  const before = new Set(ours.manifests.map((m) => m.path));
  const after = new Set(manifests.map((m) => m.path));
  /** The files a set of manifests holds live (not DELETED), by path. */
  const liveFiles = async (list: readonly ManifestListEntry[]) => {
    const files = new Map<string, ManifestEntry>();
    for (const m of list)
      for (const entry of readManifest(await read(m.path))) if (entry.status !== 2) files.set(entry.path, entry);
    return files;
  };
  const gone = await liveFiles(ours.manifests.filter((m) => !after.has(m.path)));
  const fresh = await liveFiles(manifests.filter((m) => !before.has(m.path)));
  const totals = { ...ours.totals };
  const removed = new Set<string>();
  const added: ForeignRewrite["added"] = [];
  for (const [path, entry] of gone) {
    if (fresh.has(path)) continue;
    if (entry.content === 0) {
      removed.add(relative(path));
      totals.dataFiles--;
      totals.records -= entry.recordCount;
    } else {
      totals.deleteFiles--;
      totals.positionDeletes -= entry.recordCount;
    }
  }
  for (const [path, entry] of fresh) {
    if (gone.has(path)) continue;
    if (entry.content === 2)
      throw new ForeignSnapshot(`${table}: snapshot ${current["snapshot-id"]} added equality deletes (${path})`);
    if (entry.content === 0) {
      added.push({ file: relative(path), records: entry.recordCount });
      totals.dataFiles++;
      totals.records += entry.recordCount;
    } else {
      totals.deleteFiles++;
      totals.positionDeletes += entry.recordCount;
    }
  }
  return { snapshots, manifests, removed, added, totals };
}
