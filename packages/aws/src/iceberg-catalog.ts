/**
 * The Iceberg catalog of the CDC merge (`IcebergCatalog` of `@sluice/cdc`) in the AWS Glue Data Catalog, as Iceberg's
 * own `GlueCatalog` keeps tables there: a Glue table with `table_type=ICEBERG` whose `metadata_location` parameter
 * names the current metadata file, written beside the data (`<schema>/<table>/metadata/<seq>-<uuid>.metadata.json` in
 * the table's store).
 *
 * - load: `GetTable`; its `VersionId` (with the parameters) is the token a commit hands back. No table: undefined.
 * - create: write the metadata file, then `CreateTable` (`EXTERNAL_TABLE`); `AlreadyExistsException` is a conflict.
 * - commit: write the metadata file, then `UpdateTable` with the loaded `VersionId` (Glue refuses a stale one with
 *   `ConcurrentModificationException`: Iceberg's optimistic commit) and `SkipArchive` (one Glue table version per
 *   commit would reach Glue's version quota), `metadata_location` = the new file, `previous_metadata_location` = the
 *   base's.
 * A refused commit is a conflict, unless the table already names this commit: an answer lost in the network whose
 * retry found the version taken by itself. That is told by the metadata the table names now — this commit's file, a
 * metadata file carrying this commit's id (`sluice.commit-id`), or one whose metadata log lists this commit's file
 * (another commit built on it meanwhile). A conflict deletes the file it wrote; the merge builds again on the winner.
 */
import { randomUUID } from "node:crypto";
import {
  AlreadyExistsException,
  ConcurrentModificationException,
  CreateTableCommand,
  EntityNotFoundException,
  GetTableCommand,
  type GlueClient,
  type TableInput,
  UpdateTableCommand,
} from "@aws-sdk/client-glue";
import type { ObjectStore } from "@sluice/cdc";
import {
  type CatalogTable,
  COMMIT_ID_PROPERTY,
  type CommitOutcome,
  type IcebergCatalog,
  icebergTablePrefix,
} from "@sluice/cdc/iceberg-catalog";
import {
  currentSchema,
  type IcebergTableMetadata,
  icebergJson,
  parseIcebergJson,
  SNAPSHOT_RETENTION,
} from "@sluice/cdc/iceberg-metadata";

/**
 * Athena's VACUUM settings as Glue table parameters too (Athena keeps a table's TBLPROPERTIES there): set on create,
 * added on update when absent; a value the table has is kept.
 */
const VACUUM_RETENTION = Object.fromEntries(
  Object.entries(SNAPSHOT_RETENTION).filter(([key]) => key.startsWith("vacuum_")),
);

export interface GlueCatalogOptions {
  /** The Glue database holding the tables of a DMS schema. */
  databaseOf(schema: string): string;
  /** The catalog (account) id; default: the caller's account. */
  catalogId?: string;
}

/** What a commit hands back to Glue: the version it read, and the parameters to carry over. */
interface GlueToken {
  versionId: string;
  parameters: Record<string, string>;
}

const METADATA_FILE = /\/(\d+)-[^/]*\.metadata\.json$/;

/** Iceberg's types as the Glue/Hive column types Athena and the Glue console show. */
function glueType(type: string): string {
  return type === "long" ? "bigint" : type;
}

/** The Glue table name of a configured table (Glue keeps names in lower case). */
export function glueTableName(table: string): string {
  return table.toLowerCase();
}

/** The Glue Data Catalog as the merge's Iceberg catalog; metadata files go to `store` (the tables' bucket). */
export function createGlueCatalog(glue: GlueClient, store: ObjectStore, options: GlueCatalogOptions): IcebergCatalog {
  const root = store.uri("");
  const keyOf = (location: string) => {
    if (!location.startsWith(root)) throw new Error(`metadata file ${location} is outside the table store ${root}`);
    return location.slice(root.length);
  };
  const where = (schema: string) => ({
    ...(options.catalogId ? { CatalogId: options.catalogId } : {}),
    DatabaseName: options.databaseOf(schema),
  });
  async function readMetadata(location: string): Promise<IcebergTableMetadata> {
    const body = await store.get(keyOf(location));
    if (!body) throw new Error(`the Glue table names a missing metadata file: ${location}`);
    return parseIcebergJson<IcebergTableMetadata>(new TextDecoder().decode(body));
  }
  /** The table as Glue has it: its metadata location, version and parameters; undefined if there is none. */
  async function getTable(schema: string, table: string) {
    try {
      const { Table } = await glue.send(new GetTableCommand({ ...where(schema), Name: glueTableName(table) }));
      const parameters = Table?.Parameters ?? {};
      const location = parameters.metadata_location;
      if (parameters.table_type?.toUpperCase() !== "ICEBERG" || !location)
        throw new Error(
          `${options.databaseOf(schema)}.${glueTableName(table)} is in Glue but is no Iceberg table (no table_type=ICEBERG with a metadata_location)`,
        );
      return { location, versionId: Table?.VersionId ?? "", parameters };
    } catch (error) {
      if (error instanceof EntityNotFoundException) return undefined;
      throw error;
    }
  }
  /** After a refused create or update: whether the table names this commit all the same (see the module comment). */
  async function landed(schema: string, table: string, location: string, commitId: string): Promise<boolean> {
    const now = await getTable(schema, table);
    if (!now) return false;
    if (now.location === location) return true;
    const metadata = await readMetadata(now.location);
    return (
      metadata.properties[COMMIT_ID_PROPERTY] === commitId ||
      metadata["metadata-log"].some((entry) => entry["metadata-file"] === location)
    );
  }
  function tableInput(table: string, metadata: IcebergTableMetadata, parameters: Record<string, string>): TableInput {
    return {
      Name: glueTableName(table),
      TableType: "EXTERNAL_TABLE",
      Parameters: parameters,
      StorageDescriptor: {
        Location: metadata.location,
        Columns: currentSchema(metadata).fields.map((field) => ({
          Name: field.name.toLowerCase(),
          Type: glueType(field.type),
        })),
      },
    };
  }
  return {
    async load(schema, table): Promise<CatalogTable | undefined> {
      const found = await getTable(schema, table);
      if (!found) return undefined;
      const version = Number(METADATA_FILE.exec(found.location)?.[1] ?? Number.NaN);
      if (!Number.isSafeInteger(version))
        throw new Error(`${schema}.${table}: metadata file ${found.location} has no <version>- prefix`);
      const token: GlueToken = { versionId: found.versionId, parameters: found.parameters };
      return {
        metadata: await readMetadata(found.location),
        metadataLocation: found.location,
        version,
        token: JSON.stringify(token),
      };
    },
    async commit(schema, table, base, metadata, commitId): Promise<CommitOutcome> {
      const version = (base?.version ?? 0) + 1;
      const key = `${icebergTablePrefix(schema, table)}metadata/${String(version).padStart(5, "0")}-${randomUUID()}.metadata.json`;
      const location = store.uri(key);
      await store.put(key, icebergJson(metadata), { contentType: "application/json" });
      try {
        if (!base) {
          await glue.send(
            new CreateTableCommand({
              ...where(schema),
              TableInput: tableInput(table, metadata, {
                ...VACUUM_RETENTION,
                table_type: "ICEBERG",
                metadata_location: location,
              }),
            }),
          );
        } else {
          const token = JSON.parse(base.token) as GlueToken;
          await glue.send(
            new UpdateTableCommand({
              ...where(schema),
              TableInput: tableInput(table, metadata, {
                ...VACUUM_RETENTION,
                ...token.parameters,
                table_type: "ICEBERG",
                metadata_location: location,
                previous_metadata_location: base.metadataLocation,
              }),
              VersionId: token.versionId,
              SkipArchive: true,
            }),
          );
        }
        return "committed";
      } catch (error) {
        if (!(error instanceof AlreadyExistsException || error instanceof ConcurrentModificationException)) throw error;
        if (await landed(schema, table, location, commitId)) return "committed";
        await store.delete([key]);
        return "conflict";
      }
    },
  };
}
