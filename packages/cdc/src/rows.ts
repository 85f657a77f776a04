/**
 * Rows held column-wise: one typed array per numeric column (no object per row or per value), so that a bucket of a
 * million rows is a handful of arrays the garbage collector never walks. A `RowSet` holds, per key, the change that
 * produced its current state: its position (`p`, file, row), whether the key is live (a deleted key stays as a
 * tombstone) and its values. The same structure carries a decoded batch of a DMS file (no index, one row per change),
 * the changes of a file reduced per key, and a bucket's changes spilled by a merge (`state-file.ts`).
 *
 * Storage by column type: int32/date in an Int32Array, double in a Float64Array, int64/timestamp/decimal(p <= 18)
 * in a BigInt64Array (decimals unscaled), boolean in a Uint8Array, string and wider decimals in a plain array; a
 * Uint8Array marks NULLs.
 */
import type { ColumnType, TableConfig } from "./config.ts";
import { orderValue } from "./position.ts";
import { canonical, type Value } from "./values.ts";

/** A row's key: its primary-key value(s) in canonical form; a number for integer keys (cheaper to hash and hold). */
export type Key = string | number;

export type Storage = "i32" | "f64" | "i64" | "bool" | "any";

export function storageOf(type: ColumnType): Storage {
  switch (type.kind) {
    case "int32":
    case "date":
      return "i32";
    case "double":
      return "f64";
    case "int64":
    case "timestamp":
      return "i64";
    case "decimal":
      return type.precision <= 18 ? "i64" : "any";
    case "boolean":
      return "bool";
    case "string":
      return "any";
  }
}

export type ColumnValues = Int32Array | Float64Array | BigInt64Array | Uint8Array | Value[];

export interface ColumnData {
  storage: Storage;
  values: ColumnValues;
  /** 1 where the value is NULL. */
  nulls: Uint8Array;
  /** 32-bit view of 64-bit storage: rows are copied as two words, never through a BigInt or a double. */
  words?: Int32Array;
}

function allocate(storage: Storage, capacity: number): ColumnData {
  const nulls = new Uint8Array(capacity);
  switch (storage) {
    case "i32":
      return { storage, values: new Int32Array(capacity), nulls };
    case "f64": {
      const values = new Float64Array(capacity);
      return { storage, values, nulls, words: new Int32Array(values.buffer) };
    }
    case "i64": {
      const values = new BigInt64Array(capacity);
      return { storage, values, nulls, words: new Int32Array(values.buffer) };
    }
    case "bool":
      return { storage, values: new Uint8Array(capacity), nulls };
    case "any":
      return { storage, values: [] as Value[], nulls };
  }
}

function grown<T extends Int32Array | Float64Array | BigInt64Array | Uint8Array>(array: T, capacity: number): T {
  const next = new (array.constructor as new (n: number) => T)(capacity);
  next.set(array as never);
  return next;
}

/**
 * Order of two rows' order column values (`timestampColumn` or `changeSeqColumn`): NULL first, numbers by value,
 * strings (and decimals wider than 18 digits) by `orderValue` (a change sequence of digits compares as a number).
 */
function compareOrder(a: RowSet, i: number, b: RowSet, j: number): number {
  const c = a.config.orderIndex;
  if (c === undefined) return 0;
  const ca = a.columns[c] as ColumnData;
  const cb = b.columns[c] as ColumnData;
  const na = ca.nulls[i] as number;
  const nb = cb.nulls[j] as number;
  if (na || nb) return na === nb ? 0 : na ? -1 : 1;
  switch (ca.storage) {
    case "i64": {
      const wa = ca.words as Int32Array;
      const wb = cb.words as Int32Array;
      const ha = wa[2 * i + 1] as number;
      const hb = wb[2 * j + 1] as number;
      if (ha !== hb) return ha < hb ? -1 : 1;
      const la = (wa[2 * i] as number) >>> 0;
      const lb = (wb[2 * j] as number) >>> 0;
      return la === lb ? 0 : la < lb ? -1 : 1;
    }
    case "any": {
      const x = orderValue(a.config, (ca.values as Value[])[i] as Value);
      const y = orderValue(a.config, (cb.values as Value[])[j] as Value);
      return x === y ? 0 : x < y ? -1 : 1;
    }
    default: {
      const x = (ca.values as Float64Array)[i] as number;
      const y = (cb.values as Float64Array)[j] as number;
      return x === y ? 0 : x < y ? -1 : 1;
    }
  }
}

/**
 * Key -> row. Integer keys (the common case: one integer key column) live in an open-addressing table of typed
 * arrays (12 bytes a slot, 17–34 bytes a key, outside the V8 heap, nothing for the garbage collector to walk); other keys in a Map.
 */
/** Most keys per slot of a `KeyIndex` (linear probing stays short below ~0.7). */
const MAX_LOAD = 0.7;

export class KeyIndex {
  private keys: Float64Array;
  private rows: Int32Array;
  private mask: number;
  private count = 0;
  private readonly other = new Map<Key, number>();

  /** `expected`: how many keys will be set (sizes the table once). */
  constructor(expected = 0) {
    let capacity = 64;
    while (capacity * MAX_LOAD < expected) capacity *= 2;
    this.keys = new Float64Array(capacity);
    this.rows = new Int32Array(capacity).fill(-1);
    this.mask = capacity - 1;
  }

  get size(): number {
    return this.count + this.other.size;
  }

  private slot(key: number): number {
    const lo = key >>> 0;
    const hi = Math.floor(key / 4294967296) | 0;
    let h = Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b);
    h ^= h >>> 15;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 13;
    let i = h & this.mask;
    const keys = this.keys;
    const rows = this.rows;
    while (rows[i] !== -1 && keys[i] !== key) i = (i + 1) & this.mask;
    return i;
  }

  get(key: Key): number | undefined {
    if (typeof key !== "number") return this.other.get(key);
    const i = this.slot(key);
    const row = this.rows[i] as number;
    return row === -1 ? undefined : row;
  }

  /** The row held for `key`; when there is none, `row` is set for it (one probe) and undefined is returned. */
  getOrSet(key: Key, row: number): number | undefined {
    if (typeof key !== "number") {
      const held = this.other.get(key);
      if (held === undefined) this.other.set(key, row);
      return held;
    }
    let i = this.slot(key);
    const held = this.rows[i] as number;
    if (held !== -1) return held;
    if (this.count + 1 > (this.mask + 1) * MAX_LOAD) {
      this.grow();
      i = this.slot(key);
    }
    this.count++;
    this.keys[i] = key;
    this.rows[i] = row;
    return undefined;
  }

  set(key: Key, row: number): void {
    if (this.getOrSet(key, row) === undefined) return;
    if (typeof key === "number") this.rows[this.slot(key)] = row;
    else this.other.set(key, row);
  }

  private grow(): void {
    const keys = this.keys;
    const rows = this.rows;
    const capacity = (this.mask + 1) * 2;
    this.keys = new Float64Array(capacity);
    this.rows = new Int32Array(capacity).fill(-1);
    this.mask = capacity - 1;
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i] as number;
      if (row === -1) continue;
      const j = this.slot(keys[i] as number);
      this.keys[j] = keys[i] as number;
      this.rows[j] = row;
    }
  }
}

export class RowSet {
  size = 0;
  private capacity: number;
  /** Position, after the order column's value: index into `files`, row in the file. */
  f: Int32Array;
  r: Float64Array;
  /** 0 for a deleted key (tombstone) or a D change. */
  live: Uint8Array;
  readonly columns: ColumnData[];
  /** File order keys (`fileOrderKey`) the rows' `f` point into. */
  readonly files: string[] = [];
  private readonly fileIndex = new Map<string, number>();
  /** Key -> row, for sets that hold one row per key (`upsert`, `buildIndex`). */
  index = new KeyIndex();
  /** Set by a decoder that knows the rows' keys strictly ascend (`compareKeys`): `findKey` may search them. */
  keysAscending = false;

  constructor(
    readonly config: TableConfig,
    capacity = 1024,
  ) {
    this.capacity = Math.max(16, capacity);
    this.f = new Int32Array(this.capacity);
    this.r = new Float64Array(this.capacity);
    this.live = new Uint8Array(this.capacity);
    this.columns = config.columns.map((c) => allocate(storageOf(c.type), this.capacity));
  }

  fileId(orderKey: string): number {
    let id = this.fileIndex.get(orderKey);
    if (id === undefined) {
      id = this.files.length;
      this.files.push(orderKey);
      this.fileIndex.set(orderKey, id);
    }
    return id;
  }

  private ensure(n: number): void {
    if (n <= this.capacity) return;
    // Doubling while small (few copies), then 1.5x: a large set wastes a quarter of its arrays on average, not half.
    const next = (c: number) => (c < 1 << 20 ? c * 2 : Math.ceil(c * 1.5));
    let capacity = next(this.capacity);
    while (capacity < n) capacity = next(capacity);
    this.f = grown(this.f, capacity);
    this.r = grown(this.r, capacity);
    this.live = grown(this.live, capacity);
    for (const column of this.columns) {
      column.nulls = grown(column.nulls, capacity);
      if (column.storage !== "any") {
        column.values = grown(column.values as Int32Array, capacity);
        if (column.words) column.words = new Int32Array((column.values as unknown as BigInt64Array).buffer);
      }
    }
    this.capacity = capacity;
  }

  /**
   * Appends an empty row (all NULL, live, position unset); returns its index. `initialize` false: the caller sets
   * every column's NULL mark (a new row's are 0, not NULL), `live`, `f` and `r` itself (the CSV decoder's hot path).
   */
  appendRow(initialize = true): number {
    const i = this.size;
    this.ensure(i + 1);
    this.size = i + 1;
    if (!initialize) return i;
    this.f[i] = 0;
    this.r[i] = 0;
    this.live[i] = 1;
    for (const column of this.columns) {
      column.nulls[i] = 1;
      if (column.storage === "any") (column.values as Value[])[i] = null;
    }
    return i;
  }

  set(row: number, column: number, value: Value): void {
    const c = this.columns[column] as ColumnData;
    if (value === null) {
      c.nulls[row] = 1;
      if (c.storage === "any") (c.values as Value[])[row] = null;
      return;
    }
    c.nulls[row] = 0;
    if (c.storage === "bool") (c.values as Uint8Array)[row] = value ? 1 : 0;
    else (c.values as Value[])[row] = value;
  }

  get(row: number, column: number): Value {
    const c = this.columns[column] as ColumnData;
    if (c.nulls[row]) return null;
    if (c.storage === "bool") return (c.values as Uint8Array)[row] === 1;
    return (c.values as Value[])[row] as Value;
  }

  /** The row's values as an array (tests, tools). */
  row(i: number): Value[] {
    return this.columns.map((_, c) => this.get(i, c));
  }

  /** The key of row `i`, computed from its key columns. */
  keyAt(i: number): Key {
    const indexes = this.config.keyIndexes;
    if (indexes.length === 1) {
      const column = this.columns[indexes[0] as number] as ColumnData;
      if (column.storage === "i32") return (column.values as Int32Array)[i] as number;
      if (column.storage === "i64") {
        // The int64 as a number, without a BigInt, when a double holds it exactly (as `keyValue` does).
        const words = column.words as Int32Array;
        const hi = words[2 * i + 1] as number;
        if (hi > -0x200000 && hi < 0x200000) return hi * 4294967296 + ((words[2 * i] as number) >>> 0);
      }
      return keyValue(this.get(i, indexes[0] as number));
    }
    return JSON.stringify(indexes.map((k) => canonical(this.get(i, k))));
  }

  /** Whether the keys of rows 0..size-1 strictly ascend (`compareKeys`). */
  checkKeysAscending(): boolean {
    for (let i = 1; i < this.size; i++) if (compareKeys(this.keyAt(i - 1), this.keyAt(i)) >= 0) return false;
    return true;
  }

  /** The rows' indexes in ascending key order (`compareKeys`; one row per key). */
  keyOrder(): Int32Array {
    const n = this.size;
    const order = new Int32Array(n).map((_, i) => i);
    const keys = new Array<Key>(n);
    let numeric = true;
    for (let i = 0; i < n; i++) {
      const key = this.keyAt(i);
      keys[i] = key;
      if (typeof key !== "number") numeric = false;
    }
    if (numeric) {
      const values = Float64Array.from(keys as number[]);
      return order.sort((a, b) => (values[a] as number) - (values[b] as number));
    }
    return order.sort((a, b) => compareKeys(keys[a] as Key, keys[b] as Key));
  }

  /** The row holding `key` in a set whose keys ascend (`keysAscending`), by binary search; -1 if none. */
  findKey(key: Key): number {
    let lo = 0;
    let hi = this.size - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = compareKeys(this.keyAt(mid), key);
      if (c === 0) return mid;
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  private copyValues(to: number, from: RowSet, i: number): void {
    const width = this.columns.length;
    for (let c = 0; c < width; c++) {
      const dst = this.columns[c] as ColumnData;
      const src = from.columns[c] as ColumnData;
      dst.nulls[to] = src.nulls[i] as number;
      if (dst.words) {
        const d = dst.words;
        const s = src.words as Int32Array;
        d[2 * to] = s[2 * i] as number;
        d[2 * to + 1] = s[2 * i + 1] as number;
      } else (dst.values as Value[])[to] = (src.values as Value[])[i] as Value;
    }
  }

  /**
   * Keeps for `key` the newer of what this set holds and row `i` of `from` (by position); returns whether the
   * held state changed. A state not strictly newer is ignored: that is what makes replays and late files safe.
   */
  upsert(key: Key, from: RowSet, i: number): boolean {
    const file = this.fileIdOf(from, from.f[i] as number);
    const r = from.r[i] as number;
    let at = this.index.getOrSet(key, this.size);
    if (at !== undefined) {
      if (this.compareHeld(at, from, i, file, r) >= 0) return false;
    } else {
      at = this.size;
      this.ensure(at + 1);
      this.size = at + 1;
    }
    this.overwrite(at, from, i, file);
    return true;
  }

  /**
   * The position of the state held at row `held` against row `i` of `from` (whose file is this set's file id `file`,
   * row `r`): the order column's value, then the file's order, then the row. Negative when the held one is older.
   */
  private compareHeld(held: number, from: RowSet, i: number, file: number, r: number): number {
    const order = compareOrder(this, held, from, i);
    if (order !== 0) return order;
    const heldFile = this.f[held] as number;
    if (heldFile !== file) return (this.files[heldFile] as string) < (this.files[file] as string) ? -1 : 1;
    return (this.r[held] as number) - r;
  }

  /** `from`'s file id `f` as an id of this set (cached per source set: one lookup per file, not per row). */
  private fileIdOf(from: RowSet, f: number): number {
    if (from !== this.mappedFrom) {
      this.mappedFrom = from;
      this.fileMap = [];
    }
    // Entered on first use: a set copied from another holds only the files its rows name, not all of the other's.
    let id = this.fileMap[f];
    if (id === undefined) {
      id = this.fileId(from.files[f] as string);
      this.fileMap[f] = id;
    }
    return id;
  }
  private mappedFrom: RowSet | undefined;
  private fileMap: number[] = [];

  /**
   * Row `at`, the last one (just appended by a decoder), is a change for `key`: keeps the newer of it and what the set
   * already holds for the key (copied over it, and the appended row dropped). Returns whether the key is new.
   */
  settle(key: Key, at: number): boolean {
    const held = this.index.getOrSet(key, at);
    if (held === undefined) return true;
    if (this.compareHeld(held, this, at, this.f[at] as number, this.r[at] as number) < 0) {
      this.f[held] = this.f[at] as number;
      this.r[held] = this.r[at] as number;
      this.live[held] = this.live[at] as number;
      this.copyValues(held, this, at);
    }
    this.size = at;
    return false;
  }

  /**
   * Applies `changes` (one row per key, indexed) to a set read without its key index (a bucket's state): each row's
   * key is looked up among the changes (a small table) instead of every row being indexed; keys only in the changes
   * are appended. A change not strictly newer than what its key holds is ignored (replays, late files). The set's
   * index stays empty. Returns how many keys changed. `won(at, j, existed)` is called for each change `j` that wins,
   * before row `at` is overwritten with it (`existed` false when the key is new and `at` a new row).
   */
  mergeFrom(changes: RowSet, won?: (at: number, j: number, existed: boolean) => void): number {
    const matched = new Uint8Array(changes.size);
    let changed = 0;
    const size = this.size;
    for (let at = 0; at < size; at++) {
      const j = changes.index.get(this.keyAt(at));
      if (j === undefined) continue;
      matched[j] = 1;
      const file = this.fileIdOf(changes, changes.f[j] as number);
      if (this.compareHeld(at, changes, j, file, changes.r[j] as number) >= 0) continue;
      won?.(at, j, true);
      this.overwrite(at, changes, j, file);
      changed++;
    }
    for (let j = 0; j < changes.size; j++) {
      if (matched[j]) continue;
      const at = this.size;
      this.ensure(at + 1);
      this.size = at + 1;
      won?.(at, j, false);
      this.overwrite(at, changes, j, this.fileIdOf(changes, changes.f[j] as number));
      changed++;
    }
    return changed;
  }

  /**
   * Appends rows `rows` of `from` (same columns) column by column, positions and liveness included; the key index is
   * not maintained (a set of rows to write out, not to merge into).
   */
  appendRows(from: RowSet, rows: Int32Array): void {
    const start = this.size;
    const n = rows.length;
    this.ensure(start + n);
    for (let k = 0; k < n; k++) {
      const i = rows[k] as number;
      this.f[start + k] = this.fileIdOf(from, from.f[i] as number);
      this.r[start + k] = from.r[i] as number;
      this.live[start + k] = from.live[i] as number;
    }
    for (let c = 0; c < this.columns.length; c++) {
      const dst = this.columns[c] as ColumnData;
      const src = from.columns[c] as ColumnData;
      const dn = dst.nulls;
      const sn = src.nulls;
      for (let k = 0; k < n; k++) dn[start + k] = sn[rows[k] as number] as number;
      if (dst.words) {
        const d = dst.words;
        const w = src.words as Int32Array;
        for (let k = 0; k < n; k++) {
          const i = rows[k] as number;
          d[2 * (start + k)] = w[2 * i] as number;
          d[2 * (start + k) + 1] = w[2 * i + 1] as number;
        }
      } else {
        const d = dst.values as Value[];
        const v = src.values as Value[];
        for (let k = 0; k < n; k++) d[start + k] = v[rows[k] as number] as Value;
      }
    }
    this.size = start + n;
  }

  private overwrite(at: number, from: RowSet, i: number, file: number): void {
    this.f[at] = file;
    this.r[at] = from.r[i] as number;
    this.live[at] = from.live[i] as number;
    this.copyValues(at, from, i);
  }

  /** Builds the key index of a set read from storage. */
  buildIndex(): void {
    this.index = new KeyIndex(this.size);
    for (let i = 0; i < this.size; i++) this.index.set(this.keyAt(i), i);
  }

  /** Indexes of the live rows. */
  liveRows(): Int32Array {
    let n = 0;
    for (let i = 0; i < this.size; i++) n += this.live[i] as number;
    const out = new Int32Array(n);
    let j = 0;
    for (let i = 0; i < this.size; i++) if (this.live[i]) out[j++] = i;
    return out;
  }
}

/** The canonical form of one key value; integers that a double holds exactly stay numbers. */
/** The order of keys in a set whose keys ascend (`RowSet.keysAscending`): numbers by value, before strings, by code unit. */
export function compareKeys(a: Key, b: Key): number {
  if (typeof a === typeof b) return a === b ? 0 : a < b ? -1 : 1;
  return typeof a === "number" ? -1 : 1;
}

function keyValue(value: Value): Key {
  if (typeof value === "bigint") {
    return value >= -9007199254740991n && value <= 9007199254740991n ? Number(value) : value.toString();
  }
  if (typeof value === "number" && Number.isInteger(value)) return value;
  return canonical(value);
}
