/** The Athena maintenance planner: which tables get OPTIMIZE and VACUUM, from their snapshots' totals. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { chunksOf, dmsCsv, testTable } from "./fixtures/dms.ts";
import { createFileCatalog } from "./iceberg-catalog.ts";
import type { IcebergTableMetadata } from "./iceberg-metadata.ts";
import { mergeFilesIceberg } from "./iceberg-pass.ts";
import { maintenanceStatement, planMaintenance, snapshotTotals, type TableSummary } from "./maintenance.ts";
import { createDirectoryStore } from "./storage.ts";

const MiB = 1024 * 1024;
const table = (name: string, totals?: TableSummary["totals"]): TableSummary => ({
  database: "sluice_prod_sales",
  table: name,
  ...(totals ? { totals } : {}),
});

describe("planMaintenance", () => {
  const tables = [
    table("empty"),
    // Small: CdcMerge compacts it itself, whatever its delete files.
    table("small", { dataFiles: 40, deleteFiles: 500, records: 5_000_000, bytes: 80 * MiB }),
    // Big, with many delete files.
    table("deletes", { dataFiles: 20, deleteFiles: 64, records: 5_000_001, bytes: 20 * 512 * MiB }),
    // Big, many small files (one-minute merges), few deletes.
    table("small_files", { dataFiles: 256, deleteFiles: 3, records: 50_000_000, bytes: 256 * 63 * MiB }),
    // Big and compact: bin-packed files, few deletes.
    table("compact", { dataFiles: 300, deleteFiles: 63, records: 900_000_000, bytes: 300 * 512 * MiB }),
    {
      database: "sluice_prod_sales",
      table: "Odd-Name",
      totals: { dataFiles: 1, deleteFiles: 1, records: 1, bytes: 1 },
    },
  ];

  it("optimizes big tables with many delete files or many small data files, and leaves the rest", () => {
    const plan = planMaintenance("optimize", tables);
    expect(plan.statements).toEqual([
      {
        database: "sluice_prod_sales",
        table: "deletes",
        sql: "OPTIMIZE sluice_prod_sales.deletes REWRITE DATA USING BIN_PACK",
      },
      {
        database: "sluice_prod_sales",
        table: "small_files",
        sql: "OPTIMIZE sluice_prod_sales.small_files REWRITE DATA USING BIN_PACK",
      },
    ]);
    expect(plan.skipped.map((s) => [s.table, s.reason])).toEqual([
      ["empty", "no Iceberg snapshot"],
      ["small", "small (5000000 rows): compacted by CdcMerge"],
      ["compact", "compact enough (300 data files, 63 delete files)"],
      ["Odd-Name", "not a plain Glue name (lower-case letters, digits, underscores)"],
    ]);
  });

  it("vacuums every table with a snapshot, small ones too (snapshot expiry after CdcMerge's own compactions)", () => {
    const plan = planMaintenance("vacuum", tables);
    expect(plan.statements.map((s) => s.sql)).toEqual([
      "VACUUM sluice_prod_sales.small",
      "VACUUM sluice_prod_sales.deletes",
      "VACUUM sluice_prod_sales.small_files",
      "VACUUM sluice_prod_sales.compact",
    ]);
  });

  it("quotes a table name starting with an underscore as Athena wants it, and refuses other names", () => {
    expect(maintenanceStatement("vacuum", "db", "_t")).toBe("VACUUM db.`_t`");
    expect(maintenanceStatement("optimize", "db", "_t")).toBe('OPTIMIZE db."_t" REWRITE DATA USING BIN_PACK');
    expect(() => maintenanceStatement("vacuum", "db", "t; DROP TABLE x")).toThrow(/not a Glue name/);
  });
});

describe("snapshotTotals", () => {
  it("reads the totals the merge writes in its snapshot summaries, file sizes included", async () => {
    const root = await mkdtemp(join(tmpdir(), "maintenance-"));
    try {
      const config = testTable();
      const store = createDirectoryStore(root);
      const catalog = createFileCatalog(store);
      const merge = (relPath: string, text: string) =>
        mergeFilesIceberg(store, catalog, config, [
          { file: { relPath, displayName: relPath }, open: () => chunksOf(text, 64) },
        ]);
      const rows = [1, 2, 3].map((id) => ({ op: "I" as const, values: [BigInt(id), `n${id}`, BigInt(id)] }));
      await merge("LOAD00000001.csv", dmsCsv(config, rows, false));
      await merge("20261101-1200000000.csv", dmsCsv(config, [{ op: "D", values: [2n, null, null] }]));
      const current = await catalog.load(config.schema, config.table);
      const totals = snapshotTotals(current?.metadata as IcebergTableMetadata);
      const files = (await store.list(`${config.schema}/${config.table}/data/`)).reduce((n, f) => n + f.size, 0);
      expect(totals).toEqual({ dataFiles: 1, deleteFiles: 1, records: 3, bytes: files });
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
