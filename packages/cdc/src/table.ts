/**
 * One table's storage: versioned metadata committed by a single conditional put, hash buckets each stored as a
 * Parquet data file (what readers see) and a state file (every key's position and row, tombstones included: what
 * the merge reads), the Athena symlink manifest, and garbage collection of superseded files after a grace period.
 *
 * Layout under `<schema>/<table>/`:
 *   data/b0007-<version>-<id>.parquet           current rows of bucket 7
 *   _cdc/state/b0007-<version>-<id>.state       positions + rows of bucket 7 (incl. deleted keys), `state-file.ts`
 *   _cdc/metadata/v00000000000000000012.json    version 12: buckets, applied files, files awaiting deletion
 *   _symlink_format_manifest/manifest           one data file URI per line (Athena SymlinkTextInputFormat)
 */
import { createHash, randomBytes } from "node:crypto";
import { totalmem } from "node:os";
import type { TableConfig } from "./config.ts";
import { type DmsFileRef, readDmsFile } from "./dms-file.ts";
import { CommitConflict, InvalidCdcFile, PreconditionFailed } from "./errors.ts";
import { bucketFunction, type Layout, layoutOf, PendingChanges, positionBatch } from "./merge.ts";
import { writeParquet } from "./parquet.ts";
import { type Key, RowSet } from "./rows.ts";
import { sortFiles } from "./source.ts";
import { decodeState, encodeState } from "./state-file.ts";
import type { ObjectStore } from "./storage.ts";
import type { Value } from "./values.ts";

export interface BucketFiles {
  /** Absent when the bucket has no live row (only tombstones). */
  data?: string;
  state: string;
  rows: number;
  keys: number;
}

export interface RejectedFile {
  size: number;
  lastModified?: number;
  row: number;
  reason: string;
  at: string;
}

export interface AppliedFile {
  sha256: string;
  version: number;
  rows: number;
  appliedAt: string;
}

export interface TableMetadata {
  format: 1;
  table: string;
  version: number;
  /** How keys map to buckets, fixed when the table is created. */
  layout: Layout;
  /** `name type` of each column, to refuse a configuration that no longer matches the stored table. */
  columns: string[];
  buckets: Record<string, BucketFiles>;
  /** Applied DMS files by path below the table's folder, those of the last `appliedRetentionMs`. */
  applied: Record<string, AppliedFile>;
  /**
   * Older applied files, moved out of the metadata (which every merge reads and writes) into archive objects:
   * `_cdc/applied/v<version>-<id>.json`, each a `Record<path, AppliedFile>`. `loadApplied` reads them all.
   */
  archives?: string[];
  /** Superseded files, deleted once `since` is older than the grace period. */
  obsolete: { key: string; since: string }[];
  /**
   * Files a committed pass left out as corrupt, by path, with the size and time of the object it read (kept for the
   * applied-files retention): a later pass skips such a file unless it has been replaced, instead of reading it again.
   */
  rejected?: Record<string, RejectedFile>;
  committedAt: string;
  /** This version's commit id (random), and its base version's: how a merge tells that its commit is the live one. */
  commit?: string;
  parent?: string;
}

export interface MergeOptions {
  /** How long superseded files stay readable (readers holding the previous manifest). Default 15 minutes. */
  graceMs?: number;
  /** Commit attempts before `CommitConflict`. Default 8. */
  maxAttempts?: number;
  /**
   * Spill the changes held in memory once this many distinct keys are held (tests). Default: spill when the
   * process's resident memory passes half of `memoryLimit`.
   */
  flushKeys?: number;
  /**
   * The memory to stay within, in bytes (default `machineMemory()`). Held changes are spilled once the process's
   * resident memory passes half of it, leaving the other half for rewriting one bucket (its state, the changes, the
   * encoded files).
   */
  memoryLimit?: number;
  now?: () => Date;
  /** Sweep files of crashed attempts every this many versions (default 10; tests use 1). */
  sweepEvery?: number;
  /**
   * How long applied files stay listed in the metadata (default 7 days); older ones move to an archive object, about
   * once a day. A replay of an archived file is still recognized by the CLI (`loadApplied`); merged again (the
   * Lambda), it changes nothing: none of its changes is newer than what the keys hold.
   */
  appliedRetentionMs?: number;
  /** Called between batches of a long file. */
  onProgress?: (rows: number) => void;
}

export type MergeResult =
  | {
      outcome: "merged";
      file: string;
      version: number;
      /** Data rows of this file. */
      rows: number;
      /** The figures below are of the commit that merged the file (shared by the files it merged together). */
      keysChanged: number;
      bucketsRewritten: number;
      attempts: number;
      /** Times the held changes were spilled to stay within memory. */
      spills: number;
      /** Files that commit merged (this one included). */
      commitFiles: number;
    }
  | { outcome: "replay"; file: string; version: number };

/** One file of a merge pass (`mergeFiles`). */
export interface MergeInput {
  file: DmsFileRef;
  /** The file's bytes; called once per read (a lost commit race, or a restart after a rejection, reads it again). */
  open: () => AsyncIterable<Uint8Array>;
  /** The file's SHA-256 when the caller knows it: a replay is then recognized without reading the file. */
  sha256?: string;
  /** The object's size and time as listed: recorded in the metadata (`rejected`) if the file is rejected. */
  size?: number;
  lastModified?: number;
}

export type FileResult = MergeResult | { outcome: "rejected"; file: string; row: number; reason: string };

export interface PassResult {
  /** The version the pass committed, or the table's version when it committed nothing (replays, rejections). */
  version: number;
  /** One outcome per input, in input order. */
  files: FileResult[];
}

const pad = (n: number, width: number) => String(n).padStart(width, "0");

export function tablePrefix(config: TableConfig): string {
  return `${config.schema}/${config.table}/`;
}

export function manifestKey(config: TableConfig): string {
  return `${tablePrefix(config)}_symlink_format_manifest/manifest`;
}

function metadataPrefix(config: TableConfig): string {
  return `${tablePrefix(config)}_cdc/metadata/`;
}

function metadataKey(config: TableConfig, version: number): string {
  return `${metadataPrefix(config)}v${pad(version, 20)}.json`;
}

function columnSignature(config: TableConfig): string[] {
  return config.columns.map((c) =>
    c.type.kind === "decimal" ? `${c.name} decimal(${c.type.precision},${c.type.scale})` : `${c.name} ${c.type.kind}`,
  );
}

/** The latest committed metadata, or an empty version 0 for a new table. */
export async function loadMetadata(store: ObjectStore, config: TableConfig): Promise<TableMetadata> {
  for (let attempt = 0; ; attempt++) {
    const versions = await store.list(metadataPrefix(config));
    const latest = versions.filter((o) => !Number.isNaN(versionOf(o.key))).at(-1);
    if (!latest) {
      return {
        format: 1,
        table: config.name,
        version: 0,
        layout: layoutOf(config),
        columns: columnSignature(config),
        buckets: {},
        applied: {},
        obsolete: [],
        committedAt: new Date(0).toISOString(),
      };
    }
    const body = await store.get(latest.key);
    // Collected between list and get by a concurrent merge's cleanup: list again.
    if (!body) {
      if (attempt < 5) continue;
      throw new Error(`metadata ${latest.key} vanished`);
    }
    const metadata = JSON.parse(new TextDecoder().decode(body)) as TableMetadata;
    const expected = columnSignature(config).join(", ");
    if (metadata.columns.join(", ") !== expected)
      throw new Error(
        `${config.name}: the configured columns (${expected}) differ from the stored table's (${metadata.columns.join(", ")})`,
      );
    return metadata;
  }
}

/** A bucket's state (empty when the bucket has none yet). */
export async function loadBucketState(
  store: ObjectStore,
  config: TableConfig,
  key: string | undefined,
): Promise<RowSet> {
  if (!key) return new RowSet(config);
  const body = await store.get(key);
  if (!body) throw new Error(`state file ${key} is missing`);
  return decodeState(config, body);
}

function newId(): string {
  return randomBytes(6).toString("hex");
}

/** Writes the manifest of the latest committed version (repeats if another commit lands meanwhile). */
export async function publishManifest(store: ObjectStore, config: TableConfig): Promise<TableMetadata> {
  for (;;) {
    const metadata = await loadMetadata(store, config);
    const lines = Object.keys(metadata.buckets)
      .map(Number)
      .sort((a, b) => a - b)
      .map((b) => metadata.buckets[b]?.data)
      .filter((k): k is string => k !== undefined)
      .map((k) => `${store.uri(k)}\n`);
    await store.put(manifestKey(config), lines.join(""), { contentType: "text/plain" });
    const after = await loadMetadata(store, config);
    if (after.version === metadata.version) return metadata;
  }
}

/** SHA-256 of a stream (hex). */
export async function sha256Of(chunks: AsyncIterable<Uint8Array>): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of chunks) hash.update(chunk);
  return hash.digest("hex");
}

async function* hashing(chunks: AsyncIterable<Uint8Array>, hash: ReturnType<typeof createHash>) {
  for await (const chunk of chunks) {
    hash.update(chunk);
    yield chunk;
  }
}

/**
 * Merges one DMS file into the table (`mergeFiles` of one file). A corrupt file throws `InvalidCdcFile` and leaves the
 * table as it was.
 */
export async function mergeFile(
  store: ObjectStore,
  config: TableConfig,
  file: DmsFileRef,
  open: () => AsyncIterable<Uint8Array>,
  options: MergeOptions = {},
  knownSha256?: string,
): Promise<MergeResult> {
  const pass = await mergeFiles(
    store,
    config,
    [{ file, open, ...(knownSha256 ? { sha256: knownSha256 } : {}) }],
    options,
  );
  const result = pass.files[0] as FileResult;
  if (result.outcome === "rejected") throw new InvalidCdcFile(result.file, result.row, result.reason);
  return result;
}

/**
 * Merges DMS files of one table in one pass and one commit: the files are read in DMS order (full loads by counter,
 * then change files by name) into one set of changes held per key and bucket, each touched bucket is rewritten once,
 * and one metadata version lists them all as applied. Nothing is committed before every file has been read whole:
 * a corrupt file (`InvalidCdcFile`) is left out (`rejected`, the table unchanged by it) and the others are read again
 * without it. A file already applied with the same content is a `replay` and changes nothing. A lost commit race
 * reads the files again on top of the new version.
 */
export async function mergeFiles(
  store: ObjectStore,
  config: TableConfig,
  inputs: readonly MergeInput[],
  options: MergeOptions = {},
): Promise<PassResult> {
  const now = options.now ?? (() => new Date());
  const graceMs = options.graceMs ?? 15 * 60_000;
  const maxAttempts = options.maxAttempts ?? 8;
  const flushKeys = options.flushKeys ?? Number.POSITIVE_INFINITY;
  const memoryBudget = (options.memoryLimit ?? machineMemory()) * 0.5;
  // Resident memory, not the V8 heap: rows are held in typed arrays, outside the heap.
  const overBudget = (held: number) =>
    held >= flushKeys ||
    (options.flushKeys === undefined && held >= MIN_SPILL_KEYS && process.memoryUsage.rss() > memoryBudget);
  const prefix = tablePrefix(config);

  /** The inputs in DMS order, with what is learnt about each across attempts. */
  const files = sortFiles(
    inputs.map((input, index) => ({
      ...input,
      index,
      relPath: input.file.relPath,
      /** SHA-256 once known (given, or computed by a read). */
      sha: input.sha256,
      rejected: undefined as { row: number; reason: string } | undefined,
    })),
  );
  const results: FileResult[] = new Array(inputs.length);
  /** A commit that could not be confirmed live (`checkCommit`): its figures, if the latest version has its files. */
  let uncertain: { version: number; rows: Map<string, number>; figures: Omit<CommitFigures, "attempts"> } | undefined;
  let attempt = 0;
  for (;;) {
    const base = await loadMetadata(store, config);
    // Replays (same path, same content) need no reading: hash the files the metadata already lists.
    const toRead: typeof files = [];
    for (const f of files) {
      if (f.rejected) {
        results[f.index] = { outcome: "rejected", file: f.file.displayName, ...f.rejected };
        continue;
      }
      const known = base.applied[f.relPath];
      if (known && f.sha === undefined) f.sha = await sha256Of(f.open());
      if (known && known.sha256 === f.sha) {
        const mergedByUs = uncertain && known.version === uncertain.version && uncertain.rows.has(f.relPath);
        results[f.index] =
          mergedByUs && uncertain
            ? {
                outcome: "merged",
                file: f.file.displayName,
                version: known.version,
                rows: uncertain.rows.get(f.relPath) as number,
                ...uncertain.figures,
                attempts: attempt,
              }
            : { outcome: "replay", file: f.file.displayName, version: base.version };
        continue;
      }
      toRead.push(f);
    }
    if (toRead.length === 0) return { version: base.version, files: results };
    if (attempt >= maxAttempts)
      throw new CommitConflict(
        `${config.name}: ${toRead.map((f) => f.file.displayName).join(", ")} lost the commit race ${maxAttempts} times`,
      );

    const version = base.version + 1;
    const commitId = randomBytes(8).toString("hex");
    let commitAttempted = false;
    const bucketOfKey = bucketFunction(base.layout);
    /** Buckets written in this attempt: bucket -> files (not committed yet). */
    const staged = new Map<number, BucketFiles>();
    const written: string[] = [];
    /** Changes spilled while reading large files, per bucket (temporary, deleted at the end of the attempt). */
    const runs = new Map<number, string[]>();
    const attemptId = `${pad(version, 8)}-${newId()}`;
    let keysChanged = 0;
    let spills = 0;

    // Memory stays bounded on large files: once the changes held pass the budget, the newest change of each key is
    // spilled per bucket; buckets are then rewritten one at a time, each from its state plus its spilled runs.
    const spill = async (pending: PendingChanges) => {
      spills++;
      for (const [b, set] of pending.buckets) {
        const list = runs.get(b) ?? [];
        const key = `${prefix}_cdc/tmp/${attemptId}/b${b}-r${list.length}.state`;
        await store.put(key, encodeState(set));
        written.push(key);
        list.push(key);
        runs.set(b, list);
      }
      pending.clear();
    };

    // Buckets are rewritten one at a time, with their I/O overlapped: the next bucket's state is fetched while this
    // one is merged and encoded, and its files are stored in the background (awaited before the commit).
    const rewrite = async (pending: PendingChanges) => {
      const touched = [...new Set([...runs.keys(), ...pending.buckets.keys()])].sort((x, y) => x - y);
      const fetchState = (b: number | undefined) => {
        const key = b === undefined ? undefined : base.buckets[b]?.state;
        if (!key) return Promise.resolve(undefined);
        const body = store.get(key).then((bytes) => {
          if (!bytes) throw new Error(`state file ${key} is missing`);
          return bytes;
        });
        body.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
        return body;
      };
      const storing: Promise<void>[] = [];
      const putInBackground = (key: string, body: Uint8Array) => {
        written.push(key);
        const put = store.put(key, body);
        put.catch(() => undefined);
        storing.push(put);
      };
      let nextState = fetchState(touched[0]);
      for (const [t, b] of touched.entries()) {
        const stateBody = nextState;
        nextState = fetchState(touched[t + 1]);
        const incoming = pending.buckets.get(b);
        pending.buckets.delete(b);
        const bucketRuns = runs.get(b) ?? [];
        let state: RowSet;
        let changed = 0;
        const body = await stateBody;
        if (!body && bucketRuns.length === 0 && incoming) {
          // A new bucket: the files' reduced changes are its state as they are.
          state = incoming;
          changed = incoming.size;
        } else {
          const extra = incoming?.size ?? 0;
          // The bucket's state (not indexed), then each spilled run and the held changes (indexed) merged in.
          state = body ? decodeState(config, body, extra, false) : new RowSet(config, extra);
          for (const run of bucketRuns)
            changed += state.mergeFrom(decodeState(config, (await store.get(run)) as Uint8Array));
          if (incoming) changed += state.mergeFrom(incoming);
        }
        if (changed === 0) continue;
        keysChanged += changed;
        const live = state.liveRows();
        const id = `b${pad(b, 4)}-${pad(version, 8)}-${newId()}`;
        const stateKey = `${prefix}_cdc/state/${id}.state`;
        putInBackground(stateKey, encodeState(state));
        let dataKey: string | undefined;
        if (live.length > 0) {
          dataKey = `${prefix}data/${id}.parquet`;
          putInBackground(dataKey, writeParquet(config, state, live));
        }
        staged.set(b, { ...(dataKey ? { data: dataKey } : {}), state: stateKey, rows: live.length, keys: state.size });
        // At most one bucket's files in flight: memory stays one bucket's worth.
        while (storing.length > 2) await storing.shift();
      }
      await Promise.all(storing);
    };

    const pending = new PendingChanges(config, bucketOfKey);
    const dropRuns = async () => {
      const keys = [...runs.values()].flat();
      runs.clear();
      await store.delete(keys);
    };
    try {
      // Read every file; a corrupt one is left out. If files before it were read (their changes are held with its
      // own), the attempt starts over without it.
      const read = new Map<string, { rows: number; sha256: string }>();
      let restart = false;
      let rowsRead = 0;
      for (const f of toRead) {
        const hash = createHash("sha256");
        let rows = 0;
        try {
          for await (const batch of readDmsFile(config, f.file, hashing(f.open(), hash), undefined, pending)) {
            rows += batch.rowsRead;
            positionBatch(f.relPath, batch.rows);
            pending.add(batch.rows);
            options.onProgress?.(rowsRead + rows);
            if (overBudget(pending.keys)) await spill(pending);
          }
        } catch (error) {
          if (!(error instanceof InvalidCdcFile)) throw error;
          f.rejected = { row: error.row, reason: error.reason };
          results[f.index] = { outcome: "rejected", file: f.file.displayName, ...f.rejected };
          if (read.size > 0) {
            restart = true;
            break;
          }
          pending.clear();
          await dropRuns();
          continue;
        }
        rowsRead += rows;
        f.sha = hash.digest("hex");
        read.set(f.relPath, { rows, sha256: f.sha });
      }
      if (restart || read.size === 0) {
        await store.delete(written);
        if (read.size === 0) return { version: base.version, files: results };
        continue;
      }
      attempt++;
      await rewrite(pending);
      await dropRuns();

      const at = now();
      const obsolete = [...base.obsolete];
      for (const b of staged.keys()) {
        const old = base.buckets[b];
        if (old) for (const key of [old.state, old.data]) if (key) obsolete.push({ key, since: at.toISOString() });
      }
      const expired = obsolete.filter((o) => at.getTime() - Date.parse(o.since) >= graceMs);
      const applied: Record<string, AppliedFile> = { ...base.applied };
      for (const [relPath, r] of read)
        applied[relPath] = { sha256: r.sha256, version, rows: r.rows, appliedAt: at.toISOString() };
      const archives = [...(base.archives ?? [])];
      const retention = options.appliedRetentionMs ?? APPLIED_RETENTION_MS;
      const old = Object.entries(applied).filter(([, a]) => at.getTime() - Date.parse(a.appliedAt) >= retention);
      // About once a day: when the oldest entry is a day past the retention, archive every entry past it.
      if (old.some(([, a]) => at.getTime() - Date.parse(a.appliedAt) >= retention + ARCHIVE_EVERY_MS)) {
        // Named by this attempt: a racing merge archiving for the same version writes its own object, so the loser's
        // cleanup never deletes the winner's committed archive.
        const key = `${prefix}_cdc/applied/v${pad(version, 20)}-${newId()}.json`;
        await store.put(key, JSON.stringify(Object.fromEntries(old)), { contentType: "application/json" });
        written.push(key);
        archives.push(key);
        for (const [path] of old) delete applied[path];
      }
      const rejected: Record<string, RejectedFile> = {};
      for (const [path, r] of Object.entries(base.rejected ?? {}))
        if (!read.has(path) && at.getTime() - Date.parse(r.at) < retention) rejected[path] = r;
      for (const f of files)
        if (f.rejected && f.size !== undefined)
          rejected[f.relPath] = {
            size: f.size,
            ...(f.lastModified !== undefined ? { lastModified: f.lastModified } : {}),
            ...f.rejected,
            at: at.toISOString(),
          };
      const next: TableMetadata = {
        ...base,
        version,
        buckets: { ...base.buckets },
        applied,
        rejected,
        ...(archives.length > 0 ? { archives } : {}),
        obsolete: obsolete.filter((o) => !expired.includes(o)),
        committedAt: at.toISOString(),
        commit: commitId,
        ...(base.commit ? { parent: base.commit } : {}),
      };
      for (const [b, files] of staged) next.buckets[b] = files;
      const figures = { keysChanged, bucketsRewritten: staged.size, spills, commitFiles: read.size };
      try {
        // From here on the commit may be applied even when the put fails (its answer lost in the network): the files
        // it names are deleted only once the version is known not to be ours.
        commitAttempted = true;
        await store.put(metadataKey(config, version), JSON.stringify(next), {
          ifNoneMatch: true,
          contentType: "application/json",
        });
      } catch (error) {
        if (!(error instanceof PreconditionFailed)) throw error;
        // The key exists: another merge's version, or ours, put by an attempt whose answer was lost before the
        // client's retry found the key taken.
        if (!(await isOurVersion(store, config, version, commitId))) {
          await store.delete(written);
          commitAttempted = false;
          await new Promise((r) => setTimeout(r, Math.random() * 50 * attempt));
          continue;
        }
      }
      const verdict = await checkCommit(store, config, version, commitId);
      if (verdict === "stale") {
        // Our version's key had been collected and was free again: nothing builds on it, and readers read a higher
        // version. Remove it with our files, and merge again on the latest version.
        await store.delete([...written, metadataKey(config, version)]);
        continue;
      }
      if (verdict === "uncertain") {
        // Our commit may be live (built upon since, then collected) or stale: delete nothing, and merge again on the
        // latest version, which either lists our files as applied (replays: done) or does not (merged again).
        uncertain = { version, rows: new Map([...read].map(([p, r]) => [p, r.rows])), figures };
        written.length = 0;
        continue;
      }
      // Committed. What follows is housekeeping: a crash here leaves garbage or a lagging manifest, which the
      // next merge repairs, never a wrong table.
      await publishManifest(store, config);
      await collectGarbage(
        store,
        config,
        next,
        expired.map((o) => o.key),
        options.sweepEvery ?? SWEEP_EVERY,
      );
      for (const f of toRead) {
        const r = read.get(f.relPath);
        if (r)
          results[f.index] = {
            outcome: "merged",
            file: f.file.displayName,
            version,
            rows: r.rows,
            ...figures,
            attempts: attempt,
          };
      }
      return { version, files: results };
    } catch (error) {
      // A commit that may be applied keeps its files: if it is not, the orphan sweep removes them.
      if (!commitAttempted) await store.delete(written).catch(() => undefined);
      throw error;
    }
  }
}

/** Whether the metadata version `version` is the one the commit `commitId` put. */
async function isOurVersion(
  store: ObjectStore,
  config: TableConfig,
  version: number,
  commitId: string,
): Promise<boolean> {
  const bytes = await store.get(metadataKey(config, version));
  if (!bytes) return false;
  return (JSON.parse(new TextDecoder().decode(bytes)) as TableMetadata).commit === commitId;
}

interface CommitFigures {
  keysChanged: number;
  bucketsRewritten: number;
  attempts: number;
  spills: number;
  commitFiles: number;
}

/**
 * Whether the version a merge has just put (`If-None-Match`) is the live one. The put succeeding is not enough:
 * collection deletes old version keys, so a merge whose base was superseded long ago (a slow one) finds its next
 * version's key free again. Such a stale put can never be the highest version: the key was deleted only because a
 * version more than `KEEP_METADATA_VERSIONS` higher existed, and the highest version never goes down. So:
 * - no higher version: `committed` (the put created the key for the first time, on the base that was then the latest);
 * - the next version exists: `committed` if it was built on ours (its `parent` is our commit id), else `stale`;
 * - a higher version exists but not the next (collected): `uncertain`. The caller then deletes nothing and merges again
 *   on the latest version, whose applied files say whether ours made it (a replay) or not.
 * A stale view therefore never reports `merged`, and never drives collection or the orphan sweep.
 */
async function checkCommit(
  store: ObjectStore,
  config: TableConfig,
  version: number,
  commitId: string,
): Promise<"committed" | "stale" | "uncertain"> {
  const higher = (await store.list(metadataPrefix(config))).some((o) => versionOf(o.key) > version);
  if (!higher) return "committed";
  const next = await store.get(metadataKey(config, version + 1));
  if (!next) return "uncertain";
  const parent = (JSON.parse(new TextDecoder().decode(next)) as TableMetadata).parent;
  return parent === commitId ? "committed" : "stale";
}

/** The version of a metadata key (`.../v00000000000000000012.json`), or NaN. */
function versionOf(key: string): number {
  const match = /\/v(\d{20})\.json$/.exec(key);
  return match ? Number(match[1]) : Number.NaN;
}

/**
 * The memory the merge may use: the function's configured memory on Lambda (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, MB),
 * else the machine's.
 */
export function machineMemory(): number {
  const mb = Number(process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE);
  return Number.isFinite(mb) && mb > 0 ? mb * 2 ** 20 : totalmem();
}

/** Spill at least this many keys at a time: right after a spill the heap still holds garbage of the last one. */
const MIN_SPILL_KEYS = 250_000;

/** Keeps this many metadata versions before the newest (readers listing versions, debugging). */
const KEEP_METADATA_VERSIONS = 10;

export const APPLIED_RETENTION_MS = 7 * 24 * 3600_000;
const ARCHIVE_EVERY_MS = 24 * 3600_000;

/** Every applied file of the table: the metadata's recent ones and the archived ones. */
export async function loadApplied(store: ObjectStore, metadata: TableMetadata): Promise<Record<string, AppliedFile>> {
  const all: Record<string, AppliedFile> = {};
  for (const key of metadata.archives ?? []) {
    const body = await store.get(key);
    if (!body) throw new Error(`applied-files archive ${key} is missing`);
    Object.assign(all, JSON.parse(new TextDecoder().decode(body)));
  }
  return Object.assign(all, metadata.applied);
}

/** Sweep orphans (files of crashed attempts) every this many versions. */
const SWEEP_EVERY = 10;

async function collectGarbage(
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

/** The current rows of a table, read from its state files (tests and tools; memory: the whole table). */
export async function readCurrentRows(store: ObjectStore, config: TableConfig): Promise<Map<Key, Value[]>> {
  const metadata = await loadMetadata(store, config);
  const rows = new Map<Key, Value[]>();
  for (const files of Object.values(metadata.buckets)) {
    const state = await loadBucketState(store, config, files.state);
    for (let i = 0; i < state.size; i++) if (state.live[i]) rows.set(state.keyAt(i), state.row(i));
  }
  return rows;
}
