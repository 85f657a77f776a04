/**
 * Column metrics of the data files the merge writes, for their manifest entries: counts for every column, bounds in
 * Iceberg's single-value binary form (spec, "Binary single-value serialization"), strings in UTF-8 byte order and
 * truncated as Iceberg's `truncate(N)` metrics mode does.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { allTypesTable } from "./fixtures/dms.ts";
import {
  boundBytes,
  columnMetrics,
  compareCodePoints,
  decodeBound,
  type MetricsMode,
  metricsModes,
} from "./iceberg-metrics.ts";
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

  it("writes a string as its UTF-8 bytes, a boolean as one byte, a wide decimal as a narrow one", () => {
    expect(hex(boundBytes({ kind: "string" }, "aé\u{1F600}"))).toBe("61c3a9f09f9880");
    expect(hex(boundBytes({ kind: "string" }, ""))).toBe("");
    expect(hex(boundBytes({ kind: "boolean" }, true))).toBe("01");
    expect(hex(boundBytes({ kind: "boolean" }, false))).toBe("00");
    expect(hex(boundBytes({ kind: "decimal", precision: 38, scale: 4 }, -(10n ** 30n)))).toBe(
      "f360d3632fb98b1215c0000000",
    );
    expect(
      decodeBound({ kind: "decimal", precision: 38, scale: 4 }, Buffer.from("f360d3632fb98b1215c0000000", "hex")),
    ).toBe(-(10n ** 30n));
  });
});

describe("string order and metrics modes", () => {
  const utf8 = (s: string) => Buffer.from(s, "utf8");

  it("orders strings by code point, which is UTF-8 byte order, not by UTF-16 unit", () => {
    // U+10000 is a surrogate pair in UTF-16 (0xD800 0xDC00), which `<` puts before U+E000.
    expect("\u{10000}" < "\uE000").toBe(true);
    expect(compareCodePoints("\u{10000}", "\uE000")).toBeGreaterThan(0);
    expect(compareCodePoints("\uFFFF", "\u{10000}")).toBeLessThan(0);
    expect(compareCodePoints("\u{1F600}", "\u{1F601}")).toBeLessThan(0);
    expect(compareCodePoints("ab", "abc")).toBeLessThan(0);
    expect(compareCodePoints("b", "abc")).toBeGreaterThan(0);
    expect(compareCodePoints("x\uD7FF", "x\uD800\uDC00")).toBeLessThan(0);
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), fc.string({ unit: "binary" }), (a, b) => {
        expect(Math.sign(compareCodePoints(a, b))).toBe(Math.sign(Buffer.compare(utf8(a), utf8(b))));
      }),
    );
  });

  it("reads each column's mode from the table's properties, falling back to truncate(16)", () => {
    const columns = [{ name: "id" }, { name: "note" }, { name: "body" }];
    expect(metricsModes({}, columns)).toEqual([16, 16, 16]);
    expect(
      metricsModes(
        {
          "write.metadata.metrics.default": "counts",
          "write.metadata.metrics.column.note": "truncate(4)",
          "write.metadata.metrics.column.body": "none",
        },
        columns,
      ),
    ).toEqual(["counts", 4, "none"]);
    expect(metricsModes({ "write.metadata.metrics.default": " FULL " }, columns)).toEqual(["full", "full", "full"]);
    // Not a mode Iceberg parses: unset.
    for (const bad of ["truncate(0)", "truncate(-1)", "truncate", "some", ""])
      expect(metricsModes({ "write.metadata.metrics.default": bad }, columns)).toEqual([16, 16, 16]);
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
          // Any character, past 16 of them at times (truncated bounds).
          return fc.string({ unit: "binary", maxLength: 24 });
      }
    })();
    // The key (column 0) is never NULL.
    return i === 0 ? some : fc.option(some, { nil: null });
  };
  const rowArb = fc.tuple(...config.columns.map((_, i) => value(i)));

  /** The metrics of a file whose rows hold `values` in the column named `name` (NULL in the others but the key). */
  const metricsOf = (name: string, values: Value[], mode?: MetricsMode) => {
    const c = config.columns.findIndex((column) => column.name === name);
    const set = new RowSet(config);
    for (const [k, v] of values.entries()) {
      const at = set.appendRow(false);
      for (let i = 1; i < config.columns.length; i++) set.set(at, i, i === c ? v : null);
      set.set(at, 0, BigInt(k));
    }
    const modes = config.columns.map((_, i) => (i === c ? mode : undefined)) as MetricsMode[];
    const metrics = columnMetrics(
      config,
      set,
      Int32Array.from(values.keys()),
      config.columns.map((_, i) => i),
      modes,
    );
    const of = <T>(list: { key: number; value: T }[]) => list.find((e) => e.key === c)?.value;
    return { lower: of(metrics.lowerBounds), upper: of(metrics.upperBounds), nans: of(metrics.nanValueCounts) };
  };

  it("bounds a double column with -0 before +0, without NaN, and counts the NaNs", () => {
    const boundsOf = (values: (number | null)[]) => {
      const { lower, upper, nans } = metricsOf("d", values);
      const double = (bytes: Uint8Array | undefined) => bytes && decodeBound({ kind: "double" }, bytes);
      return { lower: double(lower), upper: double(upper), nans };
    };
    expect(boundsOf([0, -0])).toEqual({ lower: -0, upper: 0, nans: 0 });
    expect(boundsOf([-0, 0])).toEqual({ lower: -0, upper: 0, nans: 0 });
    expect(boundsOf([-0, -0])).toEqual({ lower: -0, upper: -0, nans: 0 });
    expect(boundsOf([0, Number.NaN, -1.5, null])).toEqual({ lower: -1.5, upper: 0, nans: 1 });
    expect(boundsOf([Number.NaN, null])).toEqual({ lower: undefined, upper: undefined, nans: 1 });
    expect(boundsOf([Number.NEGATIVE_INFINITY, 2])).toEqual({ lower: Number.NEGATIVE_INFINITY, upper: 2, nans: 0 });
  });

  it("bounds a string column by UTF-8 byte order, truncated as Iceberg's truncate(N)", () => {
    const boundsOf = (values: (string | null)[], mode?: MetricsMode) => {
      const { lower, upper } = metricsOf("name", values, mode);
      const text = (bytes: Uint8Array | undefined) => bytes && Buffer.from(bytes).toString("utf8");
      return { lower: text(lower), upper: text(upper) };
    };
    // Code-point order: U+E000 before U+10000, although JavaScript's `<` says otherwise.
    expect(boundsOf(["\u{10000}", "\uE000", null])).toEqual({ lower: "\uE000", upper: "\u{10000}" });
    expect(boundsOf(["b", "ab", "abc"])).toEqual({ lower: "ab", upper: "b" });
    expect(boundsOf([null, null])).toEqual({ lower: undefined, upper: undefined });
    // 16 characters by default: the lower bound a prefix, the upper one the prefix with its last character incremented.
    const a17 = "a".repeat(17);
    expect(boundsOf([a17])).toEqual({ lower: "a".repeat(16), upper: `${"a".repeat(15)}b` });
    expect(boundsOf(["a".repeat(16)])).toEqual({ lower: "a".repeat(16), upper: "a".repeat(16) });
    expect(boundsOf([a17], "full")).toEqual({ lower: a17, upper: a17 });
    expect(boundsOf(["zebra", "aardvark"], 2)).toEqual({ lower: "aa", upper: "zf" });
    // Characters, not UTF-16 units: two emoji and a third.
    expect(boundsOf(["\u{1F600}\u{1F600}\u{1F600}"], 2)).toEqual({
      lower: "\u{1F600}\u{1F600}",
      upper: "\u{1F600}\u{1F601}",
    });
    // U+D7FF + 1 is a surrogate, no character: the next one is U+E000.
    expect(boundsOf(["x\uD7FFy"], 2)).toEqual({ lower: "x\uD7FF", upper: "x\uE000" });
    // The last character cannot be incremented: the one before it is.
    expect(boundsOf(["a\u{10FFFF}b"], 2)).toEqual({ lower: "a\u{10FFFF}", upper: "b" });
    // None can: no upper bound (a reader then never skips the file on it).
    expect(boundsOf(["\u{10FFFF}\u{10FFFF}b"], 2)).toEqual({ lower: "\u{10FFFF}\u{10FFFF}", upper: undefined });
    // A lone surrogate is written as U+FFFD, and bounded as written.
    expect(boundsOf(["\uD800", "\uFFFE"])).toEqual({ lower: "\uFFFD", upper: "\uFFFE" });
    expect(boundsOf(["a", "b"], "counts")).toEqual({ lower: undefined, upper: undefined });
  });

  it("counts values, NULLs and NaNs, and bounds every column by its least and greatest value, as its mode says", () => {
    const modeArb = fc.oneof(
      fc.constant<MetricsMode>("none"),
      fc.constant<MetricsMode>("counts"),
      fc.constant<MetricsMode>("full"),
      fc.integer({ min: 1, max: 20 }),
    );
    const utf8 = (v: Value) => Buffer.from(v as string, "utf8");
    fc.assert(
      fc.property(
        fc.array(rowArb, { minLength: 1, maxLength: 40 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        fc.option(fc.array(modeArb, { minLength: config.columns.length, maxLength: config.columns.length })),
        (rows, pick, drawn) => {
          const fieldIds = config.columns.map((_, i) => 10 + i);
          const modes = drawn ?? config.columns.map(() => 16);
          // The file's rows: a selection of the set's, in any order (as a commit writes a bucket's winners).
          const selected = pick.length > 0 ? pick.map((p) => p % rows.length) : rows.map((_, i) => i);
          const fresh = new RowSet(config);
          for (const r of rows) {
            const at = fresh.appendRow(false);
            for (const [c, v] of r.entries()) fresh.set(at, c, v);
          }
          const metrics = columnMetrics(config, fresh, Int32Array.from(selected), fieldIds, drawn ?? undefined);
          const byId = (list: { key: number; value: unknown }[], id: number) => list.find((e) => e.key === id)?.value;
          config.columns.forEach((column, c) => {
            const mode = modes[c] as MetricsMode;
            const values = selected.map((i) => (rows[i] as Value[])[c] as Value);
            const present = values.filter((v) => v !== null);
            const lower = byId(metrics.lowerBounds, 10 + c) as Uint8Array | undefined;
            const upper = byId(metrics.upperBounds, 10 + c) as Uint8Array | undefined;
            if (mode === "none") {
              expect(byId(metrics.valueCounts, 10 + c)).toBeUndefined();
              expect(byId(metrics.nullValueCounts, 10 + c)).toBeUndefined();
              expect(byId(metrics.nanValueCounts, 10 + c)).toBeUndefined();
              expect([lower, upper]).toEqual([undefined, undefined]);
              return;
            }
            expect(byId(metrics.valueCounts, 10 + c)).toBe(values.length);
            expect(byId(metrics.nullValueCounts, 10 + c)).toBe(values.length - present.length);
            const double = column.type.kind === "double";
            const nans = present.filter((v) => Number.isNaN(v)).length;
            expect(byId(metrics.nanValueCounts, 10 + c)).toBe(double ? nans : undefined);
            // Doubles: NaN is never a bound; -0 comes before +0 (IEEE 754 totalOrder, as the spec asks).
            const ordered = present.filter((v) => !Number.isNaN(v));
            if (mode === "counts" || ordered.length === 0) {
              expect([lower, upper]).toEqual([undefined, undefined]);
              return;
            }
            if (column.type.kind === "string") {
              // Against UTF-8 bytes themselves: the least value's first N characters, and the greatest value or, cut,
              // a string of at most N characters above it.
              const sorted = ordered.map(utf8).sort(Buffer.compare);
              const least = (sorted[0] as Buffer).toString("utf8");
              const greatest = sorted.at(-1) as Buffer;
              const limit = mode === "full" ? Number.POSITIVE_INFINITY : mode;
              expect(Buffer.from(lower as Uint8Array).toString("utf8")).toBe([...least].slice(0, limit).join(""));
              if ([...greatest.toString("utf8")].length <= limit)
                expect(Buffer.compare(upper as Uint8Array, greatest)).toBe(0);
              else if (upper) {
                expect(Buffer.compare(upper, greatest)).toBe(1);
                expect([...Buffer.from(upper).toString("utf8")].length).toBeLessThanOrEqual(limit);
              }
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
