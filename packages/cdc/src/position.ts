/**
 * The change order. A change's position is its order column's value (`changeSeqColumn` or `timestampColumn`, none
 * when not configured), then its file's order key (full-load files before change files, then by path), then its
 * row in the file; `RowSet` compares positions in place. A key holds the position of the change that produced its
 * current state (or its deletion), so late and replayed files apply only where they are newer.
 */
import type { TableConfig } from "./config.ts";
import type { Value } from "./values.ts";

const fullLoadPattern = /^LOAD[0-9A-Fa-f]+\.[^/]*$/;

/** A DMS full-load file (`LOAD00000001.csv`, any extension). */
export function isFullLoadFile(relPath: string): boolean {
  const base = relPath.slice(relPath.lastIndexOf("/") + 1);
  return fullLoadPattern.test(base);
}

/**
 * The order key of a file within its table: full-load files (`0`) before change files (`1`), each by the path below
 * the table's folder (DMS names both kinds so that name order is time order; date-partitioned folders too).
 */
export function fileOrderKey(relPath: string): string {
  return `${isFullLoadFile(relPath) ? "0" : "1"}${relPath}`;
}

const OFFSET = 2n ** 63n;

/** Normalizes the ordering column's value so that string order is the column's order. */
export function orderValue(config: TableConfig, value: Value): string {
  if (value === null || config.orderIndex === undefined) return "";
  if (config.changeSeqColumn !== undefined) {
    // AR_H_CHANGE_SEQ: up to 35 decimal digits; compare as numbers.
    const text = typeof value === "string" ? value.trim() : value.toString();
    return /^\d+$/.test(text) ? text.replace(/^0+(?=\d)/, "").padStart(40, "0") : text;
  }
  if (typeof value === "bigint") return (value + OFFSET).toString().padStart(20, "0");
  return String(value);
}
