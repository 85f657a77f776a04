/**
 * The merge's guarantees, on the Iceberg engine, as the removed copy-on-write engine's tests checked them on its own
 * table (the cases the property and kill tests draw at random, written out): DMS order (change sequence compared as a
 * number, commit timestamp with ties by file then row, full loads before change files whatever arrives first), a
 * corrupt file rejected whole then its correction applied in order, replays that write nothing, concurrent merges
 * that lose no change, a commit whose answer was lost, giving up after `maxAttempts` lost races, and DMS Parquet input
 * of every column type. Every table is read back by icebird and compared with the oracle (`fixtures/replay.ts`).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parquetWriteBuffer } from "hyparquet-writer";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { TableConfig } from "./config.ts";
import { CommitConflict, PreconditionFailed } from "./errors.ts";
import { allTypesTable, chunksOf, dmsCsv, type TestChange, testTable } from "./fixtures/dms.ts";
import { icebirdRows } from "./fixtures/iceberg.ts";
import { type ReplayFile, replayText } from "./fixtures/replay.ts";
import { createFileCatalog, type IcebergCatalog } from "./iceberg-catalog.ts";
import { mergeFilesIceberg } from "./iceberg-pass.ts";
import type { MergeOptions } from "./merge-pass.ts";
import { writeParquet } from "./parquet.ts";
import { RowSet } from "./rows.ts";
import { createDirectoryStore, type ObjectStore } from "./storage.ts";
import { formatValue, type Value } from "./values.ts";

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "iceberg-guarantees-"));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const orders = testTable();
const row = (id: number, name: string | null, cents: bigint | null): Value[] => [BigInt(id), name, cents];

/** A DMS file of `config`: its changes (for the oracle) and its bytes (for the engine). */
function dms(config: TableConfig, relPath: string, changes: TestChange[], body?: string | Uint8Array) {
  return { relPath, changes, body: body ?? dmsCsv(config, changes, !relPath.startsWith("LOAD")) };
}
type Dms = ReturnType<typeof dms>;

function merge(
  store: ObjectStore,
  catalog: IcebergCatalog,
  config: TableConfig,
  files: readonly Dms[],
  options: MergeOptions = {},
) {
  return mergeFilesIceberg(
    store,
    catalog,
    config,
    files.map((f) => ({ file: { relPath: f.relPath, displayName: f.relPath }, open: () => chunksOf(f.body, 64) })),
    options,
  );
}

/** A table in `root`, and a function merging files into it one pass each. */
function table(config: TableConfig) {
  const store = createDirectoryStore(root);
  const catalog = createFileCatalog(store);
  return {
    store,
    catalog,
    merge: (files: readonly Dms[], options: MergeOptions = {}) => merge(store, catalog, config, files, options),
    rows: () => icebirdRows(root, config),
  };
}

const replayOf = (config: TableConfig, files: readonly ReplayFile[]) => replayText(config, files);

describe("DMS order on an Iceberg table", () => {
  it("orders by changeSeqColumn as a number, over file and row order", async () => {
    const config = testTable({ columns: [{ name: "seq", type: "string" }], changeSeqColumn: "seq" });
    const t = table(config);
    // Within one file the later row has the smaller sequence: the sequence wins. Numeric, not text, comparison.
    const file = dms(config, "20261101-1200000000.csv", [
      { op: "U", values: [...row(1, "newest", 1n), "10000000000000000000000000000000010"] },
      { op: "U", values: [...row(1, "older", 1n), "9"] },
    ]);
    // A later file whose change is older than both.
    const late = dms(config, "20261101-1300000000.csv", [{ op: "U", values: [...row(1, "oldest", 1n), "8"] }]);
    await t.merge([file]);
    await t.merge([late]);
    expect((await t.rows()).map((r) => r[1])).toEqual(["newest"]);
    expect(await t.rows()).toEqual(replayOf(config, [file, late]));
  });

  it("orders by timestampColumn, ties by file then row, whatever order the files arrive in", async () => {
    const config = testTable({ columns: [{ name: "ts", type: "timestamp" }], timestampColumn: "ts" });
    const t = table(config);
    const later = dms(config, "20261101-1300000000.csv", [
      { op: "U", values: [...row(1, "later commit", 1n), 2000n] },
      { op: "U", values: [...row(2, "tie, later file", 1n), 1000n] },
      { op: "U", values: [...row(3, "tie row 1", 1n), 1000n] },
      { op: "U", values: [...row(3, "tie row 2", 1n), 1000n] },
    ]);
    const earlier = dms(config, "20261101-1200000000.csv", [
      { op: "U", values: [...row(1, "earlier commit, later row", 1n), 1000n] },
      { op: "U", values: [...row(2, "tie, earlier file", 1n), 1000n] },
    ]);
    await t.merge([later]);
    await t.merge([earlier]);
    expect((await t.rows()).map((r) => r[1])).toEqual(["later commit", "tie, later file", "tie row 2"]);
    expect(await t.rows()).toEqual(replayOf(config, [later, earlier]));
  });

  it("orders full loads before change files, even a full load that arrives after them", async () => {
    const t = table(orders);
    const change = dms(orders, "20261101-1200000000.csv", [
      { op: "U", values: row(1, "change", 1n) },
      { op: "D", values: row(2, null, null) },
    ]);
    const load = dms(orders, "LOAD00000001.csv", [
      { op: "I", values: row(1, "load", 1n) },
      { op: "I", values: row(2, "load", 2n) },
      { op: "I", values: row(3, "load", 3n) },
    ]);
    await t.merge([change]);
    await t.merge([load]);
    expect(await t.rows()).toEqual([
      ["1", "change", "0.01"],
      ["3", "load", "0.03"],
    ]);
    expect(await t.rows()).toEqual(replayOf(orders, [change, load]));
  });
});

describe("rejections, replays and races on an Iceberg table", () => {
  it("rejects a corrupt file whole, leaves the rows unchanged, then applies its correction in order", async () => {
    const t = table(orders);
    const first = dms(orders, "20261101-1100000000.csv", [{ op: "I", values: row(1, "a", 1n) }]);
    const newer = dms(orders, "20261101-1300000000.csv", [{ op: "U", values: row(2, "newer", 1n) }]);
    await t.merge([first]);
    await t.merge([newer]);
    const before = await t.rows();
    const changes: TestChange[] = [
      { op: "U", values: row(1, "changed", 1n) },
      { op: "U", values: row(2, "older", 1n) },
    ];
    const corrupt = dms(
      orders,
      "20261101-1200000000.csv",
      changes,
      `${dmsCsv(orders, changes.slice(0, 1))}U,2,older,notanumber\n`,
    );
    const rejected = await t.merge([corrupt]);
    expect(rejected.files).toEqual([expect.objectContaining({ outcome: "rejected", row: 2 })]);
    expect(await t.rows()).toEqual(before);

    const corrected = dms(orders, "20261101-1200000000.csv", changes);
    expect((await t.merge([corrected])).files.map((f) => f.outcome)).toEqual(["merged"]);
    expect(await t.rows()).toEqual([
      ["1", "changed", "0.01"],
      ["2", "newer", "0.01"],
    ]);
    expect(await t.rows()).toEqual(replayOf(orders, [first, newer, corrected]));
  });

  it("a replayed file writes nothing", async () => {
    const t = table(orders);
    const file = dms(orders, "20261101-1200000000.csv", [{ op: "I", values: row(1, "a", 1n) }]);
    await t.merge([file]);
    await t.merge([dms(orders, "20261101-1300000000.csv", [{ op: "U", values: row(1, "b", 1n) }])]);
    const before = await t.store.list("");
    const replay = await t.merge([file]);
    expect(replay.files.map((f) => f.outcome)).toEqual(["replay"]);
    expect(await t.store.list("")).toEqual(before);
  });

  it("merges of the same table at once lose no change (the losers build again on the winners)", async () => {
    const t = table(orders);
    const files = Array.from({ length: 6 }, (_, i) =>
      dms(orders, `20261101-1${i}00000000.csv`, [{ op: "I", values: row(i, `f${i}`, BigInt(i)) }]),
    );
    const results = await Promise.all(files.map((f) => t.merge([f])));
    expect(results.flatMap((r) => r.files.map((f) => f.outcome))).toEqual(files.map(() => "merged"));
    expect(results.some((r) => r.files[0]?.outcome === "merged" && r.files[0].attempts > 1)).toBe(true);
    expect(await t.rows()).toEqual(replayOf(orders, files));
    // One snapshot a merge: versions 1 to 6.
    expect((await t.catalog.load(orders.schema, orders.table))?.version).toBe(6);
  });

  it.each([
    ["the retry finds the key taken (412)", "precondition"],
    ["the answer is lost in the network", "error"],
  ] as const)("a commit whose answer was lost (%s) leaves a readable table; the next merge goes on", async (_, how) => {
    const t = table(orders);
    const first = dms(orders, "20261101-0100000000.csv", [{ op: "I", values: row(1, "r1", 1n) }]);
    await t.merge([first]);
    // The put of the next metadata version is applied, then its answer is lost.
    const store = t.store;
    const put = store.put;
    let lost = false;
    const lossy: ObjectStore = {
      ...store,
      async put(key, body, options) {
        await put(key, body, options);
        if (options?.ifNoneMatch && key.endsWith(".metadata.json") && !lost) {
          lost = true;
          if (how === "precondition") throw new PreconditionFailed(key);
          throw Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
        }
      },
    };
    const second = dms(orders, "20261101-0900000000.csv", [{ op: "I", values: row(300, "r300", 1n) }]);
    await merge(lossy, createFileCatalog(lossy), orders, [second]).catch(() => undefined);
    expect(lost).toBe(true);
    // Whatever the merge concluded, the table reads, and holds each row once; the next merge goes on.
    const third = dms(orders, "20261101-1000000000.csv", [{ op: "I", values: row(301, "r301", 1n) }]);
    await t.merge([second, third]);
    expect(await t.rows()).toEqual(replayOf(orders, [first, second, third]));
  });

  it("gives up with CommitConflict after maxAttempts lost races", async () => {
    const t = table(orders);
    // Someone else always commits first.
    const losing: IcebergCatalog = { load: (s, n) => t.catalog.load(s, n), commit: async () => "conflict" };
    await expect(
      merge(t.store, losing, orders, [dms(orders, "20261101-1100000000.csv", [{ op: "I", values: row(1, "a", 1n) }])], {
        maxAttempts: 2,
      }),
    ).rejects.toBeInstanceOf(CommitConflict);
    // What the attempts wrote is gone: nothing but the (empty) table folder's spill area, if anything.
    expect((await t.store.list("")).filter((o) => !o.key.includes("/_cdc/tmp/"))).toEqual([]);
  });
});

describe("DMS Parquet input into an Iceberg table", () => {
  it("merges a Parquet full load of every column type, then Parquet and CSV change files, in DMS order", async () => {
    const config = allTypesTable();
    const t = table(config);
    // Timestamps in whole milliseconds: icebird (hyparquet) reads them as a Date.
    const loaded: Value[][] = [
      [1n, "a", 5274470n, -7, 2.5, true, -1, -1000n, -999999999n, -(10n ** 20n) - 12345n],
      [2n, null, 1n, null, null, null, 20758, 1793534400123000n, 1n, 10n ** 20n + 1n],
      [3n, 'ü,"x"\n', -5n, 7, -0.25, false, 0, 0n, 0n, 0n],
    ];
    const rows = new RowSet(config);
    for (const values of loaded) {
      const at = rows.appendRow();
      for (const [c, v] of values.entries()) rows.set(at, c, v);
    }
    const load = dms(
      config,
      "LOAD00000001.parquet",
      loaded.map((values) => ({ op: "I", values })),
      writeParquet(config, rows),
    );
    // A DMS change file in Parquet: Op first, then the columns (DMS writes its own types; text ones here).
    const parquetChanges: TestChange[] = [
      { op: "U", values: [2n, "two", 200n, 2, 2.5, true, 1, 2000n, 2n, 2n] },
      { op: "D", values: [3n, null, null, null, null, null, null, null, null, null] },
    ];
    const changeBody = new Uint8Array(
      parquetWriteBuffer({
        columnData: [
          { name: "Op", data: parquetChanges.map((c) => c.op), type: "STRING" },
          ...config.columns.map((column, i) => ({
            name: column.name,
            data: parquetChanges.map((c) => formatValue(column.type, c.values[i] as Value)),
            type: "STRING" as const,
          })),
        ],
      }),
    );
    const parquetFile = dms(config, "20261101-1200000000.parquet", parquetChanges, changeBody);
    const csvFile = dms(config, "20261101-1100000000.csv", [
      { op: "U", values: [1n, "a change after the load", 1n, 1, 1, false, 1, 1000n, 1n, 1n] },
      { op: "U", values: [2n, "older than the Parquet file's", 9n, 9, 9, false, 9, 9000n, 9n, 9n] },
    ]);
    await t.merge([parquetFile, load]);
    await t.merge([csvFile]);
    const expected = replayOf(config, [load, csvFile, parquetFile]);
    expect(expected.map((r) => r[1])).toEqual(["a change after the load", "two"]);
    // icebird (hyparquet) decodes DECIMAL as a float: the 38-digit column is compared to a double's precision.
    const big = config.columns.findIndex((c) => c.name === "big");
    const approx = (table: (string | null)[][]) =>
      table.map((r) => r.map((v, i) => (i === big && v !== null ? Number(v).toPrecision(12) : v)));
    expect(approx(await t.rows())).toEqual(approx(expected));
  });
});
