/**
 * Writes a bucket's current rows as Parquet (hyparquet-writer: pure JavaScript, no native build) with types
 * Athena reads: INT32, INT64, DOUBLE, DECIMAL (INT32/INT64/FIXED_LEN_BYTE_ARRAY by precision), UTF8 strings,
 * BOOLEAN, DATE, TIMESTAMP_MICROS (UTC).
 */
import { parquetWriteBuffer } from "hyparquet-writer";
import type { ColumnType, TableConfig } from "./config.ts";
import type { Value } from "./values.ts";

type SchemaElement = Parameters<typeof parquetWriteBuffer>[0]["schema"] extends (infer E)[] | undefined ? E : never;

function decimalBytes(precision: number): number {
  let bytes = 1;
  while (2n ** BigInt(8 * bytes - 1) <= 10n ** BigInt(precision)) bytes++;
  return bytes;
}

function schemaElement(name: string, type: ColumnType): SchemaElement {
  const base = { name, repetition_type: "OPTIONAL" as const };
  switch (type.kind) {
    case "int32":
      return { ...base, type: "INT32" };
    case "int64":
      return { ...base, type: "INT64" };
    case "double":
      return { ...base, type: "DOUBLE" };
    case "decimal": {
      const decimal = {
        converted_type: "DECIMAL" as const,
        precision: type.precision,
        scale: type.scale,
        logical_type: { type: "DECIMAL" as const, precision: type.precision, scale: type.scale },
      };
      if (type.precision <= 9) return { ...base, type: "INT32", ...decimal };
      if (type.precision <= 18) return { ...base, type: "INT64", ...decimal };
      return { ...base, type: "FIXED_LEN_BYTE_ARRAY", type_length: decimalBytes(type.precision), ...decimal };
    }
    case "string":
      return { ...base, type: "BYTE_ARRAY", converted_type: "UTF8", logical_type: { type: "STRING" } };
    case "boolean":
      return { ...base, type: "BOOLEAN" };
    case "date":
      return { ...base, type: "INT32", converted_type: "DATE", logical_type: { type: "DATE" } };
    case "timestamp":
      return {
        ...base,
        type: "INT64",
        converted_type: "TIMESTAMP_MICROS",
        logical_type: { type: "TIMESTAMP", isAdjustedToUTC: true, unit: "MICROS" },
      };
  }
}

/** Encodes rows (in `config.columns` order) as one Parquet file. */
export function writeParquet(config: TableConfig, rows: readonly (readonly Value[])[]): Uint8Array {
  const columns = config.columns;
  const schema: SchemaElement[] = [
    { name: "root", num_children: columns.length },
    ...columns.map((c) => schemaElement(c.name, c.type)),
  ];
  const columnData = columns.map((c, i) => {
    const data = new Array<Value>(rows.length);
    for (let r = 0; r < rows.length; r++) data[r] = (rows[r] as readonly Value[])[i] ?? null;
    return { name: c.name, data: data as never };
  });
  const buffer = parquetWriteBuffer({
    columnData,
    schema,
    codec: "SNAPPY",
    rowGroupSize: 250_000,
    statistics: true,
    createdBy: "sluice cdc-merge",
  });
  return new Uint8Array(buffer);
}
