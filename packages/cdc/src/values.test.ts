import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type ColumnType, parseColumnType } from "./config.ts";
import { formatValue, InvalidValue, parseValue } from "./values.ts";

const type = (text: string) => parseColumnType(text) as ColumnType;
const int64 = type("int64");
const int32 = type("int32");
const decimal = type("decimal(12,2)");
const wide = type("decimal(38,4)");
const date = type("date");
const timestamp = type("timestamp");

const rejects = (column: ColumnType, raw: string) => {
  expect(() => parseValue(column, raw)).toThrow(InvalidValue);
};

describe("parseValue", () => {
  it("integers: short ones (fast path) and long ones agree with BigInt, signs, ranges", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (v) => {
        expect(parseValue(int64, v.toString())).toBe(v);
        expect(parseValue(int64, v >= 0n ? `+${v}` : v.toString())).toBe(v);
      }),
    );
    fc.assert(
      fc.property(fc.integer(), (v) => {
        expect(parseValue(int32, String(v))).toBe(v === 0 ? 0 : v);
      }),
    );
    expect(parseValue(int32, "-0")).toBe(0);
    expect(parseValue(int64, "000123")).toBe(123n);
    rejects(int32, "2147483648");
    rejects(int64, "9223372036854775808");
    for (const bad of ["", "-", "+", "1.0", "1e3", " 1", "0x10", "١٢"]) rejects(int64, bad);
  });

  it("decimals are exact at any precision; more decimals than the scale only when they are zeros", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 12n) + 1n, max: 10n ** 12n - 1n }), (v) => {
        const text = formatValue(decimal, v) as string;
        expect(parseValue(decimal, text)).toBe(v);
      }),
    );
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 38n) + 1n, max: 10n ** 38n - 1n }), (v) => {
        expect(parseValue(wide, formatValue(wide, v) as string)).toBe(v);
      }),
    );
    expect(parseValue(decimal, "1.5")).toBe(150n);
    expect(parseValue(decimal, "7")).toBe(700n);
    expect(parseValue(decimal, ".5")).toBe(50n);
    expect(parseValue(decimal, "5.")).toBe(500n);
    expect(parseValue(decimal, "1.2300")).toBe(123n);
    expect(parseValue(decimal, "-0.00")).toBe(0n);
    rejects(decimal, "1.234");
    rejects(decimal, "10000000000");
    for (const bad of ["", ".", "-", "1,5", "1.2.3", "abc"]) rejects(decimal, bad);
  });

  it("dates and timestamps round-trip and refuse impossible ones", () => {
    fc.assert(
      fc.property(fc.integer({ min: -719_162, max: 2_932_896 }), (days) => {
        expect(parseValue(date, formatValue(date, days) as string)).toBe(days);
      }),
    );
    fc.assert(
      fc.property(fc.bigInt({ min: -62_135_596_800_000_000n, max: 253_402_300_799_999_999n }), (micros) => {
        expect(parseValue(timestamp, formatValue(timestamp, micros) as string)).toBe(micros);
      }),
    );
    expect(parseValue(timestamp, "2026-11-01T12:00:00Z")).toBe(parseValue(timestamp, "2026-11-01 12:00:00.000000"));
    expect(parseValue(timestamp, "2026-11-01 12:00:00.5")).toBe(parseValue(timestamp, "2026-11-01 12:00:00.500000"));
    for (const bad of ["2026-02-29", "2026-13-01", "2026-1-01", "20261101"]) rejects(date, bad);
    for (const bad of ["2026-11-01 24:00:00.000000", "2026-11-31 00:00:00.000000", "2026-11-01 12:60:00.000000"])
      rejects(timestamp, bad);
  });
});
