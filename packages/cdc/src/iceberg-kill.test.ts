/**
 * `kill -9` at any point of an Iceberg merge or compaction (`fixtures/kill.ts`: at the chosen write or delete the
 * process is gone, no cleanup runs): icebird then reads the previous snapshot (or the new one once the commit landed),
 * the next merge applies every change exactly once in DMS order, and its orphan sweep leaves no file that nothing
 * references, every kept snapshot still readable.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { chunksOf, dmsCsv, type TestChange, testTable } from "./fixtures/dms.ts";
import { icebirdRows, setRetention, unreferencedFiles } from "./fixtures/iceberg.ts";
import { Killed, killSwitch, mortalStore } from "./fixtures/kill.ts";
import { type ReplayFile, replayText } from "./fixtures/replay.ts";
import { createFileCatalog, type IcebergCatalog } from "./iceberg-catalog.ts";
import { compactIceberg, mergeFilesIceberg } from "./iceberg-pass.ts";
import type { MergeOptions } from "./merge-pass.ts";
import { icebergEngine } from "./run.ts";
import { createDirectoryStore, type ObjectStore } from "./storage.ts";
import type { Value } from "./values.ts";

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "iceberg-kill-"));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

// Range buckets of 4 ids: bucket 0 = ids 0-3, 1 = 4-7, 2 = 8-11.
const config = testTable({ bucketBy: { column: "id", width: 4 } });
const row = (id: number, name: string | null): Value[] => [BigInt(id), name, BigInt(id * 100)];
const file = (relPath: string, changes: TestChange[], withOp = true) => ({
  relPath,
  changes,
  text: dmsCsv(config, changes, withOp),
});
const load = file(
  "LOAD00000001.csv",
  [0, 1, 2, 3, 4, 5, 6, 7].map((id) => ({ op: "I", values: row(id, `n${id}`) })),
  false,
);
const c1 = file("20261101-1000000000.csv", [{ op: "U", values: row(1, "one") }]);
// Bucket 1 rewritten whole (3 changes of 4 keys), bucket 0 a second delta, bucket 2 a new shard.
const c2 = file("20261101-1100000000.csv", [
  { op: "U", values: row(5, "five") },
  { op: "U", values: row(6, "six") },
  { op: "D", values: row(7, null) },
]);
const c3 = file("20261101-1200000000.csv", [
  { op: "U", values: row(2, "two") },
  { op: "I", values: row(9, "nine") },
]);
const c4 = file("20261101-1300000000.csv", [
  { op: "U", values: row(0, "zero") },
  { op: "D", values: row(9, null) },
]);

/** The table after the files' changes applied in DMS order (the oracle). */
const applied = (...files: ReplayFile[]) => replayText(config, files);

// Spills (flushKeys), index deltas (share 0.5), and a sweep after every commit with no grace: every kind of write
// and delete a pass makes.
const options: MergeOptions & { indexDeltaShare: number } = {
  flushKeys: 2,
  indexDeltaShare: 0.5,
  sweepEvery: 1,
  graceMs: 0,
};

function merge(store: ObjectStore, catalog: IcebergCatalog, files: { relPath: string; text: string }[]) {
  return mergeFilesIceberg(
    store,
    catalog,
    config,
    files.map((f) => ({ file: { relPath: f.relPath, displayName: f.relPath }, open: () => chunksOf(f.text, 64) })),
    options,
  );
}

interface Case {
  /** Done before the kill switch is armed, after the table holds load and c1 (a table property set, say). */
  setup?(store: ObjectStore, catalog: IcebergCatalog): Promise<unknown>;
  /** What the process killed was doing (on a table holding load and c1, and a killed attempt's files). */
  killed(store: ObjectStore, catalog: IcebergCatalog): Promise<unknown>;
  /** The table before it, and after it when its commit landed. */
  before: ReturnType<typeof applied>;
  after: ReturnType<typeof applied>;
  /** The next process's work, and the table after it. */
  next(store: ObjectStore, catalog: IcebergCatalog): Promise<unknown>;
  final: ReturnType<typeof applied>;
}

/** Kills `killed` at each of its crash points in turn, on a fresh table each time. */
async function killEverywhere(name: string, c: Case): Promise<readonly string[]> {
  for (let k = 0; ; k++) {
    const dir = join(root, `${name}-${k}`);
    const kill = killSwitch();
    const store = mortalStore(createDirectoryStore(dir), kill);
    const catalog = createFileCatalog(store);
    await merge(store, catalog, [load]);
    await merge(store, catalog, [c1]);
    // A merge killed just before its commit (version 3): its files are left behind.
    kill.arm((label) => label.endsWith("/metadata/v3.metadata.json"));
    await expect(merge(store, catalog, [c2])).rejects.toBeInstanceOf(Killed);
    kill.arm(Number.POSITIVE_INFINITY);
    await c.setup?.(store, catalog);
    // The version the killed process would commit.
    const next = ((await catalog.load("sales", "orders"))?.version ?? 0) + 1;
    kill.arm(k);
    const done = await c.killed(store, catalog).then(
      () => true,
      (error) => {
        if (!kill.dead) throw error;
        return false;
      },
    );
    const at = kill.points.at(-1);
    if (done && !kill.dead) return [...kill.points];
    kill.arm(Number.POSITIVE_INFINITY);
    // icebird follows the version hint: the previous snapshot, or the new one once the hint names it.
    const landed = (await store.get(`sales/orders/metadata/v${next}.metadata.json`)) !== undefined;
    const seen = await icebirdRows(dir, config);
    if (landed) {
      expect([c.before, c.after], `killed before ${at}`).toContainEqual(seen);
      expect(await icebirdRows(dir, config, `v${next}.metadata.json`), `killed before ${at}`).toEqual(c.after);
    } else expect(seen, `killed before ${at}`).toEqual(c.before);

    await c.next(store, catalog);
    expect(await icebirdRows(dir, config), `killed before ${at}`).toEqual(c.final);
    expect(await unreferencedFiles(store, catalog, config), `killed before ${at}`).toEqual([]);
    // Every metadata version kept whose snapshot is kept still reads (the sweep took nothing a reader of it needs).
    const current = await catalog.load("sales", "orders");
    const kept = new Set(current?.metadata.snapshots.map((s) => s["snapshot-id"]));
    for (const location of [
      ...(current?.metadata["metadata-log"] ?? []).map((m) => m["metadata-file"]),
      current?.metadataLocation ?? "",
    ]) {
      const name = location.slice(location.lastIndexOf("/") + 1);
      const body = await store.get(`sales/orders/metadata/${name}`);
      expect(body, `killed before ${at}: ${name}`).toBeDefined();
      const metadata = JSON.parse(new TextDecoder().decode(body)) as { "current-snapshot-id"?: number };
      if (metadata["current-snapshot-id"] !== undefined && kept.has(metadata["current-snapshot-id"]))
        await icebirdRows(dir, config, name);
    }
    await rm(dir, { recursive: true, force: true });
  }
}

/** A merge of c2 and c3 killed, then one of c2, c3 and c4 (replays and c4). */
const mergeC2C3: Case = {
  killed: (store, catalog) => merge(store, catalog, [c2, c3]),
  before: applied(load, c1),
  after: applied(load, c1, c2, c3),
  next: (store, catalog) => merge(store, catalog, [c2, c3, c4]),
  final: applied(load, c1, c2, c3, c4),
};

describe("an Iceberg merge killed at any point (kill -9)", () => {
  it("a merge pass killed at any write or delete: previous snapshot or new, the next merge exact, orphans swept", async () => {
    const points = await killEverywhere("merge", mergeC2C3);
    // Every kind of write and delete was a kill point: spilled runs, data files, the delete file, a whole shard and a
    // delta, manifests, the manifest list, the state, the metadata (the commit), the hint; the superseded shard and
    // state, the spilled runs, and the killed attempt's files (the orphan sweep).
    const kinds = [
      /^put .*\/_cdc\/tmp\/.*\.state$/,
      /^put .*\/data\/[^/]*-0\.parquet$/,
      /^put .*\/data\/[^/]*-deletes\.parquet$/,
      /^put .*\/_cdc\/index\/b0001-[^/]*\.idx$/,
      /^put .*\/_cdc\/index\/b0000-[^/]*\.delta$/,
      /^put .*\/metadata\/[^/]*-m0\.avro$/,
      /^put .*\/metadata\/[^/]*-m1\.avro$/,
      /^put .*\/metadata\/snap-[^/]*\.avro$/,
      /^put .*\/_cdc\/iceberg\/s[^/]*\.json$/,
      /^put .*\/metadata\/v3\.metadata\.json$/,
      /^put .*\/metadata\/version-hint\.text$/,
      /^delete .*\/_cdc\/tmp\/.*\.state$/,
      /^delete .*\/_cdc\/index\/b0001-00000001-[^/]*\.idx$/,
      /^delete .*\/_cdc\/iceberg\/s00000002-[^/]*\.json$/,
      /^delete .*\/data\/00000003-[^/]*\.parquet$/,
    ];
    expect(kinds.filter((kind) => !points.some((p) => kind.test(p)))).toEqual([]);
  });

  it("a merge that archives applied files, killed at any write or delete: the archive is the commit's", async () => {
    // Nine days on, the entries of load and c1 are past the retention and a day more: the commit archives them.
    const later = { ...options, now: () => new Date(Date.now() + 9 * 24 * 3600_000) };
    const points = await killEverywhere("archive", {
      killed: (store, catalog) => mergeFilesIceberg(store, catalog, config, [input(c2), input(c3)], later),
      before: applied(load, c1),
      after: applied(load, c1, c2, c3),
      next: async (store, catalog) => {
        await mergeFilesIceberg(store, catalog, config, [input(c2), input(c3), input(c4)], later);
        const applied = Object.keys(await icebergEngine(() => catalog).applied(store, config)).sort();
        expect(applied).toEqual([load, c1, c2, c3, c4].map((f) => f.relPath).sort());
      },
      final: applied(load, c1, c2, c3, c4),
    });
    expect(points.some((p) => /^put .*\/_cdc\/iceberg\/applied-[^/]*\.json$/.test(p))).toBe(true);
  });

  it("a merge that expires snapshots and retires metadata versions, killed at any write or delete", async () => {
    // The table keeps 1 snapshot and 1 metadata version in its log: the killed merge's commit expires every older
    // snapshot, and its sweep deletes what only they read (their manifest lists: their files are still live) and
    // retires the older versions.
    const points = await killEverywhere("expiry", {
      setup: (_store, catalog) =>
        setRetention(catalog, config, { maxAgeSeconds: 0, minSnapshots: 1, previousVersions: 1 }),
      ...mergeC2C3,
    });
    const kinds = [
      /^put .*\/_cdc\/retired\/\d+$/,
      /^delete .*\/metadata\/v1\.metadata\.json$/,
      /^delete .*\/metadata\/snap-[^/]*-00000001-[^/]*\.avro$/,
    ];
    expect(kinds.filter((kind) => !points.some((p) => kind.test(p)))).toEqual([]);
  });

  it("a merge that merges the previous manifests into one, killed at any write or delete", async () => {
    // manifestMergeMin 1: the killed merge finds two data manifests (load's and c1's), merged into one, and one of
    // deletes (c1's), left as it is.
    const merging = { ...options, manifestMergeMin: 1 };
    const points = await killEverywhere("manifests", {
      killed: (store, catalog) => mergeFilesIceberg(store, catalog, config, [input(c2), input(c3)], merging),
      before: applied(load, c1),
      after: applied(load, c1, c2, c3),
      next: (store, catalog) => mergeFilesIceberg(store, catalog, config, [input(c2), input(c3), input(c4)], merging),
      final: applied(load, c1, c2, c3, c4),
    });
    expect(points.filter((p) => /^put .*\/metadata\/[^/]*-m[23]\.avro$/.test(p))).toEqual([
      expect.stringMatching(/-m2\.avro$/),
    ]);
  });

  it("a compaction killed at any write or delete: the same rows, the next merge exact, orphans swept", async () => {
    await killEverywhere("compaction", {
      killed: (store, catalog) => compactIceberg(store, catalog, config, options),
      before: applied(load, c1),
      after: applied(load, c1),
      next: (store, catalog) => merge(store, catalog, [c2, c3, c4]),
      final: applied(load, c1, c2, c3, c4),
    });
  });
});

describe("the orphan sweep", () => {
  /** A table holding load and c1, and the files of a merge of c2 killed just before its commit. */
  async function withOrphans(dir: string) {
    const kill = killSwitch();
    const store = mortalStore(createDirectoryStore(dir), kill);
    const catalog = createFileCatalog(store);
    await merge(store, catalog, [load]);
    await merge(store, catalog, [c1]);
    kill.arm((label) => label.endsWith("/metadata/v3.metadata.json"));
    await expect(merge(store, catalog, [c2])).rejects.toBeInstanceOf(Killed);
    kill.arm(Number.POSITIVE_INFINITY);
    const orphans = await unreferencedFiles(store, catalog, config);
    expect(orphans.length).toBeGreaterThan(5);
    return { store, catalog, orphans };
  }

  it("keeps orphans younger than the grace period, and sweeps them once older", async () => {
    const { store, catalog, orphans } = await withOrphans(root);
    const later = (ms: number) => () => new Date(Date.now() + ms);
    const grace = { sweepEvery: 1, graceMs: 60_000 };
    await mergeFilesIceberg(store, catalog, config, [input(c2)], { ...grace, now: later(0) });
    expect(await unreferencedFiles(store, catalog, config)).toEqual(orphans);
    await mergeFilesIceberg(store, catalog, config, [input(c3)], { ...grace, now: later(61_000) });
    expect(await unreferencedFiles(store, catalog, config)).toEqual([]);
    expect(await icebirdRows(root, config)).toEqual(applied(load, c1, c2, c3));
  });

  it("sweeps only every sweepEvery sequence numbers", async () => {
    const { store, catalog, orphans } = await withOrphans(root);
    // Sequence 3 and 4: no sweep with sweepEvery 5; sequence 5: swept.
    const every = { sweepEvery: 5, graceMs: 0 };
    await mergeFilesIceberg(store, catalog, config, [input(c2)], every);
    await mergeFilesIceberg(store, catalog, config, [input(c3)], every);
    expect(await unreferencedFiles(store, catalog, config)).toEqual(orphans);
    await mergeFilesIceberg(store, catalog, config, [input(c4)], every);
    expect(await unreferencedFiles(store, catalog, config)).toEqual([]);
  });

  it("never takes a file of a merge building on the snapshot it sweeps after", async () => {
    const { store } = await withOrphans(root);
    // B commits sequence 3 and sweeps. Between its commit and its sweep, C starts on B's snapshot, writes its files
    // (spilled runs, data, index, state) and waits at its commit while B sweeps; then C commits.
    let reached: () => void = () => undefined;
    const atCommit = new Promise<void>((resolve) => {
      reached = resolve;
    });
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const slow: ObjectStore = {
      ...store,
      async put(key, body, putOptions) {
        if (key.endsWith("/metadata/v4.metadata.json")) {
          reached();
          await gate;
        }
        return store.put(key, body, putOptions);
      },
    };
    let c: Promise<unknown> | undefined;
    const sweeping: ObjectStore = {
      ...store,
      async list(prefix) {
        if (prefix.endsWith("/data/") && !c) {
          c = merge(slow, createFileCatalog(slow), [c4]);
          await atCommit;
        }
        return store.list(prefix);
      },
    };
    // B's clock an hour ahead: C's files are past the grace period, only their sequence number keeps them.
    await mergeFilesIceberg(sweeping, createFileCatalog(sweeping), config, [input(c2), input(c3)], {
      ...options,
      now: () => new Date(Date.now() + 3_600_000),
    });
    expect(c).toBeDefined();
    release();
    const result = (await c) as Awaited<ReturnType<typeof merge>>;
    expect(result.files.map((f) => [f.outcome, "attempts" in f ? f.attempts : 0])).toEqual([["merged", 1]]);
    expect(await icebirdRows(root, config)).toEqual(applied(load, c1, c2, c3, c4));
    expect(await unreferencedFiles(store, createFileCatalog(store), config)).toEqual([]);
  });
});

const input = (f: { relPath: string; text: string }) => ({
  file: { relPath: f.relPath, displayName: f.relPath },
  open: () => chunksOf(f.text, 64),
});

describe("kills at random points of random merges (property)", () => {
  const change = fc.record({
    op: fc.constantFrom<"I" | "U" | "D">("I", "U", "D"),
    id: fc.integer({ min: 0, max: 11 }),
    name: fc.option(fc.string({ maxLength: 4 }), { nil: null }),
  });
  const scenario = fc.record({
    files: fc.array(fc.array(change, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 6 }),
    // after which file a pass ends, whether a compaction follows it, and where each pass (or compaction) is killed
    passEnds: fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
    compactions: fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
    kills: fc.array(fc.option(fc.nat(40), { nil: undefined }), { minLength: 12, maxLength: 12 }),
    flushKeys: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
    indexDeltaShare: fc.constantFrom(0, 0.5, 100),
  });

  it("each pass killed anywhere and run again: the table of the changes in order, and no orphan after a sweep", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(scenario, async ({ files, passEnds, compactions, kills, flushKeys, indexDeltaShare }) => {
        const dir = join(root, `p${run++}`);
        const kill = killSwitch();
        const store = mortalStore(createDirectoryStore(dir), kill);
        const catalog = createFileCatalog(store);
        const all = [
          load,
          ...files.map((cs, i) =>
            file(
              `20261102-1${i}00000000.csv`,
              cs.map((c) => ({ op: c.op, values: row(c.id, c.name) })),
            ),
          ),
        ];
        const settings = { ...(flushKeys ? { flushKeys } : {}), indexDeltaShare, sweepEvery: 1, graceMs: 0 };
        let killAt = 0;
        /** Runs `work` killed at the next drawn point (if any), then again in a new process until it completes. */
        const survive = async (work: () => Promise<unknown>) => {
          kill.arm(kills[killAt++ % kills.length] ?? Number.POSITIVE_INFINITY);
          await work().catch((error) => {
            if (!kill.dead) throw error;
          });
          kill.arm(Number.POSITIVE_INFINITY);
          await work();
        };
        let pass: typeof all = [];
        for (const [i, f] of all.entries()) {
          pass.push(f);
          if (i === all.length - 1 || passEnds[i % passEnds.length]) {
            const files = pass;
            await survive(() =>
              mergeFilesIceberg(store, catalog, config, files.map(input), settings).then((result) => {
                expect(result.files.map((r) => r.outcome).filter((o) => o === "rejected")).toEqual([]);
              }),
            );
            pass = [];
            if (compactions[i % compactions.length])
              await survive(() => compactIceberg(store, catalog, config, settings));
          }
        }
        expect(await icebirdRows(dir, config)).toEqual(applied(...all));
        // One more commit, not killed: its sweep leaves nothing unreferenced.
        const last = file("20261103-1000000000.csv", [{ op: "I", values: row(100, "last") }]);
        await mergeFilesIceberg(store, catalog, config, [input(last)], settings);
        expect(await icebirdRows(dir, config)).toEqual(applied(...all, last));
        expect(await unreferencedFiles(store, catalog, config)).toEqual([]);
        await rm(dir, { recursive: true, force: true });
      }),
      { numRuns: 25 },
    );
  });
});
