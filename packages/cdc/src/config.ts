/**
 * The table configuration: which DMS tables to merge, their columns in file order (after `Op`), key and ordering
 * columns. One JSON file drives both the Lambda (bundled) and the CLI.
 */
// zod/mini: the same validation as zod, a fraction of the bundle (cold starts).
import * as z from "zod/mini";
import en from "zod/v4/locales/en.js";
import { InvalidTableConfig } from "./errors.ts";

export type ColumnType =
  | { kind: "int32" }
  | { kind: "int64" }
  | { kind: "double" }
  | { kind: "decimal"; precision: number; scale: number }
  | { kind: "string" }
  | { kind: "boolean" }
  | { kind: "date" }
  | { kind: "timestamp" };

export interface Column {
  name: string;
  type: ColumnType;
}

export interface TableConfig {
  /** `<schema>.<table>` */
  name: string;
  schema: string;
  table: string;
  primaryKey: string[];
  columns: Column[];
  /** Files carry a header row (DMS `AddColumnName`). */
  header: boolean;
  /** Full-load files carry the `Op` column too (DMS `IncludeOpForFullLoad`). */
  includeOpForFullLoad: boolean;
  timestampColumn?: string;
  changeSeqColumn?: string;
  /** Number of hash buckets of the layout; fixed when the table is first written. */
  buckets: number;
  /**
   * Range layout instead of hash: bucket = floor(column / width) for an integer key column. Tables keyed by an
   * increasing id then keep recent rows (the ones that change most) together, so a change file rewrites few buckets.
   */
  bucketBy?: { column: string; width: number };
  /** Indexes into `columns`. */
  keyIndexes: number[];
  orderIndex?: number;
}

export interface TablesConfig {
  tables: Map<string, TableConfig>;
}

const typePattern = /^(int32|int64|double|string|boolean|date|timestamp|decimal\((\d+),\s*(\d+)\))$/;

/** Parses a column type name such as `int64` or `decimal(12,2)`. */
export function parseColumnType(text: string): ColumnType | undefined {
  const match = typePattern.exec(text.trim());
  if (!match) return undefined;
  if (match[2] !== undefined && match[3] !== undefined) {
    const precision = Number(match[2]);
    const scale = Number(match[3]);
    if (precision < 1 || precision > 38 || scale > precision) return undefined;
    return { kind: "decimal", precision, scale };
  }
  return { kind: match[1] } as ColumnType;
}

/** The type's name as written in the config. */
export function columnTypeName(type: ColumnType): string {
  return type.kind === "decimal" ? `decimal(${type.precision},${type.scale})` : type.kind;
}

// Readable messages ("Unrecognized key: ...") instead of zod/mini's bare "Invalid input".
z.config(en());

const identifier = z.string().check(z.regex(/^[A-Za-z_][A-Za-z0-9_$]*$/, "an identifier (letters, digits, _)"));

const tableSchema = z.strictObject({
  primaryKey: z.array(identifier).check(z.minLength(1)),
  columns: z
    .array(
      z.object({
        name: identifier,
        type: z.string().check(
          z.refine((t) => parseColumnType(t) !== undefined, {
            message: "one of int32, int64, double, decimal(p,s), string, boolean, date, timestamp",
          }),
        ),
      }),
    )
    .check(z.minLength(1)),
  header: z._default(z.boolean(), false),
  includeOpForFullLoad: z._default(z.boolean(), false),
  timestampColumn: z.optional(identifier),
  changeSeqColumn: z.optional(identifier),
  buckets: z._default(z.int().check(z.minimum(1), z.maximum(4096)), 16),
  bucketBy: z.optional(z.strictObject({ column: identifier, width: z.int().check(z.minimum(1)) })),
});

const fileSchema = z.strictObject({ tables: z.record(z.string(), tableSchema) });

/** Validates a parsed JSON table configuration; throws `InvalidTableConfig` naming every problem. */
export function parseTablesConfig(json: unknown): TablesConfig {
  const parsed = fileSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new InvalidTableConfig(`invalid table configuration:\n  ${problems.join("\n  ")}`);
  }
  const tables = new Map<string, TableConfig>();
  const problems: string[] = [];
  for (const [name, spec] of Object.entries(parsed.data.tables)) {
    const parts = name.split(".");
    if (parts.length !== 2 || !parts[0] || !parts[1]) {
      problems.push(`tables.${name}: the name must be <schema>.<table>`);
      continue;
    }
    const columns = spec.columns.map((c) => ({ name: c.name, type: parseColumnType(c.type) as ColumnType }));
    const indexOf = (column: string) => columns.findIndex((c) => c.name === column);
    const names = new Set<string>();
    for (const c of columns) {
      if (names.has(c.name.toLowerCase())) problems.push(`tables.${name}.columns: duplicate column ${c.name}`);
      names.add(c.name.toLowerCase());
    }
    const keyIndexes = spec.primaryKey.map(indexOf);
    spec.primaryKey.forEach((k, i) => {
      if (keyIndexes[i] === -1) problems.push(`tables.${name}.primaryKey: ${k} is not a column`);
    });
    for (const [field, column] of [
      ["timestampColumn", spec.timestampColumn],
      ["changeSeqColumn", spec.changeSeqColumn],
    ] as const) {
      if (column !== undefined && indexOf(column) === -1)
        problems.push(`tables.${name}.${field}: ${column} is not a column`);
    }
    if (spec.timestampColumn !== undefined) {
      const type = columns[indexOf(spec.timestampColumn)]?.type.kind;
      if (type !== undefined && type !== "timestamp" && type !== "string")
        problems.push(`tables.${name}.timestampColumn: must be a timestamp or string column`);
    }
    if (spec.bucketBy !== undefined) {
      const type = columns[indexOf(spec.bucketBy.column)]?.type.kind;
      if (
        spec.primaryKey.length !== 1 ||
        spec.primaryKey[0] !== spec.bucketBy.column ||
        (type !== "int32" && type !== "int64")
      )
        problems.push(`tables.${name}.bucketBy: must name the primary key, a single int32 or int64 column`);
    }
    const orderColumn = spec.changeSeqColumn ?? spec.timestampColumn;
    tables.set(name, {
      name,
      schema: parts[0],
      table: parts[1],
      primaryKey: spec.primaryKey,
      columns,
      header: spec.header,
      includeOpForFullLoad: spec.includeOpForFullLoad,
      ...(spec.timestampColumn !== undefined ? { timestampColumn: spec.timestampColumn } : {}),
      ...(spec.changeSeqColumn !== undefined ? { changeSeqColumn: spec.changeSeqColumn } : {}),
      buckets: spec.buckets,
      ...(spec.bucketBy !== undefined ? { bucketBy: spec.bucketBy } : {}),
      keyIndexes,
      ...(orderColumn !== undefined ? { orderIndex: indexOf(orderColumn) } : {}),
    });
  }
  if (problems.length > 0) throw new InvalidTableConfig(`invalid table configuration:\n  ${problems.join("\n  ")}`);
  return { tables };
}
