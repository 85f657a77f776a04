/**
 * The orphan sweep of an Iceberg table (layout in `iceberg-pass.ts`): the files of attempts that never committed (a
 * merge killed, timed out, or whose cleanup failed) — data and delete files, manifests, manifest lists, index shards
 * and deltas, merge states, spilled runs and metadata files the catalog never took — and index files and states a
 * committed merge superseded but was killed before deleting.
 *
 * A merge attempt names every file it writes with `<sequence>-<id>`: the sequence number its snapshot would get (the
 * base's last one plus one) and a random id. Iceberg gives each snapshot its own sequence number, so once the table's
 * last sequence number has reached an attempt's, that attempt can no longer commit (its base is stale): it committed,
 * or it never will. Hence the rules, each only for a file older than the grace period:
 * - Iceberg files (data, deletes, manifests, manifest lists) of sequence s are orphans when the table keeps the
 *   snapshot of sequence s and that snapshot is another attempt's (another writer's, or a foreign one such as Athena's).
 * - On a catalog the merge maintains (`maintainedHere`: the file catalog), Iceberg files of a sequence older than the
 *   oldest snapshot the table keeps (its snapshot expired, by the merge's own commits, `expireSnapshots`) are orphans
 *   unless that oldest snapshot reads them (its manifest list names the manifest, or one of its manifests has the
 *   file live): a file leaves a table's history once and never comes back, so what the oldest kept snapshot does not
 *   read, no kept snapshot reads. Only on a plain history (every snapshot on the current one's ancestry, no branch or
 *   tag but main, the merge state's snapshot among them). Elsewhere (Glue), a sequence whose snapshot was expired is
 *   left alone: its files are `VACUUM`'s.
 * - Index files, states and applied-file archives (read only by merges) of sequence s ≤ the last one are orphans
 *   unless the merge state the metadata names uses them.
 * - Spilled runs of sequence s ≤ the last one are orphans (a run lives only during its attempt).
 * - Metadata files the Glue catalog's commits write (`<version>-<uuid>.metadata.json`) of a version the metadata log
 *   still names are orphans unless they are the one it names (or the current one). File-catalog versions
 *   (`v<N>.metadata.json`) are commits themselves: those older than every version the metadata log names are retired
 *   through the catalog (`retireVersions`, which guards against a stale writer putting one again) when the table's
 *   `write.metadata.delete-after-commit.enabled` is true (set by the merge, as the log's length,
 *   `write.metadata.previous-versions-max`, 100).
 * A writer still working builds on the current snapshot: its files carry the next sequence (and the next metadata
 * version) and are never candidates. Files of names the merge does not write (another engine's) are never touched.
 */
import type { TableConfig } from "./config.ts";
import { type IcebergCatalog, icebergTablePrefix, tableFileKey } from "./iceberg-catalog.ts";
import { readManifest, readManifestList } from "./iceberg-manifest.ts";
import { type IcebergSnapshot, type IcebergTableMetadata, plainHistory } from "./iceberg-metadata.ts";
import { type IcebergMergeState, STATE_PROPERTY } from "./iceberg-pass.ts";
import type { ObjectStore } from "./storage.ts";

/** Sweep orphans once every this many sequence numbers (a sweep lists the table's folder). */
export const ICEBERG_SWEEP_EVERY = 10;

const ATTEMPT = String.raw`(\d{8})-[0-9a-f]{12}`;
/** Iceberg files a merge attempt writes, by the attempt they name. */
const ICEBERG_FILE = new RegExp(
  `^(?:data/(${ATTEMPT})-(?:\\d+|deletes)\\.parquet|metadata/(${ATTEMPT})-m[0-3]\\.avro|metadata/snap-\\d+-(${ATTEMPT})\\.avro)$`,
);
/** Index files, merge states and applied-file archives. */
const MERGE_FILE = new RegExp(
  `^(?:_cdc/index/b\\d+-${ATTEMPT}\\.(?:idx|delta)|_cdc/iceberg/(?:s|applied-)${ATTEMPT}\\.json)$`,
);
const SPILLED_RUN = new RegExp(`^_cdc/tmp/${ATTEMPT}/`);
/** A metadata file of a pointer catalog such as Glue: `<version>-<uuid>.metadata.json`. */
const METADATA_FILE = /(?:^|\/)metadata\/(\d+)-[0-9a-f-]+\.metadata\.json$/;
/** A version of the file catalog (`v<N>.metadata.json`). */
const FILE_CATALOG_VERSION = /^metadata\/v(\d+)\.metadata\.json$/;
const MANIFEST_LIST_ATTEMPT = new RegExp(`/snap-\\d+-(${ATTEMPT})\\.avro$`);

/**
 * Deletes the table's orphans (module comment) older than `graceMs` at `now`, as the catalog has the table now.
 * Returns the keys deleted. Run after a confirmed commit.
 */
export async function sweepIcebergOrphans(
  store: ObjectStore,
  catalog: IcebergCatalog,
  config: TableConfig,
  options: { graceMs: number; now: number },
): Promise<string[]> {
  const current = await catalog.load(config.schema, config.table);
  if (!current) return [];
  const { metadata, version: currentVersion } = current;
  const last = metadata["last-sequence-number"];
  // The attempt that won each sequence the metadata still has a snapshot of ("" for another writer's snapshot).
  const winners = new Map<number, string>();
  for (const snapshot of metadata.snapshots) {
    const attempt = MANIFEST_LIST_ATTEMPT.exec(snapshot["manifest-list"])?.[1];
    const sequence = snapshot["sequence-number"];
    winners.set(sequence, attempt && Number(attempt.slice(0, 8)) === sequence ? attempt : "");
  }
  const nameOf = (location: string) => location.slice(location.lastIndexOf("/") + 1);
  const metadataWinners = new Map<number, string>();
  for (const location of [...metadata["metadata-log"].map((m) => m["metadata-file"]), current.metadataLocation]) {
    const version = METADATA_FILE.exec(location)?.[1];
    if (version !== undefined) metadataWinners.set(Number(version), nameOf(location));
  }
  // The index files and state the current state uses. Gone: a newer commit superseded it meanwhile, sweep next time.
  const used = new Set<string>();
  const stateKey = metadata.properties[STATE_PROPERTY];
  let state: IcebergMergeState | undefined;
  if (stateKey) {
    const body = await store.get(stateKey);
    if (!body) return [];
    state = JSON.parse(new TextDecoder().decode(body)) as IcebergMergeState;
    used.add(stateKey);
    for (const archive of state.archives ?? []) used.add(archive);
    for (const shard of Object.values(state.index)) {
      used.add(shard.key);
      for (const delta of shard.deltas ?? []) used.add(delta.key);
    }
  }

  const prefix = icebergTablePrefix(config.schema, config.table);
  // The oldest snapshot kept, on a plain history: files of older sequences are orphans unless it reads them.
  const oldest = catalog.maintainedHere ? oldestKept(metadata, state?.snapshotId) : undefined;
  const expired: string[] = [];
  const orphans: string[] = [];
  // Versions of a catalog that owns its metadata files (the file catalog), older than every file the metadata log
  // names: retired (Iceberg's `write.metadata.delete-after-commit.enabled`).
  const logged = metadata["metadata-log"].map((m) => Number(/\/v(\d+)\.metadata\.json$/.exec(m["metadata-file"])?.[1]));
  const retireBelow =
    catalog.retireVersions && metadata.properties["write.metadata.delete-after-commit.enabled"] === "true"
      ? Math.min(currentVersion, ...logged.filter((v) => Number.isSafeInteger(v)))
      : 0;
  const retired: number[] = [];
  for (const folder of ["data/", "metadata/", "_cdc/index/", "_cdc/iceberg/", "_cdc/tmp/"])
    for (const { key, lastModified } of await store.list(prefix + folder)) {
      if (lastModified === undefined || options.now - lastModified < options.graceMs) continue;
      const name = key.slice(prefix.length);
      if (isOrphan(name)) orphans.push(key);
    }
  // A file of the oldest snapshot missing (someone else's deletion): the expired sequences' files are left alone.
  const read = expired.length > 0 && oldest ? await filesRead(store, prefix, oldest) : undefined;
  if (read) for (const key of expired) if (!read.has(key)) orphans.push(key);
  function isOrphan(name: string): boolean {
    const iceberg = ICEBERG_FILE.exec(name);
    if (iceberg) {
      const attempt = (iceberg[1] ?? iceberg[3] ?? iceberg[5]) as string;
      const sequence = Number(attempt.slice(0, 8));
      const winner = winners.get(sequence);
      if (winner === undefined && oldest && sequence < oldest["sequence-number"]) expired.push(prefix + name);
      return sequence <= last && winner !== undefined && winner !== attempt;
    }
    const merge = MERGE_FILE.exec(name);
    if (merge) return Number(merge[1] ?? merge[2]) <= last && !used.has(prefix + name);
    const spilled = SPILLED_RUN.exec(name);
    if (spilled) return Number(spilled[1]) <= last;
    const version = FILE_CATALOG_VERSION.exec(name);
    if (version) {
      if (Number(version[1]) < retireBelow) retired.push(Number(version[1]));
      return false;
    }
    const metadataFile = METADATA_FILE.exec(name);
    if (metadataFile) {
      const winner = metadataWinners.get(Number(metadataFile[1]));
      return Number(metadataFile[1]) <= currentVersion && winner !== undefined && winner !== nameOf(name);
    }
    return false;
  }
  await store.delete(orphans);
  if (retired.length > 0) {
    await catalog.retireVersions?.(config.schema, config.table, retired);
    for (const v of retired) orphans.push(`${prefix}metadata/v${v}.metadata.json`);
  }
  return orphans;
}

/**
 * The oldest snapshot of the current one's history when the metadata holds that history alone (`plainHistory`) and it
 * includes the merge state's snapshot `ours` (when the state has one); else undefined.
 */
function oldestKept(
  metadata: IcebergTableMetadata,
  ours: IcebergMergeState["snapshotId"],
): IcebergSnapshot | undefined {
  const chain = plainHistory(metadata);
  if (!chain || (ours !== undefined && !chain.some((s) => s["snapshot-id"] === ours))) return undefined;
  return chain.at(-1);
}

/**
 * The store keys of the files `snapshot` reads: its manifest list, its manifests, their live data and delete files;
 * undefined if its manifest list or one of its manifests is missing.
 */
async function filesRead(
  store: ObjectStore,
  prefix: string,
  snapshot: IcebergSnapshot,
): Promise<Set<string> | undefined> {
  const read = new Set<string>();
  const keyOf = (uri: string) => {
    const key = tableFileKey(store, prefix, uri);
    if (key) read.add(key);
    return key;
  };
  const listKey = keyOf(snapshot["manifest-list"]);
  const list = listKey ? await store.get(listKey) : undefined;
  if (!list) return undefined;
  const manifests = await Promise.all(
    readManifestList(list).map(async (manifest) => {
      const key = keyOf(manifest.path);
      return key ? await store.get(key) : undefined;
    }),
  );
  for (const body of manifests) {
    if (!body) return undefined;
    for (const entry of readManifest(body)) if (entry.status !== 2) keyOf(entry.path);
  }
  return read;
}
