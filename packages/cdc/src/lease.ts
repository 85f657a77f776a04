/**
 * A table's merge lease: at most one merge pass of a table at a time, so that Lambda invocations whose files arrive
 * together do not redo each other's work (one pass merges them all; the others find their file applied). The lease
 * is an efficiency device, not the safety net: commits are safe without it (the catalog's optimistic commit, `iceberg-catalog.ts`), so a lease
 * that expires under a slow holder costs duplicate work, never data.
 *
 * Stored as a chain of epochs under `<schema>/<table>/_cdc/lease/`, each written once with a conditional put
 * (`If-None-Match`): `e00000000000000000007.json` = `{ owner, until }` (held until `until`, ms since the epoch) or
 * `{ owner, released: true }`. The highest epoch is the lease's state. To take a free (released or expired) lease at
 * epoch e, a merge puts epoch e + 1: of several racing for it, one put succeeds. The holder renews by putting the next
 * epoch (a heartbeat every third of the time to live) and releases by putting a released epoch. Lower epochs are
 * deleted by the holder; a put that lands on a deleted low epoch is not the highest, so it is checked after the put
 * and does not count.
 */
import { randomBytes } from "node:crypto";
import type { TableConfig } from "./config.ts";
import { PreconditionFailed } from "./errors.ts";
import type { ObjectStore } from "./storage.ts";

export interface LeaseOptions {
  /** How long a lease holds without renewal (default 60 s): a crashed holder's table is free again after this. */
  ttlMs?: number;
  /** Renewal interval (default a third of `ttlMs`). */
  renewEveryMs?: number;
  /** Clock (ms since the epoch); tests. */
  now?: () => number;
}

interface LeaseRecord {
  owner: string;
  until?: number;
  released?: boolean;
}

const pad = (n: number) => String(n).padStart(20, "0");

function leasePrefix(config: TableConfig): string {
  return `${config.schema}/${config.table}/_cdc/lease/`;
}

function epochOf(key: string): number {
  const match = /\/e(\d{20})\.json$/.exec(key);
  return match ? Number(match[1]) : Number.NaN;
}

/** The lease's current state: its highest epoch. */
async function current(
  store: ObjectStore,
  config: TableConfig,
): Promise<{ epoch: number; record: LeaseRecord; epochs: string[] }> {
  for (let attempt = 0; ; attempt++) {
    const epochs = (await store.list(leasePrefix(config))).map((o) => o.key).filter((k) => !Number.isNaN(epochOf(k)));
    const last = epochs.at(-1);
    if (!last) return { epoch: 0, record: { owner: "", released: true }, epochs };
    const body = await store.get(last);
    if (body) return { epoch: epochOf(last), record: JSON.parse(new TextDecoder().decode(body)), epochs };
    // Deleted between list and get (a holder's housekeeping): list again.
    if (attempt >= 5) throw new Error(`lease epoch ${last} vanished`);
  }
}

/** A held lease. `lost` turns true when a renewal finds that another merge took the lease over. */
export class TableLease {
  lost = false;
  private timer: NodeJS.Timeout | undefined;
  /** Renewals and the release, one at a time. */
  private queue: Promise<void> = Promise.resolve();

  private constructor(
    private readonly store: ObjectStore,
    private readonly config: TableConfig,
    readonly owner: string,
    private epoch: number,
    private readonly ttlMs: number,
    private readonly now: () => number,
  ) {}

  /**
   * Takes the table's lease if it is free (released, expired or never taken); undefined when another merge holds it.
   * The lease is renewed in the background until `release`.
   */
  static async acquire(
    store: ObjectStore,
    config: TableConfig,
    options: LeaseOptions & { owner?: string } = {},
  ): Promise<TableLease | undefined> {
    const now = options.now ?? Date.now;
    const ttlMs = options.ttlMs ?? 60_000;
    const owner = options.owner ?? randomBytes(8).toString("hex");
    const state = await current(store, config);
    if (!state.record.released && (state.record.until ?? 0) > now()) return undefined;
    const lease = new TableLease(store, config, owner, state.epoch, ttlMs, now);
    if (!(await lease.advance({ owner, until: now() + ttlMs }))) return undefined;
    const every = options.renewEveryMs ?? ttlMs / 3;
    lease.timer = setInterval(() => {
      lease.queue = lease.queue.then(() => lease.renew());
    }, every);
    lease.timer.unref();
    return lease;
  }

  /** Puts the next epoch; true when it is the lease's state (the highest epoch) afterwards. */
  private async advance(record: LeaseRecord): Promise<boolean> {
    const epoch = this.epoch + 1;
    const key = `${leasePrefix(this.config)}e${pad(epoch)}.json`;
    try {
      await this.store.put(key, JSON.stringify(record), { ifNoneMatch: true, contentType: "application/json" });
    } catch (error) {
      if (!(error instanceof PreconditionFailed)) throw error;
      // Taken: by another invocation, or by this very put, applied by an attempt whose answer was lost.
      const existing = await this.store.get(key);
      const held = existing ? (JSON.parse(new TextDecoder().decode(existing)) as LeaseRecord) : undefined;
      if (held?.owner !== record.owner || held.until !== record.until) return false;
    }
    const state = await current(this.store, this.config);
    if (state.epoch !== epoch) {
      // Our put landed on a deleted, lower epoch (we were behind): not the lease.
      await this.store.delete([key]).catch(() => undefined);
      return false;
    }
    this.epoch = epoch;
    // Housekeeping: the epochs below ours are history.
    await this.store.delete(state.epochs.filter((k) => epochOf(k) < epoch)).catch(() => undefined);
    return true;
  }

  private async renew(): Promise<void> {
    if (this.lost || !this.timer) return;
    try {
      if (!(await this.advance({ owner: this.owner, until: this.now() + this.ttlMs }))) this.stop(true);
    } catch {
      // A failed renewal (the store unreachable for a moment) is retried at the next beat; the lease may expire.
    }
  }

  private stop(lost: boolean): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (lost) this.lost = true;
  }

  /** Gives the lease up (the next merge of the table may start at once). */
  async release(): Promise<void> {
    this.stop(false);
    await this.queue;
    if (this.lost) return;
    await this.advance({ owner: this.owner, released: true }).catch(() => false);
  }
}
