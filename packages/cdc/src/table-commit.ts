/**
 * A merge pass's commit (layout in `table.ts`): the next metadata version built on its base (the staged buckets,
 * the files applied, superseded files awaiting collection, archives and rejections), and the one conditional put
 * that commits it, with the checks that tell a live commit from a lost, stale or uncertain one. A version names its
 * commit id (and its base's, `parent`): that is how a merge recognizes its own version after a lost answer.
 */
import type { TableConfig } from "./config.ts";
import { PreconditionFailed } from "./errors.ts";
import type { ObjectStore } from "./storage.ts";
import {
  type AppliedFile,
  archiveKey,
  type BucketFiles,
  metadataKey,
  metadataPrefix,
  type RejectedFile,
  type TableMetadata,
  versionOf,
} from "./table.ts";

/** Past the applied-files retention, entries are archived about this often. */
const ARCHIVE_EVERY_MS = 24 * 3600_000;

/** What a pass read and staged, from which its version is built. */
export interface NextVersionInput {
  config: TableConfig;
  base: TableMetadata;
  commitId: string;
  /** Rewritten buckets: bucket -> files. */
  staged: ReadonlyMap<number, BucketFiles>;
  /** Files read whole, by path: rows and SHA-256. */
  read: ReadonlyMap<string, { rows: number; sha256: string }>;
  /** The pass's inputs: those rejected now are recorded, when their size is known. */
  files: readonly {
    relPath: string;
    size?: number;
    lastModified?: number;
    rejected?: { row: number; reason: string };
  }[];
  at: Date;
  graceMs: number;
  appliedRetentionMs: number;
}

/** The version to commit, and what it leaves to write first or to collect after. */
export interface NextVersion {
  next: TableMetadata & { commit: string };
  /** Superseded files whose grace period is over: collected once the commit is confirmed. */
  expired: string[];
  /** Applied files moved out of the metadata: this object is to be written before the commit. */
  archive?: { key: string; entries: Record<string, AppliedFile> };
}

/**
 * The version after `base` (no I/O): staged buckets replace theirs, whose files become obsolete (collected after the
 * grace period); the files read are applied; applied files past the retention are archived about once a day;
 * rejections are recorded, and forgotten after the retention or once the file is read whole.
 */
export function buildNextVersion(input: NextVersionInput): NextVersion {
  const { base, at } = input;
  const version = base.version + 1;
  const obsolete = [...base.obsolete];
  for (const b of input.staged.keys()) {
    const old = base.buckets[b];
    if (old) for (const key of [old.state, old.data]) if (key) obsolete.push({ key, since: at.toISOString() });
  }
  const expired = obsolete.filter((o) => at.getTime() - Date.parse(o.since) >= input.graceMs);
  const applied: Record<string, AppliedFile> = { ...base.applied };
  for (const [relPath, r] of input.read)
    applied[relPath] = { sha256: r.sha256, version, rows: r.rows, appliedAt: at.toISOString() };
  const archives = [...(base.archives ?? [])];
  const retention = input.appliedRetentionMs;
  const old = Object.entries(applied).filter(([, a]) => at.getTime() - Date.parse(a.appliedAt) >= retention);
  let archive: NextVersion["archive"];
  // About once a day: when the oldest entry is a day past the retention, archive every entry past it.
  if (old.some(([, a]) => at.getTime() - Date.parse(a.appliedAt) >= retention + ARCHIVE_EVERY_MS)) {
    archive = { key: archiveKey(input.config, version), entries: Object.fromEntries(old) };
    archives.push(archive.key);
    for (const [path] of old) delete applied[path];
  }
  const rejected: Record<string, RejectedFile> = {};
  for (const [path, r] of Object.entries(base.rejected ?? {}))
    if (!input.read.has(path) && at.getTime() - Date.parse(r.at) < retention) rejected[path] = r;
  for (const f of input.files)
    if (f.rejected && f.size !== undefined)
      rejected[f.relPath] = {
        size: f.size,
        ...(f.lastModified !== undefined ? { lastModified: f.lastModified } : {}),
        ...f.rejected,
        at: at.toISOString(),
      };
  const next: TableMetadata & { commit: string } = {
    ...base,
    version,
    buckets: { ...base.buckets },
    applied,
    rejected,
    ...(archives.length > 0 ? { archives } : {}),
    obsolete: obsolete.filter((o) => !expired.includes(o)),
    committedAt: at.toISOString(),
    commit: input.commitId,
    ...(base.commit ? { parent: base.commit } : {}),
  };
  for (const [b, files] of input.staged) next.buckets[b] = files;
  return { next, expired: expired.map((o) => o.key), ...(archive ? { archive } : {}) };
}

/**
 * What became of a commit:
 * - `committed`: the version is ours and live;
 * - `lost`: another merge's version took the key (the caller deletes its files and merges again);
 * - `stale` and `uncertain`: see {@link checkCommit}.
 */
export type CommitVerdict = "committed" | "lost" | "stale" | "uncertain";

/**
 * Puts `next` with `If-None-Match` and judges the outcome. A put refused because the key exists is ours when the
 * version there names our commit: an attempt whose answer was lost before the client's retry found the key taken.
 * The caller must treat the commit as possibly applied from the moment this is called, whatever it throws.
 */
export async function commitVersion(
  store: ObjectStore,
  config: TableConfig,
  next: TableMetadata & { commit: string },
): Promise<CommitVerdict> {
  const { version, commit } = next;
  try {
    await store.put(metadataKey(config, version), JSON.stringify(next), {
      ifNoneMatch: true,
      contentType: "application/json",
    });
  } catch (error) {
    if (!(error instanceof PreconditionFailed)) throw error;
    // The key exists: another merge's version, or ours, put by an attempt whose answer was lost before the
    // client's retry found the key taken.
    if (!(await isOurVersion(store, config, version, commit))) return "lost";
  }
  return checkCommit(store, config, version, commit);
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
