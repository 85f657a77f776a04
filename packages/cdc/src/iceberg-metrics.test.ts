/**
 * Column metrics of the data files the merge writes, for their manifest entries: counts for every column, bounds for
 * the integer-like types in Iceberg's single-value binary form (spec, "Binary single-value serialization").
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { allTypesTable } from "./fixtures/dms.ts";
import { boundBytes, columnMetrics, decodeBound } from "./iceberg-metrics.ts";
import { RowSet } from "./rows.ts";
import type { Value } from "./values.ts";

const hex = (bytes: Uint8Array | undefined) => (bytes ? Buffer.from(bytes).toString("hex") : undefined);

describe("Iceberg single-value serialization of a bound", () => {
  it("writes int and date as 4 bytes little-endian, long and timestamp as 8", () => {
    expect(hex(boundBytes({ kind: "int32" }, 1))).toBe("01000000");
    expect(hex(boundBytes({ kind: "date" }, -1))).toBe("ffffffff");
    expect(hex(boundBytes({ kind: "int64" }, 258n))).toBe("0201000000000000");
    expect(hex(boundBytes({ kind: "timestamp" }, -2n))).toBe("feffffffffffffff");
  });

  it("writes a decimal's unscaled value as big-endian two's complement in the fewest bytes", () => {
    const d = { kind: "decimal", precision: 18, scale: 2 } as const;
    expect(hex(boundBytes(d, 0n))).toBe("00");
    expect(hex(boundBytes(d, 127n))).toBe("7f");
    expect(hex(boundBytes(d, 128n))).toBe("0080");
    expect(hex(boundBytes(d, 12345n))).toBe("3039");
    expect(hex(boundBytes(d, -1n))).toBe("ff");
    expect(hex(boundBytes(d, -128n))).toBe("80");
    expect(hex(boundBytes(d, -129n))).toBe("ff7f");
    expect(hex(boundBytes(d, -(2n ** 63n)))).toBe("8000000000000000");
  });

  it("writes a double as 8 bytes little-endian, and no NaN", () => {
    expect(hex(boundBytes({ kind: "double" }, 1.5))).toBe("000000000000f83f");
    expect(hex(boundBytes({ kind: "double" }, -0))).toBe("0000000000000080");
    expect(hex(boundBytes({ kind: "double" }, Number.NEGATIVE_INFINITY))).toBe("000000000000f0ff");
    expect(boundBytes({ kind: "double" }, Number.NaN)).toBeUndefined();
  });

  it("writes no bound for strings, booleans and wide decimals", () => {
    expect(boundBytes({ kind: "string" }, "a")).toBeUndefined();
    expect(boundBytes({ kind: "boolean" }, true)).toBeUndefined();
    expect(boundBytes({ kind: "decimal", precision: 38, scale: 4 }, 1n)).toBeUndefined();
  });
});

describe("a data file's column metrics", () => {
  const config = allTypesTable();
  const value = (i: number): fc.Arbitrary<Value> => {
    const type = (config.columns[i] as (typeof config.columns)[number]).type;
    const some = ((): fc.Arbitrary<Value> => {
      switch (type.kind) {
        case "int64":
        case "timestamp":
          return fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
        case "decimal":
          return type.precision <= 18
            ? fc.bigInt({ min: -(10n ** 18n) + 1n, max: 10n ** 18n - 1n })
            : fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n });
        case "int32":
        case "date":
          return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
        case "double":
          return fc.double();
        case "boolean":
          return fc.boolean();
        default:
          return fc.string();
      }
    })();
    // The key (column 0) is never NULL.
    return i === 0 ? some : fc.option(some, { nil: null });
  };
  const rowArb = fc.tuple(...config.columns.map((_, i) => value(i)));

  it("bounds a double column with -0 before +0, without NaN, and counts the NaNs", () => {
    const d = config.columns.findIndex((c) => c.name === "d");
    const boundsOf = (values: (number | null)[]) => {
      const set = new RowSet(config);
      for (const [k, v] of values.entries()) {
        const at = set.appendRow(false);
        set.set(at, 0, BigInt(k));
        set.set(at, d, v);
      }
      const metrics = columnMetrics(
        config,
        set,
        Int32Array.from(values.keys()),
        config.columns.map((_, i) => i),
      );
      const at = (list: { key: number; value: Uint8Array }[]) => {
        const bytes = list.find((e) => e.key === d)?.value;
        return bytes && decodeBound({ kind: "double" }, bytes);
      };
      const nans = metrics.nanValueCounts.find((e) => e.key === d)?.value;
      return { lower: at(metrics.lowerBounds), upper: at(metrics.upperBounds), nans };
    };
    expect(boundsOf([0, -0])).toEqual({ lower: -0, upper: 0, nans: 0 });
    expect(boundsOf([-0, 0])).toEqual({ lower: -0, upper: 0, nans: 0 });
    expect(boundsOf([-0, -0])).toEqual({ lower: -0, upper: -0, nans: 0 });
    expect(boundsOf([0, Number.NaN, -1.5, null])).toEqual({ lower: -1.5, upper: 0, nans: 1 });
    expect(boundsOf([Number.NaN, null])).toEqual({ lower: undefined, upper: undefined, nans: 1 });
    expect(boundsOf([Number.NEGATIVE_INFINITY, 2])).toEqual({ lower: Number.NEGATIVE_INFINITY, upper: 2, nans: 0 });
  });

  it("counts values, NULLs and NaNs, and bounds the numeric columns by their least and greatest value", () => {
    fc.assert(
      fc.property(
        fc.array(rowArb, { minLength: 1, maxLength: 40 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (rows, pick) => {
          const fieldIds = config.columns.map((_, i) => 10 + i);
          // The file's rows: a selection of the set's, in any order (as a commit writes a bucket's winners).
          const selected = pick.length > 0 ? pick.map((p) => p % rows.length) : rows.map((_, i) => i);
          const fresh = new RowSet(config);
          for (const r of rows) {
            const at = fresh.appendRow(false);
            for (const [c, v] of r.entries()) fresh.set(at, c, v);
          }
          const metrics = columnMetrics(config, fresh, Int32Array.from(selected), fieldIds);
          const byId = (list: { key: number; value: unknown }[], id: number) => list.find((e) => e.key === id)?.value;
          config.columns.forEach((column, c) => {
            const values = selected.map((i) => (rows[i] as Value[])[c] as Value);
            const present = values.filter((v) => v !== null);
            expect(byId(metrics.valueCounts, 10 + c)).toBe(values.length);
            expect(byId(metrics.nullValueCounts, 10 + c)).toBe(values.length - present.length);
            const double = column.type.kind === "double";
            const nans = present.filter((v) => Number.isNaN(v)).length;
            expect(byId(metrics.nanValueCounts, 10 + c)).toBe(double ? nans : undefined);
            // Doubles: NaN is never a bound; -0 comes before +0 (IEEE 754 totalOrder, as the spec asks).
            const ordered = present.filter((v) => !Number.isNaN(v));
            const bounded = boundBytes(column.type, ordered[0] ?? 0) !== undefined && ordered.length > 0;
            const lower = byId(metrics.lowerBounds, 10 + c) as Uint8Array | undefined;
            const upper = byId(metrics.upperBounds, 10 + c) as Uint8Array | undefined;
            if (!bounded) {
              expect(lower).toBeUndefined();
              expect(upper).toBeUndefined();
              return;
            }
            const rank = (v: Value) => (Object.is(v, -0) ? -1 : Object.is(v, 0) ? 1 : 0);
            const sorted = [...ordered].sort((a, b) =>
              (a as bigint) < (b as bigint) ? -1 : (a as bigint) > (b as bigint) ? 1 : rank(a) - rank(b),
            );
            expect(decodeBound(column.type, lower as Uint8Array)).toBe(sorted[0]);
            expect(decodeBound(column.type, upper as Uint8Array)).toBe(sorted.at(-1));
          });
        },
      ),
      { numRuns: 200 },
    );
  });
});
