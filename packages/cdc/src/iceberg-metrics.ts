/**
 * Column metrics of a data file for its manifest entry (Iceberg spec, "Manifests": `value_counts`,
 * `null_value_counts`, `lower_bounds`, `upper_bounds`, by field id): what lets readers (Athena, Trino, Spark, DuckDB)
 * skip the files whose range cannot match a query's predicate (`WHERE order_id = 42`, `WHERE updated_at >= …`).
 * Bounds are written for every type the merge writes: numbers in their numeric order (int, long, date, timestamp,
 * decimal, and double: NaN never a bound but counted in `nan_value_counts`, -0 before +0 as the spec asks), booleans
 * (false before true), and strings in the order of their UTF-8 bytes, which is code-point order (JavaScript's `<`
 * compares UTF-16 units, which puts U+10000 and above before U+E000..U+FFFF: not used). A reader skips a file whose
 * bounds exclude a predicate's value, so a bound must never be inside the values: a string's lower bound is a prefix of
 * the least value, its upper bound the greatest value or, truncated, a string above it (Iceberg's `truncate(N)`).
 * How much is written per column follows Iceberg's metrics modes (`metricsModes`): by default counts and bounds, strings
 * truncated to 16 characters, as Iceberg's own writers do.
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

/**
 * How much of a column's metrics a data file's manifest entry carries (Iceberg's metrics modes): nothing (`none`),
 * counts only (`counts`), counts and bounds with strings truncated to N characters (a number: `truncate(N)`), or counts
 * and whole bounds (`full`).
 */
export type MetricsMode = "none" | "counts" | "full" | number;

/** Iceberg's default mode (`write.metadata.metrics.default`): `truncate(16)`. */
export const DEFAULT_METRICS_MODE: MetricsMode = 16;

function parseMetricsMode(text: string | undefined): MetricsMode | undefined {
  const mode = text?.trim().toLowerCase();
  if (mode === "none" || mode === "counts" || mode === "full") return mode;
  const length = /^truncate\((\d+)\)$/.exec(mode ?? "")?.[1];
  return length !== undefined && Number(length) > 0 ? Number(length) : undefined;
}

/**
 * Each column's metrics mode from the table's properties: `write.metadata.metrics.column.<name>`, else
 * `write.metadata.metrics.default`, else `truncate(16)`. A value Iceberg would not parse counts as unset.
 */
export function metricsModes(
  properties: Readonly<Record<string, string>>,
  columns: readonly { name: string }[],
): MetricsMode[] {
  const fallback = parseMetricsMode(properties["write.metadata.metrics.default"]) ?? DEFAULT_METRICS_MODE;
  return columns.map((c) => parseMetricsMode(properties[`write.metadata.metrics.column.${c.name}`]) ?? fallback);
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

/**
 * A value's single-value binary form (spec, Appendix D): int and date 4 bytes little-endian, long and timestamp
 * (microseconds) 8 bytes little-endian, double 8 bytes little-endian IEEE 754, decimal its unscaled value as big-endian
 * two's complement in the fewest bytes, boolean one byte (0 or 1), string its UTF-8 bytes (whole: truncation is
 * `columnMetrics`'s); undefined for NaN.
 */
export function boundBytes(type: ColumnType, value: Value): Uint8Array | undefined {
  switch (type.kind) {
    case "string":
      return utf8.encode(value as string);
    case "boolean":
      return Uint8Array.of(value ? 1 : 0);
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
    case "string":
      return utf8Decoder.decode(bytes);
    case "boolean":
      return bytes[0] === 1;
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

/**
 * The metrics of the file holding `rows` of `set` (in any order), its columns' field ids `fieldIds`, each column's as
 * much as its mode says (`metricsModes`; by default `truncate(16)`).
 */
export function columnMetrics(
  config: Pick<TableConfig, "columns">,
  set: RowSet,
  rows: Int32Array,
  fieldIds: readonly number[],
  modes: readonly MetricsMode[] = [],
): Required<Pick<FileMetrics, "valueCounts" | "nullValueCounts" | "nanValueCounts" | "lowerBounds" | "upperBounds">> {
  const metrics = {
    valueCounts: [] as IntMap<number>,
    nullValueCounts: [] as IntMap<number>,
    nanValueCounts: [] as IntMap<number>,
    lowerBounds: [] as IntMap<Uint8Array>,
    upperBounds: [] as IntMap<Uint8Array>,
  };
  config.columns.forEach((column, c) => {
    const mode = modes[c] ?? DEFAULT_METRICS_MODE;
    if (mode === "none") return;
    const key = fieldIds[c] as number;
    const data = set.columns[c] as ColumnData;
    const flags = data.nulls;
    const n = rows.length;
    let nulls = 0;
    for (let k = 0; k < n; k++) nulls += flags[rows[k] as number] as number;
    metrics.valueCounts.push({ key, value: rows.length });
    metrics.nullValueCounts.push({ key, value: nulls });
    const bounds = (lower: Uint8Array | undefined, upper: Uint8Array | undefined) => {
      if (lower) metrics.lowerBounds.push({ key, value: lower });
      if (upper) metrics.upperBounds.push({ key, value: upper });
    };
    if (data.storage === "f64") {
      const found = doubleBounds(data, rows);
      metrics.nanValueCounts.push({ key, value: found.nans });
      if (found.min === undefined || mode === "counts") return;
      bounds(boundBytes(column.type, found.min), boundBytes(column.type, found.max as number));
      return;
    }
    if (mode === "counts" || nulls === rows.length) return;
    switch (data.storage) {
      case "i32": {
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
        bounds(boundBytes(column.type, lo), boundBytes(column.type, hi));
        return;
      }
      case "i64": {
        const found = int64Bounds(data, rows);
        bounds(boundBytes(column.type, found.min), boundBytes(column.type, found.max));
        return;
      }
      case "bool": {
        const values = data.values as Uint8Array;
        let seen = 0; // bit 0: false seen, bit 1: true seen
        for (let k = 0; k < n && seen !== 3; k++) {
          const i = rows[k] as number;
          if (!flags[i]) seen |= values[i] ? 2 : 1;
        }
        bounds(Uint8Array.of(seen & 1 ? 0 : 1), Uint8Array.of(seen & 2 ? 1 : 0));
        return;
      }
      default: {
        const values = data.values as Value[];
        if (column.type.kind === "string") {
          const found = stringBounds(values, flags, rows);
          const length = mode === "full" ? Number.POSITIVE_INFINITY : mode;
          bounds(utf8.encode(truncateLower(found.min, length)), stringUpperBound(found.max, length));
          return;
        }
        // Decimals wider than 18 digits: bigints.
        let min: bigint | undefined;
        let max: bigint | undefined;
        for (let k = 0; k < n; k++) {
          const i = rows[k] as number;
          if (flags[i]) continue;
          const v = values[i] as bigint;
          if (min === undefined || v < min) min = v;
          if (max === undefined || v > max) max = v;
        }
        bounds(boundBytes(column.type, min as bigint), boundBytes(column.type, max as bigint));
      }
    }
  });
  return metrics;
}

/** The least and greatest of an int64 column's non-NULL `rows` (at least one), compared as (high signed, low unsigned) words: no BigInt per row. */
function int64Bounds(data: ColumnData, rows: Int32Array): { min: bigint; max: bigint } {
  const words = data.words as Int32Array;
  const flags = data.nulls;
  let least = -1;
  let greatest = -1;
  let leastHi = 0;
  let leastLo = 0;
  let greatestHi = 0;
  let greatestLo = 0;
  for (let k = 0; k < rows.length; k++) {
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
  return { min: values[least] as bigint, max: values[greatest] as bigint };
}

/**
 * Compares two strings in code-point order, which is the order of their UTF-8 bytes (Iceberg's order of strings).
 * UTF-16 units are in that order too, except that a surrogate (of U+10000 and above) sorts before U+E000..U+FFFF:
 * where the first differing units are both at or above U+D800, surrogates are moved above the rest.
 */
export function compareCodePoints(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x < 0xd800 || y < 0xd800) return x - y;
    return (x < 0xe000 ? x + 0x2000 : x - 0x800) - (y < 0xe000 ? y + 0x2000 : y - 0x800);
  }
  return a.length - b.length;
}

/**
 * The least and greatest non-NULL string of `rows` (at least one), as written: a lone surrogate is written as U+FFFD
 * (`Buffer.write`, `TextEncoder`), so it is compared as that.
 */
function stringBounds(values: Value[], flags: Uint8Array, rows: Int32Array): { min: string; max: string } {
  let min: string | undefined;
  let max: string | undefined;
  for (let k = 0; k < rows.length; k++) {
    const i = rows[k] as number;
    if (flags[i]) continue;
    let v = values[i] as string;
    if (!(v as WellFormed).isWellFormed()) v = (v as WellFormed).toWellFormed();
    if (min === undefined || max === undefined) {
      min = v;
      max = v;
    } else if (compareCodePoints(v, min) < 0) min = v;
    else if (compareCodePoints(v, max) > 0) max = v;
  }
  return { min: min as string, max: max as string };
}

/** ES2024's string methods (Node 20 has them; the project's lib is ES2023). */
type WellFormed = string & { isWellFormed(): boolean; toWellFormed(): string };

/** The first `length` code points of `s`: a lower bound of every string `s` is a prefix of or below. */
function truncateLower(s: string, length: number): string {
  if (s.length <= length) return s;
  let end = 0;
  for (let count = 0; count < length && end < s.length; count++) end += (s.codePointAt(end) as number) > 0xffff ? 2 : 1;
  return s.slice(0, end);
}

/**
 * An upper bound of `s` of at most `length` code points (Iceberg's `truncateStringMax`): `s` itself when short enough,
 * else its first `length` code points with the last one that can be incremented incremented (past the surrogates, which
 * are no code point of UTF-8) and the rest dropped; undefined (no upper bound) when none can (all U+10FFFF).
 */
function stringUpperBound(s: string, length: number): Uint8Array | undefined {
  const head = truncateLower(s, length);
  if (head.length === s.length) return utf8.encode(s);
  const points = Array.from(head, (ch) => ch.codePointAt(0) as number);
  for (let i = points.length - 1; i >= 0; i--) {
    let next = (points[i] as number) + 1;
    if (next >= 0xd800 && next <= 0xdfff) next = 0xe000;
    if (next > 0x10ffff) continue;
    return utf8.encode(String.fromCodePoint(...points.slice(0, i), next));
  }
  return undefined;
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
