/**
 * One table's storage: versioned metadata committed by a single conditional put, hash buckets each stored as a
 * Parquet data file (what readers see) and a state file (every key's position and row, tombstones included: what
 * the merge reads), the Athena symlink manifest, and garbage collection of superseded files after a grace period.
 * This module holds the layout and reads the metadata; a merge pass (`merge-pass.ts`) stages buckets
 * (`bucket-staging.ts`), commits a version (`table-commit.ts`) and collects garbage (`table-gc.ts`).
 *
 * Layout under `<schema>/<table>/`:
 *   data/b0007-<version>-<id>.parquet           current rows of bucket 7
 *   _cdc/state/b0007-<version>-<id>.state       positions + rows of bucket 7 (incl. deleted keys), `state-file.ts`
 *   _cdc/metadata/v00000000000000000012.json    version 12: buckets, applied files, files awaiting deletion
 *   _cdc/applied/v00000000000000000012-<id>.json  applied files archived by version 12 (`archives`)
 *   _cdc/tmp/<version>-<id>/b7-r0.state         changes spilled by a merge attempt (deleted when it ends)
 *   _symlink_format_manifest/manifest           one data file URI per line (Athena SymlinkTextInputFormat)
 */
import { randomBytes } from "node:crypto";
import type { TableConfig } from "./config.ts";
import { type Layout, layoutOf } from "./merge.ts";
import { type Key, RowSet } from "./rows.ts";
import { decodeState } from "./state-file.ts";
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

const pad = (n: number, width: number) => String(n).padStart(width, "0");

/** The table's folder: `<schema>/<table>/`. */
export function tablePrefix(config: TableConfig): string {
  return `${config.schema}/${config.table}/`;
}

/** The Athena symlink manifest: the data files of the latest committed version. */
export function manifestKey(config: TableConfig): string {
  return `${tablePrefix(config)}_symlink_format_manifest/manifest`;
}

/** Where the metadata versions are. */
export function metadataPrefix(config: TableConfig): string {
  return `${tablePrefix(config)}_cdc/metadata/`;
}

/** The metadata of `version`: the key a commit puts with `If-None-Match`. */
export function metadataKey(config: TableConfig, version: number): string {
  return `${metadataPrefix(config)}v${pad(version, 20)}.json`;
}

/** The id of a merge attempt for `version`: names its spilled runs, and the files it writes carry its version. */
export function attemptIdOf(version: number): string {
  return `${pad(version, 8)}-${newId()}`;
}

/** Run `run` of bucket `bucket` spilled by the attempt `attemptId`. */
export function spillRunKey(config: TableConfig, attemptId: string, bucket: number, run: number): string {
  return `${tablePrefix(config)}_cdc/tmp/${attemptId}/b${bucket}-r${run}.state`;
}

/** The state and data files of bucket `bucket` rewritten for `version` (one random id for both). */
export function bucketFileKeys(config: TableConfig, bucket: number, version: number): { state: string; data: string } {
  const id = `b${pad(bucket, 4)}-${pad(version, 8)}-${newId()}`;
  return { state: `${tablePrefix(config)}_cdc/state/${id}.state`, data: `${tablePrefix(config)}data/${id}.parquet` };
}

/**
 * An archive of applied files written for `version`. Named by attempt: a racing merge archiving for the same version
 * writes its own object, so the loser's cleanup never deletes the winner's committed archive.
 */
export function archiveKey(config: TableConfig, version: number): string {
  return `${tablePrefix(config)}_cdc/applied/v${pad(version, 20)}-${newId()}.json`;
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

/** The version of a metadata key (`.../v00000000000000000012.json`), or NaN. */
export function versionOf(key: string): number {
  const match = /\/v(\d{20})\.json$/.exec(key);
  return match ? Number(match[1]) : Number.NaN;
}

/** How long applied files stay listed in the metadata before they are archived (`MergeOptions.appliedRetentionMs`). */
export const APPLIED_RETENTION_MS = 7 * 24 * 3600_000;

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
