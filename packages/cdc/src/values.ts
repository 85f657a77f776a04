/**
 * Typed values of DMS fields. In memory: int32/double -> number, int64 -> bigint, decimal -> bigint (unscaled),
 * string -> string, boolean -> boolean, date -> number (days since 1970-01-01), timestamp -> bigint (microseconds
 * since the epoch, UTC). NULL is `null`. These are exactly what the Parquet writer takes.
 */
import type { ColumnType } from "./config.ts";

export type Value = number | bigint | string | boolean | null;

const intPattern = /^[+-]?\d+$/;
const doublePattern = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const decimalPattern = /^([+-])?(\d*)(?:\.(\d*))?$/;
const datePattern = /^(\d{4})-(\d{2})-(\d{2})$/;
const timestampPattern = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z?$/;

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Thrown by `parseValue`; the file reader turns it into `InvalidCdcFile` with the file and row. */
export class InvalidValue extends Error {
  override readonly name = "InvalidValue";
}

const monthDays = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Days since 1970-01-01 of a proleptic Gregorian date, NaN when the date does not exist (arithmetic, no Date). */
function daysOf(y: number, m: number, d: number): number {
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  if (m < 1 || m > 12 || d < 1 || d > (m === 2 && leap ? 29 : (monthDays[m - 1] as number))) return Number.NaN;
  // Howard Hinnant's days_from_civil
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** Digits of `raw[from..to)` as a number, or -1 when one is not a digit. The caller keeps `to - from <= 15`. */
function digitsValue(raw: string, from: number, to: number): number {
  let v = 0;
  for (let i = from; i < to; i++) {
    const d = raw.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/** A short integer (up to 15 digits, so exact as a double) in `raw[from..to)`, or undefined. */
function fastInteger(raw: string, from: number, to: number): number | undefined {
  const c0 = raw.charCodeAt(from);
  const start = c0 === 45 || c0 === 43 ? from + 1 : from;
  if (to - start < 1 || to - start > 15) return undefined;
  const v = digitsValue(raw, start, to);
  if (v < 0) return undefined;
  return c0 === 45 && v !== 0 ? -v : v;
}

const POW10 = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

/** `[-]digits[.digits]` with at most `scale` decimals and 15 digits in all, unscaled, or undefined. */
function fastDecimal(raw: string, from: number, n: number, precision: number, scale: number): number | undefined {
  const c0 = raw.charCodeAt(from);
  const start = c0 === 45 || c0 === 43 ? from + 1 : from;
  let dot = start;
  while (dot < n && raw.charCodeAt(dot) !== 46) dot++;
  const wholeDigits = dot - start;
  const fractionDigits = dot === n ? 0 : n - dot - 1;
  if (wholeDigits < 1 || fractionDigits > scale || wholeDigits + scale > 15 || (dot < n && fractionDigits === 0))
    return undefined;
  const whole = digitsValue(raw, start, dot);
  const fraction = fractionDigits === 0 ? 0 : digitsValue(raw, dot + 1, n);
  if (whole < 0 || fraction < 0) return undefined;
  const v = whole * (POW10[scale] as number) + fraction * (POW10[scale - fractionDigits] as number);
  if (v >= (POW10[precision] ?? Number.POSITIVE_INFINITY)) return undefined;
  return c0 === 45 && v !== 0 ? -v : v;
}

/** `yyyy-MM-dd` at `from` as days since the epoch, or NaN. */
function fastDate(raw: string, from: number): number {
  if (raw.charCodeAt(from + 4) !== 45 || raw.charCodeAt(from + 7) !== 45) return Number.NaN;
  const y = digitsValue(raw, from, from + 4);
  const m = digitsValue(raw, from + 5, from + 7);
  const d = digitsValue(raw, from + 8, from + 10);
  if (y < 0 || m < 0 || d < 0) return Number.NaN;
  return daysOf(y, m, d);
}

/** `yyyy-MM-dd HH:mm:ss.ffffff` (exactly) at `raw[from..to)` as microseconds, or undefined. */
function fastTimestamp(raw: string, from: number, to: number): number | undefined {
  if (to - from !== 26 || raw.charCodeAt(from + 10) !== 32 || raw.charCodeAt(from + 13) !== 58) return undefined;
  if (raw.charCodeAt(from + 16) !== 58 || raw.charCodeAt(from + 19) !== 46) return undefined;
  const days = fastDate(raw, from);
  const h = digitsValue(raw, from + 11, from + 13);
  const mi = digitsValue(raw, from + 14, from + 16);
  const s = digitsValue(raw, from + 17, from + 19);
  const micros = digitsValue(raw, from + 20, from + 26);
  if (Number.isNaN(days) || h < 0 || mi < 0 || s < 0 || micros < 0 || h > 23 || mi > 59 || s > 59) return undefined;
  const total = (days * 86400 + h * 3600 + mi * 60 + s) * 1_000_000 + micros;
  return Number.isSafeInteger(total) ? total : undefined;
}

/**
 * The common forms of integer-like fields in `raw[from..to)`, parsed without a regular expression or a string per
 * field: int32, int64, decimal(p <= 18) unscaled, date (days), timestamp (microseconds), as a number exact in a
 * double. Undefined when the field needs `parseValue` (other forms, long values, or an error to report).
 */
export function parseNumberAt(type: ColumnType, raw: string, from: number, to: number): number | undefined {
  switch (type.kind) {
    case "int32": {
      const v = fastInteger(raw, from, to);
      return v !== undefined && v >= INT32_MIN && v <= INT32_MAX ? v : undefined;
    }
    case "int64":
      return fastInteger(raw, from, to);
    case "decimal":
      return type.precision <= 18 ? fastDecimal(raw, from, to, type.precision, type.scale) : undefined;
    case "date": {
      if (to - from !== 10) return undefined;
      const days = fastDate(raw, from);
      return Number.isNaN(days) ? undefined : days;
    }
    case "timestamp":
      return fastTimestamp(raw, from, to);
    default:
      return undefined;
  }
}

/**
 * Parses one field. `raw === null` is DMS's NULL (an empty unquoted field); `""` is an empty string, which only a
 * string column accepts.
 */
export function parseValue(type: ColumnType, raw: string | null): Value {
  if (raw === null) return null;
  switch (type.kind) {
    case "string":
      return raw;
    case "int32": {
      const fast = parseNumberAt(type, raw, 0, raw.length);
      if (fast !== undefined) return fast;
      if (!intPattern.test(raw)) throw new InvalidValue(`not an int32: ${JSON.stringify(raw)}`);
      const n = Number(raw);
      if (n < INT32_MIN || n > INT32_MAX) throw new InvalidValue(`int32 out of range: ${raw}`);
      return n;
    }
    case "int64": {
      const fast = parseNumberAt(type, raw, 0, raw.length);
      if (fast !== undefined) return BigInt(fast);
      if (!intPattern.test(raw)) throw new InvalidValue(`not an int64: ${JSON.stringify(raw)}`);
      const n = BigInt(raw);
      if (n < INT64_MIN || n > INT64_MAX) throw new InvalidValue(`int64 out of range: ${raw}`);
      return n;
    }
    case "double": {
      if (raw === "NaN") return Number.NaN;
      if (raw === "Infinity" || raw === "inf") return Number.POSITIVE_INFINITY;
      if (raw === "-Infinity" || raw === "-inf") return Number.NEGATIVE_INFINITY;
      if (!doublePattern.test(raw)) throw new InvalidValue(`not a double: ${JSON.stringify(raw)}`);
      return Number(raw);
    }
    case "decimal": {
      const fast = parseNumberAt(type, raw, 0, raw.length);
      if (fast !== undefined) return BigInt(fast);
      const match = decimalPattern.exec(raw);
      if (!match || (match[2] === "" && (match[3] ?? "") === ""))
        throw new InvalidValue(`not a decimal: ${JSON.stringify(raw)}`);
      const sign = match[1] === "-" ? -1n : 1n;
      const whole = match[2] || "0";
      let fraction = match[3] ?? "";
      if (fraction.length > type.scale) {
        if (/[^0]/.test(fraction.slice(type.scale)))
          throw new InvalidValue(`decimal(${type.precision},${type.scale}) cannot hold ${raw} exactly`);
        fraction = fraction.slice(0, type.scale);
      }
      const digits = (whole + fraction.padEnd(type.scale, "0")).replace(/^0+(?=\d)/, "");
      if (digits.length > type.precision)
        throw new InvalidValue(`decimal(${type.precision},${type.scale}) overflow: ${raw}`);
      return sign * BigInt(digits);
    }
    case "boolean": {
      const t = raw.toLowerCase();
      if (t === "true" || t === "t" || t === "1" || t === "y" || t === "yes") return true;
      if (t === "false" || t === "f" || t === "0" || t === "n" || t === "no") return false;
      throw new InvalidValue(`not a boolean: ${JSON.stringify(raw)}`);
    }
    case "date": {
      const fast = parseNumberAt(type, raw, 0, raw.length);
      if (fast !== undefined) return fast;
      const match = datePattern.exec(raw);
      const days = match ? daysOf(Number(match[1]), Number(match[2]), Number(match[3])) : Number.NaN;
      if (Number.isNaN(days)) throw new InvalidValue(`not a date (yyyy-MM-dd): ${JSON.stringify(raw)}`);
      return days;
    }
    case "timestamp": {
      const fast = parseNumberAt(type, raw, 0, raw.length);
      if (fast !== undefined) return BigInt(fast);
      const match = timestampPattern.exec(raw);
      if (!match) throw new InvalidValue(`not a timestamp (yyyy-MM-dd HH:mm:ss.ffffff): ${JSON.stringify(raw)}`);
      const days = daysOf(Number(match[1]), Number(match[2]), Number(match[3]));
      const h = Number(match[4]);
      const mi = Number(match[5]);
      const s = Number(match[6]);
      if (Number.isNaN(days) || h > 23 || mi > 59 || s > 59)
        throw new InvalidValue(`not a valid timestamp: ${JSON.stringify(raw)}`);
      const micros = BigInt((match[7] ?? "").padEnd(6, "0").slice(0, 6));
      return BigInt(days * 86400 + h * 3600 + mi * 60 + s) * 1_000_000n + micros;
    }
  }
}

/** A value as a canonical string: the building block of keys and ordering positions. */
export function canonical(value: Value): string {
  if (value === null) return "\u0000null";
  return typeof value === "string" ? value : String(value);
}

/** Formats a value back to DMS's text form (tests, the reference model and DDL examples use it). */
export function formatValue(type: ColumnType, value: Value): string | null {
  if (value === null) return null;
  switch (type.kind) {
    case "decimal": {
      const v = value as bigint;
      const negative = v < 0n;
      const digits = (negative ? -v : v).toString().padStart(type.scale + 1, "0");
      const text = type.scale === 0 ? digits : `${digits.slice(0, -type.scale)}.${digits.slice(-type.scale)}`;
      return negative ? `-${text}` : text;
    }
    case "date":
      return new Date((value as number) * 86_400_000).toISOString().slice(0, 10);
    case "timestamp": {
      const v = value as bigint;
      const ms = (v - (((v % 1000n) + 1000n) % 1000n)) / 1000n; // floor: before 1970 too
      const micros = ((v % 1_000_000n) + 1_000_000n) % 1_000_000n;
      const iso = new Date(Number(ms)).toISOString();
      return `${iso.slice(0, 10)} ${iso.slice(11, 19)}.${micros.toString().padStart(6, "0")}`;
    }
    default:
      return String(value);
  }
}
