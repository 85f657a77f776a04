/**
 * The Glue databases of a wiring catalog: one per DMS schema of its table configuration file, named as `sst deploy`
 * names them (`catalogDatabaseName`), for the local cloud's provisioning and its functions' policies.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { type CatalogSpec, catalogDatabaseName } from "@sluice/infra/wiring";
import { repoRoot } from "./paths.ts";

/** The DMS schemas (`<schema>` of each `<schema>.<table>`) of a catalog's table configuration file. */
export function catalogSchemas(spec: CatalogSpec): string[] {
  const file = JSON.parse(readFileSync(path.join(repoRoot, spec.tables), "utf8")) as { tables?: object };
  return [...new Set(Object.keys(file.tables ?? {}).map((name) => name.split(".")[0] as string))].sort();
}

/** The catalog's database names, for databases named `<prefix>_<schema>`. */
export function catalogDatabases(spec: CatalogSpec, prefix: string): string[] {
  return catalogSchemas(spec).map((schema) => catalogDatabaseName(prefix, schema));
}
