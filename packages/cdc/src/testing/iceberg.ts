/**
 * Test helpers for Iceberg tables: read a table written to a local directory with icebird (a third-party reader from
 * the npm registry), as DMS text values comparable with `asText`.
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parquetReadObjects } from "hyparquet";
import { icebergRead } from "icebird";
import type { TableConfig } from "../config.ts";
import { readDmsFile } from "../dms-file.ts";
import { COMMIT_ID_PROPERTY, type IcebergCatalog, icebergTablePrefix } from "../iceberg-catalog.ts";
import {
  type ManifestFile,
  type ManifestListEntry,
  readManifest,
  readManifestList,
  writeManifest,
  writeManifestList,
} from "../iceberg-manifest.ts";
import { currentSchema, type SnapshotId, snapshotIdOf, withSnapshot } from "../iceberg-metadata.ts";
import { writeParquet } from "../parquet.ts";
import { RowSet } from "../rows.ts";
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
  const records = await withFileFetch(() =>
    icebergRead({ tableUrl: tableUrl(root, config), ...(metadataFileName ? { metadataFileName } : {}) }),
  ).catch((error: Error) => {
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
 * Simulates another writer's compaction (Athena's `OPTIMIZE … REWRITE DATA USING BIN_PACK`): the data files of the
 * data manifests `pick` selects are rewritten — their live rows (position deletes applied) read back exactly, in
 * reverse order, into new files of `fileRows` rows — and committed as a `replace` snapshot with a 63-bit id (as
 * Iceberg Java draws them), a manifest of the added and DELETED files, the other manifests unchanged (the delete
 * files stay, dangling, as Athena leaves them), and the table's properties untouched (`sluice.state` still names the
 * merge's last state). Returns the new snapshot's id and the rows rewritten.
 */
export async function athenaRewrite(
  store: ObjectStore,
  catalog: IcebergCatalog,
  config: TableConfig,
  options: {
    pick?: (manifest: number) => boolean;
    fileRows?: number;
    /** Written by DuckDB in ZSTD (Athena's default codec), with its own encodings, instead of this engine's writer. */
    zstd?: boolean;
  } = {},
): Promise<{ snapshotId: SnapshotId; rows: number; files: number }> {
  const current = await catalog.load(config.schema, config.table);
  if (!current) throw new Error(`${config.name}: no table to rewrite`);
  const { metadata } = current;
  const prefix = icebergTablePrefix(config.schema, config.table);
  // The table's folder as readers address it (`uri` of the folder itself, then the separator).
  const root = `${store.uri(prefix.slice(0, -1))}/`;
  const get = async (uri: string) => (await store.get(prefix + uri.slice(root.length))) as Uint8Array;
  const snapshot = metadata.snapshots.find((s) => s["snapshot-id"] === metadata["current-snapshot-id"]);
  if (!snapshot) throw new Error(`${config.name}: no current snapshot`);
  const list = readManifestList(await get(snapshot["manifest-list"]));
  const deleted = new Map<string, Set<number>>();
  for (const m of list.filter((m) => m.content === 1))
    for (const entry of readManifest(await get(m.path))) {
      if (entry.status === 2) continue;
      const body = await get(entry.path);
      const file = body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer;
      for (const d of (await parquetReadObjects({ file })) as { file_path: string; pos: bigint }[]) {
        const set = deleted.get(d.file_path) ?? new Set<number>();
        set.add(Number(d.pos));
        deleted.set(d.file_path, set);
      }
    }
  const pick = options.pick ?? (() => true);
  const chosen = list.filter((m, i) => m.content === 0 && pick(i));
  const removed: ManifestFile[] = [];
  const live = new RowSet(config);
  const readConfig = { ...config, includeOpForFullLoad: false };
  for (const m of chosen)
    for (const entry of readManifest(await get(m.path))) {
      if (entry.status === 2) continue;
      removed.push({
        content: 0,
        path: entry.path,
        recordCount: entry.recordCount,
        sizeInBytes: entry.sizeInBytes,
        sequenceNumber: m.sequenceNumber,
      });
      let offset = 0;
      for await (const batch of readDmsFile(
        readConfig,
        { relPath: "LOAD00000001.parquet", displayName: entry.path },
        store.read(prefix + entry.path.slice(root.length)),
      )) {
        const gone = deleted.get(entry.path);
        const picked: number[] = [];
        for (let i = 0; i < batch.rows.size; i++) if (!gone?.has(offset + i)) picked.push(i);
        live.appendRows(batch.rows, Int32Array.from(picked));
        offset += batch.rows.size;
      }
    }
  const schema = currentSchema(metadata);
  const ids = new Map(schema.fields.map((f) => [f.name, f.id]));
  const fileRows = options.fileRows ?? 1000;
  const order = Int32Array.from({ length: live.size }, (_, i) => live.size - 1 - i);
  const added: ManifestFile[] = [];
  for (let start = 0; start < order.length; start += fileRows) {
    const rows = order.subarray(start, start + fileRows);
    let body = writeParquet(config, live, rows, {
      fieldIds: config.columns.map((c) => ids.get(c.name) as number),
      timestampUtc: false,
      keyValue: { "iceberg.schema": JSON.stringify(schema) },
    });
    if (options.zstd) body = await rewrittenByDuckDb(body, config, ids);
    const key = `${prefix}data/${String(added.length).padStart(5, "0")}-athena-${randomUUID()}.parquet`;
    await store.put(key, body);
    added.push({ content: 0, path: store.uri(key), recordCount: rows.length, sizeInBytes: body.length });
  }
  const snapshotId = snapshotIdOf((1n << 62n) + BigInt(Math.floor(Math.random() * 2 ** 52)));
  const sequence = metadata["last-sequence-number"] + 1;
  const manifestKey = `${prefix}metadata/${randomUUID()}-m0.avro`;
  const manifest = writeManifest(
    [...added, ...removed.map((f) => ({ ...f, status: 2 as const }))],
    0,
    snapshotId,
    JSON.stringify(schema),
    schema["schema-id"],
  );
  await store.put(manifestKey, manifest);
  const manifests: ManifestListEntry[] = [
    ...list.filter((m) => !chosen.includes(m)),
    {
      path: store.uri(manifestKey),
      length: manifest.length,
      content: 0,
      sequenceNumber: sequence,
      minSequenceNumber: sequence,
      addedSnapshotId: snapshotId,
      addedFiles: added.length,
      existingFiles: 0,
      deletedFiles: removed.length,
      addedRows: live.size,
      existingRows: 0,
      deletedRows: removed.reduce((n, f) => n + f.recordCount, 0),
    },
  ];
  const listKey = `${prefix}metadata/snap-${snapshotId}-1-${randomUUID()}.avro`;
  await store.put(listKey, writeManifestList(manifests, snapshotId, snapshot["snapshot-id"], sequence));
  const commitId = `athena-${randomUUID()}`;
  const next = withSnapshot(
    metadata,
    {
      "snapshot-id": snapshotId,
      "parent-snapshot-id": snapshot["snapshot-id"],
      "sequence-number": sequence,
      "timestamp-ms": Date.now(),
      "manifest-list": store.uri(listKey),
      summary: {
        operation: "replace",
        "added-data-files": String(added.length),
        "deleted-data-files": String(removed.length),
      },
      "schema-id": schema["schema-id"],
    },
    current.metadataLocation,
    { [COMMIT_ID_PROPERTY]: commitId },
  );
  if ((await catalog.commit(config.schema, config.table, current, next, commitId)) !== "committed")
    throw new Error(`${config.name}: the simulated rewrite lost its commit`);
  return { snapshotId, rows: live.size, files: added.length };
}

/** A Parquet file rewritten by DuckDB: same rows and types, ZSTD, the Iceberg field ids kept. */
async function rewrittenByDuckDb(
  body: Uint8Array,
  config: TableConfig,
  ids: ReadonlyMap<string, number>,
): Promise<Uint8Array> {
  const { DuckDBInstance } = await import("@duckdb/node-api");
  const dir = await mkdtemp(join(tmpdir(), "athena-rewrite-"));
  const db = await DuckDBInstance.create(":memory:");
  const connection = await db.connect();
  try {
    await writeFile(join(dir, "in.parquet"), body);
    const fieldIds = config.columns.map((c) => `"${c.name}": ${ids.get(c.name)}`).join(", ");
    await connection.run(
      `COPY (SELECT * FROM read_parquet('${join(dir, "in.parquet")}')) TO '${join(dir, "out.parquet")}' ` +
        `(FORMAT parquet, COMPRESSION zstd, FIELD_IDS {${fieldIds}})`,
    );
    return new Uint8Array(await readFile(join(dir, "out.parquet")));
  } finally {
    connection.closeSync();
    db.closeSync();
    await rm(dir, { recursive: true, force: true });
  }
}
