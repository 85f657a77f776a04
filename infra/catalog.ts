/**
 * The Glue Data Catalog of the CDC tables merged into Curated (config/cdc-tables.json, the file the CdcMerge function
 * bundles): one database per DMS schema, named `<app>_<stage>_<schema>` (`catalogDatabaseName`).
 *
 * With CdcMerge writing Iceberg (`CDC_TABLE_FORMAT=iceberg`, the default), the tables are not created here: CdcMerge
 * creates each one on its first commit (`CreateTable`, `table_type=ICEBERG`) and moves its `metadata_location` with
 * every commit, which a Pulumi-managed table would fight (packages/cdc/ICEBERG.md, "The table in Glue"). With the
 * copy-on-write engine (`CDC_TABLE_FORMAT=parquet`) each table is an external table here, reading the table's Athena
 * symlink manifest (`<schema>/<table>/_symlink_format_manifest/`) with the Parquet SerDe.
 */
import cdcTables from "../config/cdc-tables.json" with { type: "json" };
import { cdcDatabaseName } from "./permissions.ts";
import { type CatalogSpec, catalogDatabasePrefix } from "./wiring.ts";

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

/** A wiring catalog as deployed: its databases, the link functions read, and the ARNs their grants name. */
export interface DeployedCatalog {
  databases: Record<string, aws.glue.CatalogDatabase>;
  /** Symlink-manifest tables by `<schema>.<table>` (copy-on-write engine only). */
  tables: Record<string, aws.glue.CatalogTable>;
  /** `Resource.<Catalog>.name`: the databases' name prefix, `<app>_<stage>`. */
  link: sst.Linkable<{ name: string }>;
  arns: { catalog: $util.Output<string>; databases: $util.Output<string>[]; tables: $util.Output<string>[] };
}

export interface CdcCatalogOptions {
  /** Create the symlink-manifest tables of the copy-on-write engine (CdcMerge's `CDC_TABLE_FORMAT=parquet`). */
  symlinkTables: boolean;
}

/** Creates the catalog's databases (and the symlink tables, for the copy-on-write engine) over the Curated bucket. */
export function createCdcCatalog(
  name: string,
  spec: CatalogSpec,
  curated: sst.aws.Bucket,
  options: CdcCatalogOptions,
): DeployedCatalog {
  const tables = (cdcTables as { tables: Record<string, { columns: { name: string; type: string }[] }> }).tables;
  if (spec.tables !== "config/cdc-tables.json")
    throw new Error(`catalog ${name}: only config/cdc-tables.json is bundled by CdcMerge, not ${spec.tables}`);
  const databases: Record<string, aws.glue.CatalogDatabase> = {};
  const created: Record<string, aws.glue.CatalogTable> = {};
  for (const [tableName, tableSpec] of Object.entries(tables)) {
    const [schema, table] = tableName.split(".") as [string, string];
    databases[schema] ??= new aws.glue.CatalogDatabase(componentName("Cdc", schema, "Database"), {
      name: cdcDatabaseName($app.name, $app.stage, schema),
      description: `AWS DMS schema ${schema}, merged by CdcMerge into the Curated bucket`,
    });
    if (!options.symlinkTables) continue;
    created[tableName] = new aws.glue.CatalogTable(componentName("Cdc", schema, table, "Table"), {
      databaseName: databases[schema].name,
      name: table.toLowerCase(),
      tableType: "EXTERNAL_TABLE",
      parameters: { EXTERNAL: "TRUE", classification: "parquet" },
      storageDescriptor: {
        location: $interpolate`s3://${curated.name}/${schema}/${table}/_symlink_format_manifest/`,
        inputFormat: "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat",
        outputFormat: "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
        serDeInfo: { serializationLibrary: "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe" },
        columns: tableSpec.columns.map((c) => ({ name: c.name.toLowerCase(), type: athenaType(c.type) })),
      },
    });
  }
  const list = Object.values(databases);
  // `arn:<partition>:glue:<region>:<account>:database/<name>` -> the catalog's and the tables' ARNs.
  const catalogArn = (list[0]?.arn ?? $output("")).apply((arn) => arn.replace(/:database\/.*$/, ":catalog"));
  return {
    databases,
    tables: created,
    link: new sst.Linkable(name, { properties: { name: catalogDatabasePrefix($app.name, $app.stage) } }),
    arns: {
      catalog: catalogArn,
      databases: list.map((database) => database.arn),
      tables: list.map((database) => database.arn.apply((arn) => `${arn.replace(":database/", ":table/")}/*`)),
    },
  };
}
