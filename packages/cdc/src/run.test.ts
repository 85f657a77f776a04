import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseTablesConfig, type TableConfig } from "./config.ts";
import { icebirdRows } from "./fixtures/iceberg.ts";
import { createFileCatalog } from "./iceberg-catalog.ts";
import { mergeAll, passesOf } from "./run.ts";
import { createDirectoryStore, createMemoryStore } from "./storage.ts";

const config = parseTablesConfig({
  tables: {
    "sales.orders": {
      primaryKey: ["id"],
      buckets: 4,
      columns: [
        { name: "id", type: "int64" },
        { name: "name", type: "string" },
      ],
    },
  },
});
const orders = config.tables.get("sales.orders") as TableConfig;

describe("mergeAll", () => {
  it("merges a table's pending files in one pass: DMS order, one commit, each bucket's index written once; a corrupt file rejected whole", async () => {
    const dir = await mkdtemp(join(tmpdir(), "run-test-"));
    const source = createMemoryStore();
    const target = createDirectoryStore(dir);
    for (let f = 1; f <= 10; f++) {
      const rows = Array.from({ length: 5 }, (_, i) => `${(f - 1) * 5 + i + 1},load ${f}\n`).join("");
      await source.put(`dms/sales/orders/LOAD${f.toString(16).toUpperCase().padStart(8, "0")}.csv`, rows);
    }
    // Change files, named in change order; the corrupt one in the middle changes nothing.
    await source.put("dms/sales/orders/20261101-1100000000.csv", "U,1,first\nD,2,x\n");
    await source.put("dms/sales/orders/20261101-1200000000.csv", "U,1,corrupt\nQ,3,x\n");
    await source.put("dms/sales/orders/20261101-1300000000.csv", "U,1,second\nI,2,back\n");
    const indexPuts: string[] = [];
    const put = target.put;
    target.put = async (key, body, options) => {
      if (key.includes("/_cdc/index/")) indexPuts.push(key);
      return put(key, body, options);
    };
    const report = await mergeAll(source, target, config);
    expect(report).toMatchObject({ merged: 12, replayed: 0, rejected: 1 });
    expect(report.files.find((f) => f.outcome === "rejected")).toMatchObject({
      file: "dms/sales/orders/20261101-1200000000.csv",
      row: 2,
      reason: 'unknown Op "Q"',
    });
    const catalog = createFileCatalog(target);
    expect((await catalog.load(orders.schema, orders.table))?.version).toBe(1);
    expect(indexPuts).toHaveLength(4);
    const rows = await icebirdRows(dir, orders);
    expect(rows).toHaveLength(50);
    expect(rows.slice(0, 3)).toEqual([
      ["1", "second"],
      ["2", "back"],
      ["3", "load 1"],
    ]);

    // Re-run: everything merged is a replay, the corrupt file is rejected again, nothing is committed.
    const again = await mergeAll(source, target, config);
    expect(again).toMatchObject({ merged: 0, replayed: 12, rejected: 1 });
    expect((await catalog.load(orders.schema, orders.table))?.version).toBe(1);
    await rm(dir, { recursive: true, force: true });
  });

  it("splits a table's pending files into passes within the limits, never two files of one path in a pass", () => {
    const f = (relPath: string, size: number) => ({ relPath, size });
    const files = [f("LOAD1", 5), f("LOAD2", 5), f("a", 1), f("b", 1), f("b", 1), f("c", 20)];
    const names = (passes: { relPath: string }[][]) => passes.map((p) => p.map((x) => x.relPath));
    expect(names(passesOf(files))).toEqual([
      ["LOAD1", "LOAD2", "a", "b"],
      ["b", "c"],
    ]);
    expect(names(passesOf(files, { maxPassBytes: 10 }))).toEqual([["LOAD1", "LOAD2"], ["a", "b"], ["b"], ["c"]]);
    expect(names(passesOf(files, { maxPassFiles: 3 }))).toEqual([["LOAD1", "LOAD2", "a"], ["b"], ["b", "c"]]);
  });
});
