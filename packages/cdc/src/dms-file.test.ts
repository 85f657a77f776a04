import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { DuckDBInstance } from "@duckdb/node-api";
import { parquetMetadata } from "hyparquet";
import { parquetWriteBuffer } from "hyparquet-writer";
import { describe, expect, it } from "vitest";
import { type Change, changesOf, readDmsFile } from "./dms-file.ts";
import { InvalidCdcFile } from "./errors.ts";
import { allTypesTable, chunksOf, testTable } from "./fixtures/dms.ts";
import { writeParquet } from "./parquet.ts";
import { RowSet } from "./rows.ts";
import type { Value } from "./values.ts";

async function read(relPath: string, body: string | Uint8Array, extra: Record<string, unknown> = {}) {
  const config = testTable(extra);
  const out: Change[] = [];
  for await (const batch of readDmsFile(
    config,
    { relPath, displayName: `dms/sales/orders/${relPath}` },
    chunksOf(body, 5),
    2,
  ))
    out.push(...changesOf(batch.rows, batch.ops));
  return out;
}

async function rejection(relPath: string, body: string | Uint8Array, extra: Record<string, unknown> = {}) {
  try {
    await read(relPath, body, extra);
  } catch (error) {
    if (error instanceof InvalidCdcFile) return error;
    throw error;
  }
  throw new Error("not rejected");
}

describe("readDmsFile", () => {
  it("reads a change file: Op first, NULL vs empty string, embedded commas, quotes, newlines, unicode", async () => {
    const changes = await read(
      "20261101-1200000000.csv",
      'I,1,"a, ""quoted""\nname",1.50\nU,2,"",\nD,3,日本🙂,-0.01\n',
    );
    expect(changes).toEqual([
      { op: "I", values: [1n, 'a, "quoted"\nname', 150n], row: 1 },
      { op: "U", values: [2n, "", null], row: 2 },
      { op: "D", values: [3n, "日本🙂", -1n], row: 3 },
    ]);
  });

  it("reads a full-load file without Op as inserts, and with Op when includeOpForFullLoad", async () => {
    expect(await read("LOAD00000001.csv", "1,a,1\n")).toEqual([{ op: "I", values: [1n, "a", 100n], row: 1 }]);
    expect(await read("LOAD0000000A.csv", "I,1,a,1\n", { includeOpForFullLoad: true })).toEqual([
      { op: "I", values: [1n, "a", 100n], row: 1 },
    ]);
  });

  it("skips and checks a header row", async () => {
    expect(await read("20261101-1200000000.csv", "Op,id,name,amount\nI,1,a,2\n", { header: true })).toEqual([
      { op: "I", values: [1n, "a", 200n], row: 1 },
    ]);
    const error = await rejection("20261101-1200000000.csv", "Op,id,title,amount\nI,1,a,2\n", { header: true });
    expect(error.reason).toMatch(/header/);
  });

  it("reads gzip files", async () => {
    const body = gzipSync("I,1,a,1\nD,1,a,1\n");
    expect((await read("20261101-1200000000.csv.gz", body)).map((c) => c.op)).toEqual(["I", "D"]);
  });

  it("reads every column type", async () => {
    const columns = [
      { name: "n", type: "int32" },
      { name: "d", type: "double" },
      { name: "b", type: "boolean" },
      { name: "day", type: "date" },
      { name: "ts", type: "timestamp" },
    ];
    const [change] = await read(
      "20261101-1200000000.csv",
      "I,1,a,1,-7,2.5e3,true,2026-11-01,2026-11-01 12:00:00.123456\n",
      { columns },
    );
    expect(change?.values).toEqual([1n, "a", 100n, -7, 2500, true, 20758, 1793534400123456n]);
  });

  it("reads DMS Parquet files", async () => {
    const buffer = parquetWriteBuffer({
      columnData: [
        { name: "Op", data: ["I", "U", "D"], type: "STRING" },
        { name: "id", data: [1n, 2n, 3n], type: "INT64" },
        { name: "name", data: ["a", null, ""], type: "STRING" },
        { name: "amount", data: ["1.25", "2", null], type: "STRING" },
      ],
    });
    expect(await read("20261101-1200000000.parquet", new Uint8Array(buffer))).toEqual([
      { op: "I", values: [1n, "a", 125n], row: 1 },
      { op: "U", values: [2n, null, 200n], row: 2 },
      { op: "D", values: [3n, "", null], row: 3 },
    ]);
  });

  it("reads Parquet files of other writers in every codec (ZSTD: Athena's default for Iceberg; GZIP)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "dms-codecs-"));
    const db = await DuckDBInstance.create(":memory:");
    const connection = await db.connect();
    try {
      for (const codec of ["zstd", "gzip", "snappy", "uncompressed"]) {
        const path = join(dir, `${codec}.parquet`);
        await connection.run(
          `COPY (SELECT 'I' AS Op, i::BIGINT AS id, 'n' || i AS name, (i * 1.25)::DECIMAL(10,2) AS amount ` +
            `FROM range(1, 2001) t(i)) TO '${path}' (FORMAT parquet, COMPRESSION ${codec})`,
        );
        const changes = await read("20261101-1200000000.parquet", new Uint8Array(await readFile(path)));
        expect(changes).toHaveLength(2000);
        expect(changes[1999]).toEqual({ op: "I", values: [2000n, "n2000", 250000n], row: 2000 });
      }
    } finally {
      connection.closeSync();
      db.closeSync();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("reads Parquet DECIMAL (INT32, INT64, fixed-length bytes), DATE and TIMESTAMP columns exactly", async () => {
    const config = allTypesTable();
    const rows = new RowSet(config);
    const values: Value[][] = [
      [1n, "a", 5274470n, -7, 2.5, true, -1, -1n, -999999999n, -(10n ** 37n) - 12345n],
      [2n, null, 1n, null, null, null, 20758, 1793534400123456n, 1n, 10n ** 37n + 1n],
    ];
    for (const row of values) {
      const at = rows.appendRow();
      for (const [c, v] of row.entries()) rows.set(at, c, v);
    }
    const file = writeParquet(config, rows);
    const changes: Change[] = [];
    for await (const batch of readDmsFile(
      config,
      { relPath: "LOAD00000001.parquet", displayName: "x" },
      chunksOf(file, 1000),
    ))
      changes.push(...changesOf(batch.rows, batch.ops));
    expect(changes.map((c) => c.values)).toEqual(values);
  });

  it("reads a Parquet file row group by row group, numbering rows across groups", async () => {
    const buffer = parquetWriteBuffer({
      columnData: [
        { name: "Op", data: ["I", "I", "U", "I", "X"], type: "STRING" },
        { name: "id", data: [1n, 2n, 3n, 4n, 5n], type: "INT64" },
        { name: "name", data: ["a", "b", "c", "d", "e"], type: "STRING" },
        { name: "amount", data: ["1", "2", "3", "4", "5"], type: "STRING" },
      ],
      rowGroupSize: 2,
    });
    expect(parquetMetadata(buffer).row_groups).toHaveLength(3);
    const error = await rejection("20261101-1200000000.parquet", new Uint8Array(buffer));
    expect([error.row, error.reason]).toEqual([5, 'unknown Op "X"']);
    const good = parquetWriteBuffer({
      columnData: [
        { name: "Op", data: ["I", "I", "U"], type: "STRING" },
        { name: "id", data: [1n, 2n, 3n], type: "INT64" },
        { name: "name", data: ["a", "b", "c"], type: "STRING" },
        { name: "amount", data: ["1", "2", "3"], type: "STRING" },
      ],
      rowGroupSize: 2,
    });
    const changes = await read("20261101-1200000000.parquet", new Uint8Array(good));
    expect(changes.map((c) => [c.row, c.values[1]])).toEqual([
      [1, "a"],
      [2, "b"],
      [3, "c"],
    ]);
  });

  it.each([
    ["an unknown Op", "I,1,a,1\nX,2,b,1\n", 2, /unknown Op "X"/],
    ["a missing Op", "I,1,a,1\n,2,b,1\n", 2, /unknown Op null/],
    ["too few fields", "I,1,a,1\nI,2,b\n", 2, /expected 4 fields, found 3/],
    ["too many fields", "I,1,a,1,9\n", 1, /expected 4 fields, found 5/],
    ["an unparsable number", "I,1,a,1\nI,2,b,1\nI,x3,c,1\n", 3, /column id: not an int64/],
    ["a decimal that does not fit", "I,1,a,123456789.5\n", 1, /column amount: decimal\(10,2\) overflow/],
    ["a NULL key", "I,,a,1\n", 1, /primary key column id is NULL/],
    ["an empty string in a number column", 'I,"",a,1\n', 1, /not an int64/],
    ["a truncated quote", 'I,1,a,1\nI,2,"b,1\n', 2, /unterminated/],
  ])("rejects %s with the file and row", async (_, body, row, reason) => {
    const error = await rejection("20261101-1200000000.csv", body);
    expect(error.file).toBe("dms/sales/orders/20261101-1200000000.csv");
    expect(error.row).toBe(row);
    expect(error.reason).toMatch(reason);
  });

  it("rejects a corrupt gzip stream and invalid UTF-8", async () => {
    const gz = gzipSync("I,1,a,1\n".repeat(100));
    expect((await rejection("20261101-1200000000.csv.gz", gz.subarray(0, gz.length - 12))).reason).toMatch(
      /gzip|unexpected end/i,
    );
    expect((await rejection("20261101-1200000000.csv", new Uint8Array([0x49, 0x2c, 0xff, 0xfe, 0x0a]))).reason).toMatch(
      /UTF-8/,
    );
  });

  it("rejects a file named .gz that is not gzip as such, for the whole file, not as a bad first record", async () => {
    const error = await rejection("20261101-1200000000.csv.gz", "I,1,a,1\n");
    expect(error.row).toBe(0);
    expect(error.reason).toBe("named .gz but not gzip (it does not start with gzip's bytes 1f 8b)");
    // A gzip file not named so is still read (its content says what it is).
    expect((await read("20261101-1200000000.csv", gzipSync("I,1,a,1\n"))).map((c) => c.op)).toEqual(["I"]);
  });
});
