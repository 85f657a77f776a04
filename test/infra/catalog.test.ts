/**
 * The Glue Data Catalog of the CDC tables: one database per DMS schema of config/cdc-tables.json. With CdcMerge
 * writing Iceberg (the wiring's default) no table is deployed: CdcMerge creates each on its first commit and moves its
 * metadata location (which a Pulumi-managed table would fight); with the copy-on-write engine
 * (`CDC_TABLE_FORMAT=parquet`) one external table per configured table reads the symlink manifest CdcMerge publishes.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { athenaType } from "../../infra/catalog.ts";
import * as wiring from "../../infra/wiring.ts";
import { app, repoRoot, type Synth, synthesize } from "./harness.ts";

const config = JSON.parse(readFileSync(path.join(repoRoot, "config/cdc-tables.json"), "utf8")) as {
  tables: Record<string, { columns: { name: string; type: string }[] }>;
};
const schemas = [...new Set(Object.keys(config.tables).map((n) => n.split(".")[0]))].sort();

/** The wiring with CdcMerge on the copy-on-write engine. */
const copyOnWrite = {
  ...wiring,
  functions: {
    ...wiring.functions,
    CdcMerge: {
      ...wiring.functions.CdcMerge,
      environment: { ...wiring.functions.CdcMerge.environment, CDC_TABLE_FORMAT: "parquet" },
    },
  },
};

let iceberg: Synth;
let symlink: Synth;
beforeAll(async () => {
  iceberg = await synthesize(wiring);
  symlink = await synthesize(copyOnWrite);
}, 600_000);

describe("CDC Glue catalog", () => {
  it("creates one database per DMS schema, named per app and stage", () => {
    for (const synth of [iceberg, symlink])
      expect(
        synth
          .ofType("aws:glue/catalogDatabase:CatalogDatabase")
          .map((d) => d.inputs.name)
          .sort(),
      ).toEqual(schemas.map((schema) => `${app.name}_${app.stage}_${schema}`));
  });

  it("deploys no table when CdcMerge writes Iceberg (it registers each table itself)", () => {
    expect(wiring.functions.CdcMerge.environment.CDC_TABLE_FORMAT).toBe("iceberg");
    expect(iceberg.ofType("aws:glue/catalogTable:CatalogTable")).toEqual([]);
  });

  it("with the copy-on-write engine, creates one external symlink-manifest Parquet table per configured table", () => {
    const tables = symlink.ofType("aws:glue/catalogTable:CatalogTable");
    expect(tables.map((t) => t.inputs.name).sort()).toEqual(
      Object.keys(config.tables)
        .map((n) => n.split(".")[1])
        .sort(),
    );
    for (const [name, spec] of Object.entries(config.tables)) {
      const [schema, table] = name.split(".") as [string, string];
      const registered = tables.find((t) => t.inputs.name === table);
      const storage = registered?.inputs.storageDescriptor as Record<string, unknown>;
      expect(registered?.inputs.databaseName).toBe(`${app.name}_${app.stage}_${schema}`);
      expect(storage.inputFormat).toBe("org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat");
      expect(storage.serDeInfo).toMatchObject({
        serializationLibrary: "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
      });
      expect(storage.location).toMatch(new RegExp(`^s3://[^/]+/${schema}/${table}/_symlink_format_manifest/$`));
      expect(storage.columns).toEqual(spec.columns.map((c) => ({ name: c.name, type: athenaType(c.type) })));
    }
  });

  it.each([
    ["int32", "int"],
    ["int64", "bigint"],
    ["decimal(12, 2)", "decimal(12,2)"],
    ["timestamp", "timestamp"],
  ])("maps %s to the Athena type %s", (type, expected) => {
    expect(athenaType(type)).toBe(expected);
  });
});
