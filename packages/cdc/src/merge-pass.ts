/**
 * What a merge pass takes and gives back: the contract of `mergeFilesIceberg` (`iceberg-pass.ts`), `mergeAll` (the
 * CLI, `run.ts`) and `mergeObject` (the Lambda, `flow.ts`), the applied and rejected files a table records, and the
 * helpers every pass uses (hashing the files it reads, the memory it may use).
 */
import { createHash } from "node:crypto";
import { totalmem } from "node:os";
import type { DmsFileRef } from "./dms-file.ts";

export interface MergeOptions {
  /**
   * How old a file nothing references must be before the orphan sweep deletes it (an attempt may still be writing
   * it, or committing). Default 15 minutes.
   */
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
   * resident memory passes half of it, leaving the other half for the work of one bucket (its key-index shard, the
   * changes, the encoded files).
   */
  memoryLimit?: number;
  now?: () => Date;
  /** Sweep files of crashed attempts every this many sequence numbers (default 10; tests use 1). */
  sweepEvery?: number;
  /**
   * How long applied files stay listed in the table's merge state (default 7 days); older ones move to an archive
   * object, about once a day (`iceberg-applied.ts`). A replay of an archived file is still recognized by the CLI
   * (`MergeEngine.applied`); merged again (the Lambda), it changes nothing: none of its changes is newer than what the
   * keys hold.
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
      /** Buckets whose key-index shard the commit rewrote. */
      bucketsRewritten: number;
      attempts: number;
      /** Times the held changes were spilled to stay within memory. */
      spills: number;
      /** Files that commit merged (this one included). */
      commitFiles: number;
    }
  | { outcome: "replay"; file: string; version: number };

/** One file of a merge pass. */
export interface MergeInput {
  file: DmsFileRef;
  /** The file's bytes; called once per read (a lost commit race, or a restart after a rejection, reads it again). */
  open: () => AsyncIterable<Uint8Array>;
  /** The file's SHA-256 when the caller knows it: a replay is then recognized without reading the file. */
  sha256?: string;
  /** The object's size and time as listed: recorded in the merge state (`rejected`) if the file is rejected. */
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

/** A DMS file a table applied. */
export interface AppliedFile {
  sha256: string;
  version: number;
  rows: number;
  appliedAt: string;
}

/**
 * A file a committed pass left out as corrupt, with the size and time of the object it read: a later pass skips such
 * a file unless it has been replaced, instead of reading it again.
 */
export interface RejectedFile {
  size: number;
  lastModified?: number;
  row: number;
  reason: string;
  at: string;
}

/** How long applied files stay listed in a table's merge state before they are archived (`appliedRetentionMs`). */
export const APPLIED_RETENTION_MS = 7 * 24 * 3600_000;

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
