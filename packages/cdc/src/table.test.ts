import { describe, expect, it } from "vitest";
import { parseTablesConfig } from "./config.ts";
import { CommitConflict, InvalidCdcFile, PreconditionFailed } from "./errors.ts";
import { allTypesTable, dmsCsv, testTable } from "./fixtures/dms.ts";
import { manifestRows, memoryStore, memUri, mergeText, stateRows } from "./fixtures/table.ts";
import { mergeAll } from "./run.ts";
import { loadApplied, loadMetadata, manifestKey } from "./table.ts";

const orders = testTable();
const row = (id: number, name: string | null, amount: bigint | null) => [BigInt(id), name, amount];

describe("mergeFile", () => {
  it("merges a full load then changes: last change wins, D removes, U of absent inserts, D of absent is a no-op", async () => {
    const store = memoryStore();
    await mergeText(
      store,
      orders,
      "LOAD00000001.csv",
      dmsCsv(
        orders,
        [1, 2, 3].map((i) => ({ op: "I", values: row(i, `n${i}`, 100n) })),
        false,
      ),
    );
    await mergeText(
      store,
      orders,
      "20261101-1200000000.csv",
      dmsCsv(orders, [
        { op: "U", values: row(1, "first", 1n) },
        { op: "U", values: row(1, "second", 2n) },
        { op: "D", values: row(2, "n2", 100n) },
        { op: "U", values: row(9, "upserted", null) },
        { op: "D", values: row(7, "never", null) },
      ]),
    );
    const expected = [
      ["1", "second", "0.02"],
      ["3", "n3", "1.00"],
      ["9", "upserted", null],
    ];
    expect(await stateRows(store, orders)).toEqual(expected);
    expect(await manifestRows(store, orders, memUri)).toEqual(expected);
  });

  it("orders by changeSeqColumn over file and row order", async () => {
    const config = testTable({ columns: [{ name: "seq", type: "string" }], changeSeqColumn: "seq" });
    const store = memoryStore();
    // Within one file the later row has the smaller sequence: the sequence wins. Numeric, not text, comparison.
    await mergeText(
      store,
      config,
      "20261101-1200000000.csv",
      dmsCsv(config, [
        { op: "U", values: [...row(1, "newest", 1n), "10000000000000000000000000000000010"] },
        { op: "U", values: [...row(1, "older", 1n), "9"] },
      ]),
    );
    expect((await stateRows(store, config)).map((r) => r[1])).toEqual(["newest"]);
  });

  it("orders by timestampColumn, ties by file then row", async () => {
    const config = testTable({ columns: [{ name: "ts", type: "timestamp" }], timestampColumn: "ts" });
    const store = memoryStore();
    await mergeText(
      store,
      config,
      "20261101-1300000000.csv",
      dmsCsv(config, [
        { op: "U", values: [...row(1, "later commit", 1n), 2000n] },
        { op: "U", values: [...row(2, "tie, later file", 1n), 1000n] },
        { op: "U", values: [...row(3, "tie row 1", 1n), 1000n] },
        { op: "U", values: [...row(3, "tie row 2", 1n), 1000n] },
      ]),
    );
    await mergeText(
      store,
      config,
      "20261101-1200000000.csv",
      dmsCsv(config, [
        { op: "U", values: [...row(1, "earlier commit, later row", 1n), 1000n] },
        { op: "U", values: [...row(2, "tie, earlier file", 1n), 1000n] },
      ]),
    );
    expect((await stateRows(store, config)).map((r) => r[1])).toEqual(["later commit", "tie, later file", "tie row 2"]);
  });

  it("orders by file then row without ordering columns, full loads before change files", async () => {
    const store = memoryStore();
    await mergeText(
      store,
      orders,
      "20261101-1200000000.csv",
      dmsCsv(orders, [{ op: "U", values: row(1, "change", 1n) }]),
    );
    await mergeText(
      store,
      orders,
      "LOAD00000001.csv",
      dmsCsv(orders, [{ op: "I", values: row(1, "load", 1n) }], false),
    );
    expect((await stateRows(store, orders)).map((r) => r[1])).toEqual(["change"]);
  });

  it("applies a late file only where its changes are newer", async () => {
    const store = memoryStore();
    await mergeText(store, orders, "20261101-1300000000.csv", dmsCsv(orders, [{ op: "D", values: row(1, "x", null) }]));
    await mergeText(
      store,
      orders,
      "20261101-1200000000.csv",
      dmsCsv(orders, [
        { op: "I", values: row(1, "resurrected?", 1n) },
        { op: "I", values: row(2, "new key", 1n) },
      ]),
    );
    expect(await stateRows(store, orders)).toEqual([["2", "new key", "0.01"]]);
  });

  it("a replayed file changes nothing and commits nothing", async () => {
    const store = memoryStore();
    const text = dmsCsv(orders, [{ op: "I", values: row(1, "a", 1n) }]);
    await mergeText(store, orders, "20261101-1200000000.csv", text);
    await mergeText(store, orders, "20261101-1300000000.csv", dmsCsv(orders, [{ op: "U", values: row(1, "b", 1n) }]));
    const before = new Map(store.objects);
    const result = await mergeText(store, orders, "20261101-1200000000.csv", text);
    expect(result.outcome).toBe("replay");
    expect(store.objects).toEqual(before);
  });

  it("rejects a corrupt file whole, leaves the table unchanged, then applies its correction in order", async () => {
    const store = memoryStore();
    await mergeText(store, orders, "20261101-1100000000.csv", dmsCsv(orders, [{ op: "I", values: row(1, "a", 1n) }]));
    await mergeText(
      store,
      orders,
      "20261101-1300000000.csv",
      dmsCsv(orders, [{ op: "U", values: row(2, "newer", 1n) }]),
    );
    const before = new Map(store.objects);
    const corrupt = `${dmsCsv(orders, [{ op: "U", values: row(1, "changed", 1n) }])}U,2,older,notanumber\n`;
    const error = await mergeText(store, orders, "20261101-1200000000.csv", corrupt).catch((e) => e);
    expect(error).toBeInstanceOf(InvalidCdcFile);
    expect(error).toMatchObject({ file: "dms/sales/orders/20261101-1200000000.csv", row: 2 });
    expect(store.objects).toEqual(before);

    const corrected = dmsCsv(orders, [
      { op: "U", values: row(1, "changed", 1n) },
      { op: "U", values: row(2, "older", 1n) },
    ]);
    expect((await mergeText(store, orders, "20261101-1200000000.csv", corrected)).outcome).toBe("merged");
    expect(await stateRows(store, orders)).toEqual([
      ["1", "changed", "0.01"],
      ["2", "newer", "0.01"],
    ]);
  });

  it("a crash between writing data and committing leaves the old table readable", async () => {
    const store = memoryStore();
    await mergeText(store, orders, "20261101-1100000000.csv", dmsCsv(orders, [{ op: "I", values: row(1, "a", 1n) }]));
    const manifestBefore = store.objects.get(manifestKey(orders));
    store.beforePut = (key) => {
      if (key.includes("/_cdc/metadata/")) throw new Error("crash");
    };
    await expect(
      mergeText(store, orders, "20261101-1200000000.csv", dmsCsv(orders, [{ op: "U", values: row(1, "b", 1n) }])),
    ).rejects.toThrow("crash");
    store.beforePut = undefined;
    expect(store.objects.get(manifestKey(orders))).toEqual(manifestBefore);
    expect(await manifestRows(store, orders, memUri)).toEqual([["1", "a", "0.01"]]);
    expect((await loadMetadata(store, orders)).version).toBe(1);
  });

  it("files of a killed merge (never cleaned up by it) are swept by a later merge; live files are kept", async () => {
    const store = memoryStore();
    const merge = (name: string, id: number, text: string, options = {}) =>
      mergeText(store, orders, name, dmsCsv(orders, [{ op: "I", values: row(id, text, 1n) }]), options);
    await merge("20261101-1100000000.csv", 1, "a");
    // Killed between writing its files and committing: nothing of it is deleted (flushKeys 1 also spills runs).
    const { delete: remove } = store;
    store.delete = async () => undefined;
    store.beforePut = (key) => {
      if (key.includes("/_cdc/metadata/")) throw new Error("killed");
    };
    await expect(merge("20261101-1200000000.csv", 2, "b", { flushKeys: 1 })).rejects.toThrow("killed");
    store.delete = remove;
    store.beforePut = undefined;
    const files = () => [...store.objects.keys()].filter((k) => /\/(data|_cdc\/state|_cdc\/tmp)\//.test(k));
    const orphans = files().filter((k) => k.includes("-00000002-"));
    expect(orphans.length).toBeGreaterThan(0);
    // The next merge commits version 2 (its own files, also tagged 2) and sweeps the killed attempt's files.
    await merge("20261101-1300000000.csv", 3, "c", { sweepEvery: 1 });
    const metadata = await loadMetadata(store, orders);
    const referenced = new Set([
      ...metadata.obsolete.map((o) => o.key),
      ...Object.values(metadata.buckets).flatMap((b) => [b.state, ...(b.data ? [b.data] : [])]),
    ]);
    expect(files().filter((k) => !referenced.has(k))).toEqual([]);
    expect(orphans.some((k) => store.objects.has(k))).toBe(false);
    expect(await manifestRows(store, orders, memUri)).toEqual([
      ["1", "a", "0.01"],
      ["3", "c", "0.01"],
    ]);
  });

  it("moves applied files older than the retention out of the metadata; the CLI still recognizes their replays", async () => {
    const store = memoryStore();
    const day = 24 * 3600_000;
    const start = Date.parse("2026-11-01T00:00:00Z");
    const files = [0, 1, 2, 9].map((d) => ({
      name: `2026110${d}-0000000000.csv`,
      text: dmsCsv(orders, [{ op: "I", values: row(d, `day ${d}`, 1n) }]),
      at: new Date(start + d * day),
    }));
    for (const f of files) await mergeText(store, orders, f.name, f.text, { now: () => f.at, sweepEvery: 1 });
    const metadata = await loadMetadata(store, orders);
    // On day 9, the files of days 0, 1 and 2 are past the 7-day retention (and day 0 a day past it): archived.
    expect(Object.keys(metadata.applied)).toEqual([files[3]?.name]);
    expect(metadata.archives).toHaveLength(1);
    expect(Object.keys(await loadApplied(store, metadata)).sort()).toEqual(files.map((f) => f.name));
    // The archive survives the orphan sweep, and a re-run of the CLI over the same source replays every file.
    const source = memoryStore();
    for (const f of files) await source.put(`dms/sales/orders/${f.name}`, f.text);
    const config = parseTablesConfig({
      tables: {
        "sales.orders": {
          primaryKey: ["id"],
          buckets: 4,
          columns: orders.columns.map((c) => ({
            name: c.name,
            type: c.type.kind === "decimal" ? "decimal(10,2)" : c.type.kind,
          })),
        },
      },
    });
    const report = await mergeAll(source, store, config);
    expect(report.files.map((f) => f.outcome)).toEqual(["replay", "replay", "replay", "replay"]);
    expect((await loadMetadata(store, orders)).version).toBe(metadata.version);
    expect((await stateRows(store, orders)).map((r) => r[1])).toEqual(["day 0", "day 1", "day 2", "day 9"]);
  });

  it("two merges that both archive applied files keep the winner's archive (the loser removes only its own)", async () => {
    const store = memoryStore();
    const day = 24 * 3600_000;
    const start = Date.parse("2026-11-01T00:00:00Z");
    const file = (d: number, hour = 0) => ({
      name: `2026110${d}-${hour}000000000.csv`,
      text: dmsCsv(orders, [{ op: "I", values: row(d * 10 + hour, `day ${d} ${hour}`, 1n) }]),
    });
    for (const d of [0, 1, 2]) {
      const f = file(d);
      await mergeText(store, orders, f.name, f.text, { now: () => new Date(start + d * day) });
    }
    // Two merges on day 9 load the same version, both archive the files of days 0-2, and race for the commit.
    const put = store.put;
    const waiting: (() => void)[] = [];
    let held = 0;
    store.put = async (key, body, options) => {
      // The first two commit attempts wait for each other: both have written everything but the metadata.
      if (options?.ifNoneMatch && key.includes("/_cdc/metadata/") && held < 2) {
        held++;
        await new Promise<void>((resolve) => {
          waiting.push(resolve);
          if (waiting.length === 2) for (const go of waiting) go();
        });
      }
      return put(key, body, options);
    };
    const racing = [file(9, 1), file(9, 2)];
    const results = await Promise.all(
      racing.map((f) => mergeText(store, orders, f.name, f.text, { now: () => new Date(start + 9 * day) })),
    );
    expect(results.map((r) => r.outcome)).toEqual(["merged", "merged"]);
    const metadata = await loadMetadata(store, orders);
    expect(metadata.archives?.length).toBeGreaterThan(0);
    expect(Object.keys(await loadApplied(store, metadata)).sort()).toEqual(
      [file(0), file(1), file(2), ...racing].map((f) => f.name).sort(),
    );
  });

  it("two merges of the same table at once lose no change (the loser retries on the new version)", async () => {
    const store = memoryStore();
    const files = Array.from({ length: 6 }, (_, i) => ({
      relPath: `20261101-1${i}00000000.csv`,
      text: dmsCsv(orders, [{ op: "I", values: row(i, `f${i}`, BigInt(i)) }]),
    }));
    const results = await Promise.all(files.map((f) => mergeText(store, orders, f.relPath, f.text)));
    expect(results.some((r) => r.outcome === "merged" && r.attempts > 1)).toBe(true);
    expect((await stateRows(store, orders)).map((r) => r[1])).toEqual(["f0", "f1", "f2", "f3", "f4", "f5"]);
    expect(Object.keys((await loadMetadata(store, orders)).applied)).toHaveLength(6);
  });

  it.each([
    ["the retry finds the key taken (412)", "precondition"],
    ["every attempt's answer is lost", "error"],
  ] as const)(
    "a commit whose answer was lost (%s) keeps the files its applied version names (found by --faults)",
    async (_, after) => {
      const config = testTable({ bucketBy: { column: "id", width: 100 } });
      const store = memoryStore();
      const insert = (name: string, id: number) =>
        mergeText(store, config, name, dmsCsv(config, [{ op: "I", values: row(id, `r${id}`, 1n) }]));
      await insert("20261101-0100000000.csv", 1);
      // The put of version 2 is applied, then its answer is lost: the SDK's retry is answered 412 (the key exists:
      // this very write), or every attempt ends in a network error.
      const put = store.put;
      let lost = false;
      store.put = async (key, body, options) => {
        const result = await put(key, body, options);
        if (options?.ifNoneMatch && key.includes("/_cdc/metadata/") && !lost) {
          lost = true;
          if (after === "precondition") throw new PreconditionFailed(key);
          throw Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
        }
        return result;
      };
      await insert("20261101-0900000000.csv", 300).catch(() => undefined);
      store.put = put;
      expect(lost).toBe(true);
      // Whatever the merge concluded, the table reads, and holds both rows once; the next merge goes on.
      await insert("20261101-1000000000.csv", 301);
      expect(await stateRows(store, config)).toEqual([
        ["1", "r1", "0.01"],
        ["300", "r300", "0.01"],
        ["301", "r301", "0.01"],
      ]);
      expect(await manifestRows(store, config, memUri)).toHaveLength(3);
    },
  );

  it("a slow merge whose base version was collected meanwhile loses its commit and merges on the latest; its stale view never sweeps", async () => {
    const config = testTable({ bucketBy: { column: "id", width: 100 } });
    const store = memoryStore();
    const insert = (name: string, id: number, options = {}) =>
      mergeText(store, config, name, dmsCsv(config, [{ op: "I", values: row(id, `r${id}`, 1n) }]), options);
    await insert("20261101-0100000000.csv", 1);
    // Merge A loads version 1, writes its files, and stalls right before its commit (put of version 2).
    const put = store.put;
    let stalled = false;
    let reached = () => {};
    let resume = () => {};
    const atCommit = new Promise<void>((r) => {
      reached = r;
    });
    const gate = new Promise<void>((r) => {
      resume = r;
    });
    store.put = async (key, body, options) => {
      if (options?.ifNoneMatch && key.includes("/_cdc/metadata/") && !stalled) {
        stalled = true;
        reached();
        await gate;
      }
      return put(key, body, options);
    };
    // A's version would be a sweep version: a stale view must not drive the orphan sweep.
    const slow = insert("20261101-0900000000.csv", 300, { sweepEvery: 1 });
    await atCommit;
    // Meanwhile 12 merges commit versions 2..13 (bucket 1, then bucket 2); collection drops versions below 3.
    await insert("20261101-0200000000.csv", 100);
    for (let i = 0; i < 11; i++) await insert(`20261101-1${i}00000000.csv`, 200 + i);
    expect(store.objects.has("sales/orders/_cdc/metadata/v00000000000000000002.json")).toBe(false);
    resume();
    const result = await slow;
    expect(result).toMatchObject({ outcome: "merged", version: 14 });
    const expected = [1, 100, ...Array.from({ length: 11 }, (_, i) => 200 + i), 300].map((id) => [
      String(id),
      `r${id}`,
      "0.01",
    ]);
    expect(await stateRows(store, config)).toEqual(expected);
    expect(await manifestRows(store, config, memUri)).toEqual(expected);
    expect((await loadMetadata(store, config)).version).toBe(14);
  });

  it.each([
    ["stale, its next version collected too", "before", 13, 15],
    ["live, built upon and collected before it could check", "after", 12, 2],
  ] as const)(
    "a merge whose commit cannot be confirmed (%s) deletes nothing and settles on the latest version",
    async (_, stall, others, version) => {
      const config = testTable({ bucketBy: { column: "id", width: 100 } });
      const store = memoryStore();
      const insert = (name: string, id: number) =>
        mergeText(store, config, name, dmsCsv(config, [{ op: "I", values: row(id, `r${id}`, 1n) }]));
      await insert("20261101-0100000000.csv", 1);
      const put = store.put;
      let stalled = false;
      let reached = () => {};
      let resume = () => {};
      const atCommit = new Promise<void>((r) => {
        reached = r;
      });
      const gate = new Promise<void>((r) => {
        resume = r;
      });
      store.put = async (key, body, options) => {
        if (options?.ifNoneMatch && key.includes("/_cdc/metadata/") && !stalled) {
          stalled = true;
          if (stall === "after") await put(key, body, options);
          reached();
          await gate;
          if (stall === "after") return;
        }
        return put(key, body, options);
      };
      const slow = insert("20261101-0900000000.csv", 300);
      await atCommit;
      for (let i = 0; i < others; i++) await insert(`20261101-1${String(i).padStart(2, "0")}0000000.csv`, 200 + i);
      resume();
      expect(await slow).toMatchObject({ outcome: "merged", version });
      const expected = [1, ...Array.from({ length: others }, (_, i) => 200 + i), 300].map((id) => [
        String(id),
        `r${id}`,
        "0.01",
      ]);
      expect(await stateRows(store, config)).toEqual(expected);
      expect(await manifestRows(store, config, memUri)).toEqual(expected);
    },
  );

  it("gives up with CommitConflict after maxAttempts lost races", async () => {
    const store = memoryStore();
    const put = store.put;
    store.put = async (key, body, options) => {
      if (options?.ifNoneMatch) {
        // Someone else always commits a version first (one that does not include our file).
        const other = JSON.parse(String(body));
        other.applied = {};
        other.buckets = {};
        other.commit = "another-merge";
        await put(key, JSON.stringify(other), {});
      }
      return put(key, body, options);
    };
    await expect(
      mergeText(store, orders, "20261101-1100000000.csv", dmsCsv(orders, [{ op: "I", values: row(1, "a", 1n) }]), {
        maxAttempts: 2,
      }),
    ).rejects.toBeInstanceOf(CommitConflict);
  });

  it("rewrites only the buckets a change file touches", async () => {
    const config = testTable({ buckets: 64 });
    const store = memoryStore();
    const load = Array.from({ length: 500 }, (_, i) => ({ op: "I" as const, values: row(i, "x", 1n) }));
    await mergeText(store, config, "LOAD00000001.csv", dmsCsv(config, load, false));
    const result = await mergeText(
      store,
      config,
      "20261101-1200000000.csv",
      dmsCsv(config, [{ op: "U", values: row(7, "y", 1n) }]),
    );
    expect(result).toMatchObject({ outcome: "merged", bucketsRewritten: 1, keysChanged: 1 });
  });

  it("with a range layout, keeps recent ids together: changes to recent rows rewrite only the newest buckets", async () => {
    const config = testTable({ bucketBy: { column: "id", width: 100 } });
    const store = memoryStore();
    const load = Array.from({ length: 1000 }, (_, i) => ({ op: "I" as const, values: row(i, "x", 1n) }));
    await mergeText(store, config, "LOAD00000001.csv", dmsCsv(config, load, false), { flushKeys: 300 });
    expect(Object.keys((await loadMetadata(store, config)).buckets)).toHaveLength(10);
    const result = await mergeText(
      store,
      config,
      "20261101-1200000000.csv",
      dmsCsv(config, [
        { op: "U", values: row(950, "y", 1n) },
        { op: "D", values: row(990, "x", 1n) },
        { op: "I", values: row(1005, "new", 1n) },
      ]),
    );
    expect(result).toMatchObject({ outcome: "merged", bucketsRewritten: 2, keysChanged: 3 });
    expect(await manifestRows(store, config, memUri)).toHaveLength(1000);
  });

  it("removes superseded files after the grace period, never files the manifest lists", async () => {
    const store = memoryStore();
    let now = new Date("2026-11-01T00:00:00Z");
    const options = { graceMs: 60_000, now: () => now };
    await mergeText(
      store,
      orders,
      "20261101-1100000000.csv",
      dmsCsv(orders, [{ op: "I", values: row(1, "a", 1n) }]),
      options,
    );
    const firstFiles = [...store.objects.keys()].filter((k) => k.includes("/data/"));
    await mergeText(
      store,
      orders,
      "20261101-1200000000.csv",
      dmsCsv(orders, [{ op: "U", values: row(1, "b", 1n) }]),
      options,
    );
    expect(firstFiles.every((k) => store.objects.has(k))).toBe(true);
    now = new Date("2026-11-01T00:02:00Z");
    await mergeText(
      store,
      orders,
      "20261101-1300000000.csv",
      dmsCsv(orders, [{ op: "I", values: row(2, "c", 1n) }]),
      options,
    );
    expect(firstFiles.some((k) => store.objects.has(k))).toBe(false);
    expect(await manifestRows(store, orders, memUri)).toEqual([
      ["1", "b", "0.01"],
      ["2", "c", "0.01"],
    ]);
  });

  it("writes every column type to Parquet and reads it back through the manifest", async () => {
    const config = allTypesTable();
    const store = memoryStore();
    const text = 'I,1,"a ""q"", é\n",1.25,-7,2.5,true,2026-11-01,2026-11-01 12:00:00.123456,-1.5,-12.5\nI,2,,,,,,,,,\n';
    await mergeText(store, config, "20261101-1200000000.csv", text);
    const expected = [
      ["1", 'a "q", é\n', "1.25", "-7", "2.5", "true", "2026-11-01", "2026-11-01 12:00:00.123456", "-1.50", "-12.5000"],
      ["2", null, null, null, null, null, null, null, null, null],
    ];
    expect(await stateRows(store, config)).toEqual(expected);
    expect(await manifestRows(store, config, memUri)).toEqual(expected);
  });
});
