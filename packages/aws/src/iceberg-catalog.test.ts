/**
 * The exact Glue requests of the Iceberg catalog: GetTable, CreateTable, UpdateTable with VersionId, and how Glue's
 * refusals map to the port's outcomes (a conflict, or a commit whose answer was lost).
 */
import {
  AlreadyExistsException,
  ConcurrentModificationException,
  CreateTableCommand,
  EntityNotFoundException,
  GetTableCommand,
  GlueClient,
  UpdateTableCommand,
} from "@aws-sdk/client-glue";
import { parseTablesConfig } from "@sluice/cdc";
import { COMMIT_ID_PROPERTY } from "@sluice/cdc/iceberg-catalog";
import { type IcebergTableMetadata, newTableMetadata } from "@sluice/cdc/iceberg-metadata";
import { createMemoryStore } from "@sluice/cdc/storage";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { createGlueCatalog } from "./iceberg-catalog.ts";

const glue = mockClient(GlueClient);
const config = parseTablesConfig({
  tables: {
    "sales.Orders": {
      primaryKey: ["id"],
      columns: [
        { name: "id", type: "int64" },
        { name: "status", type: "string" },
      ],
    },
  },
}).tables.get("sales.Orders");
if (!config) throw new Error("no table");
const metadataOf = (commitId: string, log: string[] = []): IcebergTableMetadata => ({
  ...newTableMetadata(config, "mem://sales/Orders", 0),
  properties: { [COMMIT_ID_PROPERTY]: commitId },
  "metadata-log": log.map((file) => ({ "metadata-file": file, "timestamp-ms": 0 })),
});
const notFound = () => new EntityNotFoundException({ message: "Table not found", $metadata: {} });
const concurrent = () =>
  new ConcurrentModificationException({
    message: "Update table failed due to concurrent modifications",
    $metadata: {},
  });

let store: ReturnType<typeof createMemoryStore>;
let catalog: ReturnType<typeof createGlueCatalog>;
beforeEach(() => {
  glue.reset();
  store = createMemoryStore();
  catalog = createGlueCatalog(new GlueClient({ region: "us-east-1" }), store, {
    databaseOf: (schema) => `sluice_dev_${schema}`,
  });
});

/** Glue answers GetTable with an Iceberg table at `location`, version `versionId`. */
function glueHas(location: string, versionId: string, extra: Record<string, string> = {}) {
  glue.on(GetTableCommand).resolves({
    Table: {
      Name: "orders",
      DatabaseName: "sluice_dev_sales",
      VersionId: versionId,
      Parameters: { table_type: "ICEBERG", metadata_location: location, ...extra },
    },
  });
}

const metadataFiles = () => [...store.objects.keys()].filter((k) => k.endsWith(".metadata.json"));

describe("createGlueCatalog", () => {
  it("loads nothing for a table Glue does not have (GetTable in the schema's database, lower-case name)", async () => {
    glue.on(GetTableCommand).rejects(notFound());

    expect(await catalog.load("sales", "Orders")).toBeUndefined();
    expect(glue.commandCalls(GetTableCommand)[0]?.args[0].input).toEqual({
      DatabaseName: "sluice_dev_sales",
      Name: "orders",
    });
  });

  it("creates a table: the metadata file first, then CreateTable with table_type ICEBERG and metadata_location", async () => {
    glue.on(CreateTableCommand).resolves({});

    expect(await catalog.commit("sales", "Orders", undefined, metadataOf("c1"), "c1")).toBe("committed");

    const [file] = metadataFiles();
    expect(file).toMatch(/^sales\/Orders\/metadata\/00001-[0-9a-f-]{36}\.metadata\.json$/);
    expect(glue.commandCalls(CreateTableCommand)[0]?.args[0].input).toEqual({
      DatabaseName: "sluice_dev_sales",
      TableInput: {
        Name: "orders",
        TableType: "EXTERNAL_TABLE",
        // Athena's VACUUM reads its snapshot retention from the table (1 day, at least 100 snapshots kept).
        Parameters: {
          vacuum_max_snapshot_age_seconds: "86400",
          vacuum_min_snapshots_to_keep: "100",
          table_type: "ICEBERG",
          metadata_location: `mem://${file}`,
        },
        StorageDescriptor: {
          Location: "mem://sales/Orders",
          Columns: [
            { Name: "id", Type: "bigint" },
            { Name: "status", Type: "string" },
          ],
        },
      },
    });
  });

  it("loads the table Glue names: its metadata, version from the file name, VersionId as the token", async () => {
    const location = "mem://sales/Orders/metadata/00007-abc.metadata.json";
    await store.put("sales/Orders/metadata/00007-abc.metadata.json", JSON.stringify(metadataOf("c7")));
    glueHas(location, "12");

    const table = await catalog.load("sales", "Orders");

    expect(table).toMatchObject({ metadataLocation: location, version: 7 });
    expect(table?.metadata.properties[COMMIT_ID_PROPERTY]).toBe("c7");
  });

  it("keeps a 63-bit snapshot id (as Athena writes them) exact through load and commit", async () => {
    const id = "7450254946340916741"; // above 2^53: JSON.parse would round it
    const location = "mem://sales/Orders/metadata/00007-abc.metadata.json";
    const text = JSON.stringify(metadataOf("c7")).replace(/}$/, `,"current-snapshot-id":${id}}`);
    await store.put("sales/Orders/metadata/00007-abc.metadata.json", text);
    glueHas(location, "12");
    glue.on(UpdateTableCommand).resolves({});

    const loaded = await catalog.load("sales", "Orders");
    expect(String(loaded?.metadata["current-snapshot-id"])).toBe(id);
    expect(
      await catalog.commit("sales", "Orders", loaded, { ...(loaded?.metadata as IcebergTableMetadata) }, "c8"),
    ).toBe("committed");
    const written = metadataFiles().find((key) => !key.includes("00007-"));
    expect(new TextDecoder().decode(store.objects.get(written as string))).toContain(`"current-snapshot-id":${id}`);
  });

  it("commits with UpdateTable: VersionId of the load, SkipArchive, new and previous metadata_location, other parameters kept", async () => {
    const base = "mem://sales/Orders/metadata/00007-abc.metadata.json";
    await store.put("sales/Orders/metadata/00007-abc.metadata.json", JSON.stringify(metadataOf("c7")));
    glueHas(base, "12", { owner: "lake-team", vacuum_min_snapshots_to_keep: "7" });
    glue.on(UpdateTableCommand).resolves({});
    const loaded = await catalog.load("sales", "Orders");

    expect(await catalog.commit("sales", "Orders", loaded, metadataOf("c8", [base]), "c8")).toBe("committed");

    const file = metadataFiles().find((k) => k.includes("/00008-"));
    expect(file).toBeDefined();
    expect(glue.commandCalls(UpdateTableCommand)[0]?.args[0].input).toEqual({
      DatabaseName: "sluice_dev_sales",
      VersionId: "12",
      SkipArchive: true,
      TableInput: {
        Name: "orders",
        TableType: "EXTERNAL_TABLE",
        Parameters: {
          // A table created before the retention was set gets it; one whose retention was altered keeps its own.
          vacuum_max_snapshot_age_seconds: "86400",
          vacuum_min_snapshots_to_keep: "7",
          owner: "lake-team",
          table_type: "ICEBERG",
          metadata_location: `mem://${file}`,
          previous_metadata_location: base,
        },
        StorageDescriptor: expect.objectContaining({ Location: "mem://sales/Orders" }),
      },
    });
  });

  it("answers conflict when another commit moved the table (ConcurrentModificationException), deleting its file", async () => {
    const base = "mem://sales/Orders/metadata/00007-abc.metadata.json";
    const winner = "mem://sales/Orders/metadata/00008-win.metadata.json";
    await store.put("sales/Orders/metadata/00007-abc.metadata.json", JSON.stringify(metadataOf("c7")));
    await store.put("sales/Orders/metadata/00008-win.metadata.json", JSON.stringify(metadataOf("rival", [base])));
    glueHas(base, "12");
    const loaded = await catalog.load("sales", "Orders");
    glue.reset();
    glueHas(winner, "13");
    glue.on(UpdateTableCommand).rejects(concurrent());

    expect(await catalog.commit("sales", "Orders", loaded, metadataOf("mine", [base]), "mine")).toBe("conflict");
    expect(metadataFiles().sort()).toEqual([
      "sales/Orders/metadata/00007-abc.metadata.json",
      "sales/Orders/metadata/00008-win.metadata.json",
    ]);
  });

  it("answers conflict when another merge created the table first (AlreadyExistsException)", async () => {
    await store.put("sales/Orders/metadata/00001-win.metadata.json", JSON.stringify(metadataOf("rival")));
    glue.on(CreateTableCommand).rejects(new AlreadyExistsException({ message: "Table already exists", $metadata: {} }));
    glueHas("mem://sales/Orders/metadata/00001-win.metadata.json", "1");

    expect(await catalog.commit("sales", "Orders", undefined, metadataOf("mine"), "mine")).toBe("conflict");
    expect(metadataFiles()).toEqual(["sales/Orders/metadata/00001-win.metadata.json"]);
  });

  it("recognizes its own commit when the answer was lost and the retry found the version taken", async () => {
    const base = "mem://sales/Orders/metadata/00007-abc.metadata.json";
    await store.put("sales/Orders/metadata/00007-abc.metadata.json", JSON.stringify(metadataOf("c7")));
    glueHas(base, "12");
    const loaded = await catalog.load("sales", "Orders");
    glue.reset();
    // The update was applied; its answer lost; the SDK's retry with the same VersionId is refused.
    glue.on(UpdateTableCommand).callsFake(async (input) => {
      glueHas(input.TableInput.Parameters.metadata_location, "13");
      throw concurrent();
    });

    expect(await catalog.commit("sales", "Orders", loaded, metadataOf("mine", [base]), "mine")).toBe("committed");
    expect(metadataFiles()).toHaveLength(2);
  });

  it("recognizes its own commit when another commit was built on it before the retry (its metadata log names it)", async () => {
    const base = "mem://sales/Orders/metadata/00007-abc.metadata.json";
    await store.put("sales/Orders/metadata/00007-abc.metadata.json", JSON.stringify(metadataOf("c7")));
    glueHas(base, "12");
    const loaded = await catalog.load("sales", "Orders");
    glue.reset();
    glue.on(UpdateTableCommand).callsFake(async (input) => {
      const mine = input.TableInput.Parameters.metadata_location as string;
      await store.put(
        "sales/Orders/metadata/00009-next.metadata.json",
        JSON.stringify(metadataOf("next", [base, mine])),
      );
      glueHas("mem://sales/Orders/metadata/00009-next.metadata.json", "14");
      throw concurrent();
    });

    expect(await catalog.commit("sales", "Orders", loaded, metadataOf("mine", [base]), "mine")).toBe("committed");
  });

  it("refuses a Glue table of that name that is not an Iceberg table", async () => {
    glue
      .on(GetTableCommand)
      .resolves({ Table: { Name: "orders", DatabaseName: "d", Parameters: { EXTERNAL: "TRUE" } } });

    await expect(catalog.load("sales", "Orders")).rejects.toThrow(/no Iceberg table/);
  });
});
