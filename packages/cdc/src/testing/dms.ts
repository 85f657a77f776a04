/** Test helpers: test tables, and DMS-style files built from typed changes. */
import type { TableConfig } from "../config.ts";
import { parseTablesConfig } from "../config.ts";
import { formatCsvRecord } from "../csv.ts";
import type { Op } from "../dms-file.ts";
import { formatValue, type Value } from "../values.ts";

/** A small table: id int64 key, name string, amount decimal(10,2), optional ordering columns. */
export function testTable(extra: Record<string, unknown> = {}, name = "sales.orders"): TableConfig {
  const columns = [
    { name: "id", type: "int64" },
    { name: "name", type: "string" },
    { name: "amount", type: "decimal(10,2)" },
    ...((extra.columns as unknown[]) ?? []),
  ];
  const config = parseTablesConfig({ tables: { [name]: { primaryKey: ["id"], buckets: 4, ...extra, columns } } });
  return config.tables.get(name) as TableConfig;
}

/** `testTable` with a column of every other type (decimals in each physical form) after id, name, amount. */
export function allTypesTable(extra: Record<string, unknown> = {}): TableConfig {
  return testTable({
    columns: [
      { name: "n", type: "int32" },
      { name: "d", type: "double" },
      { name: "b", type: "boolean" },
      { name: "day", type: "date" },
      { name: "ts", type: "timestamp" },
      { name: "small", type: "decimal(9,2)" },
      { name: "big", type: "decimal(38,4)" },
    ],
    ...extra,
  });
}

export interface TestChange {
  op: Op;
  values: Value[];
}

/** DMS CSV text of changes (Op first unless a full-load file without Op). */
export function dmsCsv(config: TableConfig, changes: readonly TestChange[], withOp = true, header = false): string {
  const lines: string[] = [];
  if (header) lines.push(formatCsvRecord([...(withOp ? ["Op"] : []), ...config.columns.map((c) => c.name)]));
  for (const change of changes) {
    const fields = change.values.map((v, i) =>
      formatValue((config.columns[i] as TableConfig["columns"][number]).type, v),
    );
    lines.push(formatCsvRecord(withOp ? [change.op, ...fields] : fields));
  }
  return lines.join("");
}

export async function* chunksOf(text: string | Uint8Array, size = 7): AsyncGenerator<Uint8Array> {
  const bytes = typeof text === "string" ? new TextEncoder().encode(text) : text;
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}
