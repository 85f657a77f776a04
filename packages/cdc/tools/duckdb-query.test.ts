/**
 * A real query engine reads what the merge writes: DuckDB over an Iceberg snapshot's data files minus its position
 * deletes sees every column type with its exact value (decimals, microsecond timestamps, dates, unicode and embedded
 * newlines).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { allTypesTable, chunksOf, testTable } from "../src/fixtures/dms.ts";
import { tableUrl } from "../src/fixtures/iceberg.ts";
import { createFileCatalog } from "../src/iceberg-catalog.ts";
import { mergeFilesIceberg } from "../src/iceberg-pass.ts";
import { createDirectoryStore } from "../src/storage.ts";
import { queryTables } from "./duckdb-query.ts";
import { snapshotFiles } from "./iceberg-files.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "cdc-duckdb-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("queryTables (DuckDB over an Iceberg snapshot)", () => {
  it("gives an empty, typed table when nothing was merged yet", async () => {
    const config = testTable();
    const result = await queryTables("SELECT count(*) AS n FROM sales.orders", [{ config, files: [] }]);
    expect(result.rows).toEqual([[0n]]);
  });

  it("reads an Iceberg snapshot: data files minus position deletes, every type exact", async () => {
    const config = allTypesTable();
    const store = createDirectoryStore(dir);
    const catalog = createFileCatalog(store);
    const merge = (relPath: string, text: string) =>
      mergeFilesIceberg(store, catalog, config, [
        { file: { relPath, displayName: relPath }, open: () => chunksOf(text, 64) },
      ]);
    await merge(
      "20261101-1200000000.csv",
      'I,1,"a ""q"", é\n",12345678.91,-7,2.5,true,2026-11-01,2026-11-01 12:00:00.123456,-9999999.99,-12345678901234567890123456789012.5\nI,2,,,,,,,,,\nI,3,gone,1,1,1,true,2026-11-01,2026-11-01 12:00:00,1,1\n',
    );
    await merge("20261101-1300000000.csv", "D,3,gone,1,1,1,true,2026-11-01,2026-11-01 12:00:00,1,1\nU,2,two,,,,,,,,\n");
    const snapshot = await snapshotFiles(tableUrl(dir, config));
    expect(snapshot.data).toHaveLength(2);
    expect(snapshot.positionDeletes).toHaveLength(1);
    const result = await queryTables(
      "SELECT id, name, amount::VARCHAR, n, d, b, day::VARCHAR, ts::VARCHAR, small::VARCHAR, big::VARCHAR FROM sales.orders ORDER BY id",
      [
        {
          config,
          files: snapshot.data.map((uri) => fileURLToPath(uri)),
          positionDeletes: {
            files: snapshot.positionDeletes.map((uri) => fileURLToPath(uri)),
            dataFileUris: snapshot.data,
          },
        },
      ],
    );
    expect(result.rows.map((r) => r.map((v) => (v === null ? null : String(v))))).toEqual([
      [
        "1",
        'a "q", é\n',
        "12345678.91",
        "-7",
        "2.5",
        "true",
        "2026-11-01",
        "2026-11-01 12:00:00.123456",
        "-9999999.99",
        "-12345678901234567890123456789012.5000",
      ],
      ["2", "two", null, null, null, null, null, null, null, null],
    ]);
  });
});
