/**
 * The Iceberg engine against the oracle (`fixtures/replay.ts`: every change applied one at a time in DMS order): random
 * change streams split into DMS files, merged in any arrival order, one by one or several in a pass, with replays,
 * spills, compactions and foreign rewrites, read back by icebird, equal the oracle's table.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TableConfig } from "./config.ts";
import type { Op } from "./dms-file.ts";
import { allTypesTable, chunksOf, dmsCsv, testTable } from "./fixtures/dms.ts";
import { athenaRewrite, icebirdRows, setRetention } from "./fixtures/iceberg.ts";
import { asText, replayText } from "./fixtures/replay.ts";
import { createFileCatalog } from "./iceberg-catalog.ts";
import { compactIceberg, mergeFilesIceberg } from "./iceberg-pass.ts";
import { createDirectoryStore } from "./storage.ts";
import type { Value } from "./values.ts";

type Mode = "file" | "timestamp" | "changeSeq";

interface GenChange {
  op: Op;
  id: number;
  name: string | null;
  order: number;
}

const layouts = { hash: { buckets: 3 }, range: { bucketBy: { column: "id", width: 2 } } };
const configsOf = (layout: Record<string, unknown>): Record<Mode, TableConfig> => ({
  file: testTable(layout),
  timestamp: testTable({ ...layout, columns: [{ name: "ts", type: "timestamp" }], timestampColumn: "ts" }),
  changeSeq: testTable({ ...layout, columns: [{ name: "seq", type: "string" }], changeSeqColumn: "seq" }),
});
const configs = { hash: configsOf(layouts.hash), range: configsOf(layouts.range) };

const change = fc.record({
  op: fc.constantFrom<Op>("I", "U", "D"),
  id: fc.integer({ min: 0, max: 6 }),
  name: fc.option(fc.string({ unit: "grapheme", maxLength: 6 }), { nil: null }),
  order: fc.integer({ min: 0, max: 5 }),
});

const scenario = fc.record({
  mode: fc.constantFrom<Mode>("file", "timestamp", "changeSeq"),
  layout: fc.constantFrom<"hash" | "range">("hash", "range"),
  load: fc.array(change, { maxLength: 6 }),
  files: fc.array(fc.array(change, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 4 }),
  arrival: fc.array(fc.nat(), { minLength: 10, maxLength: 10 }),
  replays: fc.array(fc.nat(), { maxLength: 2 }),
  // Change files drawn 0 end in a corrupt row: rejected whole, none of their changes applies (one in four).
  corrupt: fc.array(fc.nat(3), { minLength: 4, maxLength: 4 }),
  passEnds: fc.array(fc.boolean(), { minLength: 10, maxLength: 10 }),
  // Rows of a data file: small values split a commit's rows over several files, and give buckets files of their own.
  fileRows: fc.constantFrom(1, 2, 3, 8, 1000),
  // After which arriving file the table is compacted (rewritten without deletes), if any.
  compactAfter: fc.option(fc.nat(9), { nil: undefined }),
  // Share of a shard's keys its deltas may hold: 0 writes every touched shard whole, 100 always a delta.
  indexDeltaShare: fc.constantFrom(0, 0.5, 100),
  // Spill the held changes once this many keys are held (large files, bounded memory).
  flushKeys: fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined }),
  // Merge the manifests of a kind into one once there are more than this many (Iceberg's default is 100).
  manifestMergeMin: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
  // Snapshot retention set on the table after its first commit: keep this many snapshots, none for their age, and as
  // many metadata files in the log (every commit expires the older ones, and a sweep after each deletes what only they
  // read and retires the older metadata versions).
  keepSnapshots: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
  // After which arriving file another writer (Athena's OPTIMIZE, simulated) rewrites the data files of the data
  // manifests it picks into files of `rows` rows, in a `replace` snapshot the next merge must follow.
  foreign: fc.option(
    fc.record({
      after: fc.nat(9),
      pick: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
      rows: fc.constantFrom(1, 3, 1000),
    }),
    { nil: undefined },
  ),
});

function valuesOf(mode: Mode, c: GenChange, seq: number): Value[] {
  const base: Value[] = [BigInt(c.id), c.name, BigInt(c.id * 100)];
  if (mode === "timestamp") return [...base, BigInt(c.order) * 1_000_000n];
  if (mode === "changeSeq") return [...base, String(seq)];
  return base;
}

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "iceberg-property-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("Iceberg engine vs the oracle", () => {
  it("any arrival order, passes and replays give the table of all changes applied in change order", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        scenario,
        async ({
          mode,
          layout,
          load,
          files,
          arrival,
          replays,
          corrupt,
          passEnds,
          fileRows,
          compactAfter,
          indexDeltaShare,
          flushKeys,
          manifestMergeMin,
          keepSnapshots,
          foreign,
        }) => {
          const config = configs[layout][mode];
          const all: {
            relPath: string;
            fileIndex: number;
            changes: (GenChange & { row: number; seq: number })[];
            corrupt?: boolean;
          }[] = [];
          // Sequences of 1 and 2 digits: compared as text, "9" would come after "10".
          let seq = 1;
          const withSeq = (cs: GenChange[]) => cs.map((c, i) => ({ ...c, row: i + 1, seq: seq++ }));
          if (load.length > 0)
            all.push({
              relPath: "LOAD00000001.csv",
              fileIndex: 0,
              changes: withSeq(load.map((c) => ({ ...c, op: "I" as const }))),
            });
          files.forEach((cs, i) => {
            all.push({
              relPath: `20261101-1${i}00000000.csv`,
              fileIndex: all.length,
              changes: withSeq(cs),
              corrupt: corrupt[i] === 0,
            });
          });
          if (mode === "changeSeq") {
            const seqs = all.flatMap((f) => f.changes.map((c) => c.seq));
            const shuffled = seqs.map((s, i) => ({ s, k: arrival[i % arrival.length] ?? 0 })).sort((a, b) => a.k - b.k);
            let i = 0;
            for (const f of all) for (const c of f.changes) c.seq = (shuffled[i++] as { s: number }).s;
          }
          // The oracle replays every change of the valid files in DMS order (the order column's value is in the rows).
          const expected = replayText(
            config,
            all
              .filter((f) => !f.corrupt)
              .map((f) => ({
                relPath: f.relPath,
                changes: f.changes.map((c) => ({ op: c.op, values: valuesOf(mode, c, c.seq) })),
              })),
          );

          const dir = join(root, `r${run++}`);
          const store = createDirectoryStore(dir);
          const catalog = createFileCatalog(store);
          const texts = new Map(
            all.map((f) => [
              f.relPath,
              dmsCsv(
                config,
                f.changes.map((c) => ({ op: c.op, values: valuesOf(mode, c, c.seq) })),
                !f.relPath.startsWith("LOAD"),
              ) + (f.corrupt ? "U,notanumber\n" : ""),
            ]),
          );
          const outcome = (f: (typeof all)[number], applied = "merged") => (f.corrupt ? "rejected" : applied);
          const expiry = keepSnapshots ? { sweepEvery: 1, graceMs: 0 } : {};
          let retentionSet = false;
          const mergePass = async (pass: typeof all) => {
            const result = await mergeFilesIceberg(
              store,
              catalog,
              config,
              pass.map((f) => ({
                file: { relPath: f.relPath, displayName: f.relPath },
                open: () => chunksOf(texts.get(f.relPath) as string, 64),
              })),
              {
                fileRows,
                indexDeltaShare,
                ...(flushKeys ? { flushKeys } : {}),
                ...(manifestMergeMin ? { manifestMergeMin } : {}),
                ...expiry,
              },
            );
            if (keepSnapshots && !retentionSet && (await catalog.load(config.schema, config.table))) {
              const keep = keepSnapshots;
              await setRetention(catalog, config, { maxAgeSeconds: 0, minSnapshots: keep, previousVersions: keep });
              retentionSet = true;
            }
            return result;
          };
          const order = all.map((f, i) => ({ f, k: arrival[i] ?? 0 })).sort((a, b) => a.k - b.k);
          let pass: typeof all = [];
          for (const [i, { f }] of order.entries()) {
            pass.push(f);
            if (passEnds[i] || compactAfter === i || foreign?.after === i) {
              const result = await mergePass(pass);
              expect(result.files.map((r) => r.outcome)).toEqual(pass.map((f) => outcome(f)));
              pass = [];
            }
            if (compactAfter === i)
              await compactIceberg(store, catalog, config, { fileRows, indexDeltaShare, ...expiry });
            const table = foreign?.after === i ? await catalog.load(config.schema, config.table) : undefined;
            if (foreign && table?.metadata["current-snapshot-id"] !== undefined)
              await athenaRewrite(store, catalog, config, {
                pick: (m) => foreign.pick[m % foreign.pick.length] as boolean,
                fileRows: foreign.rows,
              });
          }
          if (pass.length > 0) {
            const result = await mergePass(pass);
            expect(result.files.map((r) => r.outcome)).toEqual(pass.map((f) => outcome(f)));
          }
          for (const r of replays) {
            const f = all[r % all.length] as (typeof all)[number];
            const result = await mergePass([f]);
            expect(result.files.map((x) => x.outcome)).toEqual([outcome(f, "replay")]);
          }
          // No table at all when every file was rejected.
          const read = async () =>
            (await catalog.load(config.schema, config.table)) ? await icebirdRows(dir, config) : [];
          expect(await read()).toEqual(expected);
          // Compacted, the table reads the same without a delete file. (A second later: every earlier snapshot is past
          // the age limit of 0, even one committed in the same millisecond as the last.)
          const later = () => new Date(Date.now() + 1_000);
          await compactIceberg(store, catalog, config, { fileRows, indexDeltaShare, ...expiry, now: later });
          expect(await read()).toEqual(expected);
          const metadata = (await catalog.load(config.schema, config.table))?.metadata;
          if (keepSnapshots && metadata) expect(metadata.snapshots.length).toBeLessThanOrEqual(keepSnapshots);
          await rm(dir, { recursive: true, force: true });
        },
      ),
      { numRuns: 60 },
    );
  });

  it("reads back every column type", async () => {
    const config = allTypesTable();
    const dir = join(root, "types");
    const store = createDirectoryStore(dir);
    const rows: Value[][] = [
      [1n, "a", 123n, 7, 1.5, true, 20000, 1_700_000_000_123_000n, 12345n, 123456789012345678901234n],
      [2n, null, null, null, null, null, null, null, null, null],
      [3n, 'ü,"x"\n', -5n, -7, -0.25, false, -1, -86_400_000_000n, -1n, -1n],
    ];
    await mergeFilesIceberg(store, createFileCatalog(store), config, [
      {
        file: { relPath: "LOAD00000001.csv", displayName: "LOAD00000001.csv" },
        open: () =>
          chunksOf(
            dmsCsv(
              config,
              rows.map((values) => ({ op: "I", values })),
              false,
            ),
            64,
          ),
      },
    ]);
    const seen = await icebirdRows(dir, config);
    const expected = asText(config, rows);
    // icebird (hyparquet) decodes DECIMAL as a float: the 38-digit column is compared to a double's precision.
    const big = config.columns.findIndex((c) => c.name === "big");
    const approx = (table: (string | null)[][]) =>
      table.map((r) => r.map((v, i) => (i === big && v !== null ? Number(v).toPrecision(12) : v)));
    expect(approx(seen)).toEqual(approx(expected));
  });
});
