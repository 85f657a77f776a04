/**
 * A merge pass: DMS files of one table merged in one commit. Each attempt reads the files into changes held per key
 * and bucket, stages the touched buckets (`bucket-staging.ts`), builds the next version and commits it
 * (`table-commit.ts`); a confirmed commit publishes the manifest and collects garbage (`table-gc.ts`). A lost commit
 * race starts a new attempt on the latest version.
 */
import { createHash, randomBytes } from "node:crypto";
import { totalmem } from "node:os";
import { BucketStaging } from "./bucket-staging.ts";
import type { TableConfig } from "./config.ts";
import { type DmsFileRef, readDmsFile } from "./dms-file.ts";
import { CommitConflict, InvalidCdcFile } from "./errors.ts";
import { bucketFunction, PendingChanges, positionBatch } from "./merge.ts";
import { sortFiles } from "./source.ts";
import type { ObjectStore } from "./storage.ts";
import { APPLIED_RETENTION_MS, loadMetadata, metadataKey, publishManifest, type TableMetadata } from "./table.ts";
import { buildNextVersion, commitVersion } from "./table-commit.ts";
import { collectGarbage, SWEEP_EVERY } from "./table-gc.ts";

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
  const settings = passSettings(options);
  const pass: PassState = {
    files: sortFiles(
      inputs.map((input, index) => ({
        ...input,
        index,
        relPath: input.file.relPath,
        sha: input.sha256,
        rejected: undefined,
      })),
    ),
    results: new Array(inputs.length),
    uncertain: undefined,
    attempt: 0,
  };
  for (;;) {
    const base = await loadMetadata(store, config);
    const toRead = await filesToRead(pass, base);
    if (toRead.length === 0) return { version: base.version, files: pass.results };
    if (pass.attempt >= settings.maxAttempts)
      throw new CommitConflict(
        `${config.name}: ${toRead.map((f) => f.file.displayName).join(", ")} lost the commit race ${settings.maxAttempts} times`,
      );
    const done = await attemptCommit(store, config, base, toRead, pass, settings);
    if (done) return done;
  }
}

/** An input of the pass, with what is learnt about it across attempts. */
interface PassFile extends MergeInput {
  index: number;
  relPath: string;
  /** SHA-256 once known (given, or computed by a read). */
  sha?: string;
  rejected?: { row: number; reason: string };
}

/** What a pass carries from one attempt to the next. */
interface PassState {
  /** The inputs in DMS order. */
  readonly files: PassFile[];
  /** One outcome per input, in input order, filled in as they are known. */
  readonly results: FileResult[];
  /** A commit that could not be confirmed live (`uncertain`): its figures, if the latest version has its files. */
  uncertain?: { version: number; rows: Map<string, number>; figures: Omit<CommitFigures, "attempts"> };
  /** Attempts that read their files whole and tried to commit. */
  attempt: number;
}

interface CommitFigures {
  keysChanged: number;
  bucketsRewritten: number;
  attempts: number;
  spills: number;
  commitFiles: number;
}

type PassSettings = ReturnType<typeof passSettings>;

function passSettings(options: MergeOptions) {
  const flushKeys = options.flushKeys ?? Number.POSITIVE_INFINITY;
  const memoryBudget = (options.memoryLimit ?? machineMemory()) * 0.5;
  return {
    now: options.now ?? (() => new Date()),
    graceMs: options.graceMs ?? 15 * 60_000,
    maxAttempts: options.maxAttempts ?? 8,
    appliedRetentionMs: options.appliedRetentionMs ?? APPLIED_RETENTION_MS,
    sweepEvery: options.sweepEvery ?? SWEEP_EVERY,
    onProgress: options.onProgress,
    // Resident memory, not the V8 heap: rows are held in typed arrays, outside the heap.
    overBudget: (held: number) =>
      held >= flushKeys ||
      (options.flushKeys === undefined && held >= MIN_SPILL_KEYS && process.memoryUsage.rss() > memoryBudget),
  };
}

/**
 * The files this attempt must read. The others get their result now: rejected ones, and replays (same path, same
 * content as an applied file, which need no reading: the files the metadata already lists are hashed). A replay of
 * a file that an uncertain commit of this pass merged is reported merged, with that commit's figures.
 */
async function filesToRead(pass: PassState, base: TableMetadata): Promise<PassFile[]> {
  const { results, uncertain } = pass;
  const toRead: PassFile[] = [];
  for (const f of pass.files) {
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
              attempts: pass.attempt,
            }
          : { outcome: "replay", file: f.file.displayName, version: base.version };
      continue;
    }
    toRead.push(f);
  }
  return toRead;
}

/**
 * One attempt on `base`: read the files, stage the buckets, commit. Returns the pass's result when it is over (the
 * commit is live, or every file was rejected), or `undefined` to start a new attempt on the latest version.
 */
async function attemptCommit(
  store: ObjectStore,
  config: TableConfig,
  base: TableMetadata,
  toRead: readonly PassFile[],
  pass: PassState,
  settings: PassSettings,
): Promise<PassResult | undefined> {
  const version = base.version + 1;
  const commitId = randomBytes(8).toString("hex");
  let commitAttempted = false;
  const staging = new BucketStaging(store, config, base);
  const { written } = staging;
  const pending = new PendingChanges(config, bucketFunction(base.layout));
  try {
    const { read, restart } = await readFiles(config, toRead, pending, staging, pass, settings);
    if (restart || read.size === 0) {
      await store.delete(written);
      if (read.size === 0) return { version: base.version, files: pass.results };
      return undefined;
    }
    pass.attempt++;
    await staging.rewrite(pending);
    await staging.dropRuns();

    const { next, expired, archive } = buildNextVersion({
      config,
      base,
      commitId,
      staged: staging.staged,
      read,
      files: pass.files,
      at: settings.now(),
      graceMs: settings.graceMs,
      appliedRetentionMs: settings.appliedRetentionMs,
    });
    if (archive) {
      await store.put(archive.key, JSON.stringify(archive.entries), { contentType: "application/json" });
      written.push(archive.key);
    }
    const figures = {
      keysChanged: staging.keysChanged,
      bucketsRewritten: staging.staged.size,
      spills: staging.spills,
      commitFiles: read.size,
    };
    // From here on the commit may be applied even when the put fails (its answer lost in the network): the files
    // it names are deleted only once the version is known not to be ours.
    commitAttempted = true;
    const verdict = await commitVersion(store, config, next);
    if (verdict === "lost") {
      await store.delete(written);
      commitAttempted = false;
      await new Promise((r) => setTimeout(r, Math.random() * 50 * pass.attempt));
      return undefined;
    }
    if (verdict === "stale") {
      // Our version's key had been collected and was free again: nothing builds on it, and readers read a higher
      // version. Remove it with our files, and merge again on the latest version.
      await store.delete([...written, metadataKey(config, version)]);
      return undefined;
    }
    if (verdict === "uncertain") {
      // Our commit may be live (built upon since, then collected) or stale: delete nothing, and merge again on the
      // latest version, which either lists our files as applied (replays: done) or does not (merged again).
      pass.uncertain = { version, rows: new Map([...read].map(([p, r]) => [p, r.rows])), figures };
      written.length = 0;
      return undefined;
    }
    // Committed. What follows is housekeeping: a crash here leaves garbage or a lagging manifest, which the
    // next merge repairs, never a wrong table.
    await publishManifest(store, config);
    await collectGarbage(store, config, next, expired, settings.sweepEvery);
    for (const f of toRead) {
      const r = read.get(f.relPath);
      if (r)
        pass.results[f.index] = {
          outcome: "merged",
          file: f.file.displayName,
          version,
          rows: r.rows,
          ...figures,
          attempts: pass.attempt,
        };
    }
    return { version, files: pass.results };
  } catch (error) {
    // A commit that may be applied keeps its files: if it is not, the orphan sweep removes them.
    if (!commitAttempted) await store.delete(written).catch(() => undefined);
    throw error;
  }
}

/**
 * Reads every file into `pending`; a corrupt one is left out (and its result recorded). If files before it were read
 * (their changes are held with its own), `restart`: the attempt starts over without it.
 */
async function readFiles(
  config: TableConfig,
  toRead: readonly PassFile[],
  pending: PendingChanges,
  staging: BucketStaging,
  pass: PassState,
  settings: PassSettings,
): Promise<{ read: Map<string, { rows: number; sha256: string }>; restart: boolean }> {
  const read = new Map<string, { rows: number; sha256: string }>();
  let rowsRead = 0;
  for (const f of toRead) {
    const hash = createHash("sha256");
    let rows = 0;
    try {
      for await (const batch of readDmsFile(config, f.file, hashing(f.open(), hash), undefined, pending)) {
        rows += batch.rowsRead;
        positionBatch(f.relPath, batch.rows);
        pending.add(batch.rows);
        settings.onProgress?.(rowsRead + rows);
        if (settings.overBudget(pending.keys)) await staging.spill(pending);
      }
    } catch (error) {
      if (!(error instanceof InvalidCdcFile)) throw error;
      f.rejected = { row: error.row, reason: error.reason };
      pass.results[f.index] = { outcome: "rejected", file: f.file.displayName, ...f.rejected };
      if (read.size > 0) return { read, restart: true };
      pending.clear();
      await staging.dropRuns();
      continue;
    }
    rowsRead += rows;
    f.sha = hash.digest("hex");
    read.set(f.relPath, { rows, sha256: f.sha });
  }
  return { read, restart: false };
}

/** SHA-256 of a stream (hex). */
export async function sha256Of(chunks: AsyncIterable<Uint8Array>): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of chunks) hash.update(chunk);
  return hash.digest("hex");
}

/** The chunks as they pass, each added to `hash`. */
export async function* hashing(chunks: AsyncIterable<Uint8Array>, hash: ReturnType<typeof createHash>) {
  for await (const chunk of chunks) {
    hash.update(chunk);
    yield chunk;
  }
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
export const MIN_SPILL_KEYS = 250_000;
