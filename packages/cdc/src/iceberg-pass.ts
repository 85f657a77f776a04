/**
 * A merge pass into an Iceberg v2 table, merge-on-read: DMS files of one table read in DMS order into the newest
 * change per key (the merge rule of `rows.ts`, the reader of `dms-file.ts`), then for each bucket the changes touch, its key-index
 * shard (`key-index.ts`) says which changes win and which rows they replace. The commit adds
 * - data files holding the winning rows (one file per big bucket, small buckets gathered up to `FILE_ROWS` rows),
 * - one position-delete file naming the replaced and deleted rows (data file path, position),
 * - a data manifest and a delete manifest for them, a manifest list (the previous manifests, unchanged, plus these;
 *   past `MANIFEST_MERGE_MIN` manifests of a kind, the previous small ones merged into one, as Iceberg's own writers
 *   do with `commit.manifest-merge.enabled`),
 * - the rewritten index shards and a state object (applied files, shards, manifests, superseded shards),
 * then one snapshot in new table metadata, committed through the catalog (optimistic: a lost race deletes what this
 * attempt wrote and builds again on the winner). Nothing existing is rewritten: a commit costs the changes and the
 * index shards they touch. Full-load files only add data files (an append snapshot).
 *
 * Layout under `<schema>/<table>/`:
 *   metadata/v<N>.metadata.json, metadata/version-hint.text    (file catalog; Glue keeps the pointer instead)
 *   metadata/snap-<snapshot>-<attempt>.avro                      manifest list
 *   metadata/<attempt>-m0.avro, -m1.avro                         data / delete manifest
 *   metadata/<attempt>-m2.avro, -m3.avro                         merged data / delete manifest (existing files)
 *   data/<attempt>-<n>.parquet, data/<attempt>-deletes.parquet   data and position-delete files
 *   _cdc/index/b0007-<attempt>.idx                               key-index shard of bucket 7
 *   _cdc/iceberg/s<attempt>.json                                 merge state of the snapshot (`sluice.state`)
 *   _cdc/iceberg/applied-<attempt>.json                          applied files archived by the commit (`archives`)
 *   _cdc/tmp/<attempt>/b7-r0.state                               changes spilled while reading (during the attempt)
 * where <attempt> is the sequence number (8 digits) and a random id: the orphan sweep (`iceberg-gc.ts`) tells the
 * files of attempts that can no longer commit by it.
 */
import { createHash, randomBytes } from "node:crypto";
import type { Column, TableConfig } from "./config.ts";
import { readDmsFile } from "./dms-file.ts";
import { CommitConflict, ForeignSnapshot, InvalidCdcFile } from "./errors.ts";
import { archiveApplied } from "./iceberg-applied.ts";
import {
  type CatalogTable,
  COMMIT_ID_PROPERTY,
  type IcebergCatalog,
  icebergTablePrefix,
  tableFileKey,
} from "./iceberg-catalog.ts";
import { type ForeignRewrite, foreignRewrite } from "./iceberg-follow.ts";
import { ICEBERG_SWEEP_EVERY, sweepIcebergOrphans } from "./iceberg-gc.ts";
import {
  existingEntries,
  type ManifestFile,
  type ManifestListEntry,
  readManifest,
  writeManifest,
  writeManifestList,
} from "./iceberg-manifest.ts";
import {
  currentSchema,
  expireSnapshots,
  type IcebergSchema,
  type IcebergSnapshot,
  type IcebergTableMetadata,
  icebergJson,
  newSnapshotId,
  newTableMetadata,
  parseIcebergJson,
  type SnapshotId,
  withConfiguredSchema,
  withProperties,
  withSnapshot,
} from "./iceberg-metadata.ts";
import { columnMetrics, type MetricsMode, metricsModes } from "./iceberg-metrics.ts";
import { indexLayout, locate, located, mergeShard, projectChanges, rebaseDataFiles, type Winner } from "./key-index.ts";
import { bucketFunction, type Layout, layoutOf, PendingChanges, positionBatch } from "./merge.ts";
import {
  APPLIED_RETENTION_MS,
  type AppliedFile,
  type FileResult,
  hashing,
  type MergeInput,
  type MergeOptions,
  MIN_SPILL_KEYS,
  machineMemory,
  type PassResult,
  type RejectedFile,
  sha256Of,
} from "./merge-pass.ts";
import { writeParquet } from "./parquet.ts";
import { type ColumnData, RowSet } from "./rows.ts";
import { sortFiles } from "./source.ts";
import { decodeState, encodeState } from "./state-file.ts";
import { getReusing, type ObjectStore, ReadBuffer } from "./storage.ts";
import type { Value } from "./values.ts";

/** Rows of a data file gathered from small buckets; a bucket with at least an eighth of this gets a file of its own. */
export const FILE_ROWS = 1_000_000;

/** The property of the table metadata naming its merge state object. */
export const STATE_PROPERTY = "sluice.state";

/** Position-delete files' columns (spec: reserved field ids). */
const DELETE_COLUMNS = {
  columns: [
    { name: "file_path", type: { kind: "string" as const } },
    { name: "pos", type: { kind: "int64" as const } },
  ],
};
const DELETE_FIELD_IDS = [2147483546, 2147483545];

/**
 * A key-index shard as stored: a base (every key of the bucket) and deltas, each the index rows a later commit
 * changed. A commit that touches a bucket writes a delta while the deltas stay small next to the base
 * (`indexDeltaShare`), else the whole shard again: its writes follow its changes, not the bucket's size.
 */
export interface ShardFiles {
  key: string;
  keys: number;
  deltas?: { key: string; keys: number }[];
}

/** Deltas of a shard may hold up to this share of its base's keys before the shard is written whole again. */
export const INDEX_DELTA_SHARE = 0.25;
/** A shard written whole with a longer file list is copied first, keeping only the files its rows name. */
const SHARD_FILES_SLACK = 64;
/** At most this many deltas per shard: the next commit folds them into one (or writes the shard whole). */
export const INDEX_MAX_DELTAS = 8;
/**
 * Past this many manifests of a kind (data, deletes), a commit merges the previous ones under `MANIFEST_TARGET_BYTES`
 * into one (Iceberg's `commit.manifest.min-count-to-merge`, 100): without it, a table committed every minute lists
 * two more manifests a commit, in the manifest list and the merge state each commit rewrites, until a compaction.
 */
export const MANIFEST_MERGE_MIN = 100;
/** Manifests this big are left as they are (Iceberg's `commit.manifest.target-size-bytes`, 8 MB). */
const MANIFEST_TARGET_BYTES = 8 * 1024 * 1024;

/** The stored files of a shard: its base and its deltas, in order. */
interface ShardBodies {
  base: Uint8Array;
  deltas: Uint8Array[];
}

/**
 * Reads a shard's files, all at once; into `buffers` when given (one per file, reused from shard to shard: the
 * bodies are valid until the next read, which a merge of one bucket at a time allows).
 */
async function readShard(store: ObjectStore, files: ShardFiles, buffers?: ReadBuffer[]): Promise<ShardBodies> {
  const [base, ...deltas] = await Promise.all(
    [files.key, ...(files.deltas ?? []).map((d) => d.key)].map(async (key, i) => {
      if (buffers && !buffers[i]) buffers[i] = new ReadBuffer();
      const body = buffers ? await getReusing(store, key, buffers[i] as ReadBuffer) : await store.get(key);
      // Superseded (deleted) by a commit after our base: this attempt builds on a stale base.
      if (!body) throw new StaleBase();
      return body;
    }),
  );
  return { base: base as Uint8Array, deltas };
}

/** A shard's rows: its base with its deltas applied in order (each delta row is its key's newer state). */
async function loadShard(
  store: ObjectStore,
  layout: ReturnType<typeof indexLayout>,
  files: ShardFiles,
  extra: number,
  buffers?: ReadBuffer[],
): Promise<RowSet> {
  const { base, deltas } = await readShard(store, files, buffers);
  const deltaKeys = (files.deltas ?? []).reduce((n, d) => n + d.keys, 0);
  const shard = decodeState(layout.config, base, extra + deltaKeys, false);
  if (deltas.length === 0) return shard;
  // The deltas folded into one set first (each key's newest state: later deltas hold later positions), then applied
  // in one scan of the base: a shard with many deltas costs its base once, not once per delta.
  const newest = new RowSet(layout.config, deltaKeys);
  for (const body of deltas) {
    const delta = decodeState(layout.config, body, 0, false);
    rebaseDataFiles(layout, delta, delta, shard);
    for (let i = 0; i < delta.size; i++) newest.upsert(delta.keyAt(i), delta, i);
  }
  shard.mergeFrom(newest);
  return shard;
}

/**
 * A bucket's changes merged against its stored shard without loading the shard: the base is read as views of its
 * file, scanned once for the changes' keys, and only the rows of those keys (from the base, or newer from the deltas)
 * are copied into a small set the changes are merged into. The result holds the changed keys alone: what a delta
 * stores. Its cost is the changes and the deltas, plus a binary search of the base per change when the base's keys
 * ascend (as a table loaded in key order, or keyed by a growing id, has them) or else one scan of its key column: no
 * copy of the base, nothing for the garbage collector, where `loadShard` copies the whole shard and every delta.
 */
function probeShard(
  layout: ReturnType<typeof indexLayout>,
  bodies: ShardBodies,
  projected: RowSet,
): { shard: RowSet; winners: Winner[]; deltas: RowSet[] } {
  const changes = projected.index;
  const deltas: RowSet[] = [];
  const base = decodeState(layout.config, bodies.base, 0, false, true);
  const current = new RowSet(layout.config, projected.size);
  const matched = new RowSet(layout.config, projected.size);
  const rows: number[] = [];
  if (base.keysAscending)
    for (let j = 0; j < projected.size; j++) {
      const at = base.findKey(projected.keyAt(j));
      if (at >= 0) rows.push(at);
    }
  else for (let at = 0; at < base.size; at++) if (changes.get(base.keyAt(at)) !== undefined) rows.push(at);
  matched.appendRows(base, Int32Array.from(rows));
  rebaseDataFiles(layout, matched, base, current);
  for (let i = 0; i < matched.size; i++) current.upsert(matched.keyAt(i), matched, i);
  for (const body of bodies.deltas) {
    const delta = decodeState(layout.config, body, 0, false, true);
    deltas.push(delta);
    const hits: number[] = [];
    for (let i = 0; i < delta.size; i++) if (changes.get(delta.keyAt(i)) !== undefined) hits.push(i);
    const rowsOf = new RowSet(layout.config, hits.length);
    rowsOf.appendRows(delta, Int32Array.from(hits));
    rebaseDataFiles(layout, rowsOf, delta, current);
    for (let i = 0; i < rowsOf.size; i++) current.upsert(rowsOf.keyAt(i), rowsOf, i);
  }
  const winners: Winner[] = [];
  current.mergeFrom(projected, (at, j, existed) => {
    if (existed && current.live[at]) winners.push({ at, j, replaced: located(layout, current, at) });
    else winners.push({ at, j });
  });
  winners.sort((a, b) => a.j - b.j);
  return { shard: current, winners, deltas };
}

/**
 * One delta holding what `deltas` (in order) and the winning rows `winners` of `shard` say, each key's newest state
 * (the winners are newer than any delta's row for their key: they won against it).
 */
function foldDeltas(
  layout: ReturnType<typeof indexLayout>,
  deltas: readonly RowSet[],
  shard: RowSet,
  winners: readonly { at: number }[],
): RowSet {
  const out = new RowSet(
    layout.config,
    deltas.reduce((n, d) => n + d.size, winners.length),
  );
  const add = (from: RowSet, rows: Int32Array) => {
    const copy = new RowSet(layout.config, rows.length);
    copy.appendRows(from, rows);
    rebaseDataFiles(layout, copy, from, out);
    for (let i = 0; i < copy.size; i++) out.upsert(copy.keyAt(i), copy, i);
  };
  for (const delta of deltas)
    add(
      delta,
      new Int32Array(delta.size).map((_, i) => i),
    );
  add(
    shard,
    Int32Array.from(winners, (w) => w.at),
  );
  return out;
}

/** An attempt found a file of its base superseded by a newer commit: it starts again on the latest snapshot. */
class StaleBase extends Error {
  override readonly name = "StaleBase";
}

/** What the merge keeps beside the Iceberg metadata of a snapshot (the object `sluice.state` names). */
export interface IcebergMergeState {
  format: 1;
  table: string;
  /** The bucket layout of the key index, fixed when the table is created. */
  layout: Layout;
  /** Key-index shard of each bucket: a base, and the deltas of the commits since it was last written whole. */
  index: Record<string, ShardFiles>;
  /** The snapshot's manifests (its manifest list), so the next commit can list them again without reading Avro. */
  manifests: ManifestListEntry[];
  /** Recently applied files; older ones are in the `archives` objects (`iceberg-applied.ts`). */
  applied: Record<string, AppliedFile>;
  archives?: string[];
  rejected?: Record<string, RejectedFile>;
  totals: { dataFiles: number; deleteFiles: number; records: number; positionDeletes: number };
  /**
   * The last snapshot this state accounts for (written by the merge, or a foreign `replace` it followed): a current
   * snapshot other than this one was written by someone else since.
   */
  snapshotId?: SnapshotId;
}

/** A table as a pass starts from: the catalog's version, its metadata (a new one for a new table) and merge state. */
export interface IcebergBase {
  /** The catalog's record of the table, which a commit names as its base (undefined: a new table). */
  current?: CatalogTable;
  version: number;
  metadataLocation?: string;
  metadata: IcebergTableMetadata;
  state: IcebergMergeState;
  /** The current snapshot is another writer's (the state's `snapshotId` is an ancestor): to follow first. */
  foreign?: boolean;
}

/**
 * The table's current metadata and merge state (a new, empty table when the catalog has none). Foreign `replace`
 * snapshots since the merge's last one (Athena's compaction) are followed first, in a commit of their own that
 * re-points the key index at the rewritten files (`followForeign`); any other foreign snapshot is `ForeignSnapshot`.
 */
export async function loadIcebergTable(
  store: ObjectStore,
  catalog: IcebergCatalog,
  config: TableConfig,
  now = Date.now(),
  options: FollowOptions = {},
): Promise<IcebergBase> {
  for (let attempt = 0; ; attempt++) {
    const base = await loadOnce(store, catalog, config, now);
    if (base && !base.foreign) return base;
    if (base) await followForeign(store, catalog, config, base, now, options);
    // The state object was deleted by a newer commit between our two reads (the catalog has moved on), or the follow
    // committed or lost its race: read again.
    if (attempt >= 8) throw new CommitConflict(`${config.name}: the table keeps moving while it is loaded`);
  }
}

/** How a follow stores shards (`indexDeltaShare`) and bounds its memory (as a merge pass: `MergeOptions`). */
export interface FollowOptions {
  indexDeltaShare?: number;
  memoryLimit?: number;
  flushKeys?: number;
}

/**
 * Follows the foreign `replace` snapshots since the merge's last one: the key columns of the data files they added
 * are read and the keys re-pointed at their new (file, position); the commit records the new index and manifests in a
 * new merge state, with no new snapshot (a metadata update naming the state). Resolves when committed, lost to a
 * newer commit (the caller loads again) or found stale.
 */
async function followForeign(
  store: ObjectStore,
  catalog: IcebergCatalog,
  config: TableConfig,
  base: IcebergBase,
  now: number,
  options: FollowOptions,
): Promise<void> {
  const { state } = base;
  const rewrite = await foreignRewrite(
    store,
    icebergTablePrefix(config.schema, config.table),
    base.metadata,
    { snapshotId: state.snapshotId as SnapshotId, manifests: state.manifests, totals: state.totals },
    config.name,
  );
  const commit = new IcebergCommit(
    store,
    config,
    base,
    new Date(now),
    FILE_ROWS,
    options.indexDeltaShare ?? INDEX_DELTA_SHARE,
  );
  // The moved keys are spilled per bucket past half the memory budget, as a pass's held changes are. A follow adds no
  // snapshot: its runs become sweepable once a later commit takes the next sequence number.
  const { spilled, overBudget } = spilling(store, config, base, options);
  try {
    await commit.follow(rewrite, spilled, overBudget);
    await spilled.drop();
    const outcome = await commit.commitFollow(catalog, rewrite);
    if (outcome === "conflict") await store.delete(commit.written);
  } catch (error) {
    await spilled.drop().catch(() => undefined);
    if (!commit.committing) await store.delete(commit.written).catch(() => undefined);
    if (error instanceof StaleBase) return;
    throw error;
  }
}

/** The same, or undefined when the state the metadata names is gone (superseded meanwhile). */
async function loadOnce(
  store: ObjectStore,
  catalog: IcebergCatalog,
  config: TableConfig,
  now: number,
): Promise<IcebergBase | undefined> {
  const current = await catalog.load(config.schema, config.table);
  if (!current) {
    const location = store.uri(icebergTablePrefix(config.schema, config.table).slice(0, -1));
    return {
      version: 0,
      metadata: newTableMetadata(config, location, now),
      state: {
        format: 1,
        table: config.name,
        layout: layoutOf(config),
        index: {},
        manifests: [],
        applied: {},
        totals: { dataFiles: 0, deleteFiles: 0, records: 0, positionDeletes: 0 },
      },
    };
  }
  const stateKey = current.metadata.properties[STATE_PROPERTY];
  if (!stateKey) throw new Error(`${config.name}: the table's metadata names no merge state (${STATE_PROPERTY})`);
  const body = await store.get(stateKey);
  if (!body) return undefined;
  const state = parseIcebergJson<IcebergMergeState>(new TextDecoder().decode(body));
  // Another writer's snapshot (a compaction rewriting data files) moves rows: the key index would name rows that are
  // gone. The caller follows it (a `replace`) or refuses (`ForeignSnapshot`) rather than write wrong deletes.
  const foreign = state.snapshotId !== undefined && current.metadata["current-snapshot-id"] !== state.snapshotId;
  return {
    current,
    version: current.version,
    metadataLocation: current.metadataLocation,
    metadata: current.metadata,
    state,
    ...(foreign ? { foreign } : {}),
  };
}

interface PassFile extends MergeInput {
  index: number;
  relPath: string;
  sha?: string;
  rejected?: { row: number; reason: string };
}

/**
 * Merges DMS files of one table into its Iceberg table in one pass and one snapshot (the contract of a pass,
 * `MergeEngine.mergePass`: DMS order, corrupt files left out whole, replays skipped, a lost commit race built again on
 * the winner).
 */
export async function mergeFilesIceberg(
  store: ObjectStore,
  catalog: IcebergCatalog,
  config: TableConfig,
  inputs: readonly MergeInput[],
  options: MergeOptions & { fileRows?: number; indexDeltaShare?: number; manifestMergeMin?: number } = {},
): Promise<PassResult> {
  const now = options.now ?? (() => new Date());
  const maxAttempts = options.maxAttempts ?? 8;
  const files: PassFile[] = sortFiles(
    inputs.map((input, index) => ({ ...input, index, relPath: input.file.relPath, sha: input.sha256 })),
  );
  const results: FileResult[] = new Array(inputs.length);
  for (let attempt = 1; ; attempt++) {
    const base = await loadIcebergTable(store, catalog, config, now().getTime(), {
      ...(options.indexDeltaShare !== undefined ? { indexDeltaShare: options.indexDeltaShare } : {}),
      ...(options.memoryLimit !== undefined ? { memoryLimit: options.memoryLimit } : {}),
      ...(options.flushKeys !== undefined ? { flushKeys: options.flushKeys } : {}),
    });
    const toRead: PassFile[] = [];
    for (const f of files) {
      if (f.rejected) {
        results[f.index] = { outcome: "rejected", file: f.file.displayName, ...f.rejected };
        continue;
      }
      const known = base.state.applied[f.relPath];
      if (known && f.sha === undefined) f.sha = await sha256Of(f.open());
      if (known && known.sha256 === f.sha) {
        results[f.index] = { outcome: "replay", file: f.file.displayName, version: base.version };
        continue;
      }
      toRead.push(f);
    }
    if (toRead.length === 0) return { version: base.version, files: results };
    if (attempt > maxAttempts) throw new CommitConflict(`${config.name}: lost the commit race ${maxAttempts} times`);
    const pending = new PendingChanges(config, bucketFunction(base.state.layout));
    const { spilled, overBudget } = spilling(store, config, base, options);
    let read: Awaited<ReturnType<typeof readAll>>;
    try {
      read = await readAll(config, toRead, pending, results, options.onProgress, async () => {
        if (overBudget(pending.keys)) await spilled.spill(pending);
      });
    } catch (error) {
      await spilled.drop().catch(() => undefined);
      throw error;
    }
    if (read === "restart" || read.size === 0) await spilled.drop();
    if (read === "restart") continue;
    if (read.size === 0) return { version: base.version, files: results };
    const commit = new IcebergCommit(
      store,
      config,
      base,
      now(),
      options.fileRows ?? FILE_ROWS,
      options.indexDeltaShare ?? INDEX_DELTA_SHARE,
      options.appliedRetentionMs ?? APPLIED_RETENTION_MS,
      options.manifestMergeMin ?? MANIFEST_MERGE_MIN,
    );
    try {
      const figures = await commit.stage(pending, spilled);
      await spilled.drop();
      const outcome = await commit.commit(catalog, read, files);
      if (outcome === "conflict") {
        await store.delete(commit.written);
        await new Promise((r) => setTimeout(r, Math.random() * 50 * attempt));
        continue;
      }
      await sweepAfterCommit(store, catalog, config, base, options);
      for (const f of toRead) {
        const r = read.get(f.relPath);
        if (r)
          results[f.index] = {
            outcome: "merged",
            file: f.file.displayName,
            version: base.version + 1,
            rows: r.rows,
            keysChanged: figures.keysChanged,
            bucketsRewritten: figures.shards,
            attempts: attempt,
            spills: spilled.spills,
            commitFiles: read.size,
          };
      }
      return { version: base.version + 1, files: results };
    } catch (error) {
      await spilled.drop().catch(() => undefined);
      // Before the commit call its files are ours alone; after it, they may be live (an answer lost): keep them.
      if (!commit.committing) await store.delete(commit.written).catch(() => undefined);
      if (error instanceof StaleBase) continue;
      throw error;
    }
  }
}

/**
 * Reads the files into `pending` in DMS order. A corrupt file is left out; if other files were read with it, the
 * attempt restarts without it (their changes are mixed in `pending`).
 */
async function readAll(
  config: TableConfig,
  toRead: readonly PassFile[],
  pending: PendingChanges,
  results: FileResult[],
  onProgress?: (rows: number) => void,
  afterBatch?: () => Promise<void>,
): Promise<Map<string, { rows: number; sha256: string }> | "restart"> {
  const read = new Map<string, { rows: number; sha256: string }>();
  let total = 0;
  for (const f of toRead) {
    const hash = createHash("sha256");
    let rows = 0;
    try {
      for await (const batch of readDmsFile(config, f.file, hashing(f.open(), hash), undefined, pending)) {
        rows += batch.rowsRead;
        positionBatch(f.relPath, batch.rows);
        pending.add(batch.rows);
        onProgress?.(total + rows);
        await afterBatch?.();
      }
    } catch (error) {
      if (!(error instanceof InvalidCdcFile)) throw error;
      f.rejected = { row: error.row, reason: error.reason };
      results[f.index] = { outcome: "rejected", file: f.file.displayName, ...f.rejected };
      if (read.size > 0) return "restart";
      pending.clear();
      continue;
    }
    total += rows;
    f.sha = hash.digest("hex");
    read.set(f.relPath, { rows, sha256: f.sha });
  }
  return read;
}

/**
 * Changes spilled while a pass reads large files: once the held changes pass the memory budget (half the function's
 * memory), each bucket's are written as a run under `_cdc/tmp/<id>/` and memory is released; staging then takes a
 * bucket's runs and held changes together, one bucket at a time. Runs are temporary: dropped when the attempt ends
 * (a killed attempt leaves them for the orphan sweep).
 */
class SpilledChanges {
  readonly runs = new Map<number, string[]>();
  spills = 0;
  private readonly dir: string;

  constructor(
    private readonly store: ObjectStore,
    tmpPrefix: string,
    /** The sequence number the attempt's snapshot would get (the orphan sweep reads it from the folder's name). */
    sequence: number,
  ) {
    this.dir = `${tmpPrefix}${pad8(sequence)}-${randomBytes(6).toString("hex")}/`;
  }

  async spill(pending: { readonly buckets: ReadonlyMap<number, RowSet>; clear(): void }): Promise<void> {
    this.spills++;
    for (const [b, set] of pending.buckets) {
      const list = this.runs.get(b) ?? [];
      const key = `${this.dir}b${b}-r${list.length}.state`;
      await this.store.put(key, encodeState(set));
      list.push(key);
      this.runs.set(b, list);
    }
    pending.clear();
  }

  /** The bucket's changes: its runs and the held changes, reduced to each key's newest change (indexed). */
  async changesOf(config: TableConfig, b: number, held: RowSet | undefined): Promise<RowSet | undefined> {
    const runs = this.runs.get(b) ?? [];
    if (runs.length === 0) return held;
    const read = async (key: string) => {
      const body = await this.store.get(key);
      // Swept: the table has moved past this attempt's sequence, so it could not commit any more.
      if (!body) throw new StaleBase(`spilled changes ${key} are gone`);
      return body;
    };
    const changes = decodeState(config, await read(runs[0] as string), held?.size ?? 0, true);
    const later = await Promise.all(runs.slice(1).map(async (k) => decodeState(config, await read(k), 0, false)));
    if (held) later.push(held);
    for (const set of later) for (let i = 0; i < set.size; i++) changes.upsert(set.keyAt(i), set, i);
    return changes;
  }

  async drop(): Promise<void> {
    const keys = [...this.runs.values()].flat();
    this.runs.clear();
    await this.store.delete(keys);
  }
}

const pad8 = (n: number) => String(n).padStart(8, "0");

/** One attempt's files and snapshot: staged from the held changes, then committed through the catalog. */
class IcebergCommit {
  /** Every object written: deleted if the commit is lost. */
  readonly written: string[] = [];
  /** Set once the commit call starts: from then on the files may be live. */
  committing = false;
  private readonly prefix: string;
  private readonly attempt: string;
  private readonly sequence: number;
  private readonly snapshotId = newSnapshotId();
  private readonly metadata: IcebergTableMetadata;
  private readonly schema: IcebergSchema;
  private readonly fieldIds: number[];
  /** Each column's metrics mode (the table's `write.metadata.metrics.*` properties). */
  private readonly metricsModes: MetricsMode[];
  private readonly dataFiles: ManifestFile[] = [];
  private deleteFile: ManifestFile | undefined;
  private positionDeletes = 0;
  private readonly shards = new Map<number, ShardFiles>();
  /** Index files the new shards no longer use: deleted once the commit is in. */
  private readonly superseded: string[] = [];
  /** What shards are read into, one bucket after the other (`readShard`). */
  private readonly readBuffers: ReadBuffer[] = [];
  /** A compaction: the snapshot's files are this commit's alone (a `replace` snapshot), no delete file. */
  private replacing = false;

  constructor(
    private readonly store: ObjectStore,
    private readonly config: TableConfig,
    private readonly base: IcebergBase,
    private readonly at: Date,
    /** Rows of a gathered data file (`FILE_ROWS`; tests use a few). */
    private readonly fileRows: number,
    /** `INDEX_DELTA_SHARE` (tests vary it). */
    private readonly deltaShare = INDEX_DELTA_SHARE,
    /** How long applied files stay in the state before they are archived (`APPLIED_RETENTION_MS`). */
    private readonly appliedRetentionMs = APPLIED_RETENTION_MS,
    /** `MANIFEST_MERGE_MIN` (tests use a few). */
    private readonly manifestMergeMin = MANIFEST_MERGE_MIN,
  ) {
    this.prefix = icebergTablePrefix(config.schema, config.table);
    this.sequence = base.metadata["last-sequence-number"] + 1;
    this.attempt = `${pad8(this.sequence)}-${randomBytes(6).toString("hex")}`;
    this.metadata = withConfiguredSchema(base.metadata, config);
    this.schema = currentSchema(this.metadata);
    const ids = new Map(this.schema.fields.map((f) => [f.name, f.id]));
    this.fieldIds = config.columns.map((c) => ids.get(c.name) as number);
    this.metricsModes = metricsModes(this.metadata.properties, config.columns);
  }

  private async put(key: string, body: Uint8Array | string): Promise<number> {
    this.written.push(key);
    await this.store.put(key, body);
    return typeof body === "string" ? Buffer.byteLength(body) : body.byteLength;
  }

  private async putDataFile(set: RowSet, rows: Int32Array, key: string): Promise<void> {
    const body = writeParquet(this.config, set, rows, {
      fieldIds: this.fieldIds,
      timestampUtc: false,
      keyValue: { "iceberg.schema": JSON.stringify(this.schema) },
    });
    await this.put(key, body);
    this.dataFiles.push({
      content: 0,
      path: this.store.uri(key),
      recordCount: rows.length,
      sizeInBytes: body.length,
      metrics: columnMetrics(this.config, set, rows, this.fieldIds, this.metricsModes),
    });
  }

  /**
   * For each touched bucket in order: its shard merged with the changes, the winning rows placed in data files, the
   * rows they replace collected as position deletes, the new shard written. Then the delete file.
   */
  async stage(pending: PendingChanges, spilled?: SpilledChanges): Promise<{ keysChanged: number; shards: number }> {
    const { store, config, base } = this;
    const layout = indexLayout(config);
    const deletes: { file: string; pos: number }[] = [];
    let gathered = new RowSet(config);
    let gatheredKey = "";
    let fileNumber = 0;
    const nextDataKey = () => `${this.prefix}data/${this.attempt}-${fileNumber++}.parquet`;
    const flushGathered = async () => {
      if (gathered.size === 0) return;
      const rows = new Int32Array(gathered.size).map((_, i) => i);
      await this.putDataFile(gathered, rows, gatheredKey);
      gathered = new RowSet(config);
    };
    let keysChanged = 0;
    const touched = [...new Set([...pending.buckets.keys(), ...(spilled?.runs.keys() ?? [])])].sort((x, y) => x - y);
    for (const b of touched) {
      const held = pending.buckets.get(b);
      const changes = (spilled ? await spilled.changesOf(config, b, held) : held) as RowSet;
      const projected = projectChanges(layout, changes);
      const stored = base.state.index[b];
      // Changes that fit in a delta are merged against the stored shard without loading it (`probeShard`); the
      // others load it whole, as the shard is then written whole.
      const partial = stored !== undefined && this.fitsDelta(stored, projected.size);
      const merged: { shard: RowSet; winners?: Winner[]; deltas?: RowSet[] } = !stored
        ? { shard: projected }
        : partial
          ? probeShard(layout, await readShard(store, stored, this.readBuffers), projected)
          : mergeShard(layout, await loadShard(store, layout, stored, projected.size, this.readBuffers), projected);
      // The live winners as their rows in the shard (`liveAt`) and in the changes (`liveJ`), in change-row order; a
      // new bucket's changes all win, each at its own row (no object per row: a full load has millions).
      let liveAt: Int32Array;
      let liveJ: Int32Array;
      if (!merged.winners) {
        if (projected.size === 0) continue;
        keysChanged += projected.size;
        liveJ = new Int32Array(projected.size);
        let n = 0;
        for (let j = 0; j < projected.size; j++) if (changes.live[j]) liveJ[n++] = j;
        liveJ = liveJ.subarray(0, n);
        liveAt = liveJ;
      } else {
        if (merged.winners.length === 0) continue;
        keysChanged += merged.winners.length;
        const live = merged.winners.filter((w) => changes.live[w.j]);
        for (const w of merged.winners) if (w.replaced) deletes.push(w.replaced);
        liveAt = Int32Array.from(live, (w) => w.at);
        liveJ = Int32Array.from(live, (w) => w.j);
      }
      if (liveJ.length >= this.fileRows / 8) {
        // A big bucket (a full load): its own file, written straight from the change arrays.
        const key = nextDataKey();
        locate(layout, merged.shard, liveAt, key.slice(this.prefix.length), 0);
        await this.putDataFile(changes, liveJ, key);
      } else {
        for (let k = 0; k < liveJ.length; ) {
          if (gathered.size === 0) gatheredKey = nextDataKey();
          const end = Math.min(liveJ.length, k + this.fileRows - gathered.size);
          locate(layout, merged.shard, liveAt.subarray(k, end), gatheredKey.slice(this.prefix.length), gathered.size);
          gathered.appendRows(changes, liveJ.subarray(k, end));
          k = end;
          if (gathered.size >= this.fileRows) await flushGathered();
        }
      }
      await this.putShard(b, merged.shard, stored, merged.winners, merged.deltas);
      pending.buckets.delete(b);
    }
    await flushGathered();
    if (deletes.length > 0) await this.putDeleteFile(deletes);
    return { keysChanged, shards: this.shards.size };
  }

  /**
   * Stores a bucket's shard after this commit: a delta of the rows that changed (`winners`) while the deltas stay
   * under `deltaShare` of the base, else the whole shard (base and deltas superseded).
   */
  private async putShard(
    b: number,
    shard: RowSet,
    stored: ShardFiles | undefined,
    winners?: readonly { at: number }[],
    /**
     * Given when `shard` holds the changed keys only (`probeShard`), so it can only be written as a delta: the stored
     * deltas, read, to fold into one when there are `INDEX_MAX_DELTAS` of them.
     */
    partial?: readonly RowSet[],
  ): Promise<void> {
    const name = `${this.prefix}_cdc/index/b${String(b).padStart(4, "0")}-${this.attempt}`;
    const held = stored?.deltas ?? [];
    if (stored && winners && this.fitsDelta(stored, winners.length)) {
      if (held.length < INDEX_MAX_DELTAS) {
        const delta = new RowSet(shard.config, winners.length);
        delta.appendRows(
          shard,
          Int32Array.from(winners, (w) => w.at),
        );
        rebaseDataFiles(indexLayout(this.config), delta, shard, delta);
        await this.put(`${name}.delta`, encodeState(delta));
        this.shards.set(b, { ...stored, deltas: [...held, { key: `${name}.delta`, keys: winners.length }] });
        return;
      }
      if (partial) {
        // Deltas folded into one: a merge reads a shard's base and at most `INDEX_MAX_DELTAS` deltas, however many
        // commits touched it since the base was written. (A whole shard in hand is written whole instead.)
        const delta = foldDeltas(indexLayout(this.config), partial, shard, winners);
        await this.put(`${name}.delta`, encodeState(delta));
        this.shards.set(b, { ...stored, deltas: [{ key: `${name}.delta`, keys: delta.size }] });
        this.superseded.push(...held.map((d) => d.key));
        return;
      }
    }
    if (partial) throw new Error(`internal: bucket ${b}'s changed keys alone cannot be written as its whole shard`);
    // Written in key order, so that later merges find their keys by binary search (`probeShard`); and with only the
    // files its rows name (a shard's list of change and data files otherwise grows with every commit that touches it).
    let whole = shard;
    const ascending = shard.checkKeysAscending();
    if (!ascending || shard.files.length > SHARD_FILES_SLACK) {
      whole = new RowSet(shard.config, shard.size);
      whole.appendRows(shard, ascending ? new Int32Array(shard.size).map((_, i) => i) : shard.keyOrder());
      rebaseDataFiles(indexLayout(this.config), whole, shard, whole);
    }
    await this.put(`${name}.idx`, encodeState(whole, true));
    this.shards.set(b, { key: `${name}.idx`, keys: shard.size });
    if (stored) this.superseded.push(stored.key, ...(stored.deltas ?? []).map((d) => d.key));
  }

  /** Whether `keys` more changed keys of a stored shard are still written as a delta (`deltaShare` of its base). */
  private fitsDelta(stored: ShardFiles, keys: number): boolean {
    const deltaKeys = (stored.deltas ?? []).reduce((n, d) => n + d.keys, 0) + keys;
    return deltaKeys <= stored.keys * this.deltaShare;
  }

  /** The position-delete file: rows sorted by data file path, then position (as the spec requires). */
  private async putDeleteFile(deletes: { file: string; pos: number }[]): Promise<void> {
    const byFile = new Map<string, number[]>();
    for (const d of deletes) {
      const list = byFile.get(d.file);
      if (list) list.push(d.pos);
      else byFile.set(d.file, [d.pos]);
    }
    const files = [...byFile.keys()]
      .map((file) => ({ file, path: this.store.uri(this.prefix + file) }))
      .sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
    const set = new RowSet({ ...this.config, ...DELETE_COLUMNS, keyIndexes: [0] }, deletes.length);
    const paths = (set.columns[0] as ColumnData).values as Value[];
    const positions = (set.columns[1] as ColumnData).values as BigInt64Array;
    let i = 0;
    for (const { file, path } of files) {
      const list = (byFile.get(file) as number[]).sort((a, b) => a - b);
      for (const pos of list) {
        paths[i] = path;
        positions[i] = BigInt(pos);
        i++;
      }
    }
    set.size = i;
    const key = `${this.prefix}data/${this.attempt}-deletes.parquet`;
    const body = writeParquet(
      DELETE_COLUMNS,
      set,
      Int32Array.from({ length: i }, (_, k) => k),
      {
        fieldIds: DELETE_FIELD_IDS,
        required: [true, true],
      },
    );
    await this.put(key, body);
    this.deleteFile = { content: 1, path: this.store.uri(key), recordCount: i, sizeInBytes: body.length };
    this.positionDeletes = i;
  }

  /**
   * The previous snapshot's manifests, with those of a kind merged into one when there are more than
   * `manifestMergeMin` of it: the ones under `MANIFEST_TARGET_BYTES` are read and their live files written again as
   * EXISTING entries, each with the snapshot and sequence numbers it had (`existingEntries`), so readers and the
   * position deletes see the same files. This commit's own manifests are added after, as ever.
   */
  private async mergedManifests(
    previous: readonly ManifestListEntry[],
    schemaJson: string,
  ): Promise<ManifestListEntry[]> {
    const out: ManifestListEntry[] = [];
    for (const content of [0, 1] as const) {
      const kind = previous.filter((m) => m.content === content);
      const small = kind.filter((m) => m.length < MANIFEST_TARGET_BYTES);
      if (kind.length <= this.manifestMergeMin || small.length < 2) {
        out.push(...kind);
        continue;
      }
      out.push(...kind.filter((m) => m.length >= MANIFEST_TARGET_BYTES));
      // Read together: about a hundred small objects, one round trip each on S3.
      const read = await Promise.all(
        small.map(async (m) => {
          const key = tableFileKey(this.store, this.prefix, m.path);
          if (key === undefined) throw new Error(`${this.config.name}: manifest ${m.path} is outside the table`);
          const body = await this.store.get(key);
          if (!body) throw new Error(`${this.config.name}: manifest ${m.path} is missing`);
          return existingEntries(m, readManifest(body));
        }),
      );
      const files = read.flat();
      const key = `${this.prefix}metadata/${this.attempt}-m${content + 2}.avro`;
      const length = await this.put(
        key,
        writeManifest(files, content, this.snapshotId, schemaJson, this.schema["schema-id"]),
      );
      out.push({
        path: this.store.uri(key),
        length,
        content,
        sequenceNumber: this.sequence,
        minSequenceNumber: files.reduce((n, f) => Math.min(n, f.sequenceNumber as number), this.sequence),
        addedSnapshotId: this.snapshotId,
        addedFiles: 0,
        existingFiles: files.length,
        deletedFiles: 0,
        addedRows: 0,
        existingRows: files.reduce((n, f) => n + f.recordCount, 0),
        deletedRows: 0,
      });
    }
    return out;
  }

  /** Manifests, manifest list, merge state and metadata; then the catalog commit. */
  async commit(
    catalog: IcebergCatalog,
    read: ReadonlyMap<string, { rows: number; sha256: string }>,
    files: readonly PassFile[],
  ): Promise<"committed" | "conflict"> {
    const { base, at, sequence, snapshotId } = this;
    const schemaJson = JSON.stringify(this.schema);
    const manifests = this.replacing ? [] : await this.mergedManifests(base.state.manifests, schemaJson);
    const addManifest = async (content: 0 | 1, entries: ManifestFile[]) => {
      const key = `${this.prefix}metadata/${this.attempt}-m${content}.avro`;
      const length = await this.put(
        key,
        writeManifest(entries, content, snapshotId, schemaJson, this.schema["schema-id"]),
      );
      const rows = entries.reduce((n, f) => n + f.recordCount, 0);
      manifests.push({
        path: this.store.uri(key),
        length,
        content,
        sequenceNumber: sequence,
        minSequenceNumber: sequence,
        addedSnapshotId: snapshotId,
        addedFiles: entries.length,
        existingFiles: 0,
        deletedFiles: 0,
        addedRows: rows,
        existingRows: 0,
        deletedRows: 0,
      });
    };
    if (this.dataFiles.length > 0) await addManifest(0, this.dataFiles);
    if (this.deleteFile) await addManifest(1, [this.deleteFile]);
    const parent = base.metadata["current-snapshot-id"];
    const listKey = `${this.prefix}metadata/snap-${snapshotId}-${this.attempt}.avro`;
    await this.put(listKey, writeManifestList(manifests, snapshotId, parent, sequence));

    const { state, archive } = archiveApplied(
      this.nextState(read, files, manifests),
      this.at,
      this.appliedRetentionMs,
      `${this.prefix}_cdc/iceberg/applied-${this.attempt}.json`,
    );
    if (archive) await this.put(archive.key, JSON.stringify(archive.entries));
    const stateKey = `${this.prefix}_cdc/iceberg/s${this.attempt}.json`;
    await this.put(stateKey, icebergJson(state));
    const addedRecords = this.dataFiles.reduce((n, f) => n + f.recordCount, 0);
    // Bytes of the files the snapshot reads (the maintenance planner's figure, as Iceberg writers keep it).
    const addedSize = [...this.dataFiles, ...(this.deleteFile ? [this.deleteFile] : [])].reduce(
      (n, f) => n + f.sizeInBytes,
      0,
    );
    const previous = base.metadata.snapshots.find((s) => s["snapshot-id"] === parent);
    const totalSize = (this.replacing ? 0 : Number(previous?.summary["total-files-size"] ?? 0)) + addedSize;
    const snapshot: IcebergSnapshot = {
      "snapshot-id": snapshotId,
      ...(parent !== undefined ? { "parent-snapshot-id": parent } : {}),
      "sequence-number": sequence,
      "timestamp-ms": at.getTime(),
      "manifest-list": this.store.uri(listKey),
      summary: {
        operation: this.replacing ? "replace" : this.deleteFile ? "overwrite" : "append",
        "added-data-files": String(this.dataFiles.length),
        "added-records": String(addedRecords),
        "added-delete-files": this.deleteFile ? "1" : "0",
        "added-position-deletes": String(this.positionDeletes),
        "total-data-files": String(state.totals.dataFiles),
        "total-delete-files": String(state.totals.deleteFiles),
        "total-records": String(state.totals.records),
        "total-position-deletes": String(state.totals.positionDeletes),
        "total-equality-deletes": "0",
        "added-files-size": String(addedSize),
        "total-files-size": String(totalSize),
      },
      "schema-id": this.schema["schema-id"],
    };
    const commitId = this.attempt;
    const committed = withSnapshot(this.metadata, snapshot, base.metadataLocation, {
      [STATE_PROPERTY]: stateKey,
      [COMMIT_ID_PROPERTY]: commitId,
    });
    // On a catalog no maintenance engine serves (the file catalog), the snapshots the table's retention lets go leave
    // the metadata with this commit (their files: the orphan sweep). Glue tables are Athena's VACUUM's.
    const next = catalog.maintainedHere ? expireSnapshots(committed, at.getTime()) : committed;
    return this.commitMetadata(catalog, next, commitId);
  }

  private nextState(
    read: ReadonlyMap<string, { rows: number; sha256: string }>,
    files: readonly PassFile[],
    manifests: ManifestListEntry[],
  ): IcebergMergeState {
    const { base, at } = this;
    const since = at.toISOString();
    const index = { ...base.state.index };
    for (const [b, shard] of this.shards) index[b] = shard;
    const applied = { ...base.state.applied };
    for (const [path, r] of read)
      applied[path] = { sha256: r.sha256, version: base.version + 1, rows: r.rows, appliedAt: since };
    const rejected: Record<string, RejectedFile> = {};
    for (const [path, r] of Object.entries(base.state.rejected ?? {})) if (!read.has(path)) rejected[path] = r;
    for (const f of files)
      if (f.rejected && f.size !== undefined)
        rejected[f.relPath] = {
          size: f.size,
          ...(f.lastModified !== undefined ? { lastModified: f.lastModified } : {}),
          ...f.rejected,
          at: since,
        };
    const totals = base.state.totals;
    return {
      ...base.state,
      snapshotId: this.snapshotId,
      index,
      manifests,
      applied,
      rejected,
      totals: this.replacing
        ? {
            dataFiles: this.dataFiles.length,
            deleteFiles: 0,
            records: this.dataFiles.reduce((n, f) => n + f.recordCount, 0),
            positionDeletes: 0,
          }
        : {
            dataFiles: totals.dataFiles + this.dataFiles.length,
            deleteFiles: totals.deleteFiles + (this.deleteFile ? 1 : 0),
            records: totals.records + this.dataFiles.reduce((n, f) => n + f.recordCount, 0),
            positionDeletes: totals.positionDeletes + this.positionDeletes,
          },
    };
  }

  /**
   * Stages the follow of foreign `replace` snapshots: the key columns of each data file they added are read (a row's
   * position is its ordinal in the file), grouped by bucket, and each touched shard re-points those keys, which must
   * be live and located in a file the rewrite removed (else `ForeignSnapshot`: the rewrite changed rows). A touched
   * shard is written whole (a delta cannot carry a new location for an unchanged change position).
   */
  async follow(
    rewrite: ForeignRewrite,
    spilled?: SpilledChanges,
    overBudget: (held: number) => boolean = () => false,
  ): Promise<{ rows: number; shards: number }> {
    const { store, config, base } = this;
    const layout = indexLayout(config);
    const bucketOf = bucketFunction(base.state.layout);
    const keyColumns = config.keyIndexes.map((k) => config.columns[k] as Column);
    const keyConfig: TableConfig = {
      ...config,
      columns: keyColumns,
      keyIndexes: keyColumns.map((_, i) => i),
      header: false,
      includeOpForFullLoad: false,
    };
    delete keyConfig.orderIndex;
    const snapshot = (rewrite.snapshots.at(-1) as IcebergSnapshot)["snapshot-id"];
    const refused = (what: string) =>
      new ForeignSnapshot(
        `${config.name}: the rewrite of snapshot ${snapshot} ${what}; not a 'replace' of the same rows`,
      );
    // The moved keys by bucket, as index rows (key columns, then the new file and position).
    const moved = new Map<number, RowSet>();
    const held = { buckets: moved, clear: () => moved.clear() };
    let heldRows = 0;
    let rows = 0;
    for (const { file } of rewrite.added) {
      let pos = 0;
      // The key columns only are decoded (the file is fetched whole).
      for await (const batch of readDmsFile(
        keyConfig,
        { relPath: "LOAD00000001.parquet", displayName: file },
        store.read(this.prefix + file),
        50_000,
        undefined,
        { configuredColumnsOnly: true },
      )) {
        for (let i = 0; i < batch.rows.size; i++, pos++) {
          const b = bucketOf(batch.rows.keyAt(i));
          let set = moved.get(b);
          if (!set) {
            set = new RowSet(layout.config);
            moved.set(b, set);
          }
          const at = set.appendRow();
          for (let c = 0; c < keyColumns.length; c++) set.set(at, c, batch.rows.get(i, c));
          locate(layout, set, [at], file, pos);
        }
        heldRows += batch.rows.size;
        if (spilled && overBudget(heldRows)) {
          await spilled.spill(held);
          heldRows = 0;
        }
      }
      rows += pos;
    }
    const touched = new Set([...moved.keys(), ...(spilled?.runs.keys() ?? [])]);
    for (const b of [...touched].sort((x, y) => x - y)) {
      // The bucket's spilled runs and its held rows, concatenated (each one's data-file ids rebased on the whole).
      const parts: RowSet[] = [];
      for (const key of spilled?.runs.get(b) ?? []) {
        const body = await store.get(key);
        if (!body) throw new Error(`spilled keys ${key} are missing`);
        parts.push(decodeState(layout.config, body, 0, false));
      }
      const inMemory = moved.get(b);
      if (inMemory) parts.push(inMemory);
      const set = new RowSet(
        layout.config,
        parts.reduce((n, p) => n + p.size, 0),
      );
      for (const part of parts) {
        rebaseDataFiles(layout, part, part, set);
        set.appendRows(
          part,
          Int32Array.from({ length: part.size }, (_, i) => i),
        );
      }
      set.buildIndex();
      if (set.index.size !== set.size) throw refused(`holds a key twice (bucket ${b})`);
      const stored = base.state.index[b];
      if (!stored) throw refused(`added rows of keys the index does not hold (bucket ${b})`);
      const shard = await loadShard(store, layout, stored, 0);
      let repointed = 0;
      for (let at = 0; at < shard.size; at++) {
        const j = set.index.get(shard.keyAt(at));
        if (j === undefined) continue;
        if (!shard.live[at]) throw refused(`added a row of a deleted key (bucket ${b})`);
        if (!rewrite.removed.has(located(layout, shard, at).file))
          throw refused(`added a second row of a key whose row it kept (bucket ${b})`);
        const to = located(layout, set, j);
        locate(layout, shard, [at], to.file, to.pos);
        repointed++;
      }
      if (repointed !== set.size) throw refused(`added rows of keys the index does not hold (bucket ${b})`);
      // Written whole: a delta row replaces its base row only when its change position is newer (`mergeFrom`),
      // and a re-pointed key keeps its position. Found by the property test (delta share 100).
      await this.putShard(b, shard, stored);
    }
    return { rows, shards: this.shards.size };
  }

  /**
   * Commits `next` on the base; once committed, deletes the shards it replaced and the previous state: only writers
   * read them, and a writer still working on the previous snapshot cannot commit any more (it finds them gone, or
   * loses the race, and starts again). Not kept for a grace period: a commit touching every shard would otherwise
   * leave a whole index behind.
   */
  private async commitMetadata(
    catalog: IcebergCatalog,
    next: IcebergTableMetadata,
    commitId: string,
  ): Promise<"committed" | "conflict"> {
    const { base, config } = this;
    this.committing = true;
    const outcome = await catalog.commit(config.schema, config.table, base.current, next, commitId);
    if (outcome === "committed") {
      const superseded = [...this.superseded];
      const previousState = base.metadata.properties[STATE_PROPERTY];
      if (previousState) superseded.push(previousState);
      await this.store.delete(superseded).catch(() => undefined);
    }
    return outcome;
  }

  /**
   * Commits a follow: a new merge state (index shards, the foreign snapshot's manifests and totals, its id as the last
   * snapshot accounted for) named in the table's properties; no snapshot is added.
   */
  async commitFollow(catalog: IcebergCatalog, rewrite: ForeignRewrite): Promise<"committed" | "conflict"> {
    const { base } = this;
    const index = { ...base.state.index };
    for (const [b, shard] of this.shards) index[b] = shard;
    const state: IcebergMergeState = {
      ...base.state,
      snapshotId: (rewrite.snapshots.at(-1) as IcebergSnapshot)["snapshot-id"],
      index,
      manifests: rewrite.manifests,
      totals: rewrite.totals,
    };
    const stateKey = `${this.prefix}_cdc/iceberg/s${this.attempt}.json`;
    await this.put(stateKey, icebergJson(state));
    const commitId = this.attempt;
    const next = withProperties(this.metadata, base.metadataLocation, this.at.getTime(), {
      [STATE_PROPERTY]: stateKey,
      [COMMIT_ID_PROPERTY]: commitId,
    });
    return this.commitMetadata(catalog, next, commitId);
  }

  /**
   * Stages a compaction: every live row, read from the data files in position order, rewritten into new data files
   * of up to `fileRows` rows, and every index shard re-pointed at them (tombstones kept). The snapshot then lists the
   * new files only: no delete file applies any more. Reads and writes the whole table: for small tables.
   */
  async compact(): Promise<{ rows: number; filesBefore: number; filesAfter: number }> {
    this.replacing = true;
    const { store, config, base } = this;
    const layout = indexLayout(config);
    // Live keys by data file: (position, bucket, row in the shard).
    const shards = new Map<number, RowSet>();
    const byFile = new Map<string, { pos: number; bucket: number; at: number }[]>();
    for (const [b, stored] of Object.entries(base.state.index)) {
      const shard = await loadShard(store, layout, stored, 0);
      shards.set(Number(b), shard);
      for (let at = 0; at < shard.size; at++) {
        if (!shard.live[at]) continue;
        const { file, pos } = located(layout, shard, at);
        const list = byFile.get(file);
        const entry = { pos, bucket: Number(b), at };
        if (list) list.push(entry);
        else byFile.set(file, [entry]);
      }
    }
    const readConfig = { ...config, includeOpForFullLoad: false };
    let output = new RowSet(config);
    let outputKey = "";
    let fileNumber = 0;
    let rows = 0;
    const moves: { bucket: number; at: number; file: string; pos: number }[] = [];
    const flush = async () => {
      if (output.size === 0) return;
      await this.putDataFile(
        output,
        Int32Array.from({ length: output.size }, (_, i) => i),
        outputKey,
      );
      rows += output.size;
      output = new RowSet(config);
    };
    for (const file of [...byFile.keys()].sort()) {
      const live = (byFile.get(file) as { pos: number; bucket: number; at: number }[]).sort((x, y) => x.pos - y.pos);
      let next = 0;
      let offset = 0;
      // Read as a full-load file of the table's columns: Parquet decoded exactly (decimals, microseconds).
      for await (const batch of readDmsFile(
        readConfig,
        { relPath: "LOAD00000001.parquet", displayName: file },
        store.read(this.prefix + file),
      )) {
        const picked: number[] = [];
        while (next < live.length && (live[next] as { pos: number }).pos < offset + batch.rows.size) {
          const entry = live[next++] as { pos: number; bucket: number; at: number };
          picked.push(entry.pos - offset);
          if (output.size + picked.length === 1)
            outputKey = `${this.prefix}data/${this.attempt}-${fileNumber++}.parquet`;
          moves.push({
            bucket: entry.bucket,
            at: entry.at,
            file: outputKey.slice(this.prefix.length),
            pos: output.size + picked.length - 1,
          });
          if (output.size + picked.length >= this.fileRows) {
            output.appendRows(batch.rows, Int32Array.from(picked));
            picked.length = 0;
            await flush();
          }
        }
        if (picked.length > 0) output.appendRows(batch.rows, Int32Array.from(picked));
        offset += batch.rows.size;
      }
      if (next < live.length) throw new Error(`${config.name}: data file ${file} has fewer rows than its index names`);
    }
    await flush();
    for (const m of moves) locate(layout, shards.get(m.bucket) as RowSet, [m.at], m.file, m.pos);
    for (const [b, shard] of shards) await this.putShard(b, shard, base.state.index[b]);
    return { rows, filesBefore: byFile.size, filesAfter: this.dataFiles.length };
  }
}

/**
 * After a confirmed commit on `base`, once every `sweepEvery` sequence numbers: the orphan sweep (`iceberg-gc.ts`),
 * files older than `graceMs` (default 15 minutes). Best effort: the commit is in whatever happens to the sweep.
 */
async function sweepAfterCommit(
  store: ObjectStore,
  catalog: IcebergCatalog,
  config: TableConfig,
  base: IcebergBase,
  options: Pick<MergeOptions, "now" | "graceMs" | "sweepEvery">,
): Promise<void> {
  if ((base.metadata["last-sequence-number"] + 1) % (options.sweepEvery ?? ICEBERG_SWEEP_EVERY) !== 0) return;
  const now = (options.now?.() ?? new Date()).getTime();
  await sweepIcebergOrphans(store, catalog, config, { graceMs: options.graceMs ?? 15 * 60_000, now }).catch(
    () => undefined,
  );
}

/**
 * Compacts a table (small ones: it reads and writes every live row) into data files without deletes: one `replace`
 * snapshot, committed like a merge (a lost race is retried on the winner). The previous snapshots keep their files
 * (readers of them, time travel) until snapshot expiry.
 */
export async function compactIceberg(
  store: ObjectStore,
  catalog: IcebergCatalog,
  config: TableConfig,
  options: Pick<MergeOptions, "now" | "maxAttempts" | "graceMs" | "sweepEvery"> & {
    fileRows?: number;
    indexDeltaShare?: number;
  } = {},
): Promise<{ version: number; rows: number; filesBefore: number; filesAfter: number }> {
  const now = options.now ?? (() => new Date());
  for (let attempt = 1; attempt <= (options.maxAttempts ?? 8); attempt++) {
    const base = await loadIcebergTable(store, catalog, config, now().getTime());
    if (base.version === 0) return { version: 0, rows: 0, filesBefore: 0, filesAfter: 0 };
    const commit = new IcebergCommit(
      store,
      config,
      base,
      now(),
      options.fileRows ?? FILE_ROWS,
      options.indexDeltaShare ?? INDEX_DELTA_SHARE,
    );
    try {
      const { rows, filesBefore, filesAfter } = await commit.compact();
      const outcome = await commit.commit(catalog, new Map(), []);
      if (outcome === "committed") {
        await sweepAfterCommit(store, catalog, config, base, options);
        return { version: base.version + 1, rows, filesBefore, filesAfter };
      }
      await store.delete(commit.written);
    } catch (error) {
      if (!commit.committing) await store.delete(commit.written).catch(() => undefined);
      if (error instanceof StaleBase) continue;
      throw error;
    }
  }
  throw new CommitConflict(`${config.name}: compaction lost the commit race ${options.maxAttempts ?? 8} times`);
}

/**
 * Where an attempt on `base` spills held keys (`_cdc/tmp/`, named by the next sequence number, which the orphan sweep
 * reads), and whether `held` keys are over the budget: `flushKeys` when given, else half the memory limit.
 */
function spilling(
  store: ObjectStore,
  config: TableConfig,
  base: IcebergBase,
  options: { memoryLimit?: number; flushKeys?: number },
): { spilled: SpilledChanges; overBudget: (held: number) => boolean } {
  const spilled = new SpilledChanges(
    store,
    `${icebergTablePrefix(config.schema, config.table)}_cdc/tmp/`,
    base.metadata["last-sequence-number"] + 1,
  );
  const memoryBudget = (options.memoryLimit ?? machineMemory()) * 0.5;
  const overBudget = (held: number) =>
    options.flushKeys !== undefined
      ? held >= options.flushKeys
      : held >= MIN_SPILL_KEYS && process.memoryUsage.rss() > memoryBudget;
  return { spilled, overBudget };
}
