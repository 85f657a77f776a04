/**
 * The column-wise row store, its binary state file and the Parquet writer, on random rows of every column type:
 * what goes in comes out exactly (state), and a Parquet reader sees the same values (hyparquet; DuckDB reads them in
 * `tools/duckdb-query.test.ts`).
 */
import fc from "fast-check";
import { parquetMetadata, parquetReadObjects } from "hyparquet";
import { describe, expect, it } from "vitest";
import { allTypesTable } from "./fixtures/dms.ts";
import { bucketOf } from "./merge.ts";
import { writeParquet } from "./parquet.ts";
import { type Key, KeyIndex, RowSet } from "./rows.ts";
import { decodeState, encodeState } from "./state-file.ts";
import type { Value } from "./values.ts";

const config = allTypesTable({ timestampColumn: "ts" });

const nullable = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: null, freq: 4 });
const row = fc.tuple(
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  nullable(fc.string({ unit: "grapheme", maxLength: 8 })),
  nullable(fc.bigInt({ min: -(10n ** 10n) + 1n, max: 10n ** 10n - 1n })),
  nullable(fc.integer()),
  nullable(fc.double()),
  nullable(fc.boolean()),
  nullable(fc.integer({ min: -719_162, max: 2_932_896 })),
  nullable(fc.bigInt({ min: -(2n ** 62n), max: 2n ** 62n })),
  nullable(fc.bigInt({ min: -(10n ** 9n) + 1n, max: 10n ** 9n - 1n })),
  nullable(fc.bigInt({ min: -(10n ** 38n) + 1n, max: 10n ** 38n - 1n })),
  fc.boolean(), // live
);

function build(rows: readonly (readonly unknown[])[]): RowSet {
  const set = new RowSet(config, 4);
  for (const [r, values] of rows.entries()) {
    const batch = new RowSet(config, 1);
    batch.fileId(`1file-${r % 3}.csv`);
    const i = batch.appendRow();
    for (let c = 0; c < config.columns.length; c++) batch.set(i, c, values[c] as Value);
    batch.live[i] = values[10] ? 1 : 0;
    batch.r[i] = r + 1;
    set.upsert(batch.keyAt(i), batch, i);
  }
  return set;
}

const snapshot = (set: RowSet) =>
  Array.from({ length: set.size }, (_, i) => ({
    key: set.keyAt(i),
    file: set.files[set.f[i] as number],
    r: set.r[i],
    live: set.live[i],
    row: set.row(i),
  }));

describe("bucketOf", () => {
  it("hashes an integer key exactly as its decimal text (the layout stored with existing tables)", () => {
    fc.assert(
      fc.property(fc.oneof(fc.maxSafeInteger(), fc.integer({ min: -1000, max: 1000 })), (key) => {
        expect(bucketOf(key, 97)).toBe(bucketOf(String(key), 97));
      }),
    );
    expect(bucketOf(9007199254740991, 1 << 30)).toBe(bucketOf("9007199254740991", 1 << 30));
  });
});

describe("KeyIndex", () => {
  it("behaves as a Map for integer keys of any size and for string keys", () => {
    const key = fc.oneof(
      fc.integer({ min: -50, max: 50 }),
      fc.maxSafeInteger(),
      fc.integer().map((n) => n * 4294967296),
      fc.string({ maxLength: 3 }),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(key, fc.nat()), { maxLength: 300 }), fc.array(key), (writes, reads) => {
        const index = new KeyIndex();
        const model = new Map<Key, number>();
        for (const [k, row] of writes) {
          index.set(k, row);
          model.set(k === 0 ? 0 : k, row);
        }
        expect(index.size).toBe(model.size);
        for (const k of [...model.keys(), ...reads]) expect(index.get(k)).toBe(model.get(k));
      }),
    );
  });
});

describe("RowSet, state file and Parquet writer", () => {
  it("a state file gives back every key, position, tombstone and value exactly", () => {
    fc.assert(
      fc.property(fc.array(row, { maxLength: 60 }), (rows) => {
        const set = build(rows);
        expect(snapshot(decodeState(config, encodeState(set)))).toEqual(snapshot(set));
      }),
    );
  });

  it("keeps the newest change per key: order column (NULL first), then file order, then row", () => {
    const change = (id: bigint, name: string, ts: bigint | null, live = true) =>
      [id, name, null, null, null, null, null, ts, null, null, live] as const;
    const set = build([
      change(1n, "newest", 20n),
      change(1n, "older timestamp", 10n),
      change(1n, "no timestamp", null),
      change(2n, "no timestamp", null),
      change(2n, "any timestamp is newer", -5n),
      change(3n, "tie: later file", 7n), // files alternate by row: 1file-2.csv
      change(3n, "tie: earlier file", 7n, false), // 1file-0.csv
      change(4n, "tie, same file: earlier row", 7n), // 1file-1.csv, row 8
      change(5n, "filler", 7n), // 1file-2.csv
      change(5n, "filler", 7n), // 1file-0.csv
      change(4n, "tie, same file: later row", 7n), // 1file-1.csv, row 11
    ]);
    const name = (id: number) => set.row(set.index.get(id) as number)[1];
    expect(name(1)).toBe("newest");
    expect(name(2)).toBe("any timestamp is newer");
    expect(name(3)).toBe("tie: later file");
    expect(set.live[set.index.get(3) as number]).toBe(1);
    expect(name(4)).toBe("tie, same file: later row");
  });

  it("Parquet: the live rows, across pages and row groups, PLAIN or dictionary-encoded, read back by hyparquet", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(row, { minLength: 1, maxLength: 80 }), fc.boolean(), async (rows, dictionaries) => {
        const set = build(rows);
        const live = set.liveRows();
        const bytes = writeParquet(config, set, live, { rowGroupRows: 16, pageRows: 5, dictionaries });
        const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
        expect(parquetMetadata(file).row_groups.length).toBe(Math.max(1, Math.ceil(live.length / 16)));
        const read = await parquetReadObjects({
          file,
          parsers: {
            timestampFromMicroseconds: (micros: bigint) => micros,
            dateFromDays: (days: number) => days,
          } as never,
        });
        expect(read.length).toBe(live.length);
        for (const [j, object] of read.entries()) {
          const expected = set.row(live[j] as number);
          for (const [c, column] of config.columns.entries()) {
            const got = object[column.name];
            const want = expected[c];
            if (column.type.kind === "decimal") {
              // hyparquet decodes DECIMAL to a float: compare at float precision
              if (want === null) expect(got).toBeNull();
              else {
                const exact = Number(want) / 10 ** column.type.scale;
                expect(Math.abs((got as number) - exact)).toBeLessThanOrEqual(Math.abs(exact) * 1e-12 + 1e-9);
              }
            } else expect(got).toEqual(want);
          }
        }
      }),
      { numRuns: 60 },
    );
  });
});
