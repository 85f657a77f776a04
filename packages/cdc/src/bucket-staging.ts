/**
 * The buckets a merge attempt stages for its commit: the changes held while files are read (spilled per bucket when
 * memory runs short), then each touched bucket rewritten once from its state, its spilled runs and the held changes,
 * as new state and data files named for the attempt's version. Nothing here is committed: the attempt's commit
 * (`table-commit.ts`) names the staged files, and `written` lists every object the attempt wrote, for its cleanup.
 */
import type { TableConfig } from "./config.ts";
import type { PendingChanges } from "./merge.ts";
import { writeParquet } from "./parquet.ts";
import { RowSet } from "./rows.ts";
import { decodeState, encodeState } from "./state-file.ts";
import type { ObjectStore } from "./storage.ts";
import { attemptIdOf, type BucketFiles, bucketFileKeys, spillRunKey, type TableMetadata } from "./table.ts";

/** One attempt's staged buckets and the objects it wrote. */
export class BucketStaging {
  /** Buckets written in this attempt: bucket -> files (not committed yet). */
  readonly staged = new Map<number, BucketFiles>();
  /** Every object this attempt wrote: deleted if its commit is known not to be applied. */
  readonly written: string[] = [];
  /** Changes spilled while reading large files, per bucket (temporary, deleted at the end of the attempt). */
  private readonly runs = new Map<number, string[]>();
  private readonly attemptId: string;
  /** Keys whose state the rewrite changed. */
  keysChanged = 0;
  /** Times the held changes were spilled to stay within memory. */
  spills = 0;

  constructor(
    private readonly store: ObjectStore,
    private readonly config: TableConfig,
    /** The version the attempt builds on. */
    private readonly base: TableMetadata,
  ) {
    this.attemptId = attemptIdOf(base.version + 1);
  }

  /**
   * Memory stays bounded on large files: once the changes held pass the budget, the newest change of each key is
   * spilled per bucket; buckets are then rewritten one at a time, each from its state plus its spilled runs.
   */
  async spill(pending: PendingChanges): Promise<void> {
    this.spills++;
    for (const [b, set] of pending.buckets) {
      const list = this.runs.get(b) ?? [];
      const key = spillRunKey(this.config, this.attemptId, b, list.length);
      await this.store.put(key, encodeState(set));
      this.written.push(key);
      list.push(key);
      this.runs.set(b, list);
    }
    pending.clear();
  }

  /** Deletes the spilled runs (they stay listed in `written`). */
  async dropRuns(): Promise<void> {
    const keys = [...this.runs.values()].flat();
    this.runs.clear();
    await this.store.delete(keys);
  }

  /**
   * Rewrites every bucket with spilled runs or held changes, one at a time, with their I/O overlapped: the next
   * bucket's state is fetched while this one is merged and encoded, and its files are stored in the background
   * (awaited before returning). A bucket whose keys did not change is left as it is.
   */
  async rewrite(pending: PendingChanges): Promise<void> {
    const { store, config, base, runs } = this;
    const version = base.version + 1;
    const touched = [...new Set([...runs.keys(), ...pending.buckets.keys()])].sort((x, y) => x - y);
    const fetchState = (b: number | undefined) => {
      const key = b === undefined ? undefined : base.buckets[b]?.state;
      if (!key) return Promise.resolve(undefined);
      const body = store.get(key).then((bytes) => {
        if (!bytes) throw new Error(`state file ${key} is missing`);
        return bytes;
      });
      body.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
      return body;
    };
    const storing: Promise<void>[] = [];
    const putInBackground = (key: string, body: Uint8Array) => {
      this.written.push(key);
      const put = store.put(key, body);
      put.catch(() => undefined);
      storing.push(put);
    };
    let nextState = fetchState(touched[0]);
    for (const [t, b] of touched.entries()) {
      const stateBody = nextState;
      nextState = fetchState(touched[t + 1]);
      const incoming = pending.buckets.get(b);
      pending.buckets.delete(b);
      const bucketRuns = runs.get(b) ?? [];
      let state: RowSet;
      let changed = 0;
      const body = await stateBody;
      if (!body && bucketRuns.length === 0 && incoming) {
        // A new bucket: the files' reduced changes are its state as they are.
        state = incoming;
        changed = incoming.size;
      } else {
        const extra = incoming?.size ?? 0;
        // The bucket's state (not indexed), then each spilled run and the held changes (indexed) merged in.
        state = body ? decodeState(config, body, extra, false) : new RowSet(config, extra);
        for (const run of bucketRuns)
          changed += state.mergeFrom(decodeState(config, (await store.get(run)) as Uint8Array));
        if (incoming) changed += state.mergeFrom(incoming);
      }
      if (changed === 0) continue;
      this.keysChanged += changed;
      const live = state.liveRows();
      const keys = bucketFileKeys(config, b, version);
      putInBackground(keys.state, encodeState(state));
      let dataKey: string | undefined;
      if (live.length > 0) {
        dataKey = keys.data;
        putInBackground(dataKey, writeParquet(config, state, live));
      }
      this.staged.set(b, {
        ...(dataKey ? { data: dataKey } : {}),
        state: keys.state,
        rows: live.length,
        keys: state.size,
      });
      // At most one bucket's files in flight: memory stays one bucket's worth.
      while (storing.length > 2) await storing.shift();
    }
    await Promise.all(storing);
  }
}
