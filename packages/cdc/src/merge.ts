/**
 * The merge rule, pure: a key's state is the change with the greatest position ever seen for it (a D leaves a
 * tombstone holding its position). "Last change wins", "D removes", "U of an absent key inserts", "D of an absent
 * key does nothing", late files and replays all follow from keeping the maximum, which is commutative, associative
 * and idempotent: merging files in any order or batching gives the same table. `RowSet.upsert` applies it.
 */
import type { TableConfig } from "./config.ts";
import { fileOrderKey } from "./position.ts";
import { type Key, RowSet } from "./rows.ts";

/** How a table's keys map to buckets; recorded in the table's metadata when it is created, then fixed. */
export type Layout = { kind: "hash"; buckets: number } | { kind: "range"; column: string; width: number };

export function layoutOf(config: TableConfig): Layout {
  return config.bucketBy
    ? { kind: "range", column: config.bucketBy.column, width: config.bucketBy.width }
    : { kind: "hash", buckets: config.buckets };
}

/** The bucket function of a layout. */
export function bucketFunction(layout: Layout): (key: Key) => number {
  if (layout.kind === "range") {
    const width = layout.width;
    return (key) => Math.floor(Number(key) / width);
  }
  const count = layout.buckets;
  return (key) => bucketOf(key, count);
}

/**
 * FNV-1a (32 bit) of the key's canonical text (integers in decimal): the layout's bucket. Stable across runtimes;
 * the recorded layout never changes.
 */
export function bucketOf(key: Key, bucketCount: number): number {
  let hash = 0x811c9dc5;
  if (typeof key === "number" && Number.isSafeInteger(key)) {
    // The decimal digits of an integer key, hashed without building its string.
    let n = key;
    if (n < 0) {
      hash = Math.imul(hash ^ 45, 0x01000193); // "-"
      n = -n;
    }
    let divisor = 1;
    while (divisor * 10 <= n) divisor *= 10;
    for (; divisor >= 1; divisor /= 10) {
      const digit = Math.floor(n / divisor) % 10;
      hash = Math.imul(hash ^ (48 + digit), 0x01000193);
    }
    return (hash >>> 0) % bucketCount;
  }
  const text = typeof key === "number" ? String(key) : key;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % bucketCount;
}

/** Sets the file of a decoded batch (its rows' positions are then the order column, this file, their row). */
export function positionBatch(relPath: string, batch: RowSet): void {
  batch.fileId(fileOrderKey(relPath));
}

/**
 * The changes of one file reduced per key and grouped by bucket: each bucket's set holds, per key, the newest
 * change seen so far.
 */
export class PendingChanges {
  readonly buckets = new Map<number, RowSet>();
  keys = 0;

  constructor(
    private readonly config: TableConfig,
    private readonly bucketOfKey: (key: Key) => number,
  ) {}

  /** The set of a key's bucket (a `ChangeSink` for the decoder). */
  setFor(key: Key): RowSet {
    const b = this.bucketOfKey(key);
    if (b === this.lastBucket && this.lastSet) return this.lastSet;
    let set = this.buckets.get(b);
    if (!set) {
      set = new RowSet(this.config);
      this.buckets.set(b, set);
    }
    this.lastBucket = b;
    this.lastSet = set;
    return set;
  }
  private lastBucket = -1;
  private lastSet: RowSet | undefined;

  settled(newKey: boolean): void {
    if (newKey) this.keys++;
  }

  add(batch: RowSet): void {
    for (let i = 0; i < batch.size; i++) {
      const key = batch.keyAt(i);
      const set = this.setFor(key);
      const before = set.size;
      set.upsert(key, batch, i);
      this.keys += set.size - before;
    }
  }

  clear(): void {
    this.buckets.clear();
    this.keys = 0;
    this.lastBucket = -1;
    this.lastSet = undefined;
  }
}
