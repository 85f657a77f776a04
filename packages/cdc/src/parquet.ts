/**
 * Writes live rows as Parquet (an Iceberg table's data and position-delete files) straight from the `RowSet` arrays:
 * flat schema, OPTIONAL columns, data pages (v1) with RLE/bit-packed definition levels, dictionary-encoded
 * (RLE_DICTIONARY) when a column chunk has few distinct values and PLAIN otherwise, Snappy, min/max statistics on
 * numeric columns.
 * Types Athena reads: INT32, INT64, DOUBLE, DECIMAL (INT32/INT64/FIXED_LEN_BYTE_ARRAY by precision), UTF8 strings,
 * BOOLEAN, DATE, TIMESTAMP_MICROS (UTC). The Thrift footer, page headers and Snappy come from hyparquet-writer;
 * value encoding is done here, column by column over typed arrays (a generic row-by-row writer spent most of a merge's
 * time here).
 */
import { ByteWriter } from "hyparquet-writer";
import { writePageHeader } from "hyparquet-writer/src/datapage.js";
import { writeMetadata } from "hyparquet-writer/src/metadata.js";
import type { ColumnType, TableConfig } from "./config.ts";
import type { ColumnData, RowSet } from "./rows.ts";
import { snappyCompress } from "./snappy.ts";
import type { Value } from "./values.ts";

type SchemaElement = Parameters<typeof writeMetadata>[1]["schema"][number];
type ColumnChunk = Parameters<typeof writeMetadata>[1]["row_groups"][number]["columns"][number];

/** Rows per row group and per data page. */
const ROW_GROUP_ROWS = 1_000_000;
const PAGE_ROWS = 65_536;

function decimalBytes(precision: number): number {
  let bytes = 1;
  while (2n ** BigInt(8 * bytes - 1) <= 10n ** BigInt(precision)) bytes++;
  return bytes;
}

export function schemaElement(
  name: string,
  type: ColumnType,
  {
    fieldId,
    required = false,
    timestampUtc = true,
  }: { fieldId?: number; required?: boolean; timestampUtc?: boolean } = {},
): SchemaElement {
  const base = {
    name,
    repetition_type: required ? ("REQUIRED" as const) : ("OPTIONAL" as const),
    ...(fieldId !== undefined ? { field_id: fieldId } : {}),
  };
  switch (type.kind) {
    case "int32":
      return { ...base, type: "INT32" };
    case "int64":
      return { ...base, type: "INT64" };
    case "double":
      return { ...base, type: "DOUBLE" };
    case "decimal": {
      const decimal = {
        converted_type: "DECIMAL" as const,
        precision: type.precision,
        scale: type.scale,
        logical_type: { type: "DECIMAL" as const, precision: type.precision, scale: type.scale },
      };
      if (type.precision <= 9) return { ...base, type: "INT32", ...decimal };
      if (type.precision <= 18) return { ...base, type: "INT64", ...decimal };
      return { ...base, type: "FIXED_LEN_BYTE_ARRAY", type_length: decimalBytes(type.precision), ...decimal };
    }
    case "string":
      return { ...base, type: "BYTE_ARRAY", converted_type: "UTF8", logical_type: { type: "STRING" } };
    case "boolean":
      return { ...base, type: "BOOLEAN" };
    case "date":
      return { ...base, type: "INT32", converted_type: "DATE", logical_type: { type: "DATE" } };
    case "timestamp":
      return {
        ...base,
        type: "INT64",
        // A UTC instant (isAdjustedToUTC) for Athena's Hive tables; a wall time without a zone for Iceberg `timestamp`.
        ...(timestampUtc ? { converted_type: "TIMESTAMP_MICROS" as const } : {}),
        logical_type: { type: "TIMESTAMP", isAdjustedToUTC: timestampUtc, unit: "MICROS" },
      };
  }
}

/** A growable byte buffer for one page body. */
class Bytes {
  buffer = Buffer.allocUnsafe(1 << 16);
  length = 0;
  reserve(n: number): void {
    if (this.length + n <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.length + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buffer.copy(next, 0, 0, this.length);
    this.buffer = next;
  }
  u32(v: number): void {
    this.reserve(4);
    this.buffer.writeUInt32LE(v >>> 0, this.length);
    this.length += 4;
  }
  varint(v: number): void {
    this.reserve(5);
    while (v > 0x7f) {
      this.buffer[this.length++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buffer[this.length++] = v;
  }
}

interface Stats {
  nulls: number;
  min?: Value;
  max?: Value;
  /** No min/max for this chunk (a NaN seen). */
  none?: boolean;
}

/**
 * Encodes rows `rows[from..to)` of a column into a page body: definition levels (4-byte length, then one bit-packed
 * run) and the PLAIN values of the non-null rows.
 */
function pageBody(
  column: ColumnData,
  type: ColumnType,
  element: SchemaElement,
  rows: Int32Array,
  from: number,
  to: number,
  out: Bytes,
  stats: Stats,
  dictionary?: Dictionary,
): void {
  const n = to - from;
  const nulls = column.nulls;
  const required = element.repetition_type === "REQUIRED";
  // definition levels: all present -> one RLE run; else bit-packed groups of 8
  let nullCount = 0;
  for (let k = from; k < to; k++) nullCount += nulls[rows[k] as number] as number;
  stats.nulls += nullCount;
  if (required && nullCount > 0) throw new Error(`column ${element.name}: NULL in a required column`);
  // A required column has no definition levels.
  if (!required) writeLevels(nulls, rows, from, to, nullCount, out);

  const present = n - nullCount;
  if (dictionary) {
    writeIds(dictionary, nulls, rows, from, to, present, out);
    return;
  }
  switch (column.storage) {
    case "i32": {
      const values = column.values as Int32Array;
      out.reserve(present * 4);
      const dst = new Int32Array(present);
      let j = 0;
      let min = Number.POSITIVE_INFINITY;
      let max = Number.NEGATIVE_INFINITY;
      for (let k = from; k < to; k++) {
        const i = rows[k] as number;
        if (nulls[i]) continue;
        const v = values[i] as number;
        dst[j++] = v;
        if (v < min) min = v;
        if (v > max) max = v;
      }
      out.buffer.set(new Uint8Array(dst.buffer), out.length);
      out.length += present * 4;
      if (present > 0) widen(stats, min, max);
      return;
    }
    case "i64":
    case "f64": {
      const words = column.words as Int32Array;
      const int32 = element.type === "INT32"; // decimal(p <= 9): the low word of the unscaled int64
      const width = int32 ? 4 : 8;
      out.reserve(present * width);
      const dst = new Int32Array(int32 ? present : present * 2);
      let j = 0;
      for (let k = from; k < to; k++) {
        const i = rows[k] as number;
        if (nulls[i]) continue;
        dst[j++] = words[2 * i] as number;
        if (!int32) dst[j++] = words[2 * i + 1] as number;
      }
      out.buffer.set(new Uint8Array(dst.buffer), out.length);
      out.length += present * width;
      if (present > 0) {
        if (column.storage === "f64") {
          const values = column.values as Float64Array;
          let min = Number.POSITIVE_INFINITY;
          let max = Number.NEGATIVE_INFINITY;
          let nan = false;
          for (let k = from; k < to; k++) {
            const i = rows[k] as number;
            if (nulls[i]) continue;
            const v = values[i] as number;
            if (Number.isNaN(v)) nan = true;
            else {
              if (v < min) min = v;
              if (v > max) max = v;
            }
          }
          // NaN makes float statistics unreliable for some readers: leave them out.
          if (nan) stats.none = true;
          else widen(stats, min, max);
        } else {
          const values = column.values as BigInt64Array;
          let min = values[rows[from] as number] as bigint;
          let max = min;
          let first = true;
          for (let k = from; k < to; k++) {
            const i = rows[k] as number;
            if (nulls[i]) continue;
            const v = values[i] as bigint;
            if (first || v < min) min = v;
            if (first || v > max) max = v;
            first = false;
          }
          widen(stats, min, max);
        }
      }
      return;
    }
    case "bool": {
      const values = column.values as Uint8Array;
      const bytes = Math.ceil(present / 8);
      out.reserve(bytes);
      out.buffer.fill(0, out.length, out.length + bytes);
      let j = 0;
      for (let k = from; k < to; k++) {
        const i = rows[k] as number;
        if (nulls[i]) continue;
        const at = out.length + (j >> 3);
        if (values[i]) out.buffer[at] = (out.buffer[at] as number) | (1 << (j & 7));
        j++;
      }
      out.length += bytes;
      return;
    }
    case "any": {
      const values = column.values as Value[];
      if (type.kind === "decimal") {
        const size = element.type_length as number;
        out.reserve(present * size);
        for (let k = from; k < to; k++) {
          const i = rows[k] as number;
          if (nulls[i]) continue;
          let v = values[i] as bigint;
          for (let b = size - 1; b >= 0; b--) {
            out.buffer[out.length + b] = Number(v & 0xffn);
            v >>= 8n;
          }
          out.length += size;
        }
        return;
      }
      for (let k = from; k < to; k++) {
        const i = rows[k] as number;
        if (nulls[i]) continue;
        const s = values[i] as string;
        out.reserve(4 + s.length * 3);
        const written = out.buffer.write(s, out.length + 4);
        out.buffer.writeUInt32LE(written, out.length);
        out.length += 4 + written;
      }
      return;
    }
  }
}

/** Definition levels of an optional column (4-byte length, then one RLE run, or bit-packed groups of 8). */
function writeLevels(nulls: Uint8Array, rows: Int32Array, from: number, to: number, nullCount: number, out: Bytes) {
  const n = to - from;
  const levelsAt = out.length;
  out.u32(0);
  if (nullCount === 0) {
    out.varint(n << 1);
    out.reserve(1);
    out.buffer[out.length++] = 1;
  } else {
    const groups = Math.ceil(n / 8);
    out.varint((groups << 1) | 1);
    out.reserve(groups);
    out.buffer.fill(0, out.length, out.length + groups);
    for (let k = 0; k < n; k++) {
      const at = out.length + (k >> 3);
      if (!nulls[rows[from + k] as number]) out.buffer[at] = (out.buffer[at] as number) | (1 << (k & 7));
    }
    out.length += groups;
  }
  out.buffer.writeUInt32LE(out.length - levelsAt - 4, levelsAt);
}

function widen(stats: Stats, min: Value, max: Value): void {
  if (stats.min === undefined || (min as number) < (stats.min as number)) stats.min = min;
  if (stats.max === undefined || (max as number) > (stats.max as number)) stats.max = max;
}

/** Most distinct values a column chunk's dictionary holds; past that the chunk is written PLAIN. */
const DICTIONARY_LIMIT = 16_384;

/** A column chunk's dictionary: its entries' ids per row of the set, and the PLAIN-encoded entries. */
interface Dictionary {
  ids: Int32Array;
  size: number;
  bitWidth: number;
  page: Bytes;
  min?: Value;
  max?: Value;
}

/**
 * Builds the dictionary of rows `rows[from..to)` of a column when it has few distinct values (statuses, dates,
 * commit timestamps): each value is then written as a small id instead of in full. Integer-like and string columns
 * only (a double's -0 and NaN do not survive a Map); undefined when there are too many distinct values.
 */
function buildDictionary(
  column: ColumnData,
  type: ColumnType,
  element: SchemaElement,
  rows: Int32Array,
  from: number,
  to: number,
): Dictionary | undefined {
  const storage = column.storage;
  if (storage === "f64" || storage === "bool" || (storage === "any" && type.kind !== "string")) return undefined;
  const nulls = column.nulls;
  const ids = new Int32Array(column.nulls.length);
  const page = new Bytes();
  const index = new Map<number | string, number>();
  let min: Value | undefined;
  let max: Value | undefined;
  const int32 = element.type === "INT32";
  let lastKey: number | string | undefined;
  let lastId = 0;
  for (let k = from; k < to; k++) {
    const i = rows[k] as number;
    if (nulls[i]) continue;
    // Most values distinct so far (ids, amounts): give up early.
    if (k - from === 8192 && index.size > 4096) return undefined;
    let key: number | string;
    if (storage === "i32") key = (column.values as Int32Array)[i] as number;
    else if (storage === "i64") {
      const words = column.words as Int32Array;
      const hi = words[2 * i + 1] as number;
      if (hi <= -0x200000 || hi >= 0x200000) return undefined; // beyond 2^53: not worth a bigint key
      key = hi * 4294967296 + ((words[2 * i] as number) >>> 0);
    } else key = (column.values as string[])[i] as string;
    if (key === lastKey) {
      ids[i] = lastId;
      continue;
    }
    let id = index.get(key);
    if (id === undefined) {
      id = index.size;
      if (id >= DICTIONARY_LIMIT) return undefined;
      index.set(key, id);
      if (typeof key === "string") {
        page.reserve(4 + key.length * 3);
        const written = page.buffer.write(key, page.length + 4);
        page.buffer.writeUInt32LE(written, page.length);
        page.length += 4 + written;
      } else {
        if (storage === "i64") {
          const words = column.words as Int32Array;
          page.reserve(8);
          page.buffer.writeInt32LE(words[2 * i] as number, page.length);
          page.length += 4;
          if (!int32) {
            page.buffer.writeInt32LE(words[2 * i + 1] as number, page.length);
            page.length += 4;
          }
        } else {
          page.reserve(4);
          page.buffer.writeInt32LE(key, page.length);
          page.length += 4;
        }
        if (min === undefined || key < (min as number)) min = key;
        if (max === undefined || key > (max as number)) max = key;
      }
    }
    ids[i] = id;
    lastKey = key;
    lastId = id;
  }
  let bitWidth = 1;
  while (1 << bitWidth < index.size) bitWidth++;
  const asValue = (v: Value | undefined) =>
    v === undefined ? undefined : storage === "i64" ? BigInt(v as number) : (v as number);
  return { ids, size: index.size, bitWidth, page, min: asValue(min), max: asValue(max) };
}

/** The ids of a page's non-null values: bit width, then bit-packed groups of 8 (RLE/bit-packed hybrid). */
function writeIds(
  dictionary: Dictionary,
  nulls: Uint8Array,
  rows: Int32Array,
  from: number,
  to: number,
  present: number,
  out: Bytes,
): void {
  const width = dictionary.bitWidth;
  out.reserve(1);
  out.buffer[out.length++] = width;
  const groups = Math.ceil(present / 8);
  out.varint((groups << 1) | 1);
  const bytes = groups * width;
  out.reserve(bytes);
  const buffer = out.buffer;
  buffer.fill(0, out.length, out.length + bytes);
  let bit = out.length * 8;
  const ids = dictionary.ids;
  for (let k = from; k < to; k++) {
    const i = rows[k] as number;
    if (nulls[i]) continue;
    let v = ids[i] as number;
    let left = width;
    while (left > 0) {
      const at = bit >> 3;
      const shift = bit & 7;
      const take = Math.min(8 - shift, left);
      buffer[at] = (buffer[at] as number) | ((v & ((1 << take) - 1)) << shift);
      v >>>= take;
      left -= take;
      bit += take;
    }
  }
  out.length += bytes;
}

/** How `writeParquet` writes a file: layout, and the Iceberg additions (field ids, required columns, schema). */
export interface ParquetOptions {
  rowGroupRows?: number;
  pageRows?: number;
  dictionaries?: boolean;
  /** Parquet field id of each column (Iceberg maps columns by id). */
  fieldIds?: readonly number[];
  /** Columns written REQUIRED (no definition levels; a NULL throws). */
  required?: readonly boolean[];
  /** Timestamps as UTC instants (default) or as wall times without a zone (Iceberg `timestamp`). */
  timestampUtc?: boolean;
  /** Footer key/value metadata (Iceberg writers put `iceberg.schema` there). */
  keyValue?: Record<string, string>;
}

/** Encodes the given rows (default: the live ones) of a set as one Parquet file. */
export function writeParquet(
  config: Pick<TableConfig, "columns">,
  set: RowSet,
  rows: Int32Array = set.liveRows(),
  {
    rowGroupRows = ROW_GROUP_ROWS,
    pageRows = PAGE_ROWS,
    dictionaries = true,
    fieldIds,
    required,
    timestampUtc = true,
    keyValue,
  }: ParquetOptions = {},
): Uint8Array {
  const columns = config.columns;
  const schema: SchemaElement[] = [
    { name: "root", num_children: columns.length },
    ...columns.map((c, i) =>
      schemaElement(c.name, c.type, {
        ...(fieldIds ? { fieldId: fieldIds[i] as number } : {}),
        required: required?.[i] ?? false,
        timestampUtc,
      }),
    ),
  ];
  const writer = new ByteWriter(65_536 + rows.length * columns.length * 6);
  writer.appendUint32(0x31524150); // PAR1
  const rowGroups: Parameters<typeof writeMetadata>[1]["row_groups"] = [];
  const body = new Bytes();
  for (let start = 0; start < rows.length || (start === 0 && rows.length === 0); start += rowGroupRows) {
    const end = Math.min(rows.length, start + rowGroupRows);
    const groupStart = writer.offset;
    const chunks: ColumnChunk[] = [];
    let groupBytes = 0n;
    for (const [c, column] of columns.entries()) {
      const element = schema[c + 1] as SchemaElement;
      const stats: Stats = { nulls: 0 };
      const chunkStart = writer.offset;
      let uncompressed = 0;
      const data = set.columns[c] as ColumnData;
      const dictionary = dictionaries ? buildDictionary(data, column.type, element, rows, start, end) : undefined;
      if (dictionary) {
        const raw = dictionary.page.buffer.subarray(0, dictionary.page.length);
        const compressed = snappyCompress(raw);
        writePageHeader(writer, {
          type: "DICTIONARY_PAGE",
          uncompressed_page_size: raw.length,
          compressed_page_size: compressed.length,
          dictionary_page_header: { num_values: dictionary.size, encoding: "PLAIN" },
        });
        uncompressed += writer.offset - chunkStart + raw.length;
        writer.appendBytes(compressed);
        if (dictionary.min !== undefined) widen(stats, dictionary.min, dictionary.max as Value);
      }
      const dataStart = writer.offset;
      for (let from = start; from < end || from === start; from += pageRows) {
        const to = Math.min(end, from + pageRows);
        body.length = 0;
        pageBody(data, column.type, element, rows, from, to, body, stats, dictionary);
        const raw = body.buffer.subarray(0, body.length);
        const compressed = snappyCompress(raw);
        const headerStart = writer.offset;
        writePageHeader(writer, {
          type: "DATA_PAGE",
          uncompressed_page_size: raw.length,
          compressed_page_size: compressed.length,
          data_page_header: {
            num_values: to - from,
            encoding: dictionary ? "RLE_DICTIONARY" : "PLAIN",
            definition_level_encoding: "RLE",
            repetition_level_encoding: "RLE",
          },
        });
        uncompressed += writer.offset - headerStart + raw.length;
        writer.appendBytes(compressed);
        if (to >= end) break;
      }
      const statistics: Record<string, unknown> = { null_count: BigInt(stats.nulls) };
      if (!stats.none && stats.min !== undefined && stats.max !== undefined) {
        statistics.min_value = stats.min;
        statistics.max_value = stats.max;
      }
      groupBytes += BigInt(uncompressed);
      chunks.push({
        file_offset: BigInt(chunkStart),
        meta_data: {
          type: element.type as never,
          encodings: dictionary ? ["PLAIN", "RLE", "RLE_DICTIONARY"] : ["PLAIN", "RLE"],
          path_in_schema: [column.name],
          codec: "SNAPPY",
          num_values: BigInt(end - start),
          total_uncompressed_size: BigInt(uncompressed),
          total_compressed_size: BigInt(writer.offset - chunkStart),
          data_page_offset: BigInt(dataStart),
          ...(dictionary ? { dictionary_page_offset: BigInt(chunkStart) } : {}),
          statistics: statistics as never,
        },
      });
    }
    rowGroups.push({
      columns: chunks,
      total_byte_size: groupBytes,
      num_rows: BigInt(end - start),
      total_compressed_size: BigInt(writer.offset - groupStart),
    });
    if (end >= rows.length) break;
  }
  writeMetadata(writer, {
    version: 1,
    created_by: "sluice cdc-merge",
    schema,
    num_rows: BigInt(rows.length),
    row_groups: rowGroups,
    ...(keyValue ? { key_value_metadata: Object.entries(keyValue).map(([key, value]) => ({ key, value })) } : {}),
    metadata_length: 0,
  } as never);
  writer.appendUint32(0x31524150);
  return new Uint8Array(writer.getBuffer());
}
