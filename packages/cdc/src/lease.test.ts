import { describe, expect, it } from "vitest";
import { PreconditionFailed } from "./errors.ts";
import { testTable } from "./fixtures/dms.ts";
import { TableLease } from "./lease.ts";
import { createMemoryStore } from "./storage.ts";

const orders = testTable();
const epochs = (store: ReturnType<typeof createMemoryStore>) =>
  [...store.objects.keys()].filter((k) => k.startsWith("sales/orders/_cdc/lease/"));

describe("TableLease", () => {
  it("is held by one merge at a time; released, it is free at once", async () => {
    const store = createMemoryStore();
    const first = await TableLease.acquire(store, orders, { owner: "a" });
    expect(first).toBeDefined();
    expect(await TableLease.acquire(store, orders, { owner: "b" })).toBeUndefined();
    await first?.release();
    const second = await TableLease.acquire(store, orders, { owner: "b" });
    expect(second?.owner).toBe("b");
    await second?.release();
    // Only the last epoch is kept.
    expect(epochs(store)).toHaveLength(1);
  });

  it("is held by a merge whose put was applied but answered 412 on the client's retry (its answer lost)", async () => {
    const store = createMemoryStore();
    const put = store.put;
    store.put = async (key, body, options) => {
      await put(key, body, options);
      throw new PreconditionFailed(key);
    };
    const lease = await TableLease.acquire(store, orders, { owner: "a" });
    store.put = put;
    expect(lease?.owner).toBe("a");
    expect(await TableLease.acquire(store, orders, { owner: "b" })).toBeUndefined();
    await lease?.release();
  });

  it("of merges racing for a free lease, exactly one gets it", async () => {
    const store = createMemoryStore();
    const got = await Promise.all(
      Array.from({ length: 8 }, (_, i) => TableLease.acquire(store, orders, { owner: `m${i}` })),
    );
    const holders = got.filter((l) => l !== undefined);
    expect(holders).toHaveLength(1);
    await holders[0]?.release();
  });

  it("a holder that stops renewing (crashed) loses the lease after its time to live", async () => {
    const store = createMemoryStore();
    let now = 1_000_000;
    const clock = { now: () => now, ttlMs: 60_000, renewEveryMs: 3_600_000 };
    const crashed = await TableLease.acquire(store, orders, { ...clock, owner: "a" });
    expect(crashed).toBeDefined();
    now += 59_000;
    expect(await TableLease.acquire(store, orders, { ...clock, owner: "b" })).toBeUndefined();
    now += 2_000;
    const next = await TableLease.acquire(store, orders, { ...clock, owner: "b" });
    expect(next?.owner).toBe("b");
    // The crashed holder's release (had it come back) no longer touches the new holder's lease.
    await crashed?.release();
    expect(await TableLease.acquire(store, orders, { ...clock, owner: "c" })).toBeUndefined();
    await next?.release();
  });

  it("a live holder renews its lease in the background", async () => {
    const store = createMemoryStore();
    let now = 1_000_000;
    const clock = { now: () => now, ttlMs: 60_000, renewEveryMs: 5 };
    const holder = await TableLease.acquire(store, orders, { ...clock, owner: "a" });
    now += 50_000;
    await new Promise((r) => setTimeout(r, 40)); // renewals at the new time
    now += 50_000; // 100 s after acquiring, 50 s after the last renewals
    expect(await TableLease.acquire(store, orders, { ...clock, owner: "b" })).toBeUndefined();
    expect(holder?.lost).toBe(false);
    await holder?.release();
  });

  it("a put that lands on a deleted, lower epoch (a merge that was far behind) does not count", async () => {
    const store = createMemoryStore();
    const a = await TableLease.acquire(store, orders, { owner: "a" });
    await a?.release();
    const b = await TableLease.acquire(store, orders, { owner: "b" });
    await b?.release(); // epochs 1..4 written, only 4 kept
    // A merge that read the lease at epoch 1 (free) long ago now puts epoch 2, which was deleted.
    const list = store.list;
    let stale = true;
    store.list = async (prefix) => {
      const out = await list(prefix);
      if (stale && prefix.endsWith("_cdc/lease/")) {
        stale = false;
        return [{ key: "sales/orders/_cdc/lease/e00000000000000000001.json", size: 0 }];
      }
      return out;
    };
    const get = store.get;
    store.get = async (key) =>
      key.endsWith("e00000000000000000001.json") ? new TextEncoder().encode('{"owner":"a","released":true}') : get(key);
    expect(await TableLease.acquire(store, orders, { owner: "late" })).toBeUndefined();
    expect(stale).toBe(false);
    expect(epochs(store)).toEqual(["sales/orders/_cdc/lease/e00000000000000000004.json"]);
    store.get = get;
    const c = await TableLease.acquire(store, orders, { owner: "c" });
    expect(c?.owner).toBe("c");
    await c?.release();
  });
});
