/**
 * Where an Iceberg table's current metadata is recorded, and the optimistic commit against it: a commit names the
 * version it was built on, and fails (`conflict`) if another commit got there first; the merge then builds again on
 * the winner. Implementations: the file catalog here (a directory or bucket laid out as Iceberg's Hadoop catalog,
 * `<schema>/<table>/metadata/v<N>.metadata.json` and `version-hint.text`), the AWS Glue Data Catalog in `@sluice/aws`
 * (next session: `UpdateTable` with `VersionId`).
 */
import { PreconditionFailed } from "./errors.ts";
import { type IcebergTableMetadata, icebergJson, parseIcebergJson } from "./iceberg-metadata.ts";
import type { ObjectStore } from "./storage.ts";

/** A table as the catalog has it now. */
export interface CatalogTable {
  metadata: IcebergTableMetadata;
  /** The metadata file's location (absolute, as readers open it). */
  metadataLocation: string;
  /** The table's metadata version (1 for its first commit): what reports call the version. */
  version: number;
  /**
   * What a commit on top of this state hands back to the catalog to prove its base is current: the version number in
   * the file catalog; Glue's `VersionId` (with the metadata location) in the Glue catalog.
   */
  token: string;
}

export type CommitOutcome = "committed" | "conflict";

export interface IcebergCatalog {
  /** The table's current metadata; undefined when the catalog has no such table yet. */
  load(schema: string, table: string): Promise<CatalogTable | undefined>;
  /**
   * Records `metadata` as the table's current metadata if the table is still as `base` (undefined: the table does not
   * exist yet). `commitId` (also in the metadata's properties) tells an answer lost in the network from a loss.
   */
  commit(
    schema: string,
    table: string,
    base: CatalogTable | undefined,
    metadata: IcebergTableMetadata,
    commitId: string,
  ): Promise<CommitOutcome>;
  /**
   * Deletes the metadata files of `versions` (all below the current one), which the metadata log no longer names:
   * Iceberg's `write.metadata.delete-after-commit.enabled`. Only catalogs whose versions are files they own have it
   * (the file catalog; Glue's metadata files are the orphan sweep's and VACUUM's).
   */
  retireVersions?(schema: string, table: string, versions: readonly number[]): Promise<void>;
  /**
   * No maintenance engine serves this catalog's tables (the file catalog of `cdc-merge --target DIR`): the merge
   * expires snapshots at commit (`expireSnapshots`) and its sweep deletes the files only they read. Unset (Glue):
   * that is Athena's VACUUM (the product's rule: heavy maintenance runs on an existing distributed engine).
   */
  readonly maintainedHere?: boolean;
}

/** The property naming the commit that wrote a metadata version. */
export const COMMIT_ID_PROPERTY = "sluice.commit-id";

const pad = (n: number) => String(n);
const versionPattern = /\/v(\d+)\.metadata\.json$/;

/** The folder of a table in the file catalog (and in the store): `<schema>/<table>/`. */
export function icebergTablePrefix(schema: string, table: string): string {
  return `${schema}/${table}/`;
}

/**
 * The store key of a file of the table at `prefix`, from the URI readers address it by (`store.uri` of the table's
 * folder, then its path in it); undefined for a file outside the table.
 */
export function tableFileKey(store: ObjectStore, prefix: string, uri: string): string | undefined {
  const root = `${store.uri(prefix.slice(0, -1))}/`;
  return uri.startsWith(root) ? prefix + uri.slice(root.length) : undefined;
}

/**
 * The file catalog over an object store: version N is `metadata/v<N>.metadata.json`, created by a conditional put
 * (`If-None-Match`, `link(2)` locally), so of two commits on the same base exactly one creates the key; the hint file
 * is rewritten after each commit for readers (a stale hint shows them an older snapshot, never a broken one; writers
 * read forward from it to the latest version), and written again by a writer that finds a newer version after writing
 * it, so a slow writer's hint landing after a newer one does not stay behind. Old versions are deleted by `retireVersions` (the orphan sweep calls it
 * for versions the metadata log dropped). A deleted version's key could be put again by a stale writer, whose commit
 * would then look current; so retiring first records the highest version it retires, as an empty object
 * `_cdc/retired/<N>` (outside `metadata/`, which other engines' orphan removal scans), then deletes the files, then
 * the records below its own; and a commit lists `_cdc/retired/` after its put: a version at or below the highest
 * record is taken back (deleted) and is a conflict. The highest record is never deleted (only records below one just
 * listed are), so two retirements at once cannot lower it; the commit's hint is written only after the check.
 */
export function createFileCatalog(store: ObjectStore): IcebergCatalog {
  const metadataKey = (schema: string, table: string, version: number) =>
    `${icebergTablePrefix(schema, table)}metadata/v${pad(version)}.metadata.json`;
  const hintKey = (schema: string, table: string) => `${icebergTablePrefix(schema, table)}metadata/version-hint.text`;
  const retiredPrefix = (schema: string, table: string) => `${icebergTablePrefix(schema, table)}_cdc/retired/`;
  /** The records of retired versions: their keys and the highest version (0: none). */
  async function retired(
    schema: string,
    table: string,
  ): Promise<{ keys: { key: string; version: number }[]; highest: number }> {
    const prefix = retiredPrefix(schema, table);
    const keys = (await store.list(prefix))
      .map(({ key }) => ({ key, version: Number(key.slice(prefix.length)) }))
      .filter(({ version }) => Number.isSafeInteger(version));
    return { keys, highest: Math.max(0, ...keys.map((k) => k.version)) };
  }
  async function readVersion(schema: string, table: string, version: number) {
    const body = await store.get(metadataKey(schema, table, version));
    return body ? parseIcebergJson<IcebergTableMetadata>(new TextDecoder().decode(body)) : undefined;
  }
  /**
   * Writes the hint `version`, then reads on: a newer version there means a writer whose hint may have landed before
   * this one (this hint then went backwards), so the hint is written again with the latest. The last hint written
   * is the latest version: its writer found no newer one after writing it, and a version made after that check
   * has its own hint written after it.
   */
  async function writeHint(schema: string, table: string, version: number): Promise<void> {
    for (let written = 0; written !== version; ) {
      await store.put(hintKey(schema, table), String(version), { contentType: "text/plain" });
      written = version;
      while (await store.get(metadataKey(schema, table, version + 1))) version++;
    }
  }
  return {
    maintainedHere: true,
    async load(schema, table) {
      // From the hint, versions are read forward until one is missing: versions are consecutive and deleted only far
      // below the current one (`retireVersions`), so this finds the latest from a hint that lags (a writer killed
      // before writing it, or one that wrote its older version's hint last) with one read more than needed, and no
      // listing of the metadata folder. With no hint, or a hint naming no version (a retired one), the folder is
      // listed.
      const hint = await store.get(hintKey(schema, table));
      const hinted = hint ? Number(new TextDecoder().decode(hint)) : Number.NaN;
      let latest = 0;
      let metadata = Number.isSafeInteger(hinted) && hinted > 0 ? await readVersion(schema, table, hinted) : undefined;
      if (metadata) {
        latest = hinted;
        for (
          let next = await readVersion(schema, table, latest + 1);
          next;
          next = await readVersion(schema, table, latest + 1)
        ) {
          latest++;
          metadata = next;
        }
      } else {
        const listed = await store.list(`${icebergTablePrefix(schema, table)}metadata/v`);
        for (const { key } of listed) {
          const match = versionPattern.exec(key);
          if (match) latest = Math.max(latest, Number(match[1]));
        }
        if (latest === 0) return undefined;
        metadata = await readVersion(schema, table, latest);
        if (!metadata) throw new Error(`${schema}.${table}: metadata version ${latest} vanished`);
      }
      // A writer killed between its commit and the hint left readers behind: bring the hint up.
      if (hinted !== latest) await writeHint(schema, table, latest);
      return {
        metadata,
        metadataLocation: store.uri(metadataKey(schema, table, latest)),
        version: latest,
        token: String(latest),
      };
    },
    async commit(schema, table, base, metadata, commitId) {
      const version = (base ? Number(base.token) : 0) + 1;
      try {
        await store.put(metadataKey(schema, table, version), icebergJson(metadata), {
          ifNoneMatch: true,
          contentType: "application/json",
        });
      } catch (error) {
        if (!(error instanceof PreconditionFailed)) throw error;
        // Taken: by another commit, or by this one when the answer to an earlier try was lost.
        const there = await readVersion(schema, table, version);
        if (there?.properties[COMMIT_ID_PROPERTY] !== commitId) return "conflict";
      }
      // A retired version's key put again by a writer whose base is that old: not a commit.
      if (version <= (await retired(schema, table)).highest) {
        await store.delete([metadataKey(schema, table, version)]);
        return "conflict";
      }
      await writeHint(schema, table, version);
      return "committed";
    },
    async retireVersions(schema, table, versions) {
      if (versions.length === 0) return;
      const highest = Math.max(...versions);
      const current = await this.load(schema, table);
      if (!current || highest >= current.version)
        throw new Error(`${schema}.${table}: version ${highest} is not below the current one (${current?.version})`);
      await store.put(`${retiredPrefix(schema, table)}${highest}`, "", { contentType: "text/plain" });
      await store.delete(versions.map((v) => metadataKey(schema, table, v)));
      const { keys } = await retired(schema, table);
      await store.delete(keys.filter((k) => k.version < highest).map((k) => k.key));
    },
  };
}

/** The metadata file location of version `version` in the file catalog (readers, tests). */
export function fileCatalogMetadataKey(schema: string, table: string, version: number): string {
  return `${icebergTablePrefix(schema, table)}metadata/v${pad(version)}.metadata.json`;
}
