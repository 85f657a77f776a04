/**
 * Iceberg v2 manifests and manifest lists (spec: "Manifests", "Manifest Lists"), written as Avro container files with
 * the spec's field ids. A manifest lists the data files (content 0) or delete files (content 1: position deletes) a
 * snapshot added; a manifest list is a snapshot's set of manifests. Tables here are unpartitioned (spec id 0, an empty
 * partition struct), so partition summaries are empty.
 */

import type avro from "avsc";
import { avroRecordType, readAvroContainer, writeAvroContainer } from "./avro.ts";
import { type SnapshotId, snapshotIdOf } from "./iceberg-metadata.ts";
import type { FileMetrics, IntMap } from "./iceberg-metrics.ts";

const optional = (type: avro.Schema) => ["null", type];

/** An Iceberg map<int, T> in Avro: an array of key/value records (spec, "Avro" type mapping). */
function intMap(name: string, keyId: number, valueId: number, valueType: avro.Schema): avro.Schema {
  return {
    type: "array",
    logicalType: "map",
    items: {
      type: "record",
      name,
      fields: [
        { name: "key", type: "int", "field-id": keyId },
        { name: "value", type: valueType, "field-id": valueId },
      ],
    },
  } as unknown as avro.Schema;
}

const field = (name: string, type: avro.Schema, id: number, nullable = false) =>
  nullable ? { name, type: optional(type), default: null, "field-id": id } : { name, type, "field-id": id };

/** `data_file` (field 2 of a manifest entry), v2. */
const dataFileSchema = {
  type: "record",
  name: "r2",
  fields: [
    field("content", "int", 134),
    field("file_path", "string", 100),
    field("file_format", "string", 101),
    field("partition", { type: "record", name: "r102", fields: [] } as avro.Schema, 102),
    field("record_count", "long", 103),
    field("file_size_in_bytes", "long", 104),
    field("column_sizes", intMap("k117_v118", 117, 118, "long"), 108, true),
    field("value_counts", intMap("k119_v120", 119, 120, "long"), 109, true),
    field("null_value_counts", intMap("k121_v122", 121, 122, "long"), 110, true),
    field("nan_value_counts", intMap("k138_v139", 138, 139, "long"), 137, true),
    field("lower_bounds", intMap("k126_v127", 126, 127, "bytes"), 125, true),
    field("upper_bounds", intMap("k129_v130", 129, 130, "bytes"), 128, true),
    field("key_metadata", "bytes", 131, true),
    field("split_offsets", { type: "array", items: "long", "element-id": 133 } as avro.Schema, 132, true),
    field("equality_ids", { type: "array", items: "int", "element-id": 136 } as avro.Schema, 135, true),
    field("sort_order_id", "int", 140, true),
  ],
};

const manifestEntryType = avroRecordType({
  type: "record",
  name: "manifest_entry",
  fields: [
    field("status", "int", 0),
    field("snapshot_id", "long", 1, true),
    field("sequence_number", "long", 3, true),
    field("file_sequence_number", "long", 4, true),
    field("data_file", dataFileSchema as avro.Schema, 2),
  ],
} as avro.Schema);

const manifestFileType = avroRecordType({
  type: "record",
  name: "manifest_file",
  fields: [
    field("manifest_path", "string", 500),
    field("manifest_length", "long", 501),
    field("partition_spec_id", "int", 502),
    field("content", "int", 517),
    field("sequence_number", "long", 515),
    field("min_sequence_number", "long", 516),
    field("added_snapshot_id", "long", 503),
    field("added_files_count", "int", 504),
    field("existing_files_count", "int", 505),
    field("deleted_files_count", "int", 506),
    field("added_rows_count", "long", 512),
    field("existing_rows_count", "long", 513),
    field("deleted_rows_count", "long", 514),
    field(
      "partitions",
      {
        type: "array",
        "element-id": 508,
        items: {
          type: "record",
          name: "r508",
          fields: [
            field("contains_null", "boolean", 509),
            field("contains_nan", "boolean", 518, true),
            field("lower_bound", "bytes", 510, true),
            field("upper_bound", "bytes", 511, true),
          ],
        },
      } as avro.Schema,
      507,
      true,
    ),
    field("key_metadata", "bytes", 519, true),
  ],
} as avro.Schema);

/** What a manifest says about one file. */
export interface ManifestFile {
  /** 0 data, 1 position deletes. */
  content: 0 | 1;
  /** Absolute location, as readers open it (and as position deletes name data files). */
  path: string;
  recordCount: number;
  sizeInBytes: number;
  /** The entry's status: ADDED (1) unless set (0 EXISTING, 2 DELETED: a rewrite's removed file). */
  status?: 0 | 1 | 2;
  /** The file's data sequence number, written for EXISTING and DELETED entries (ADDED ones inherit it). */
  sequenceNumber?: number;
  /** The file's own sequence number when it differs from its data sequence number (else `sequenceNumber`). */
  fileSequenceNumber?: number;
  /** The snapshot that added the file, for an EXISTING entry (else the manifest's snapshot). */
  snapshotId?: SnapshotId;
  /** Column metrics (counts, bounds) by field id (`iceberg-metrics.ts`); none written when absent. */
  metrics?: FileMetrics;
}

/** A manifest as the manifest list records it. */
export interface ManifestListEntry {
  path: string;
  length: number;
  /** 0 data, 1 deletes. */
  content: 0 | 1;
  sequenceNumber: number;
  minSequenceNumber: number;
  addedSnapshotId: SnapshotId;
  addedFiles: number;
  existingFiles: number;
  deletedFiles: number;
  addedRows: number;
  existingRows: number;
  deletedRows: number;
}

/** A map of bytes as avsc writes it (Buffers). */
const asBuffers = (map: IntMap<Uint8Array>) =>
  map.map(({ key, value }) => ({ key, value: Buffer.from(value.buffer, value.byteOffset, value.byteLength) }));

/** A map<int, long> or map<int, bytes> of a manifest entry as read (undefined when the writer left it out). */
function intMapOf<T>(raw: unknown, value: (v: unknown) => T): IntMap<T> | undefined {
  return Array.isArray(raw)
    ? raw.map((e: { key: number; value: unknown }) => ({ key: Number(e.key), value: value(e.value) }))
    : undefined;
}

/** The column metrics of a `data_file` record as read, whatever wrote it. */
function metricsOf(file: Record<string, unknown>): FileMetrics | undefined {
  const count = (v: unknown) => Number(v);
  const bytes = (v: unknown) => new Uint8Array(v as Uint8Array);
  const metrics: FileMetrics = {};
  const columnSizes = intMapOf(file.column_sizes, count);
  const valueCounts = intMapOf(file.value_counts, count);
  const nullValueCounts = intMapOf(file.null_value_counts, count);
  const nanValueCounts = intMapOf(file.nan_value_counts, count);
  const lowerBounds = intMapOf(file.lower_bounds, bytes);
  const upperBounds = intMapOf(file.upper_bounds, bytes);
  if (columnSizes) metrics.columnSizes = columnSizes;
  if (valueCounts) metrics.valueCounts = valueCounts;
  if (nullValueCounts) metrics.nullValueCounts = nullValueCounts;
  if (nanValueCounts) metrics.nanValueCounts = nanValueCounts;
  if (lowerBounds) metrics.lowerBounds = lowerBounds;
  if (upperBounds) metrics.upperBounds = upperBounds;
  return Object.keys(metrics).length > 0 ? metrics : undefined;
}

/**
 * A manifest of files added by snapshot `snapshotId` (status 1, ADDED; their sequence numbers are inherited from the
 * manifest list entry, as the spec allows for added files).
 */
export function writeManifest(
  files: readonly ManifestFile[],
  content: 0 | 1,
  snapshotId: SnapshotId,
  schemaJson: string,
  schemaId: number,
): Uint8Array {
  const records = files.map((f) => ({
    status: f.status ?? 1,
    snapshot_id: f.snapshotId ?? snapshotId,
    sequence_number: f.sequenceNumber ?? null,
    file_sequence_number: f.fileSequenceNumber ?? f.sequenceNumber ?? null,
    data_file: {
      content: f.content,
      file_path: f.path,
      file_format: "PARQUET",
      partition: {},
      record_count: f.recordCount,
      file_size_in_bytes: f.sizeInBytes,
      column_sizes: f.metrics?.columnSizes ?? null,
      value_counts: f.metrics?.valueCounts ?? null,
      null_value_counts: f.metrics?.nullValueCounts ?? null,
      nan_value_counts: f.metrics?.nanValueCounts ?? null,
      lower_bounds: f.metrics?.lowerBounds ? asBuffers(f.metrics.lowerBounds) : null,
      upper_bounds: f.metrics?.upperBounds ? asBuffers(f.metrics.upperBounds) : null,
      key_metadata: null,
      split_offsets: null,
      equality_ids: null,
      sort_order_id: content === 0 ? 0 : null,
    },
  }));
  return writeAvroContainer(manifestEntryType, records, {
    schema: schemaJson,
    "schema-id": String(schemaId),
    "partition-spec": "[]",
    "partition-spec-id": "0",
    "format-version": "2",
    content: content === 0 ? "data" : "deletes",
  });
}

/** A snapshot's manifest list. */
export function writeManifestList(
  manifests: readonly ManifestListEntry[],
  snapshotId: SnapshotId,
  parentSnapshotId: SnapshotId | undefined,
  sequenceNumber: number,
): Uint8Array {
  const records = manifests.map((m) => ({
    manifest_path: m.path,
    manifest_length: m.length,
    partition_spec_id: 0,
    content: m.content,
    sequence_number: m.sequenceNumber,
    min_sequence_number: m.minSequenceNumber,
    added_snapshot_id: m.addedSnapshotId,
    added_files_count: m.addedFiles,
    existing_files_count: m.existingFiles,
    deleted_files_count: m.deletedFiles,
    added_rows_count: m.addedRows,
    existing_rows_count: m.existingRows,
    deleted_rows_count: m.deletedRows,
    partitions: [],
    key_metadata: null,
  }));
  return writeAvroContainer(manifestFileType, records, {
    "snapshot-id": String(snapshotId),
    "parent-snapshot-id": parentSnapshotId === undefined ? "null" : String(parentSnapshotId),
    "sequence-number": String(sequenceNumber),
    "format-version": "2",
  });
}

/** A manifest list as written by anyone (Athena's compaction included): its manifests. */
export function readManifestList(bytes: Uint8Array): ManifestListEntry[] {
  return readAvroContainer(bytes).records.map((record) => {
    const r = record as Record<string, number | bigint | string>;
    const n = (name: string) => Number(r[name] ?? 0);
    const content = n("content");
    if (content !== 0 && content !== 1) throw new Error(`manifest ${r.manifest_path}: content ${content}`);
    if (n("partition_spec_id") !== 0)
      throw new Error(`manifest ${r.manifest_path}: partition spec ${r.partition_spec_id}`);
    return {
      path: String(r.manifest_path),
      length: n("manifest_length"),
      content,
      sequenceNumber: n("sequence_number"),
      minSequenceNumber: n("min_sequence_number"),
      addedSnapshotId: snapshotIdOf(r.added_snapshot_id as number | bigint),
      addedFiles: n("added_files_count"),
      existingFiles: n("existing_files_count"),
      deletedFiles: n("deleted_files_count"),
      addedRows: n("added_rows_count"),
      existingRows: n("existing_rows_count"),
      deletedRows: n("deleted_rows_count"),
    };
  });
}

/** An entry of a manifest: a file and its status in the snapshot that wrote the manifest. */
export interface ManifestEntry {
  /** 0 EXISTING, 1 ADDED, 2 DELETED (by the snapshot that wrote the manifest). */
  status: 0 | 1 | 2;
  /** 0 data, 1 position deletes, 2 equality deletes. */
  content: 0 | 1 | 2;
  path: string;
  recordCount: number;
  sizeInBytes: number;
  /** As written: null for an ADDED entry inherits the manifest list entry's (its snapshot, its sequence number). */
  snapshotId: SnapshotId | null;
  sequenceNumber: number | null;
  fileSequenceNumber: number | null;
  /** The file's column metrics as written (carried into merged manifests). */
  metrics?: FileMetrics;
}

/** The entries of a manifest, as written by anyone. */
export function readManifest(bytes: Uint8Array): ManifestEntry[] {
  const orNull = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return readAvroContainer(bytes).records.map((record) => {
    const r = record as {
      status: number;
      snapshot_id?: number | bigint | null;
      sequence_number?: number | bigint | null;
      file_sequence_number?: number | bigint | null;
      data_file: Record<string, unknown>;
    };
    const file = r.data_file;
    const metrics = metricsOf(file);
    return {
      ...(metrics ? { metrics } : {}),
      status: r.status as 0 | 1 | 2,
      content: Number(file.content ?? 0) as 0 | 1 | 2,
      path: String(file.file_path),
      recordCount: Number(file.record_count),
      sizeInBytes: Number(file.file_size_in_bytes),
      snapshotId: r.snapshot_id === null || r.snapshot_id === undefined ? null : snapshotIdOf(r.snapshot_id),
      sequenceNumber: orNull(r.sequence_number),
      fileSequenceNumber: orNull(r.file_sequence_number),
    };
  });
}

/**
 * A manifest's live files (DELETED entries dropped) as EXISTING entries of a merged manifest: their snapshot and
 * sequence numbers made explicit, an ADDED entry's null ones inherited from the manifest list entry (spec,
 * "Sequence Number Inheritance"), so that position deletes keep applying to exactly the data files they did.
 */
export function existingEntries(manifest: ManifestListEntry, entries: readonly ManifestEntry[]): ManifestFile[] {
  const out: ManifestFile[] = [];
  for (const e of entries) {
    if (e.status === 2) continue;
    if (e.content === 2) throw new Error(`manifest ${manifest.path}: equality deletes (${e.path}) are not merged`);
    const inherited = e.status === 1 ? manifest.sequenceNumber : null;
    const sequenceNumber = e.sequenceNumber ?? inherited;
    if (sequenceNumber === null)
      throw new Error(`manifest ${manifest.path}: existing entry ${e.path} has no sequence number`);
    out.push({
      content: e.content,
      path: e.path,
      recordCount: e.recordCount,
      sizeInBytes: e.sizeInBytes,
      status: 0,
      sequenceNumber,
      fileSequenceNumber: e.fileSequenceNumber ?? inherited ?? sequenceNumber,
      snapshotId: e.snapshotId ?? manifest.addedSnapshotId,
      ...(e.metrics ? { metrics: e.metrics } : {}),
    });
  }
  return out;
}
