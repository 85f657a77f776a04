/**
 * The Glue Data Catalog for the CDC tables merged into Curated (config/cdc-tables.json, the file the CdcMerge
 * function bundles): one database per DMS schema and one external table per configured table, reading the table's
 * Athena symlink manifest (`<schema>/<table>/_symlink_format_manifest/`) with the Parquet SerDe, so Athena can query
 * a table on day one and always sees one committed version of it.
 */
import cdcTables from "../config/cdc-tables.json" with { type: "json" };
import { cdcDatabaseName } from "./permissions.ts";

/** The table configuration's column types as Hive/Athena types. */
export function athenaType(type: string): string {
  const t = type.replace(/\s+/g, "");
  if (t === "int32") return "int";
  if (t === "int64") return "bigint";
  if (t === "double" || t === "string" || t === "boolean" || t === "date" || t === "timestamp") return t;
  if (/^decimal\(\d+,\d+\)$/.test(t)) return t;
  throw new Error(`config/cdc-tables.json: unknown column type ${type}`);
}

/** Glue database of a DMS schema: per app and stage, so stages do not share tables (pure: infra/permissions.ts). */
export { cdcDatabaseName } from "./permissions.ts";

const componentName = (...parts: string[]) =>
  parts.map((p) => p.replace(/[^A-Za-z0-9]/g, "").replace(/^./, (c) => c.toUpperCase())).join("");

/** Creates the catalog over the Curated bucket; returns the tables by `<schema>.<table>`. */
export function createCdcCatalog(curated: sst.aws.Bucket): Record<string, aws.glue.CatalogTable> {
  const tables = (cdcTables as { tables: Record<string, { columns: { name: string; type: string }[] }> }).tables;
  const databases: Record<string, aws.glue.CatalogDatabase> = {};
  const created: Record<string, aws.glue.CatalogTable> = {};
  for (const [name, spec] of Object.entries(tables)) {
    const [schema, table] = name.split(".") as [string, string];
    databases[schema] ??= new aws.glue.CatalogDatabase(componentName("Cdc", schema, "Database"), {
      name: cdcDatabaseName($app.name, $app.stage, schema),
      description: `AWS DMS schema ${schema}, merged by CdcMerge into the Curated bucket`,
    });
    created[name] = new aws.glue.CatalogTable(componentName("Cdc", schema, table, "Table"), {
      databaseName: databases[schema].name,
      name: table.toLowerCase(),
      tableType: "EXTERNAL_TABLE",
      parameters: { EXTERNAL: "TRUE", classification: "parquet" },
      storageDescriptor: {
        location: $interpolate`s3://${curated.name}/${schema}/${table}/_symlink_format_manifest/`,
        inputFormat: "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat",
        outputFormat: "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
        serDeInfo: { serializationLibrary: "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe" },
        columns: spec.columns.map((c) => ({ name: c.name.toLowerCase(), type: athenaType(c.type) })),
      },
    });
  }
  return created;
}
