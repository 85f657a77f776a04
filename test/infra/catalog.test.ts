/**
 * The Glue Data Catalog of the CDC tables: one database per DMS schema of config/cdc-tables.json, and no table: CdcMerge
 * creates each Iceberg table on its first commit and moves its metadata location (which a Pulumi-managed table would
 * fight).
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import * as wiring from "../../infra/wiring.ts";
import { app, repoRoot, type Synth, synthesize } from "./harness.ts";

const config = JSON.parse(readFileSync(path.join(repoRoot, "config/cdc-tables.json"), "utf8")) as {
  tables: Record<string, unknown>;
};
const schemas = [...new Set(Object.keys(config.tables).map((n) => n.split(".")[0]))].sort();

let synth: Synth;
beforeAll(async () => {
  synth = await synthesize(wiring);
}, 600_000);

describe("CDC Glue catalog", () => {
  it("creates one database per DMS schema, named per app and stage", () => {
    expect(
      synth
        .ofType("aws:glue/catalogDatabase:CatalogDatabase")
        .map((d) => d.inputs.name)
        .sort(),
    ).toEqual(schemas.map((schema) => `${app.name}_${app.stage}_${schema}`));
  });

  it("deploys no table (CdcMerge registers each Iceberg table itself), and CdcMerge has no table-format setting", () => {
    expect(synth.ofType("aws:glue/catalogTable:CatalogTable")).toEqual([]);
    expect(Object.keys(wiring.functions.CdcMerge.environment)).not.toContain("CDC_TABLE_FORMAT");
  });
});
