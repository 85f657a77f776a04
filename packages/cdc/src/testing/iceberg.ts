/**
 * Test helpers for Iceberg tables: read a table written to a local directory with icebird (a third-party reader from
 * the npm registry), as DMS text values comparable with `asText`.
 */
import { readFile } from "node:fs/promises";
import { fileURLToPath, pathToFileURL } from "node:url";
import { icebergManifests, icebergRead } from "icebird";
import type { TableConfig } from "../config.ts";
import { type IcebergCatalog, icebergTablePrefix } from "../iceberg-catalog.ts";
import type { IcebergTableMetadata } from "../iceberg-metadata.ts";
import { type IcebergMergeState, STATE_PROPERTY } from "../iceberg-pass.ts";
import type { ObjectStore } from "../storage.ts";
import type { Value } from "../values.ts";
import { asText } from "./table.ts";

/**
 * Runs `read` with a `fetch` that also opens `file:` URLs (Node's has no file scheme; icebird fetches every file it
 * reads). Whole-file answers (200): readers ask for byte ranges and take the slice.
 */
export async function withFileFetch<T>(read: () => Promise<T>): Promise<T> {
  const original = globalThis.fetch;
  globalThis.fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    if (!url.startsWith("file:")) return original(input, init);
    try {
      return new Response(await readFile(fileURLToPath(url)), { status: 200 });
    } catch {
      return new Response("not found", { status: 404, statusText: "Not Found" });
    }
  }) as typeof fetch;
  try {
    return await read();
  } finally {
    globalThis.fetch = original;
  }
}

/** The directory of a table in a target directory, as icebird's `tableUrl`. */
export function tableUrl(root: string, config: TableConfig): string {
  return pathToFileURL(`${root}/${config.schema}/${config.table}`).href;
}

/** Every row of the table's current snapshot as icebird reads it, as DMS text values sorted by key. */
export async function icebirdRows(root: string, config: TableConfig, metadataFileName?: string) {
  return asRows(
    config,
    withFileFetch(() =>
      icebergRead({ tableUrl: tableUrl(root, config), ...(metadataFileName ? { metadataFileName } : {}) }),
    ),
  );
}

/**
 * Every row of the snapshot of the metadata file at `metadataLocation` (`s3://<bucket>/<key>`: a table a catalog such
 * as Glue names) as icebird reads it, every file fetched from `store` (the bucket): as DMS text values sorted by key.
 */
export async function icebirdRowsAt(store: ObjectStore, config: TableConfig, metadataLocation: string) {
  const slash = metadataLocation.lastIndexOf("/metadata/");
  if (slash < 0) throw new Error(`${metadataLocation} is no metadata file of a table`);
  return asRows(
    config,
    withStoreFetch(store, () =>
      icebergRead({
        tableUrl: metadataLocation.slice(0, slash),
        metadataFileName: metadataLocation.slice(slash + "/metadata/".length),
      }),
    ),
  );
}

/**
 * Runs `read` with a `fetch` that answers icebird's requests for `s3://` files of the store's bucket (which it asks
 * for as `https://<bucket>.s3.amazonaws.com/<key>`) from `store`, whole-file answers as `withFileFetch`.
 */
export async function withStoreFetch<T>(store: ObjectStore, read: () => Promise<T>): Promise<T> {
  const root = store.uri("");
  const match = /^s3:\/\/([^/]+)\/$/.exec(root);
  if (!match) throw new Error(`${root} is no S3 bucket`);
  const host = `https://${match[1]}.s3.amazonaws.com/`;
  const original = globalThis.fetch;
  globalThis.fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    if (!url.startsWith(host)) return original(input, init);
    const body = await store.get(decodeURIComponent(url.slice(host.length)));
    if (!body) return new Response("not found", { status: 404, statusText: "Not Found" });
    return new Response(body, { status: 200, headers: { "content-length": String(body.length) } });
  }) as typeof fetch;
  try {
    return await read();
  } finally {
    globalThis.fetch = original;
  }
}

/** The records icebird read as DMS text values sorted by key. */
async function asRows(config: TableConfig, reading: Promise<Record<string, unknown>[]>) {
  const records = await reading.catch((error: Error) => {
    // icebird refuses a snapshot without data manifests (a table whose changes so far were deletes only).
    if (/No data manifest files found/.test(error.message)) return [];
    throw error;
  });
  return asText(
    config,
    records.map((record) => config.columns.map((c) => fromIcebird(c.type, record[c.name]))),
  );
}

/** A value as icebird (hyparquet) decodes it, back to the engine's `Value`. */
function fromIcebird(type: TableConfig["columns"][number]["type"], v: unknown): Value {
  if (v === null || v === undefined) return null;
  switch (type.kind) {
    case "int64":
      return BigInt(v as bigint);
    case "decimal":
      // hyparquet decodes DECIMAL to a float: back to the unscaled integer (tests use small decimals).
      return typeof v === "bigint" ? v : BigInt(Math.round((v as number) * 10 ** type.scale));
    case "date":
      return v instanceof Date ? Math.round(v.getTime() / 86_400_000) : (v as number);
    case "timestamp":
      // Milliseconds: hyparquet's Date drops the microseconds (tests use whole milliseconds).
      return v instanceof Date ? BigInt(v.getTime()) * 1000n : BigInt(v as bigint);
    default:
      return v as Value;
  }
}

/**
 * The files under the table's folder that nothing references: not the current metadata file, one in its metadata log
 * or a file-catalog version (`v<N>.metadata.json`, `version-hint.text`), not a manifest list, manifest, data or delete
 * file of any snapshot the metadata keeps (listed by icebird), not the merge state the metadata names or an index
 * file or applied-files archive it names. What a killed merge leaves behind until the orphan sweep.
 */
export async function unreferencedFiles(
  store: ObjectStore,
  catalog: IcebergCatalog,
  config: TableConfig,
): Promise<string[]> {
  const prefix = icebergTablePrefix(config.schema, config.table);
  const listed = (await store.list(prefix)).map((o) => o.key);
  const current = await catalog.load(config.schema, config.table);
  if (!current) return listed;
  const root = store.uri("x").slice(0, -1);
  const keyOf = (uri: string) => decodeURIComponent(uri.startsWith(root) ? uri.slice(root.length) : uri);
  const referenced = new Set<string>(
    [current.metadataLocation, ...current.metadata["metadata-log"].map((m) => m["metadata-file"])].map(keyOf),
  );
  const within = root.startsWith("s3:") ? <T>(read: () => Promise<T>) => withStoreFetch(store, read) : withFileFetch;
  for (const snapshot of current.metadata.snapshots) {
    referenced.add(keyOf(snapshot["manifest-list"]));
    const metadata: IcebergTableMetadata = { ...current.metadata, "current-snapshot-id": snapshot["snapshot-id"] };
    for (const manifest of await within(() => icebergManifests(metadata as never))) {
      referenced.add(keyOf(manifest.url));
      for (const entry of manifest.entries) referenced.add(keyOf(entry.data_file.file_path));
    }
  }
  const stateKey = current.metadata.properties[STATE_PROPERTY];
  if (stateKey) {
    referenced.add(stateKey);
    const body = await store.get(stateKey);
    if (!body) throw new Error(`the metadata names a missing merge state ${stateKey}`);
    const state = JSON.parse(new TextDecoder().decode(body)) as IcebergMergeState;
    for (const archive of state.archives ?? []) referenced.add(archive);
    for (const shard of Object.values(state.index))
      for (const key of [shard.key, ...(shard.deltas ?? []).map((d) => d.key)]) referenced.add(key);
  }
  return listed.filter(
    (key) => !referenced.has(key) && !/\/metadata\/(v\d+\.metadata\.json|version-hint\.text)$/.test(key),
  );
}
