/**
 * The Glue Data Catalog of the CDC tables: one external table per table of config/cdc-tables.json, reading the
 * symlink manifest CdcMerge publishes in Curated, with the configured columns as Athena types.
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

let synth: Synth;
beforeAll(async () => {
  synth = await synthesize(wiring);
}, 300_000);

describe("CDC Glue catalog", () => {
  it("creates one external symlink-manifest Parquet table per configured table", () => {
    const tables = synth.ofType("aws:glue/catalogTable:CatalogTable");
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
