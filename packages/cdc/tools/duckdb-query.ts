/**
 * DuckDB over the curated tables, the local stand-in for Athena: each table is a view `<schema>.<table>` over the
 * Parquet files its symlink manifest lists (what Athena reads), typed by the table configuration when empty.
 * DuckDB is a development dependency: this module is used by `pnpm query` and benchmarks, never by the Lambda.
 */
import { DuckDBInstance } from "@duckdb/node-api";
import type { ColumnType, TableConfig } from "../src/config.ts";

export interface QueryTable {
  config: TableConfig;
  /** Local paths of the Parquet files the manifest lists. */
  files: string[];
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
    for (const { config, files } of tables) {
      await connection.run(`CREATE SCHEMA IF NOT EXISTS ${ident(config.schema)}`);
      const name = `${ident(config.schema)}.${ident(config.table)}`;
      const columns = config.columns.map((c) => `${ident(c.name)}::${duckType(c.type)} AS ${ident(c.name)}`).join(", ");
      if (files.length === 0) {
        const empty = config.columns.map((c) => `${ident(c.name)} ${duckType(c.type)}`).join(", ");
        await connection.run(`CREATE TABLE ${name} (${empty})`);
      } else {
        await connection.run(
          `CREATE VIEW ${name} AS SELECT ${columns} FROM read_parquet([${files.map(sqlString).join(", ")}])`,
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
