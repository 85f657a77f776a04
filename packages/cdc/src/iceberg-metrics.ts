/**
 * Column metrics of a data file for its manifest entry (Iceberg spec, "Manifests": `value_counts`,
 * `null_value_counts`, `lower_bounds`, `upper_bounds`, by field id): what lets readers (Athena, Trino, Spark, DuckDB)
 * skip the files whose range cannot match a query's predicate (`WHERE order_id = 42`, `WHERE updated_at >= …`).
 * Bounds are written for the numeric types, whose order is their numeric order (int, long, date, timestamp, decimal
 * of up to 18 digits, and double: NaN never a bound but counted in `nan_value_counts`, -0 before +0 as the spec
 * asks); none for strings (Iceberg orders them by UTF-8 bytes and truncates them, where JavaScript compares UTF-16
 * units) or booleans. A column without bounds is never used to skip a file, so leaving one out costs pruning, never a
 * row; a wrong bound would lose rows, hence only the exact cases.
 */
import type { ColumnType, TableConfig } from "./config.ts";
import type { ColumnData, RowSet } from "./rows.ts";
import type { Value } from "./values.ts";

/** An Iceberg map<int, T> as written in Avro: key/value pairs. */
export type IntMap<T> = { key: number; value: T }[];

/** The metrics of a data file, as the manifest writes them (absent maps are written as null). */
export interface FileMetrics {
  columnSizes?: IntMap<number>;
  valueCounts?: IntMap<number>;
  nullValueCounts?: IntMap<number>;
  nanValueCounts?: IntMap<number>;
  lowerBounds?: IntMap<Uint8Array>;
  upperBounds?: IntMap<Uint8Array>;
}

/** Whether bounds are written for a column of this type. */
function bounded(type: ColumnType): boolean {
  switch (type.kind) {
    case "int32":
    case "int64":
    case "date":
    case "timestamp":
    case "double":
      return true;
    case "decimal":
      return type.precision <= 18;
    default:
      return false;
  }
}

/**
 * A value's single-value binary form (spec, Appendix D): int and date 4 bytes little-endian, long and timestamp
 * (microseconds) 8 bytes little-endian, double 8 bytes little-endian IEEE 754, decimal its unscaled value as big-endian
 * two's complement in the fewest bytes; undefined for the types without bounds, and for NaN.
 */
export function boundBytes(type: ColumnType, value: Value): Uint8Array | undefined {
  if (!bounded(type)) return undefined;
  switch (type.kind) {
    case "double": {
      if (Number.isNaN(value)) return undefined;
      const out = new Uint8Array(8);
      new DataView(out.buffer).setFloat64(0, Number(value), true);
      return out;
    }
    case "int32":
    case "date": {
      const out = new Uint8Array(4);
      new DataView(out.buffer).setInt32(0, Number(value), true);
      return out;
    }
    case "int64":
    case "timestamp": {
      const out = new Uint8Array(8);
      new DataView(out.buffer).setBigInt64(0, BigInt(value as bigint | number), true);
      return out;
    }
    default: {
      // decimal: the fewest bytes whose top bit is the sign.
      let v = BigInt(value as bigint | number);
      const bytes: number[] = [];
      for (;;) {
        const low = Number(v & 0xffn);
        bytes.unshift(low);
        v >>= 8n;
        if ((v === 0n && low < 0x80) || (v === -1n && low >= 0x80)) break;
      }
      return Uint8Array.from(bytes);
    }
  }
}

/** The value of a bound written by `boundBytes` (tests, readers of our manifests). */
export function decodeBound(type: ColumnType, bytes: Uint8Array): Value {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (type.kind) {
    case "double":
      return view.getFloat64(0, true);
    case "int32":
    case "date":
      return view.getInt32(0, true);
    case "int64":
    case "timestamp":
      return view.getBigInt64(0, true);
    default: {
      let v = 0n;
      for (const b of bytes) v = (v << 8n) | BigInt(b);
      const bits = BigInt(bytes.length * 8);
      return bytes.length > 0 && (bytes[0] as number) >= 0x80 ? v - (1n << bits) : v;
    }
  }
}

/** The metrics of the file holding `rows` of `set` (in any order), its columns' field ids `fieldIds`. */
export function columnMetrics(
  config: Pick<TableConfig, "columns">,
  set: RowSet,
  rows: Int32Array,
  fieldIds: readonly number[],
): Required<Pick<FileMetrics, "valueCounts" | "nullValueCounts" | "nanValueCounts" | "lowerBounds" | "upperBounds">> {
  const metrics = {
    valueCounts: [] as IntMap<number>,
    nullValueCounts: [] as IntMap<number>,
    nanValueCounts: [] as IntMap<number>,
    lowerBounds: [] as IntMap<Uint8Array>,
    upperBounds: [] as IntMap<Uint8Array>,
  };
  config.columns.forEach((column, c) => {
    const key = fieldIds[c] as number;
    const data = set.columns[c] as ColumnData;
    const flags = data.nulls;
    const n = rows.length;
    let nulls = 0;
    for (let k = 0; k < n; k++) nulls += flags[rows[k] as number] as number;
    metrics.valueCounts.push({ key, value: rows.length });
    metrics.nullValueCounts.push({ key, value: nulls });
    if (data.storage === "f64") {
      const bounds = doubleBounds(data, rows);
      metrics.nanValueCounts.push({ key, value: bounds.nans });
      if (bounds.min === undefined) return;
      metrics.lowerBounds.push({ key, value: boundBytes(column.type, bounds.min) as Uint8Array });
      metrics.upperBounds.push({ key, value: boundBytes(column.type, bounds.max as number) as Uint8Array });
      return;
    }
    if (!bounded(column.type) || nulls === rows.length) return;
    // Integer-like columns are stored as int32 or int64 arrays (`storageOf`); a bounded type never has another.
    let min: number | bigint;
    let max: number | bigint;
    if (data.storage === "i32") {
      const values = data.values as Int32Array;
      let lo = Number.POSITIVE_INFINITY;
      let hi = Number.NEGATIVE_INFINITY;
      for (let k = 0; k < n; k++) {
        const i = rows[k] as number;
        if (flags[i]) continue;
        const v = values[i] as number;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      min = lo;
      max = hi;
    } else if (data.storage === "i64") {
      // Compared as (high word signed, low word unsigned) pairs: no BigInt per row.
      const words = data.words as Int32Array;
      let least = -1;
      let greatest = -1;
      let leastHi = 0;
      let leastLo = 0;
      let greatestHi = 0;
      let greatestLo = 0;
      for (let k = 0; k < n; k++) {
        const i = rows[k] as number;
        if (flags[i]) continue;
        const hi = words[2 * i + 1] as number;
        const lo = (words[2 * i] as number) >>> 0;
        if (least < 0 || hi < leastHi || (hi === leastHi && lo < leastLo)) {
          least = i;
          leastHi = hi;
          leastLo = lo;
        }
        if (greatest < 0 || hi > greatestHi || (hi === greatestHi && lo > greatestLo)) {
          greatest = i;
          greatestHi = hi;
          greatestLo = lo;
        }
      }
      const values = data.values as BigInt64Array;
      min = values[least] as bigint;
      max = values[greatest] as bigint;
    } else return;
    metrics.lowerBounds.push({ key, value: boundBytes(column.type, min as Value) as Uint8Array });
    metrics.upperBounds.push({ key, value: boundBytes(column.type, max as Value) as Uint8Array });
  });
  return metrics;
}

/**
 * The least and greatest non-NaN value of a double column's `rows` (IEEE 754 totalOrder for zeros: -0 is the least of
 * a -0 and a +0), and its NaNs; no bounds when every value is NULL or NaN.
 */
function doubleBounds(data: ColumnData, rows: Int32Array): { min?: number; max?: number; nans: number } {
  const values = data.values as Float64Array;
  const flags = data.nulls;
  let nans = 0;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let any = false;
  let negativeZero = false;
  let positiveZero = false;
  for (let k = 0; k < rows.length; k++) {
    const i = rows[k] as number;
    if (flags[i]) continue;
    const v = values[i] as number;
    if (Number.isNaN(v)) {
      nans++;
      continue;
    }
    any = true;
    if (v < min) min = v;
    if (v > max) max = v;
    if (v === 0) {
      if (1 / v < 0) negativeZero = true;
      else positiveZero = true;
    }
  }
  if (!any) return { nans };
  // `<` and `>` do not tell -0 from +0: a zero bound is -0 if any -0 is there (least), +0 if any +0 is (greatest).
  if (min === 0) min = negativeZero ? -0 : 0;
  if (max === 0) max = positiveZero ? 0 : -0;
  return { min, max, nans };
}
