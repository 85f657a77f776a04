/**
 * Iceberg v2 table metadata (spec: "Table Metadata"): the JSON a catalog points at. A table here is unpartitioned
 * and unsorted; its schema maps the configured columns to Iceberg types with field ids that never change (a column
 * keeps its id; a new column gets the next id and a new schema: `evolveSchema`). Each merge commit adds one snapshot
 * (append for full loads, overwrite when it adds position deletes), its log entry, and moves the `main` branch.
 */
import { randomUUID } from "node:crypto";
import type { ColumnType, TableConfig } from "./config.ts";

export interface IcebergField {
  id: number;
  name: string;
  required: boolean;
  type: string;
}

export interface IcebergSchema {
  type: "struct";
  "schema-id": number;
  fields: IcebergField[];
}

/**
 * A snapshot id: a JavaScript number when it is a safe integer (ids written here are), else a bigint. Other writers
 * (Iceberg Java: Athena, Spark) draw ids from all 63 bits, which a number would round: metadata and merge state are
 * read and written with `parseIcebergJson` / `icebergJson`, which keep them exact.
 */
export type SnapshotId = number | bigint;

export interface IcebergSnapshot {
  "snapshot-id": SnapshotId;
  "parent-snapshot-id"?: SnapshotId;
  "sequence-number": number;
  "timestamp-ms": number;
  "manifest-list": string;
  summary: Record<string, string> & { operation: "append" | "overwrite" | "delete" | "replace" };
  "schema-id": number;
}

export interface IcebergTableMetadata {
  "format-version": 2;
  "table-uuid": string;
  location: string;
  "last-sequence-number": number;
  "last-updated-ms": number;
  "last-column-id": number;
  "current-schema-id": number;
  schemas: IcebergSchema[];
  "default-spec-id": 0;
  "partition-specs": [{ "spec-id": 0; fields: [] }];
  "last-partition-id": 999;
  "default-sort-order-id": 0;
  "sort-orders": [{ "order-id": 0; fields: [] }];
  properties: Record<string, string>;
  "current-snapshot-id"?: SnapshotId;
  snapshots: IcebergSnapshot[];
  "snapshot-log": { "snapshot-id": SnapshotId; "timestamp-ms": number }[];
  "metadata-log": { "metadata-file": string; "timestamp-ms": number }[];
  refs: Record<string, { "snapshot-id": SnapshotId; type: "branch" | "tag" }>;
}

/** An integer literal outside a JSON string, too long to be sure a double holds it (16 digits or more). */
const LONG_LITERAL = /"(?:[^"\\]|\\.)*"|(?<=[:,[]\s*)(-?\d{16,})(?![.\deE])/g;
const BIG_MARK = "\u0000bigint:";

/**
 * Parses Iceberg JSON (table metadata, merge state) keeping integers a double cannot hold exactly as bigints (other
 * writers' snapshot ids); safe integers stay numbers, so ids compare with `===` whoever wrote them.
 */
export function parseIcebergJson<T>(text: string): T {
  // Most texts have no integer a double cannot hold (this writer's ids are safe): a plain parse is then exact, and
  // an unsafe integer in its result is the sign that one was rounded. Only those texts take the marking parse.
  const plain = JSON.parse(text) as unknown;
  if (!hasUnsafeInteger(plain)) return plain as T;
  const marked = text.replace(LONG_LITERAL, (match, digits: string | undefined) =>
    digits !== undefined && !Number.isSafeInteger(Number(digits)) ? JSON.stringify(BIG_MARK + digits) : match,
  );
  return JSON.parse(marked, (_, value) =>
    typeof value === "string" && value.startsWith(BIG_MARK) ? BigInt(value.slice(BIG_MARK.length)) : value,
  ) as T;
}

function hasUnsafeInteger(value: unknown): boolean {
  if (typeof value === "number") return Number.isInteger(value) && !Number.isSafeInteger(value);
  if (Array.isArray(value)) {
    for (const item of value) if (hasUnsafeInteger(item)) return true;
    return false;
  }
  if (value !== null && typeof value === "object") {
    for (const key in value) if (hasUnsafeInteger((value as Record<string, unknown>)[key])) return true;
  }
  return false;
}

/** JSON text of Iceberg metadata or merge state, bigints written as integer literals. */
export function icebergJson(value: unknown): string {
  const text = JSON.stringify(value, (_, v) => (typeof v === "bigint" ? BIG_MARK + v.toString() : v));
  return text.replace(/"\\u0000bigint:(-?\d+)"/g, "$1");
}

/** A snapshot id as it is compared and stored: a number when safe, else a bigint. */
export function snapshotIdOf(value: number | bigint | string): SnapshotId {
  const big = BigInt(value);
  return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
}

/** The Iceberg type of a configured column (timestamps are UTC wall times without a zone, as Athena writes them). */
export function icebergType(type: ColumnType): string {
  switch (type.kind) {
    case "int32":
      return "int";
    case "int64":
      return "long";
    case "decimal":
      return `decimal(${type.precision}, ${type.scale})`;
    default:
      return type.kind;
  }
}

/** The table's current schema. */
export function currentSchema(metadata: IcebergTableMetadata): IcebergSchema {
  const schema = metadata.schemas.find((s) => s["schema-id"] === metadata["current-schema-id"]);
  if (!schema) throw new Error(`metadata of ${metadata.location} has no current schema`);
  return schema;
}

/**
 * The schema for the configured columns, on top of `previous` (if any): a column keeps its field id (matched by
 * name), a new one gets the next id. Changing a column's type is refused (that is a new table).
 */
export function evolveSchema(
  config: TableConfig,
  previous: IcebergSchema | undefined,
  lastColumnId: number,
): { schema: IcebergSchema; lastColumnId: number; changed: boolean } {
  const byName = new Map((previous?.fields ?? []).map((f) => [f.name, f]));
  let last = lastColumnId;
  const fields = config.columns.map((c): IcebergField => {
    const type = icebergType(c.type);
    const known = byName.get(c.name);
    if (known) {
      if (known.type !== type)
        throw new Error(`${config.name}: column ${c.name} is ${known.type} in the table, configured as ${type}`);
      return known;
    }
    last++;
    return { id: last, name: c.name, required: false, type };
  });
  const changed =
    !previous ||
    previous.fields.length !== fields.length ||
    previous.fields.some((f, i) => f.id !== (fields[i] as IcebergField).id);
  const schemaId = previous ? (changed ? previous["schema-id"] + 1 : previous["schema-id"]) : 0;
  return { schema: { type: "struct", "schema-id": schemaId, fields }, lastColumnId: last, changed };
}

/**
 * Snapshot retention for Athena's `VACUUM` (its own property names, also kept as Glue table parameters by the Glue
 * catalog) and for Iceberg's `expire_snapshots` (Spark, Glue's table optimizer): a day, and at least 100 snapshots.
 * A table committed every minute keeps one snapshot a commit in its metadata, which every commit parses and writes
 * whole: Athena's default (5 days) with the weekly VACUUM this stack once had let it reach 17 280 snapshots (11.6 MB,
 * 129 ms to parse and write); a day with a daily VACUUM, at most 2 880 (1.9 MB, 45 ms). At least 100 are kept so that
 * the merge's last snapshot stays an ancestor of the current one while compactions run and the merge is idle (the
 * merge follows other writers' snapshots since its own: `foreignChain`). Set on new tables, added to older ones at
 * their next commit; a value set on the table (ALTER TABLE SET TBLPROPERTIES) is kept. Athena's VACUUM reads the
 * `vacuum_*` names; on the file catalog the merge applies the retention itself at each commit (`expireSnapshots`).
 */
export const SNAPSHOT_RETENTION: Readonly<Record<string, string>> = {
  vacuum_max_snapshot_age_seconds: "86400",
  vacuum_min_snapshots_to_keep: "100",
  "history.expire.max-snapshot-age-ms": "86400000",
  "history.expire.min-snapshots-to-keep": "100",
  // Metadata files: the metadata log names the last 100; older ones are deleted (the file catalog's `retireVersions`,
  // by the orphan sweep; on Glue tables VACUUM's `vacuum_max_metadata_files_to_keep`, also 100 by default).
  "write.metadata.previous-versions-max": "100",
  "write.metadata.delete-after-commit.enabled": "true",
};

/**
 * The snapshot retention the table's properties ask for: the longer age and the larger count of Athena's names and
 * Iceberg's (a value someone set under either is honoured), `SNAPSHOT_RETENTION` where neither is set.
 */
export function snapshotRetention(properties: Readonly<Record<string, string>>): { maxAgeMs: number; minKeep: number } {
  const number = (name: string) => {
    const value = Number(properties[name] ?? SNAPSHOT_RETENTION[name]);
    return Number.isFinite(value) && value >= 0 ? value : Number(SNAPSHOT_RETENTION[name]);
  };
  return {
    maxAgeMs: Math.max(number("vacuum_max_snapshot_age_seconds") * 1000, number("history.expire.max-snapshot-age-ms")),
    minKeep: Math.max(1, number("vacuum_min_snapshots_to_keep"), number("history.expire.min-snapshots-to-keep")),
  };
}

/**
 * The table's snapshots from the current one back through its parents, when that is all the metadata holds: no branch
 * or tag but `main`, no snapshot off the current one's ancestry (a rollback's). Undefined otherwise.
 */
export function plainHistory(metadata: IcebergTableMetadata): IcebergSnapshot[] | undefined {
  if (Object.keys(metadata.refs).some((name) => name !== "main")) return undefined;
  const byId = new Map(metadata.snapshots.map((s) => [s["snapshot-id"], s]));
  const chain: IcebergSnapshot[] = [];
  for (let id = metadata["current-snapshot-id"]; id !== undefined; ) {
    const snapshot = byId.get(id);
    if (!snapshot) break;
    chain.push(snapshot);
    id = snapshot["parent-snapshot-id"];
  }
  return chain.length === metadata.snapshots.length ? chain : undefined;
}

/**
 * The metadata with the snapshots its retention (`snapshotRetention`) lets go removed, with their snapshot-log
 * entries: Iceberg's `expire_snapshots`, the first step of Athena's `VACUUM`, done by the merge at each commit on a
 * catalog no maintenance engine serves (the file catalog; Glue tables are VACUUM's). From
 * the current snapshot back, snapshots are kept while they are among the newest `minKeep` or younger than the age
 * limit: the history kept is one unbroken chain, whose oldest snapshot holds every older file still read (files
 * leave a table and never come back), which the orphan sweep relies on to delete the rest (`iceberg-gc.ts`). Only on
 * a plain history: a table with another branch or tag, or with a snapshot off the current one's ancestry (a
 * rollback), is left whole (returned as is) for `VACUUM` or Spark to expire.
 */
export function expireSnapshots(metadata: IcebergTableMetadata, now: number): IcebergTableMetadata {
  const chain = plainHistory(metadata);
  if (!chain) return metadata;
  const { maxAgeMs, minKeep } = snapshotRetention(metadata.properties);
  let kept = 0;
  while (kept < chain.length && (kept < minKeep || (chain[kept] as IcebergSnapshot)["timestamp-ms"] >= now - maxAgeMs))
    kept++;
  if (kept === chain.length) return metadata;
  const keep = new Set(chain.slice(0, kept).map((s) => s["snapshot-id"]));
  return {
    ...metadata,
    snapshots: metadata.snapshots.filter((s) => keep.has(s["snapshot-id"])),
    "snapshot-log": metadata["snapshot-log"].filter((e) => keep.has(e["snapshot-id"])),
  };
}

/** The metadata of a new table at `location` (no snapshot yet). */
export function newTableMetadata(config: TableConfig, location: string, now: number): IcebergTableMetadata {
  const { schema, lastColumnId } = evolveSchema(config, undefined, 0);
  return {
    "format-version": 2,
    "table-uuid": randomUUID(),
    location,
    "last-sequence-number": 0,
    "last-updated-ms": now,
    "last-column-id": lastColumnId,
    "current-schema-id": schema["schema-id"],
    schemas: [schema],
    "default-spec-id": 0,
    "partition-specs": [{ "spec-id": 0, fields: [] }],
    "last-partition-id": 999,
    "default-sort-order-id": 0,
    "sort-orders": [{ "order-id": 0, fields: [] }],
    properties: {
      "write.format.default": "parquet",
      "write.parquet.compression-codec": "snappy",
      "write.delete.mode": "merge-on-read",
      "write.update.mode": "merge-on-read",
      "write.merge.mode": "merge-on-read",
      ...SNAPSHOT_RETENTION,
    },
    snapshots: [],
    "snapshot-log": [],
    "metadata-log": [],
    refs: {},
  };
}

/** Metadata files the metadata log keeps: the table's `write.metadata.previous-versions-max` (Iceberg's default 100). */
export function previousVersionsMax(properties: Readonly<Record<string, string>>): number {
  const value = Number(properties["write.metadata.previous-versions-max"]);
  return Number.isSafeInteger(value) && value >= 1 ? value : 100;
}

/** The metadata log after a commit on `base` (whose file is `baseFile`): the last `previousVersionsMax` files. */
function metadataLog(
  base: IcebergTableMetadata,
  baseFile: string | undefined,
  properties: Readonly<Record<string, string>>,
): IcebergTableMetadata["metadata-log"] {
  const log = baseFile
    ? [...base["metadata-log"], { "metadata-file": baseFile, "timestamp-ms": base["last-updated-ms"] }]
    : base["metadata-log"];
  return log.slice(-previousVersionsMax(properties));
}

/** A new snapshot id: positive, below 2^53 (exact in JSON and in JavaScript numbers). */
export function newSnapshotId(): number {
  return Math.floor(Math.random() * 2 ** 52) + 1;
}

/** The metadata after committing `snapshot` on `base` (whose file is `baseFile`, for the metadata log). */
export function withSnapshot(
  base: IcebergTableMetadata,
  snapshot: IcebergSnapshot,
  baseFile: string | undefined,
  properties: Record<string, string>,
): IcebergTableMetadata {
  const merged = { ...SNAPSHOT_RETENTION, ...base.properties, ...properties };
  return {
    ...base,
    "last-sequence-number": snapshot["sequence-number"],
    "last-updated-ms": snapshot["timestamp-ms"],
    "current-snapshot-id": snapshot["snapshot-id"],
    properties: merged,
    snapshots: [...base.snapshots, snapshot],
    "snapshot-log": [
      ...base["snapshot-log"],
      { "snapshot-id": snapshot["snapshot-id"], "timestamp-ms": snapshot["timestamp-ms"] },
    ],
    "metadata-log": metadataLog(base, baseFile, merged),
    refs: { ...base.refs, main: { "snapshot-id": snapshot["snapshot-id"], type: "branch" } },
  };
}

/** The metadata with `properties` set and no new snapshot (base file `baseFile`, for the metadata log). */
export function withProperties(
  base: IcebergTableMetadata,
  baseFile: string | undefined,
  now: number,
  properties: Record<string, string>,
): IcebergTableMetadata {
  const merged = { ...SNAPSHOT_RETENTION, ...base.properties, ...properties };
  return {
    ...base,
    "last-updated-ms": Math.max(now, base["last-updated-ms"]),
    properties: merged,
    "metadata-log": metadataLog(base, baseFile, merged),
  };
}

/** The metadata with `config`'s columns as its current schema (a new schema if a column was added). */
export function withConfiguredSchema(base: IcebergTableMetadata, config: TableConfig): IcebergTableMetadata {
  const { schema, lastColumnId, changed } = evolveSchema(config, currentSchema(base), base["last-column-id"]);
  if (!changed) return base;
  return {
    ...base,
    "last-column-id": lastColumnId,
    "current-schema-id": schema["schema-id"],
    schemas: [...base.schemas, schema],
  };
}
