/**
 * Where a DMS file belongs: `<folder...>/<schema>/<table>/<relPath>` with `<schema>.<table>` configured.
 */
import type { TableConfig, TablesConfig } from "./config.ts";
import { fileOrderKey } from "./position.ts";

export interface LocatedFile {
  table: TableConfig;
  /** Path below the table's folder. */
  relPath: string;
  key: string;
}

const dataFile = /\.(csv|csv\.gz|gz|parquet)$/i;

/** The configured table a source key belongs to, or undefined (not a DMS data file of a configured table). */
export function locateFile(config: TablesConfig, key: string): LocatedFile | undefined {
  if (!dataFile.test(key)) return undefined;
  const segments = key.split("/");
  // The table folder is the LAST matching <schema>/<table> pair with at least a file name below it.
  for (let i = segments.length - 3; i >= 0; i--) {
    const table = config.tables.get(`${segments[i]}.${segments[i + 1]}`);
    if (table) return { table, relPath: segments.slice(i + 2).join("/"), key };
  }
  return undefined;
}

/** Sorts files of one table into DMS order: full loads by name, then change files by name. */
export function sortFiles<T extends { relPath: string }>(files: readonly T[]): T[] {
  return [...files].sort((a, b) => {
    const x = fileOrderKey(a.relPath);
    const y = fileOrderKey(b.relPath);
    return x < y ? -1 : x > y ? 1 : 0;
  });
}
