/**
 * DuckDB over the curated tables, the local stand-in for Athena: each table is a view `<schema>.<table>` over an
 * Iceberg snapshot's data files minus the rows its position-delete files name, typed by the table configuration when
 * empty.
 * DuckDB is a development dependency: this module is used by `pnpm query` and benchmarks, never by the Lambda.
 */
import { DuckDBInstance } from "@duckdb/node-api";
import type { ColumnType, TableConfig } from "../src/config.ts";

export interface QueryTable {
  config: TableConfig;
  /** Local paths of the Iceberg snapshot's data files. */
  files: string[];
  /**
   * An Iceberg snapshot's position deletes: local paths of its delete files, and for each data file (same order as
   * `files`) the location the delete files name it by. Rows they name are left out (an anti join on file and row).
   */
  positionDeletes?: { files: string[]; dataFileUris: string[] };
}

export interface QueryResult {
  columns: string[];
  rows: unknown[][];
}

const sqlString = (s: string) => `'${s.replace(/'/g, "''")}'`;
const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;

function duckType(type: ColumnType): string {
  switch (type.kind) {
    case "int32":
      return "INTEGER";
    case "int64":
      return "BIGINT";
    case "decimal":
      return `DECIMAL(${type.precision},${type.scale})`;
    case "string":
      return "VARCHAR";
    default:
      return type.kind.toUpperCase();
  }
}

/** Runs `sql` with every table available as `<schema>.<table>`. */
export async function queryTables(sql: string, tables: readonly QueryTable[]): Promise<QueryResult> {
  const db = await DuckDBInstance.create(":memory:");
  const connection = await db.connect();
  try {
    for (const { config, files, positionDeletes } of tables) {
      await connection.run(`CREATE SCHEMA IF NOT EXISTS ${ident(config.schema)}`);
      const name = `${ident(config.schema)}.${ident(config.table)}`;
      const columns = config.columns.map((c) => `${ident(c.name)}::${duckType(c.type)} AS ${ident(c.name)}`).join(", ");
      if (files.length === 0) {
        const empty = config.columns.map((c) => `${ident(c.name)} ${duckType(c.type)}`).join(", ");
        await connection.run(`CREATE TABLE ${name} (${empty})`);
      } else if (positionDeletes && positionDeletes.files.length > 0) {
        const map = `${ident(config.schema)}.${ident(`__files_${config.table}`)}`;
        const pairs = files.map((f, i) => `(${sqlString(f)}, ${sqlString(positionDeletes.dataFileUris[i] ?? "")})`);
        await connection.run(`CREATE TABLE ${map} AS SELECT * FROM (VALUES ${pairs.join(", ")}) t(filename, uri)`);
        await connection.run(
          `CREATE VIEW ${name} AS SELECT ${columns} FROM read_parquet([${files.map(sqlString).join(", ")}], filename = true, file_row_number = true, union_by_name = true) d ` +
            `ANTI JOIN (SELECT m.filename, x.pos FROM read_parquet([${positionDeletes.files.map(sqlString).join(", ")}]) x JOIN ${map} m ON m.uri = x.file_path) del ` +
            "ON d.filename = del.filename AND d.file_row_number = del.pos",
        );
      } else {
        await connection.run(
          `CREATE VIEW ${name} AS SELECT ${columns} FROM read_parquet([${files.map(sqlString).join(", ")}], union_by_name = true)`,
        );
      }
    }
    const reader = await connection.runAndReadAll(sql);
    return { columns: reader.columnNames(), rows: reader.getRows() as unknown[][] };
  } finally {
    connection.closeSync();
    db.closeSync();
  }
}
