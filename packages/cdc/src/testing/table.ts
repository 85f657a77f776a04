import { parquetReadObjects } from "hyparquet";
import type { TableConfig } from "../config.ts";
import { type MergeOptions, mergeFile } from "../merge-pass.ts";
import type { ObjectStore } from "../storage.ts";
import { createMemoryStore } from "../storage.ts";
import { manifestKey, readCurrentRows } from "../table.ts";
import { formatValue, type Value } from "../values.ts";
import { chunksOf } from "./dms.ts";

export function memoryStore() {
  return createMemoryStore();
}

/** Merges a file given as text into the table. */
export function mergeText(
  store: ObjectStore,
  config: TableConfig,
  relPath: string,
  text: string | Uint8Array,
  options: MergeOptions = {},
) {
  return mergeFile(
    store,
    config,
    { relPath, displayName: `dms/${config.schema}/${config.table}/${relPath}` },
    () => chunksOf(text, 64),
    options,
  );
}

/** Rows as DMS text values, sorted by key text: easy to compare in assertions. */
export function asText(config: TableConfig, rows: Iterable<readonly Value[]>): (string | null)[][] {
  return [...rows]
    .map((row) => row.map((v, i) => formatValue((config.columns[i] as TableConfig["columns"][number]).type, v)))
    .sort((a, b) => String(a[0]).localeCompare(String(b[0]), "en", { numeric: true }));
}

/** The table's rows from its state files. */
export async function stateRows(store: ObjectStore, config: TableConfig) {
  return asText(config, (await readCurrentRows(store, config)).values());
}

/** The table's rows as a reader sees them: the symlink manifest, then each Parquet file it lists. */
export async function manifestRows(store: ObjectStore, config: TableConfig, uriToKey: (uri: string) => string) {
  const manifest = await store.get(manifestKey(config));
  if (!manifest) return [];
  const rows: Value[][] = [];
  for (const uri of new TextDecoder().decode(manifest).split("\n").filter(Boolean)) {
    const body = await store.get(uriToKey(uri));
    if (!body) throw new Error(`manifest lists a missing file: ${uri}`);
    const objects = await parquetReadObjects({
      file: body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer,
      parsers: {
        timestampFromMicroseconds: (micros: bigint) => micros,
        dateFromDays: (days: number) => days,
      } as never,
    });
    for (const o of objects)
      rows.push(
        config.columns.map((c) => {
          const v = o[c.name] as Value;
          // hyparquet decodes DECIMAL to a float: back to the unscaled integer (tests use small decimals).
          if (c.type.kind === "decimal" && typeof v === "number") return BigInt(Math.round(v * 10 ** c.type.scale));
          return v;
        }),
      );
  }
  return asText(config, rows);
}

export const memUri = (uri: string) => uri.replace(/^mem:\/\//, "");
