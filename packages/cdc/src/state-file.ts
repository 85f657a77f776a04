/**
 * A `RowSet` (every key's position, liveness and values, tombstones included) as one binary object, such as the
 * changes a merge attempt spills per bucket to stay within memory: the arrays written out as they are in memory, so
 * loading a million rows is a few copies rather than parsing a million values.
 *
 *   "SLS2" | u32 header length | header (JSON: rows, files, section offsets) | sections, 8-byte aligned
 *
 * Sections: file ids (Int32), rows (Float64), live (Uint8), then per column its NULL
 * marks (Uint8) and values (the typed array's bytes; strings and wide decimals as a string column, `encodeStrings`).
 * A column without NULLs has an empty NULL section. Not compressed: compressing cost more than the rest of the
 * encoding.
 */
import type { TableConfig } from "./config.ts";
import { type ColumnData, RowSet } from "./rows.ts";
import type { Value } from "./values.ts";

const MAGIC = 0x3253_4c53; // "SLS2" little-endian

interface Header {
  rows: number;
  files: string[];
  sections: [number, number][];
  /** The rows' keys strictly ascend (`RowSet.checkKeysAscending`): a reader may binary-search them. */
  ascending?: true;
}

/** Distinct values a string column's dictionary takes before the rest is written value by value. */
const DICTIONARY_LIMIT = 4096;

/**
 * A string column as three sections: per row an entry id (-1 NULL), the entries' UTF-16 lengths, and the entries'
 * UTF-8 text. Entries are a dictionary while the column has few distinct values (statuses, codes: one string per
 * value when read back), then one entry per row.
 */
function encodeStrings(values: readonly (string | null)[], n: number): [Uint8Array, Uint8Array, Uint8Array] {
  const ids = new Int32Array(n);
  const entries: string[] = [];
  let dictionary: Map<string, number> | undefined = new Map();
  let chars = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i] ?? null;
    if (v === null) {
      ids[i] = -1;
      continue;
    }
    let id = dictionary?.get(v);
    if (id === undefined) {
      id = entries.length;
      entries.push(v);
      chars += v.length;
      if (dictionary) {
        dictionary.set(v, id);
        if (dictionary.size > DICTIONARY_LIMIT) dictionary = undefined;
      }
    }
    ids[i] = id;
  }
  const lengths = new Int32Array(entries.length);
  const text = Buffer.allocUnsafe(chars * 3);
  let at = 0;
  for (let e = 0; e < entries.length; e++) {
    const entry = entries[e] as string;
    lengths[e] = entry.length;
    at += text.write(entry, at);
  }
  return [new Uint8Array(ids.buffer), new Uint8Array(lengths.buffer), text.subarray(0, at)];
}

function decodeStrings(ids: Int32Array, lengths: Int32Array, text: Uint8Array): (string | null)[] {
  const all = Buffer.from(text.buffer, text.byteOffset, text.byteLength).toString("utf8");
  const entries = new Array<string>(lengths.length);
  let at = 0;
  for (let e = 0; e < lengths.length; e++) {
    const length = lengths[e] as number;
    entries[e] = all.slice(at, at + length);
    at += length;
  }
  const out = new Array<string | null>(ids.length);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i] as number;
    out[i] = id === -1 ? null : (entries[id] as string);
  }
  return out;
}

const bytesOf = (array: Int32Array | Float64Array | BigInt64Array | Uint8Array, n: number) =>
  new Uint8Array(array.buffer, array.byteOffset, n * array.BYTES_PER_ELEMENT);

/** `ascending`: the caller knows the rows' keys strictly ascend (else they are checked here). */
export function encodeState(rows: RowSet, ascending = rows.checkKeysAscending()): Uint8Array {
  const n = rows.size;
  const sections: Uint8Array[] = [];
  sections.push(bytesOf(rows.f, n), bytesOf(rows.r, n), bytesOf(rows.live, n));
  for (const column of rows.columns) {
    sections.push(column.nulls.subarray(0, n).includes(1) ? bytesOf(column.nulls, n) : new Uint8Array(0));
    if (column.storage === "any") {
      const values = column.values as Value[];
      const text = new Array<string | null>(n);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        text[i] = v === null || v === undefined ? null : typeof v === "bigint" ? v.toString() : (v as string);
      }
      sections.push(...encodeStrings(text, n));
    } else sections.push(bytesOf(column.values as Int32Array, n));
  }
  const header: Header = {
    rows: n,
    files: rows.files,
    sections: [],
    ...(ascending ? { ascending: true as const } : {}),
  };
  let offset = 0;
  for (const s of sections) {
    header.sections.push([offset, s.byteLength]);
    offset += Math.ceil(s.byteLength / 8) * 8;
  }
  const headerBytes = Buffer.from(JSON.stringify(header), "utf8");
  const start = Math.ceil((8 + headerBytes.byteLength) / 8) * 8;
  // Not zero-filled: every byte is written below (sections, then the padding between them).
  const out = Buffer.allocUnsafeSlow(start + offset);
  out.fill(0, 8 + headerBytes.byteLength, start);
  out.writeUInt32LE(MAGIC, 0);
  out.writeUInt32LE(headerBytes.byteLength, 4);
  out.set(headerBytes, 8);
  for (const [i, s] of sections.entries()) {
    const at = start + (header.sections[i] as [number, number])[0];
    out.set(s, at);
    out.fill(0, at + s.byteLength, at + Math.ceil(s.byteLength / 8) * 8);
  }
  return out;
}

/**
 * NULL marks of `n` rows none of which is NULL, for views (read, never written): one zeroed array shared by every
 * column and every view, so the pages a lookup touches are touched once per process, not once per column and state.
 */
function noNulls(n: number): Uint8Array {
  if (zeros.length < n) zeros = new Uint8Array(Math.max(n, zeros.length * 2));
  return zeros.subarray(0, n);
}
let zeros = new Uint8Array(0);

/**
 * Decodes a state, with room for `extra` more rows (changes about to be applied) without growing; `index` false
 * leaves its key index empty (for `mergeFrom`). `asView`: the numeric arrays are views of `body` rather than copies
 * (`extra` ignored; a set to read rows from, never to write into: `body` must outlive it and stay unchanged).
 */
export function decodeState(config: TableConfig, body: Uint8Array, extra = 0, index = true, asView = false): RowSet {
  const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== MAGIC) throw new Error("not a sluice state file");
  const headerLength = view.getUint32(4, true);
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString("utf8")) as Header;
  const start = Math.ceil((8 + headerLength) / 8) * 8;
  let next = 0;
  const section = () => {
    const [offset, length] = header.sections[next++] as [number, number];
    // A plain Uint8Array, not a Buffer: the arrays of every RowSet keep one shape for the hot loops that read them.
    return new Uint8Array(bytes.buffer, bytes.byteOffset + start + offset, length);
  };
  /** A section as a typed array: a view when aligned (sections are 8-byte aligned in the file), else a copy. */
  const typed = <T>(Ctor: { new (b: ArrayBufferLike, o: number, n: number): T; BYTES_PER_ELEMENT: number }): T => {
    const s = section();
    const aligned = s.byteOffset % Ctor.BYTES_PER_ELEMENT === 0 ? s : new Uint8Array(s);
    return new Ctor(aligned.buffer, aligned.byteOffset, s.byteLength / Ctor.BYTES_PER_ELEMENT);
  };
  const n = header.rows;
  const rows = new RowSet(config, asView ? 0 : n + extra);
  for (const file of header.files) rows.fileId(file);
  rows.size = n;
  if (asView) {
    rows.f = typed(Int32Array);
    rows.r = typed(Float64Array);
    rows.live = section();
  } else {
    rows.f.set(typed(Int32Array));
    rows.r.set(typed(Float64Array));
    rows.live.set(section());
  }
  for (const [c, column] of rows.columns.entries()) {
    const nulls = section();
    if (asView) column.nulls = nulls.byteLength > 0 ? nulls : noNulls(n);
    else if (nulls.byteLength > 0) column.nulls.set(nulls);
    if (column.storage === "any") {
      const text = decodeStrings(typed(Int32Array), typed(Int32Array), section());
      const type = (config.columns[c] as TableConfig["columns"][number]).type;
      (column as ColumnData).values = type.kind === "decimal" ? text.map((t) => (t === null ? null : BigInt(t))) : text;
    } else if (asView) {
      const values = typed(column.values.constructor as typeof Int32Array);
      column.values = values;
      if (column.words)
        column.words = new Int32Array(values.buffer, values.byteOffset, values.length * (values.BYTES_PER_ELEMENT / 4));
    } else {
      const values = column.values as Int32Array | Float64Array | BigInt64Array | Uint8Array;
      values.set(typed(values.constructor as typeof Int32Array) as never);
    }
  }
  rows.keysAscending = header.ascending === true;
  if (index) rows.buildIndex();
  return rows;
}
