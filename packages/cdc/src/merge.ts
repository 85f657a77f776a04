/**
 * The merge rule, pure: a key's state is the change with the greatest position ever seen for it (a D leaves a
 * tombstone holding its position). "Last change wins", "D removes", "U of an absent key inserts", "D of an absent
 * key does nothing", late files and replays all follow from keeping the maximum, which is commutative, associative
 * and idempotent: merging files in any order or batching gives the same table.
 */
import type { TableConfig } from "./config.ts";
import type { Change } from "./dms-file.ts";
import { comparePositions, type Position } from "./position.ts";
import { canonical, type Value } from "./values.ts";

export interface KeyState extends Position {
  /** The current row, or null for a deleted key (a tombstone, kept so that older changes stay superseded). */
  row: Value[] | null;
}

/** The key of a row: its primary-key values as one string. */
export function keyOf(config: TableConfig, values: readonly Value[]): string {
  const indexes = config.keyIndexes;
  if (indexes.length === 1) return canonical(values[indexes[0] as number] ?? null);
  return JSON.stringify(indexes.map((i) => canonical(values[i] ?? null)));
}

/** How a table's keys map to buckets; recorded in the table's metadata when it is created, then fixed. */
export type Layout = { kind: "hash"; buckets: number } | { kind: "range"; column: string; width: number };

export function layoutOf(config: TableConfig): Layout {
  return config.bucketBy
    ? { kind: "range", column: config.bucketBy.column, width: config.bucketBy.width }
    : { kind: "hash", buckets: config.buckets };
}

/** The bucket function of a layout. */
export function bucketFunction(layout: Layout): (key: string) => number {
  if (layout.kind === "range") {
    const width = layout.width;
    return (key) => Math.floor(Number(key) / width);
  }
  const count = layout.buckets;
  return (key) => bucketOf(key, count);
}

/** FNV-1a (32 bit) of the key: the layout's bucket. Stable across runtimes; recorded layout never changes. */
export function bucketOf(key: string, bucketCount: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % bucketCount;
}

/** Keeps, per key, the newest change (by position) among `changes` and what `into` already holds. */
export function reduceChanges(
  config: TableConfig,
  changes: readonly Change[],
  position: (change: Change) => Position,
  into: Map<string, KeyState>,
): void {
  for (const change of changes) {
    const key = keyOf(config, change.values);
    const pos = position(change);
    const held = into.get(key);
    if (held && comparePositions(held, pos) >= 0) continue;
    into.set(key, { p: pos.p, f: pos.f, r: pos.r, row: change.op === "D" ? null : change.values });
  }
}

/**
 * Applies newer states onto a bucket's states; returns how many keys changed. A state not strictly newer than
 * what the key holds is ignored: that is what makes replays and late files safe.
 */
export function applyStates(bucket: Map<string, KeyState>, incoming: Iterable<[string, KeyState]>): number {
  let changed = 0;
  for (const [key, state] of incoming) {
    const held = bucket.get(key);
    if (held && comparePositions(held, state) >= 0) continue;
    // A delete of a key that never existed needs no tombstone unless an older insert could still arrive.
    bucket.set(key, state);
    changed++;
  }
  return changed;
}
