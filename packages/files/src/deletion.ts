/**
 * Deleting what an accepted request names, in batches of at most 1000 (`DeleteObjects`), with bounded concurrency,
 * from a cursor and back to a cursor: a deletion too large for one invocation stops between batches when its time
 * budget runs out, and the next invocation starts from the saved cursor.
 *
 * Why nothing is skipped or deleted twice: the cursor only moves past a batch once S3 has answered for it and for
 * every batch before it (commits are in listing order), and it is saved (`onCheckpoint`) at each move. Listing
 * resumes after the cursor (`StartAfter`, or ListObjectVersions' key/version markers). A crash between a batch's
 * deletion and its checkpoint re-lists from the previous cursor, where what was deleted is no longer listed.
 */
import type { AcceptedRequest } from "./delete-request.ts";
import { InconsistentListing } from "./errors.ts";
import type { DeleterStore, ListedEntry } from "./ports.ts";

/** S3's limit on one DeleteObjects request, and on one listing page. */
export const MAX_BATCH = 1000;

export type DeletionCursor =
  | {
      phase: "keys";
      /** Next explicit key. */
      index: number;
      /** allVersions: where the listing of that key's versions resumes. */
      keyMarker?: string;
      versionIdMarker?: string;
    }
  | {
      phase: "prefixes";
      prefixIndex: number;
      /** ListObjectsV2: the last key handled. */
      startAfter?: string;
      /** ListObjectVersions: where the next page starts. */
      keyMarker?: string;
      versionIdMarker?: string;
    }
  | { phase: "done" };

export interface DeletionError {
  key: string;
  versionId?: string;
  code: string;
  message: string;
}

export interface DeletionProgress {
  cursor: DeletionCursor;
  counts: {
    /** Entries listed (objects, or versions and delete markers). */
    listed: number;
    deleted: number;
    /** Of `deleted`, delete markers removed (allVersions). */
    deleteMarkers: number;
    failed: number;
    /** Duplicates and entries covered by a prefix (dropped at validation), explicit keys with no version. */
    skipped: number;
    batches: number;
  };
  /** The first per-key errors (capped: every error is handed to `onBatch`). */
  errors: DeletionError[];
  /** Dry run: the first entries that would be deleted (capped: every entry is handed to `onBatch`). */
  listing: string[];
}

export function initialProgress(request: AcceptedRequest): DeletionProgress {
  return {
    cursor: firstCursor(request),
    counts: { listed: 0, deleted: 0, deleteMarkers: 0, failed: 0, skipped: request.dropped, batches: 0 },
    errors: [],
    listing: [],
  };
}

function firstCursor(request: AcceptedRequest): DeletionCursor {
  if (request.keys.length > 0) return { phase: "keys", index: 0 };
  return prefixCursor(request, 0);
}

function prefixCursor(request: AcceptedRequest, prefixIndex: number): DeletionCursor {
  return prefixIndex < request.prefixes.length ? { phase: "prefixes", prefixIndex } : { phase: "done" };
}

interface ListedBatch {
  entries: ListedEntry[];
  /** The cursor once this batch is handled. */
  next: DeletionCursor;
  /** Explicit keys found with no version at all (allVersions). */
  skipped: number;
}

/** Lists the next batch after `cursor` (one listing call at most). */
export async function listNextBatch(
  store: DeleterStore,
  request: AcceptedRequest,
  cursor: Exclude<DeletionCursor, { phase: "done" }>,
  batchSize = MAX_BATCH,
): Promise<ListedBatch> {
  const bucket = request.physicalBucket;
  const size = Math.min(Math.max(1, batchSize), MAX_BATCH);
  if (cursor.phase === "keys") {
    const afterKeys = (index: number): DeletionCursor =>
      index < request.keys.length ? { phase: "keys", index } : prefixCursor(request, 0);
    if (!request.allVersions) {
      const keys = request.keys.slice(cursor.index, cursor.index + size);
      return { entries: keys.map((key) => ({ key })), next: afterKeys(cursor.index + keys.length), skipped: 0 };
    }
    // Every version of one key: ListObjectVersions on the key as a prefix, keeping the exact key only.
    const key = request.keys[cursor.index] as string;
    const page = await store.listVersions({
      bucket,
      prefix: key,
      maxKeys: size,
      ...(cursor.keyMarker !== undefined ? { keyMarker: cursor.keyMarker } : {}),
      ...(cursor.versionIdMarker !== undefined ? { versionIdMarker: cursor.versionIdMarker } : {}),
    });
    const entries = page.entries.filter((e) => e.key === key);
    if (entries.length === 0 && cursor.keyMarker === undefined) await assertNoObjects(store, bucket, key, true);
    // Once the listing is past the key itself (other keys share it as a prefix), the key is done.
    const pastKey = page.entries.some((e) => e.key !== key);
    const next: DeletionCursor =
      page.isTruncated && !pastKey
        ? {
            phase: "keys",
            index: cursor.index,
            ...(page.nextKeyMarker !== undefined ? { keyMarker: page.nextKeyMarker } : {}),
            ...(page.nextVersionIdMarker !== undefined ? { versionIdMarker: page.nextVersionIdMarker } : {}),
          }
        : afterKeys(cursor.index + 1);
    const movesOn = !(next.phase === "keys" && next.index === cursor.index);
    const skipped = cursor.keyMarker === undefined && entries.length === 0 && movesOn ? 1 : 0;
    return { entries, next, skipped };
  }
  const prefix = request.prefixes[cursor.prefixIndex] as string;
  if (!request.allVersions) {
    const page = await store.listObjects({
      bucket,
      prefix,
      maxKeys: size,
      ...(cursor.startAfter !== undefined ? { startAfter: cursor.startAfter } : {}),
    });
    const last = page.entries.at(-1)?.key;
    const next: DeletionCursor =
      page.isTruncated && last !== undefined
        ? { phase: "prefixes", prefixIndex: cursor.prefixIndex, startAfter: last }
        : prefixCursor(request, cursor.prefixIndex + 1);
    return { entries: page.entries, next, skipped: 0 };
  }
  const page = await store.listVersions({
    bucket,
    prefix,
    maxKeys: size,
    ...(cursor.keyMarker !== undefined ? { keyMarker: cursor.keyMarker } : {}),
    ...(cursor.versionIdMarker !== undefined ? { versionIdMarker: cursor.versionIdMarker } : {}),
  });
  if (page.entries.length === 0 && cursor.keyMarker === undefined) await assertNoObjects(store, bucket, prefix, false);
  const next: DeletionCursor =
    page.isTruncated && page.nextKeyMarker !== undefined
      ? {
          phase: "prefixes",
          prefixIndex: cursor.prefixIndex,
          keyMarker: page.nextKeyMarker,
          ...(page.nextVersionIdMarker !== undefined ? { versionIdMarker: page.nextVersionIdMarker } : {}),
        }
      : prefixCursor(request, cursor.prefixIndex + 1);
  return { entries: page.entries, next, skipped: 0 };
}

/**
 * Checks, after ListObjectVersions found nothing, that ListObjectsV2 agrees (one request, only then): an endpoint
 * that cannot list versions must not turn an erasure request into a silent "0 deleted".
 */
async function assertNoObjects(store: DeleterStore, bucket: string, prefix: string, exact: boolean): Promise<void> {
  const probe = await store.listObjects({ bucket, prefix, maxKeys: exact ? 1000 : 1 });
  const found = exact ? probe.entries.some((e) => e.key === prefix) : probe.entries.length > 0;
  if (found) {
    throw new InconsistentListing(
      `ListObjectVersions lists nothing under "${prefix}" in ${bucket}, but ListObjectsV2 lists objects there: ` +
        "this S3 endpoint does not support versions, so allVersions cannot be honoured",
    );
  }
}

export interface RunDeletionOptions {
  store: DeleterStore;
  request: AcceptedRequest;
  /** Where to start (the saved progress, or `initialProgress`). Not mutated. */
  progress: DeletionProgress;
  /** Whether there is time to start another batch. */
  budget: () => boolean;
  /** DeleteObjects calls in flight at once. Default 4. */
  concurrency?: number;
  batchSize?: number;
  /**
   * Called when a batch with per-key errors or (dry run) a listing is committed, before its checkpoint, with all
   * of them: where they are kept in full (the progress keeps the first few only). Awaited; `batch` counts from 1.
   */
  onBatch?: (detail: BatchDetail) => Promise<void>;
  /**
   * Called when a batch is sent and when one is committed (or fails), with the batches sent and not yet committed and
   * their entries: what the progress does not show yet.
   */
  onInFlight?: (inFlight: { batches: number; entries: number }) => void;
  /** Called after each batch is committed, in listing order, with the progress so far; awaited. */
  onCheckpoint?: (progress: DeletionProgress) => Promise<void>;
  /** Errors kept in the progress. Default 100. */
  maxErrors?: number;
  /** Dry-run entries kept in the progress. Default 100. */
  maxListing?: number;
}

/** A committed batch's per-key errors and dry-run listing, all of them. */
export interface BatchDetail {
  batch: number;
  errors: DeletionError[];
  listing: string[];
}

interface InFlight {
  next: DeletionCursor;
  listed: number;
  /** Dry run: the entries listed, recorded when the batch is committed (never ahead of the cursor). */
  listing: string[];
  result: Promise<{ deleted: ListedEntry[]; errors: DeletionError[] }>;
}

/**
 * Runs a deletion until it is done or the budget says stop; returns the progress (cursor `done` when finished).
 * A listing or DeleteObjects call that throws stops the run: batches already answered are committed (and
 * checkpointed) first, then the error is rethrown.
 */
export async function runDeletion(options: RunDeletionOptions): Promise<DeletionProgress> {
  const { store, request } = options;
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const maxErrors = options.maxErrors ?? 100;
  const maxListing = options.maxListing ?? 100;
  const progress: DeletionProgress = structuredClone(options.progress);
  const inflight: InFlight[] = [];
  /** Sent and not yet committed: `inflight`, and the batch being committed. */
  const sent = { batches: 0, entries: 0 };
  const settle = (item: InFlight) => {
    sent.batches--;
    sent.entries -= item.listed;
    options.onInFlight?.({ ...sent });
  };

  /** Set when a batch (or its checkpoint) failed: nothing listed after it may be committed. */
  let broken = false;
  const commit = async (item: InFlight) => {
    let outcome: Awaited<InFlight["result"]>;
    try {
      outcome = await item.result;
    } catch (err) {
      broken = true;
      settle(item);
      throw err;
    }
    settle(item);
    progress.cursor = item.next;
    progress.counts.batches++;
    progress.counts.listed += item.listed;
    progress.counts.deleted += outcome.deleted.length;
    progress.counts.deleteMarkers += outcome.deleted.filter((e) => e.isDeleteMarker).length;
    progress.counts.failed += outcome.errors.length;
    for (const error of outcome.errors) if (progress.errors.length < maxErrors) progress.errors.push(error);
    for (const entry of item.listing) if (progress.listing.length < maxListing) progress.listing.push(entry);
    try {
      if (outcome.errors.length > 0 || item.listing.length > 0) {
        await options.onBatch?.({ batch: progress.counts.batches, errors: outcome.errors, listing: item.listing });
      }
      await options.onCheckpoint?.(structuredClone(progress));
    } catch (err) {
      broken = true;
      throw err;
    }
  };
  const drain = async (keep: number) => {
    while (inflight.length > keep) await commit(inflight.shift() as InFlight);
  };

  let listing = progress.cursor;
  try {
    while (listing.phase !== "done" && options.budget()) {
      const batch = await listNextBatch(store, request, listing, options.batchSize);
      listing = batch.next;
      progress.counts.skipped += batch.skipped;
      let result: InFlight["result"];
      if (request.dryRun || batch.entries.length === 0) {
        result = Promise.resolve({ deleted: [], errors: [] });
      } else {
        result = store.deleteBatch({ bucket: request.physicalBucket, entries: batch.entries }).then((r) => ({
          deleted: r.deleted,
          errors: r.errors.map((e) => ({
            key: e.key,
            ...(e.versionId ? { versionId: e.versionId } : {}),
            code: e.code,
            message: e.message,
          })),
        }));
      }
      result.catch(() => {});
      const dryRunEntries = request.dryRun
        ? batch.entries.map((e) => (e.versionId ? `${e.key}?versionId=${e.versionId}` : e.key))
        : [];
      inflight.push({ next: batch.next, listed: batch.entries.length, listing: dryRunEntries, result });
      sent.batches++;
      sent.entries += batch.entries.length;
      options.onInFlight?.({ ...sent });
      await drain(concurrency - 1);
    }
    await drain(0);
  } catch (err) {
    // A listing failed: commit the batches listed before it that S3 answered, in order, up to the first that
    // failed. A batch failed: commit nothing listed after it (what those deleted is simply not listed again).
    while (!broken && inflight.length > 0) {
      const item = inflight.shift() as InFlight;
      const settled = await item.result.then(
        () => true,
        () => false,
      );
      if (!settled) break;
      await commit(item);
    }
    throw err;
  }
  return progress;
}
