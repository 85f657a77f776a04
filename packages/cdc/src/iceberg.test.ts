/**
 * The Iceberg engine, read back by icebird (a third-party Iceberg reader): full loads append, change files add data
 * files and position deletes, the table equals the changes applied in DMS order, a lost commit race is built again on
 * the winner. A merge or compaction killed at any write or delete: iceberg-kill.test.ts (local layer).
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { seededRandom } from "@sluice/testing";
import { parquetReadObjects } from "hyparquet";
import { icebergManifests } from "icebird";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { TableConfig } from "./config.ts";
import { ForeignSnapshot } from "./errors.ts";
import { chunksOf, dmsCsv, type TestChange, testTable } from "./fixtures/dms.ts";
import { athenaRewrite, icebirdRows, setRetention, withFileFetch } from "./fixtures/iceberg.ts";
import { asText, type ReplayFile, replayText } from "./fixtures/replay.ts";
import { createFileCatalog, type IcebergCatalog, tableFileKey } from "./iceberg-catalog.ts";
import { sweepIcebergOrphans } from "./iceberg-gc.ts";
import { existingEntries, readManifest, readManifestList } from "./iceberg-manifest.ts";
import type { IcebergTableMetadata } from "./iceberg-metadata.ts";
import { decodeBound } from "./iceberg-metrics.ts";
import { compactIceberg, INDEX_MAX_DELTAS, loadIcebergTable, mergeFilesIceberg } from "./iceberg-pass.ts";
import { indexLayout } from "./key-index.ts";
import type { MergeOptions } from "./merge-pass.ts";
import { icebergEngine, mergeAll } from "./run.ts";
import { decodeState } from "./state-file.ts";
import { createDirectoryStore, type ObjectStore } from "./storage.ts";
import type { Value } from "./values.ts";

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "iceberg-test-"));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const row = (id: number, name: string | null, cents: number): Value[] => [BigInt(id), name, BigInt(cents)];

function merge(
  store: ObjectStore,
  catalog: IcebergCatalog,
  config: TableConfig,
  files: { relPath: string; text: string }[],
  options: MergeOptions & { fileRows?: number; indexDeltaShare?: number; manifestMergeMin?: number } = {},
) {
  return mergeFilesIceberg(
    store,
    catalog,
    config,
    files.map((f) => ({
      file: { relPath: f.relPath, displayName: f.relPath },
      open: () => chunksOf(f.text, 64),
    })),
    options,
  );
}

const csv = (config: TableConfig, changes: TestChange[], withOp = true) => dmsCsv(config, changes, withOp);

async function metadataOf(config: TableConfig, version: number): Promise<IcebergTableMetadata> {
  return JSON.parse(
    await readFile(join(root, config.schema, config.table, "metadata", `v${version}.metadata.json`), "utf8"),
  );
}

describe("Iceberg merge-on-read, read back by icebird", () => {
  it("appends a full load, then adds data and position deletes for a change file", async () => {
    const config = testTable();
    const store = createDirectoryStore(root);
    const catalog = createFileCatalog(store);
    const load = csv(
      config,
      [1, 2, 3, 4, 5].map((id) => ({ op: "I", values: row(id, `n${id}`, id * 100) })),
      false,
    );
    const first = await merge(store, catalog, config, [{ relPath: "LOAD00000001.csv", text: load }]);
    expect(first.files.map((f) => f.outcome)).toEqual(["merged"]);
    expect(await icebirdRows(root, config)).toEqual(
      asText(
        config,
        [1, 2, 3, 4, 5].map((id) => row(id, `n${id}`, id * 100)),
      ),
    );

    const changes = csv(config, [
      { op: "U", values: row(2, "two", 222) },
      { op: "D", values: row(4, "n4", 400) },
      { op: "I", values: row(6, "six", 600) },
      { op: "U", values: row(2, "two again", 2222) },
      { op: "D", values: row(9, null, 0) },
    ]);
    await merge(store, catalog, config, [{ relPath: "20261101-1200000000.csv", text: changes }]);
    expect(await icebirdRows(root, config)).toEqual(
      asText(config, [
        row(1, "n1", 100),
        row(2, "two again", 2222),
        row(3, "n3", 300),
        row(5, "n5", 500),
        row(6, "six", 600),
      ]),
    );
    // The previous snapshot is still readable as it was (time travel by metadata file).
    expect(await icebirdRows(root, config, "v1.metadata.json")).toHaveLength(5);

    const metadata = await metadataOf(config, 2);
    expect(metadata["format-version"]).toBe(2);
    expect(metadata.snapshots.map((s) => s.summary.operation)).toEqual(["append", "overwrite"]);
    expect(metadata.snapshots[1]?.["parent-snapshot-id"]).toBe(metadata.snapshots[0]?.["snapshot-id"]);
    expect(metadata.refs.main?.["snapshot-id"]).toBe(metadata["current-snapshot-id"]);
    expect(metadata["snapshot-log"]).toHaveLength(2);
    expect(metadata["metadata-log"]).toHaveLength(1);
    expect(metadata.schemas[0]?.fields.map((f) => [f.id, f.name, f.type])).toEqual([
      [1, "id", "long"],
      [2, "name", "string"],
      [3, "amount", "decimal(10, 2)"],
    ]);
    expect(metadata.snapshots[1]?.summary["added-position-deletes"]).toBe("2");
    expect(await readFile(join(root, "sales/orders/metadata/version-hint.text"), "utf8")).toBe("2");

    // The manifest list carries the first snapshot's manifest unchanged, plus a data and a delete manifest.
    const manifests = await withFileFetch(() => icebergManifests(metadata as never));
    const contents = manifests.flatMap((m) => m.entries.map((e) => Number(e.data_file.content)));
    expect(contents.sort()).toEqual([0, 0, 1]);
  });

  it("keeps the change order across late files and recognizes replays", async () => {
    const config = testTable({ columns: [{ name: "ts", type: "timestamp" }], timestampColumn: "ts" });
    const store = createDirectoryStore(root);
    const catalog = createFileCatalog(store);
    const at = (s: number) => BigInt(Date.UTC(2026, 10, 1, 12, 0, s)) * 1000n;
    const newer = csv(config, [{ op: "U", values: [...row(1, "new", 1), at(30)] }]);
    const older = csv(config, [
      { op: "U", values: [...row(1, "old", 2), at(10)] },
      { op: "I", values: [...row(2, "two", 3), at(10)] },
    ]);
    await merge(store, catalog, config, [{ relPath: "20261101-1300000000.csv", text: newer }]);
    // A late file: its change of key 1 is older than what the table holds and must not win.
    await merge(store, catalog, config, [{ relPath: "20261101-1200000000.csv", text: older }]);
    expect(await icebirdRows(root, config)).toEqual(
      asText(config, [
        [...row(1, "new", 1), at(30)],
        [...row(2, "two", 3), at(10)],
      ]),
    );
    const replay = await merge(store, catalog, config, [{ relPath: "20261101-1200000000.csv", text: older }]);
    expect(replay.files.map((f) => f.outcome)).toEqual(["replay"]);
    expect(replay.version).toBe(2);
  });

  it("adds a new column as a schema change, keeping the field ids", async () => {
    const before = testTable();
    const after = testTable({ columns: [{ name: "note", type: "string" }] });
    const store = createDirectoryStore(root);
    const catalog = createFileCatalog(store);
    await merge(store, catalog, before, [
      { relPath: "LOAD00000001.csv", text: csv(before, [{ op: "I", values: row(1, "a", 1) }], false) },
    ]);
    await merge(store, catalog, after, [
      { relPath: "20261101-1200000000.csv", text: csv(after, [{ op: "I", values: [...row(2, "b", 2), "hi"] }]) },
    ]);
    const metadata = await metadataOf(after, 2);
    expect(metadata["current-schema-id"]).toBe(1);
    expect(metadata.schemas[1]?.fields.map((f) => [f.id, f.name])).toEqual([
      [1, "id"],
      [2, "name"],
      [3, "amount"],
      [4, "note"],
    ]);
    expect(await icebirdRows(root, after)).toEqual(
      asText(after, [
        [...row(1, "a", 1), null],
        [...row(2, "b", 2), "hi"],
      ]),
    );
  });

  it("a commit whose base went stale fails and is built again on the winner", async () => {
    const config = testTable();
    const store = createDirectoryStore(root);
    const catalog = createFileCatalog(store);
    await merge(store, catalog, config, [
      {
        relPath: "LOAD00000001.csv",
        text: csv(
          config,
          [1, 2].map((id) => ({ op: "I", values: row(id, "a", id) })),
          false,
        ),
      },
    ]);
    // Merge A loads version 1; before it commits, merge B commits version 2 on the same base.
    let raced = false;
    const racing: IcebergCatalog = {
      load: (s, t) => catalog.load(s, t),
      async commit(s, t, base, metadata, id) {
        if (!raced) {
          raced = true;
          await merge(store, catalog, config, [
            { relPath: "20261101-1100000000.csv", text: csv(config, [{ op: "U", values: row(1, "b", 10) }]) },
          ]);
        }
        return catalog.commit(s, t, base, metadata, id);
      },
    };
    const a = await merge(store, racing, config, [
      { relPath: "20261101-1200000000.csv", text: csv(config, [{ op: "U", values: row(2, "a2", 20) }]) },
    ]);
    expect(a.files[0]).toMatchObject({ outcome: "merged", version: 3, attempts: 2 });
    expect(await icebirdRows(root, config)).toEqual(asText(config, [row(1, "b", 10), row(2, "a2", 20)]));
    // The loser's files were deleted: every data file on disk is in the table.
    const metadata = await metadataOf(config, 3);
    const manifests = await withFileFetch(() => icebergManifests(metadata as never));
    const live = new Set(manifests.flatMap((m) => m.entries.map((e) => e.data_file.file_path)));
    const onDisk = (await store.list("sales/orders/data/")).map((o) => store.uri(o.key));
    expect(new Set(onDisk)).toEqual(live);
  });
});

describe("small change files into a big table: merged against the stored index, never loading it", () => {
  /** Drops a shard file's "keys ascend" mark (same length, so the header stays valid): a shard as an earlier
   * version wrote it, which a merge must scan instead of searching. */
  const unmarked = (body: Uint8Array) =>
    Buffer.from(Buffer.from(body).toString("latin1").replace(',"ascending":true', " ".repeat(17)), "latin1");

  it.each([
    ["shards kept in key order (binary search)", false, undefined],
    ["shards written before keys were kept in order (a scan)", true, undefined],
    ["deltas never written whole again, folded into one past INDEX_MAX_DELTAS", false, 100],
  ])("%s: the table equals the changes applied in order", async (_, legacy, indexDeltaShare) => {
    const options = indexDeltaShare === undefined ? {} : { indexDeltaShare };
    const config = testTable();
    const store = createDirectoryStore(root);
    const catalog = createFileCatalog(store);
    // Loaded in descending key order: the shards are written sorted all the same.
    const ids = Array.from({ length: 600 }, (_, i) => 600 - i);
    const expected = new Map(ids.map((id) => [id, row(id, `n${id}`, id)]));
    await merge(store, catalog, config, [
      {
        relPath: "LOAD00000001.csv",
        text: csv(
          config,
          [...expected.values()].map((values) => ({ op: "I", values })),
          false,
        ),
      },
    ]);
    if (legacy)
      for (const { key } of await store.list(`${config.schema}/${config.table}/_cdc/index/`)) {
        const body = (await store.get(key)) as Uint8Array;
        const patched = unmarked(body);
        expect(patched.equals(Buffer.from(body))).toBe(false);
        await store.put(key, patched);
      }
    const random = seededRandom(7);
    const files: { relPath: string; text: string }[] = [];
    for (let f = 0; f < 15; f++) {
      const changes: TestChange[] = [];
      for (let i = 0; i < 20; i++) {
        const id = 1 + Math.floor(random() * 700);
        const op = random() < 0.2 ? "D" : random() < 0.5 ? "I" : "U";
        const values = row(id, `f${f}r${i}`, f * 1000 + i);
        changes.push({ op, values });
        if (op === "D") expected.delete(id);
        else expected.set(id, values);
      }
      files.push({ relPath: `20261101-12${String(f).padStart(2, "0")}000000.csv`, text: csv(config, changes) });
    }
    for (const file of files) await merge(store, catalog, config, [file], options);
    // A replay of an early file changes nothing.
    await merge(store, catalog, config, [files[2] as { relPath: string; text: string }], options);
    const byKey = [...expected.entries()].sort((a, b) => a[0] - b[0]).map(([, values]) => values);
    expect(await icebirdRows(root, config)).toEqual(asText(config, byKey));
    // The merges went through index deltas (the path that does not load a shard), and some shards were written
    // whole again once their deltas grew.
    const { state } = await loadIcebergTable(store, catalog, config);
    const shards = Object.values(state.index);
    expect(shards.some((s) => (s.deltas?.length ?? 0) > 0)).toBe(true);
    // However many commits touched a shard, a merge reads its base and at most INDEX_MAX_DELTAS deltas.
    expect(Math.max(...shards.map((s) => s.deltas?.length ?? 0))).toBeLessThanOrEqual(INDEX_MAX_DELTAS);
    // ... here with every base still the full load's (sequence 1): the deltas were folded, never the shard rewritten.
    if (indexDeltaShare) expect(shards.map((s) => /-00000001-/.test(s.key))).toEqual(shards.map(() => true));
    // Each stored index file lists only the change and data files its rows name: the lists do not grow with every
    // commit that touched the shard.
    const layout = indexLayout(config);
    for (const s of shards)
      for (const key of [s.key, ...(s.deltas ?? []).map((d) => d.key)]) {
        const rows = decodeState(layout.config, (await store.get(key)) as Uint8Array);
        const named = new Set<number>();
        for (let i = 0; i < rows.size; i++) {
          named.add(rows.f[i] as number);
          const data = rows.get(i, layout.fileColumn);
          if (data !== null) named.add(data as number);
        }
        expect([...named].sort((a, b) => a - b)).toEqual(rows.files.map((_, i) => i));
      }
  });
});

describe("manifests merged past a count (Iceberg's commit.manifest-merge.enabled)", () => {
  it("keeps the manifest list short, every file with its sequence numbers, and the table equal to the changes", async () => {
    const config = testTable({ buckets: 4 });
    const store = createDirectoryStore(root);
    const catalog = createFileCatalog(store);
    const ids = Array.from({ length: 200 }, (_, i) => i + 1);
    const expected = new Map(ids.map((id) => [id, row(id, `n${id}`, id)]));
    const loadText = csv(
      config,
      [...expected.values()].map((values) => ({ op: "I", values })),
      false,
    );
    await merge(store, catalog, config, [{ relPath: "LOAD00000001.csv", text: loadText }], { fileRows: 50 });
    const random = seededRandom(11);
    const prefix = `${config.schema}/${config.table}/`;
    const uri = (path: string) => `${prefix}${path.slice(store.uri(prefix.slice(0, -1)).length + 1)}`;
    let merged = 0;
    for (let f = 0; f < 14; f++) {
      const changes: TestChange[] = [];
      for (let i = 0; i < 12; i++) {
        const id = 1 + Math.floor(random() * 230);
        const op = random() < 0.25 ? "D" : "U";
        const values = row(id, `f${f}r${i}`, f * 1000 + i);
        changes.push({ op, values });
        if (op === "D") expected.delete(id);
        else expected.set(id, values);
      }
      const text = csv(config, changes);
      await merge(store, catalog, config, [{ relPath: `20261101-13${String(f).padStart(2, "0")}000000.csv`, text }], {
        manifestMergeMin: 3,
        fileRows: 5,
      });
      // However many commits came before, at most 3 small manifests of a kind stay apart before they are merged,
      // then the merged one and this commit's: the list no longer grows by two a commit.
      const current = await loadIcebergTable(store, catalog, config);
      const list = current.state.manifests;
      for (const content of [0, 1]) expect(list.filter((m) => m.content === content).length).toBeLessThanOrEqual(4);
      merged += list.filter((m) => /-m[23]\.avro$/.test(m.path)).length;
      // Every live file keeps the data sequence number of the commit that wrote it (named in its file name), merged
      // or not: position deletes apply to the same data files as before.
      const snapshot = current.metadata.snapshots.at(-1);
      const manifests = readManifestList((await store.get(uri(snapshot?.["manifest-list"] ?? ""))) as Uint8Array);
      for (const m of manifests)
        for (const file of existingEntries(m, readManifest((await store.get(uri(m.path))) as Uint8Array))) {
          const written = Number(/\/data\/(\d{8})-/.exec(file.path)?.[1]);
          expect(file.sequenceNumber).toBe(written);
          expect(file.fileSequenceNumber).toBe(written);
          // A data file's column metrics, merged or not: its key column's bounds are the least and greatest key in it
          // (what lets a reader skip it for `WHERE id = …`), its string column's the least and greatest name by UTF-8
          // bytes (all under Iceberg's 16 characters, so whole).
          if (file.content !== 0) continue;
          const body = (await store.get(uri(file.path))) as Uint8Array;
          const rows = await parquetReadObjects({
            file: body.buffer.slice(body.byteOffset, body.byteOffset + body.length) as ArrayBuffer,
            columns: ["id", "name"],
          });
          const keys = rows.map((r) => BigInt(r.id as bigint));
          const at =
            (id: number) =>
            <T>(map: { key: number; value: T }[] | undefined) =>
              map?.find((e) => e.key === id)?.value;
          const value = at(1);
          expect(value(file.metrics?.valueCounts)).toBe(keys.length);
          expect(value(file.metrics?.nullValueCounts)).toBe(0);
          keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
          expect(decodeBound({ kind: "int64" }, value(file.metrics?.lowerBounds) as Uint8Array)).toBe(keys[0]);
          expect(decodeBound({ kind: "int64" }, value(file.metrics?.upperBounds) as Uint8Array)).toBe(keys.at(-1));
          const names = rows
            .flatMap((r) => (r.name === null ? [] : [Buffer.from(r.name as string)]))
            .sort(Buffer.compare);
          const name = at(2);
          expect(name(file.metrics?.nullValueCounts)).toBe(rows.length - names.length);
          expect(Buffer.from(name(file.metrics?.lowerBounds) ?? [])).toEqual(names[0]);
          expect(Buffer.from(name(file.metrics?.upperBounds) ?? [])).toEqual(names.at(-1));
        }
      const byKey = [...expected.entries()].sort((a, b) => a[0] - b[0]).map(([, values]) => values);
      expect(await icebirdRows(root, config)).toEqual(asText(config, byKey));
    }
    expect(merged).toBeGreaterThan(0);
  });
});

describe("compaction by the merge", () => {
  it("compacts a small table once its delete files pass the threshold, and merges on after it", async () => {
    const config = testTable({ buckets: 2 });
    const source = createDirectoryStore(join(root, "source"));
    const target = createDirectoryStore(join(root, "target"));
    const dir = `dms/${config.schema}/${config.table}`;
    await source.put(
      `${dir}/LOAD00000001.csv`,
      csv(
        config,
        [1, 2, 3, 4].map((id) => ({ op: "I", values: row(id, "a", id) })),
        false,
      ),
    );
    for (const [i, id] of [1, 2, 3].entries())
      await source.put(
        `${dir}/20261101-1${i}00000000.csv`,
        csv(config, [{ op: "U", values: row(id, `v${i}`, 10 * id) }]),
      );
    const tables = { tables: new Map([[config.name, config]]) };
    const engine = icebergEngine(createFileCatalog, { deleteFiles: 2 });
    // One file a pass: three change commits, the second of which reaches two delete files and compacts.
    const report = await mergeAll(source, target, tables, { engine, maxPassFiles: 1 });
    expect(report.merged).toBe(4);
    const expected = asText(config, [row(1, "v0", 10), row(2, "v1", 20), row(3, "v2", 30), row(4, "a", 4)]);
    expect(await icebirdRows(join(root, "target"), config)).toEqual(expected);
    const metadata = JSON.parse(
      await readFile(join(root, "target/sales/orders/metadata/version-hint.text"), "utf8").then((v) =>
        readFile(join(root, `target/sales/orders/metadata/v${v}.metadata.json`), "utf8"),
      ),
    ) as IcebergTableMetadata;
    expect(metadata.snapshots.map((s) => s.summary.operation)).toEqual([
      "append",
      "overwrite",
      "overwrite",
      "replace",
      "overwrite",
    ]);
  });
});

describe("snapshot expiry: the table's retention at each commit, the expired files swept", () => {
  it("keeps the retained history readable, deletes what only expired snapshots read, and nothing of other writers", async () => {
    const config = testTable({ buckets: 2 });
    const store = createDirectoryStore(root);
    const catalog = createFileCatalog(store);
    const start = Date.now() - 4 * 3_600_000;
    const at = (minutes: number) => ({ now: () => new Date(start + minutes * 60_000), sweepEvery: 1_000 });
    await merge(
      store,
      catalog,
      config,
      [
        {
          relPath: "LOAD00000001.csv",
          text: csv(
            config,
            [1, 2, 3, 4].map((id) => ({ op: "I", values: row(id, "a", id) })),
            false,
          ),
        },
      ],
      at(0),
    );
    // The retention set on the table (ALTER TABLE SET TBLPROPERTIES): an hour, at least 2 snapshots, 2 versions logged.
    await setRetention(catalog, config, { maxAgeSeconds: 3600, minSnapshots: 2, previousVersions: 2 });
    // A change, a compaction, two more changes: the oldest snapshot kept will read files of the sequences before it.
    const change = (i: number, id: number) =>
      merge(
        store,
        catalog,
        config,
        [
          {
            relPath: `20261101-1${i}00000000.csv`,
            text: csv(config, [{ op: "U", values: row(id, `v${i}`, 10 * id) }]),
          },
        ],
        at(1 + i),
      );
    await change(0, 1);
    await compactIceberg(store, catalog, config, at(2));
    await change(1, 2);
    await change(2, 3);
    const before = (await catalog.load(config.schema, config.table))?.metadata as IcebergTableMetadata;
    expect(before.snapshots).toHaveLength(5);
    // Another writer's file, and an orphan of a killed attempt of the second commit, both old.
    const prefix = "sales/orders/";
    await store.put(`${prefix}data/foreign-engine-file.parquet`, "x");
    await store.put(`${prefix}data/00000002-0123456789ab-0.parquet`, "x");

    await merge(
      store,
      catalog,
      config,
      [{ relPath: "20261101-1300000000.csv", text: csv(config, [{ op: "D", values: row(4, "a", 4) }]) }],
      at(180),
    );
    const after = (await catalog.load(config.schema, config.table))?.metadata as IcebergTableMetadata;
    // Committed three hours later: only the newest 2 (the last change and this commit) are within the retention.
    expect(after.snapshots.map((s) => s.summary.operation)).toEqual(["overwrite", "overwrite"]);
    expect(after["snapshot-log"]).toHaveLength(2);

    // What the table's snapshots read, before and after.
    const filesOf = async (snapshots: IcebergTableMetadata["snapshots"]) => {
      const keys = new Set<string>();
      for (const snapshot of snapshots) {
        const listKey = tableFileKey(store, prefix, snapshot["manifest-list"]) as string;
        keys.add(listKey);
        for (const manifest of readManifestList((await store.get(listKey)) as Uint8Array)) {
          const manifestKey = tableFileKey(store, prefix, manifest.path) as string;
          keys.add(manifestKey);
          for (const entry of readManifest((await store.get(manifestKey)) as Uint8Array))
            if (entry.status !== 2) keys.add(tableFileKey(store, prefix, entry.path) as string);
        }
      }
      return keys;
    };
    const retained = await filesOf(after.snapshots);
    const expiredOnly = [...(await filesOf(before.snapshots))].filter((key) => !retained.has(key));
    // Gone with the history: the load's data file, the first change's data and delete files, 4 manifest lists and the
    // manifests no kept list names. Kept although older than the oldest snapshot kept: the compaction's data file,
    // the second change's files, and the manifests that list them.
    expect(expiredOnly.filter((key) => key.endsWith("-deletes.parquet"))).toHaveLength(1);
    expect(expiredOnly.filter((key) => /snap-/.test(key))).toHaveLength(4);
    const oldestKept = after.snapshots[0]?.["sequence-number"] as number;
    const sequenceOf = (key: string) => Number(/\/(?:snap-\d+-)?(\d{8})-/.exec(key)?.[1]);
    expect([...retained].filter((key) => sequenceOf(key) < oldestKept).length).toBeGreaterThanOrEqual(4);
    const deleted = await sweepIcebergOrphans(store, catalog, config, {
      graceMs: 15 * 60_000,
      now: Date.now() + 20 * 60_000,
    });
    // And the metadata versions older than the 2 the metadata log names (of 7: the load, the retention, 4 commits
    // and this one).
    const retiredVersions = [1, 2, 3, 4].map((v) => `${prefix}metadata/v${v}.metadata.json`);
    expect(deleted.sort()).toEqual(
      [...expiredOnly, `${prefix}data/00000002-0123456789ab-0.parquet`, ...retiredVersions].sort(),
    );
    for (const key of retiredVersions) expect(await store.get(key)).toBeUndefined();
    for (const key of retained) expect(await store.get(key), key).toBeDefined();
    expect(await store.get(`${prefix}data/foreign-engine-file.parquet`)).toBeDefined();
    expect(await icebirdRows(root, config)).toEqual(
      asText(config, [row(1, "v0", 10), row(2, "v1", 20), row(3, "v2", 30)]),
    );
    // The previous metadata version's current snapshot (the compaction) is still readable too.
    const previous = (await catalog.load(config.schema, config.table))?.version as number;
    expect(await icebirdRows(root, config, `v${previous - 1}.metadata.json`)).toEqual(
      asText(config, [row(1, "v0", 10), row(2, "v1", 20), row(3, "v2", 30), row(4, "a", 4)]),
    );
  });

  it("leaves the expired sequences' files alone when a file of the oldest kept snapshot is missing, and sweeps the rest", async () => {
    const config = testTable({ buckets: 2 });
    const store = createDirectoryStore(root);
    const catalog = createFileCatalog(store);
    const start = Date.now() - 4 * 3_600_000;
    const at = (minutes: number) => ({ now: () => new Date(start + minutes * 60_000), sweepEvery: 1_000 });
    const load = csv(config, [{ op: "I", values: row(1, "a", 1) }], false);
    await merge(store, catalog, config, [{ relPath: "LOAD00000001.csv", text: load }], at(0));
    await setRetention(catalog, config, { maxAgeSeconds: 0, minSnapshots: 1 });
    for (const i of [1, 2]) {
      const text = csv(config, [{ op: "U", values: row(1, `v${i}`, i) }]);
      await merge(store, catalog, config, [{ relPath: `20261101-1${i}00000000.csv`, text }], at(60 * i));
    }
    const metadata = (await catalog.load(config.schema, config.table))?.metadata as IcebergTableMetadata;
    expect(metadata.snapshots).toHaveLength(1);
    // Someone deleted the kept snapshot's manifest list; an expired sequence's file and a spilled run are left over.
    const prefix = "sales/orders/";
    await store.delete([tableFileKey(store, prefix, metadata.snapshots[0]?.["manifest-list"] ?? "") as string]);
    const expiredFile = `${prefix}data/00000001-0123456789ab-0.parquet`;
    const spilled = `${prefix}_cdc/tmp/00000002-0123456789ab/b0000.state`;
    await store.put(expiredFile, "x");
    await store.put(spilled, "x");
    const deleted = await sweepIcebergOrphans(store, catalog, config, { graceMs: 0, now: Date.now() + 1_000 });
    expect(deleted).toContain(spilled);
    expect(deleted).not.toContain(expiredFile);
    expect(await store.get(expiredFile)).toBeDefined();
  });

  it("leaves a table whose catalog has a maintenance engine (Glue: Athena's VACUUM) to it", async () => {
    const config = testTable({ buckets: 2 });
    const store = createDirectoryStore(root);
    const file = createFileCatalog(store);
    // The file catalog's commits without its `maintainedHere`, as the Glue catalog is.
    const catalog: IcebergCatalog = { load: (...a) => file.load(...a), commit: (...a) => file.commit(...a) };
    const start = Date.now() - 4 * 3_600_000;
    const at = (minutes: number) => ({ now: () => new Date(start + minutes * 60_000), sweepEvery: 1, graceMs: 0 });
    const load = csv(config, [{ op: "I", values: row(1, "a", 1) }], false);
    await merge(store, catalog, config, [{ relPath: "LOAD00000001.csv", text: load }], at(0));
    await setRetention(catalog, config, { maxAgeSeconds: 0, minSnapshots: 1 });
    for (const i of [1, 2, 3]) {
      const text = csv(config, [{ op: "U", values: row(1, `v${i}`, i) }]);
      await merge(store, catalog, config, [{ relPath: `20261101-1${i}00000000.csv`, text }], at(60 * i));
    }
    const metadata = (await catalog.load(config.schema, config.table))?.metadata as IcebergTableMetadata;
    expect(metadata.snapshots).toHaveLength(4);
    // Every snapshot's files are still there: each version still reads.
    for (let v = 1; v <= 5; v++) await icebirdRows(root, config, `v${v}.metadata.json`);
  });
});

describe("a base superseded while an attempt reads it", () => {
  it("an index shard deleted by a newer commit makes the attempt start again on it", async () => {
    const config = testTable({ buckets: 1 });
    const inner = createDirectoryStore(root);
    const catalog = createFileCatalog(inner);
    await merge(inner, catalog, config, [
      {
        relPath: "LOAD00000001.csv",
        text: csv(
          config,
          [1, 2].map((id) => ({ op: "I", values: row(id, "a", id) })),
          false,
        ),
      },
    ]);
    // Merge A has loaded version 1; as it fetches its shard, merge B commits version 2 (which deletes that shard).
    let raced = false;
    const race = async (key: string) => {
      if (!raced && key.includes("/_cdc/index/")) {
        raced = true;
        await merge(inner, catalog, config, [
          { relPath: "20261101-1100000000.csv", text: csv(config, [{ op: "U", values: row(1, "b", 10) }]) },
        ]);
      }
    };
    // Both ways a shard is read: whole, and into a reused buffer.
    const store: ObjectStore = {
      ...inner,
      async get(key) {
        await race(key);
        return inner.get(key);
      },
      async getInto(key, into) {
        await race(key);
        return (inner.getInto as NonNullable<ObjectStore["getInto"]>)(key, into);
      },
    };
    const a = await merge(store, createFileCatalog(store), config, [
      { relPath: "20261101-1200000000.csv", text: csv(config, [{ op: "U", values: row(2, "a2", 20) }]) },
    ]);
    expect(a.files[0]).toMatchObject({ outcome: "merged", version: 3, attempts: 2 });
    expect(await icebirdRows(root, config)).toEqual(asText(config, [row(1, "b", 10), row(2, "a2", 20)]));
    // Superseded shards and states are deleted at once: one of each is left.
    expect(await inner.list("sales/orders/_cdc/index/")).toHaveLength(1);
    expect(await inner.list("sales/orders/_cdc/iceberg/")).toHaveLength(1);
  });
});

describe("other writers", () => {
  it("follows a foreign replace snapshot (Athena's OPTIMIZE): the index re-points the rewritten rows, once", async () => {
    const config = testTable();
    const store = createDirectoryStore(root);
    const catalog = createFileCatalog(store);
    // The files merged so far; the table must read as the oracle's replay of them.
    const merged: ReplayFile[] = [];
    const apply = (relPath: string, changes: TestChange[]) => merged.push({ relPath, changes });
    const expected = () => replayText(config, merged);
    const ids = Array.from({ length: 40 }, (_, i) => i + 1);
    const load = ids.map((id): TestChange => ({ op: "I", values: row(id, `n${id}`, id) }));
    apply("LOAD00000001.csv", load);
    await merge(store, catalog, config, [{ relPath: "LOAD00000001.csv", text: csv(config, load, false) }], {
      fileRows: 16,
    });
    const first: TestChange[] = [
      ...[3, 7, 20].map((id): TestChange => ({ op: "U", values: row(id, `u${id}`, id * 2) })),
      { op: "D", values: row(9, null, 0) },
      { op: "I", values: row(41, "new", 41) },
    ];
    apply("20261101-1200000000.csv", first);
    await merge(store, catalog, config, [{ relPath: "20261101-1200000000.csv", text: csv(config, first) }], {
      fileRows: 16,
    });
    // Athena rewrites the data files of the first manifest (the full load) into files of 7 rows, in another order.
    const rewrite = await athenaRewrite(store, catalog, config, { pick: (m) => m === 0, fileRows: 7 });
    expect(typeof rewrite.snapshotId).toBe("bigint");
    expect(await icebirdRows(root, config)).toEqual(expected());

    const second: TestChange[] = [
      ...[1, 3, 12, 30, 40, 41].map((id): TestChange => ({ op: "U", values: row(id, `v${id}`, id * 3) })),
      ...[2, 7, 25].map((id): TestChange => ({ op: "D", values: row(id, null, 0) })),
      { op: "I", values: row(9, "back", 9) },
      { op: "I", values: row(50, "fifty", 50) },
    ];
    apply("20261101-1300000000.csv", second);
    // Held past 3 keys, the moved keys of the follow are spilled per bucket (as a pass's changes are).
    const result = await merge(
      store,
      catalog,
      config,
      [{ relPath: "20261101-1300000000.csv", text: csv(config, second) }],
      { flushKeys: 3 },
    );
    expect(result.files.map((f) => f.outcome)).toEqual(["merged"]);
    expect(await icebirdRows(root, config)).toEqual(expected());
    expect(await store.list(`${config.schema}/${config.table}/_cdc/tmp/`)).toEqual([]);

    // Followed once: a metadata-only version (no snapshot) then the merge's own snapshot, parented on Athena's, whose
    // 63-bit id is kept exact in the metadata.
    const current = await catalog.load(config.schema, config.table);
    const metadata = current?.metadata as IcebergTableMetadata;
    expect(current?.version).toBe(5);
    const last = metadata.snapshots.at(-1) as IcebergTableMetadata["snapshots"][number];
    expect(last["parent-snapshot-id"]).toBe(rewrite.snapshotId);
    expect(metadata.snapshots).toHaveLength(4);
    const text = await readFile(join(root, config.schema, config.table, "metadata", "v5.metadata.json"), "utf8");
    expect(text).toContain(`"parent-snapshot-id":${rewrite.snapshotId}`);

    // A later foreign rewrite of everything (files written by DuckDB in ZSTD, Athena's default codec), twice in a
    // row, then more changes.
    await athenaRewrite(store, catalog, config, { fileRows: 5, zstd: true });
    await athenaRewrite(store, catalog, config, { fileRows: 11 });
    const third: TestChange[] = ids
      .filter((id) => id % 4 === 0)
      .map((id): TestChange => ({ op: "U", values: row(id, `w${id}`, id * 4) }));
    third.push({ op: "D", values: row(50, null, 0) }, { op: "D", values: row(1, null, 0) });
    apply("20261101-1400000000.csv", third);
    await merge(store, catalog, config, [{ relPath: "20261101-1400000000.csv", text: csv(config, third) }]);
    expect(await icebirdRows(root, config)).toEqual(expected());
    // And the engine's own compaction after all that.
    await compactIceberg(store, catalog, config);
    expect(await icebirdRows(root, config)).toEqual(expected());
  });

  it("refuses to merge on top of a foreign snapshot other than a replace (rows the key index does not know)", async () => {
    const config = testTable();
    const store = createDirectoryStore(root);
    const catalog = createFileCatalog(store);
    await merge(store, catalog, config, [
      { relPath: "LOAD00000001.csv", text: csv(config, [{ op: "I", values: row(1, "a", 1) }], false) },
    ]);
    // Another writer (an INSERT through Athena, say) commits an `append` snapshot.
    const current = (await catalog.load(config.schema, config.table)) as NonNullable<
      Awaited<ReturnType<IcebergCatalog["load"]>>
    >;
    const last = current.metadata.snapshots.at(-1) as IcebergTableMetadata["snapshots"][number];
    const append = {
      ...last,
      "snapshot-id": Number(last["snapshot-id"]) + 1,
      "parent-snapshot-id": last["snapshot-id"],
      "sequence-number": last["sequence-number"] + 1,
      summary: { operation: "append" as const },
    };
    const foreign: IcebergTableMetadata = {
      ...current.metadata,
      "current-snapshot-id": append["snapshot-id"],
      "last-sequence-number": append["sequence-number"],
      snapshots: [...current.metadata.snapshots, append],
      refs: { main: { "snapshot-id": append["snapshot-id"], type: "branch" } },
      properties: { ...current.metadata.properties, "sluice.commit-id": "someone-else" },
    };
    expect(await catalog.commit(config.schema, config.table, current, foreign, "someone-else")).toBe("committed");
    await expect(
      merge(store, catalog, config, [
        { relPath: "20261101-1200000000.csv", text: csv(config, [{ op: "U", values: row(1, "b", 2) }]) },
      ]),
    ).rejects.toThrow(/operation 'append'/);
    await expect(
      merge(store, catalog, config, [
        { relPath: "20261101-1200000000.csv", text: csv(config, [{ op: "U", values: row(1, "b", 2) }]) },
      ]),
    ).rejects.toThrow(ForeignSnapshot);
    expect(await icebirdRows(root, config)).toEqual(asText(config, [row(1, "a", 1)]));
  });
});
