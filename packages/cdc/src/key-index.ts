/**
 * The key index of an Iceberg table: for every key ever seen, the position of the change that produced its state
 * (order column, file, row: the merge rule's maximum, tombstones included) and, when the key is live, where its row
 * is: data file and position in it. A merge looks up the keys it changes here to know whether a change wins and which
 * row it replaces (a position delete); nothing else of the table is read.
 *
 * The index is sharded by the table's bucket layout (hash or range buckets, fixed at creation) and each shard is a
 * `RowSet` of the key columns, the order column and the row's location, stored with the state-file encoding
 * (`state-file.ts`: typed arrays written as they are, a few copies to load). A location is two integers: the data
 * file, as an entry of the shard's file list (`RowSet.files`, which also holds the change files of positions; data
 * files are entered with a `DATA_FILE_PREFIX` no change file's order key has), and the row's position in it. A merge rewrites the shards its changes
 * touch, each once: its cost is the changes plus those shards (about 20–30 bytes a key), never the data files.
 */
import type { Column, TableConfig } from "./config.ts";
import type { ColumnData, RowSet } from "./rows.ts";
import { RowSet as Rows } from "./rows.ts";

/** Column names of a row's location in an index shard (not valid configured column names: they start with `__`). */
export const DATA_FILE_COLUMN = "__data_file";
export const DATA_POS_COLUMN = "__data_pos";
/** Data files in a shard's file list start with this (change files' order keys start with 0 or 1). */
const DATA_FILE_PREFIX = "D";

/** The index configuration of a table, and which of the table's columns it keeps. */
export interface IndexLayout {
  config: TableConfig;
  /** For each index column before the location: the table column it copies. */
  source: number[];
  fileColumn: number;
  posColumn: number;
}

/** The shard layout of `config`: key columns, the order column (unless a key), then data file and position. */
export function indexLayout(config: TableConfig): IndexLayout {
  const source = [...config.keyIndexes];
  if (config.orderIndex !== undefined && !source.includes(config.orderIndex)) source.push(config.orderIndex);
  const columns: Column[] = [
    ...source.map((s) => config.columns[s] as Column),
    { name: DATA_FILE_COLUMN, type: { kind: "int32" } },
    { name: DATA_POS_COLUMN, type: { kind: "int32" } },
  ];
  const orderIndex = config.orderIndex === undefined ? undefined : source.indexOf(config.orderIndex);
  const indexConfig: TableConfig = {
    ...config,
    columns,
    keyIndexes: config.keyIndexes.map((_, i) => i),
    ...(orderIndex !== undefined ? { orderIndex } : {}),
  };
  if (orderIndex === undefined) delete indexConfig.orderIndex;
  return { config: indexConfig, source, fileColumn: source.length, posColumn: source.length + 1 };
}

/**
 * The changes of a bucket (full rows, one per key, indexed) as index rows: positions, liveness and key/order columns
 * copied array by array, no location yet. Row `j` of the result is row `j` of `changes`, and the key index is shared.
 */
export function projectChanges(layout: IndexLayout, changes: RowSet): RowSet {
  const n = changes.size;
  const out = new Rows(layout.config, n);
  for (const name of changes.files) out.fileId(name);
  out.f.set(changes.f.subarray(0, n));
  out.r.set(changes.r.subarray(0, n));
  out.live.set(changes.live.subarray(0, n));
  for (const [c, s] of layout.source.entries()) {
    const dst = out.columns[c] as ColumnData;
    const src = changes.columns[s] as ColumnData;
    dst.nulls.set(src.nulls.subarray(0, n));
    if (dst.storage === "any") {
      const values = dst.values as unknown[];
      const from = src.values as unknown[];
      for (let i = 0; i < n; i++) values[i] = from[i];
    } else (dst.values as Int32Array).set((src.values as Int32Array).subarray(0, n));
  }
  for (const c of [layout.fileColumn, layout.posColumn]) {
    const column = out.columns[c] as ColumnData;
    column.nulls.fill(1, 0, n);
  }
  out.size = n;
  out.index = changes.index;
  return out;
}

/** A change that won in a shard: its row in the shard, its row in the changes, and the row it replaced, if live. */
export interface Winner {
  at: number;
  j: number;
  replaced?: { file: string; pos: number };
}

/**
 * Applies the projected changes of a bucket to its stored shard (a new bucket's shard is its changes themselves).
 * Returns the winning changes in change-row order; the caller sets their rows' location (`locate`).
 */
export function mergeShard(
  layout: IndexLayout,
  shard: RowSet,
  projected: RowSet,
): { shard: RowSet; winners: Winner[] } {
  const winners: Winner[] = [];
  shard.mergeFrom(projected, (at, j, existed) => {
    if (existed && shard.live[at]) winners.push({ at, j, replaced: located(layout, shard, at) });
    else winners.push({ at, j });
  });
  winners.sort((a, b) => a.j - b.j);
  return { shard, winners };
}

/** Records that the winning rows `ats` of a shard are now rows `firstPos`, `firstPos + 1`... of data file `file`. */
export function locate(
  layout: IndexLayout,
  shard: RowSet,
  ats: ArrayLike<number>,
  file: string,
  firstPos: number,
): void {
  const id = shard.fileId(DATA_FILE_PREFIX + file);
  const files = shard.columns[layout.fileColumn] as ColumnData;
  const positions = shard.columns[layout.posColumn] as ColumnData;
  const fileIds = files.values as Int32Array;
  const pos = positions.values as Int32Array;
  for (let k = 0; k < ats.length; k++) {
    const at = ats[k] as number;
    fileIds[at] = id;
    files.nulls[at] = 0;
    pos[at] = firstPos + k;
    positions.nulls[at] = 0;
  }
}

/** Where the row of live key `at` of a shard is: its data file and position. */
export function located(layout: IndexLayout, shard: RowSet, at: number): { file: string; pos: number } {
  const id = shard.get(at, layout.fileColumn) as number;
  return {
    file: (shard.files[id] as string).slice(DATA_FILE_PREFIX.length),
    pos: shard.get(at, layout.posColumn) as number,
  };
}

/**
 * Rewrites the data-file column of `rows` (whose ids are entries of `from`'s file list) as entries of `to`'s: rows
 * copied between sets (a delta applied to its base, a shard's changed rows written as a delta) carry the ids of the
 * set they came from.
 */
export function rebaseDataFiles(layout: IndexLayout, rows: RowSet, from: RowSet, to: RowSet): void {
  const column = rows.columns[layout.fileColumn] as ColumnData;
  const ids = column.values as Int32Array;
  const mapped = new Map<number, number>();
  for (let i = 0; i < rows.size; i++) {
    if (column.nulls[i]) continue;
    const id = ids[i] as number;
    let next = mapped.get(id);
    if (next === undefined) {
      next = to.fileId(from.files[id] as string);
      mapped.set(id, next);
    }
    ids[i] = next;
  }
}
