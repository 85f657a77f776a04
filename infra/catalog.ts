/**
 * The Glue Data Catalog of the CDC tables merged into Curated (config/cdc-tables.json, the file the CdcMerge function
 * bundles): one database per DMS schema, named `<app>_<stage>_<schema>` (`catalogDatabaseName`).
 *
 * The tables are not created here: CdcMerge creates each Iceberg table on its first commit (`CreateTable`,
 * `table_type=ICEBERG`) and moves its `metadata_location` with every commit, which a Pulumi-managed table would fight
 * (packages/cdc/ICEBERG.md, "The table in Glue").
 */
import cdcTables from "../config/cdc-tables.json" with { type: "json" };
import { cdcDatabaseName } from "./permissions.ts";
import { type CatalogSpec, catalogDatabasePrefix } from "./wiring.ts";

/** Glue database of a DMS schema: per app and stage, so stages do not share tables (pure: infra/permissions.ts). */
export { cdcDatabaseName } from "./permissions.ts";

const componentName = (...parts: string[]) =>
  parts.map((p) => p.replace(/[^A-Za-z0-9]/g, "").replace(/^./, (c) => c.toUpperCase())).join("");

/** A wiring catalog as deployed: its databases, the link functions read, and the ARNs their grants name. */
export interface DeployedCatalog {
  databases: Record<string, aws.glue.CatalogDatabase>;
  /** `Resource.<Catalog>.name`: the databases' name prefix, `<app>_<stage>`. */
  link: sst.Linkable<{ name: string }>;
  arns: { catalog: $util.Output<string>; databases: $util.Output<string>[]; tables: $util.Output<string>[] };
}

/** Creates the catalog's databases, one per DMS schema of the table configuration. */
export function createCdcCatalog(name: string, spec: CatalogSpec): DeployedCatalog {
  const tables = (cdcTables as { tables: Record<string, unknown> }).tables;
  if (spec.tables !== "config/cdc-tables.json")
    throw new Error(`catalog ${name}: only config/cdc-tables.json is bundled by CdcMerge, not ${spec.tables}`);
  const databases: Record<string, aws.glue.CatalogDatabase> = {};
  for (const tableName of Object.keys(tables)) {
    const [schema] = tableName.split(".") as [string, string];
    databases[schema] ??= new aws.glue.CatalogDatabase(componentName("Cdc", schema, "Database"), {
      name: cdcDatabaseName($app.name, $app.stage, schema),
      description: `AWS DMS schema ${schema}, merged by CdcMerge into the Curated bucket`,
    });
  }
  const list = Object.values(databases);
  // `arn:<partition>:glue:<region>:<account>:database/<name>` -> the catalog's and the tables' ARNs.
  const catalogArn = (list[0]?.arn ?? $output("")).apply((arn) => arn.replace(/:database\/.*$/, ":catalog"));
  return {
    databases,
    link: new sst.Linkable(name, { properties: { name: catalogDatabasePrefix($app.name, $app.stage) } }),
    arns: {
      catalog: catalogArn,
      databases: list.map((database) => database.arn),
      tables: list.map((database) => database.arn.apply((arn) => `${arn.replace(":database/", ":table/")}/*`)),
    },
  };
}
