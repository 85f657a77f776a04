/**
 * The engine against a simple in-memory model: for random change streams split into DMS files, merging the files
 * in any arrival order, one by one or several in one pass, with any flush batching and with replays, gives exactly
 * the table obtained by applying every change one by one in change order.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { TableConfig } from "./config.ts";
import type { Op } from "./dms-file.ts";
import { chunksOf, dmsCsv, testTable } from "./fixtures/dms.ts";
import { asText, manifestRows, memoryStore, memUri, mergeText, stateRows } from "./fixtures/table.ts";
import { mergeFiles } from "./merge-pass.ts";
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
  // timestamps collide often (ties); sequences are made unique below
  order: fc.integer({ min: 0, max: 5 }),
});

const scenario = fc.record({
  mode: fc.constantFrom<Mode>("file", "timestamp", "changeSeq"),
  layout: fc.constantFrom<"hash" | "range">("hash", "range"),
  load: fc.array(change, { maxLength: 6 }),
  files: fc.array(fc.array(change, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 4 }),
  arrival: fc.array(fc.nat(), { minLength: 10, maxLength: 10 }),
  replays: fc.array(fc.nat(), { maxLength: 3 }),
  // after which arriving file a pass (one commit of several files) ends
  passEnds: fc.array(fc.boolean(), { minLength: 10, maxLength: 10 }),
  flushKeys: fc.integer({ min: 1, max: 10 }),
});

function valuesOf(mode: Mode, c: GenChange, seq: number): Value[] {
  const base: Value[] = [BigInt(c.id), c.name, BigInt(c.id * 100)];
  if (mode === "timestamp") return [...base, BigInt(c.order) * 1_000_000n];
  if (mode === "changeSeq") return [...base, String(seq)];
  return base;
}

describe("merge engine vs the in-memory model", () => {
  it("any arrival order, passes, batching and replays give the table of all changes applied in change order", async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ mode, layout, load, files, arrival, replays, passEnds, flushKeys }) => {
        const config = configs[layout][mode];
        // Files in DMS order; each change gets the position the definition of the order gives it.
        const all: { relPath: string; fileIndex: number; changes: (GenChange & { row: number; seq: number })[] }[] = [];
        let seq = 0;
        const withSeq = (cs: GenChange[]) => cs.map((c, i) => ({ ...c, row: i + 1, seq: 1000 + seq++ }));
        if (load.length > 0)
          all.push({
            relPath: "LOAD00000001.csv",
            fileIndex: 0,
            changes: withSeq(load.map((c) => ({ ...c, op: "I" as const }))),
          });
        files.forEach((cs, i) => {
          all.push({ relPath: `20261101-1${i}00000000.csv`, fileIndex: all.length, changes: withSeq(cs) });
        });
        // changeSeq: shuffle sequence numbers across files so sequence order differs from file order
        if (mode === "changeSeq") {
          const seqs = all.flatMap((f) => f.changes.map((c) => c.seq));
          const shuffled = seqs.map((s, i) => ({ s, k: arrival[i % arrival.length] ?? 0 })).sort((a, b) => a.k - b.k);
          let i = 0;
          for (const f of all) for (const c of f.changes) c.seq = (shuffled[i++] as { s: number }).s;
        }

        // The model: sort every change by the order's definition, apply one by one.
        const flat = all.flatMap((f) => f.changes.map((c) => ({ ...c, fileIndex: f.fileIndex })));
        flat.sort((a, b) => {
          if (mode === "changeSeq") return a.seq - b.seq;
          if (mode === "timestamp" && a.order !== b.order) return a.order - b.order;
          return a.fileIndex - b.fileIndex || a.row - b.row;
        });
        const model = new Map<number, Value[]>();
        for (const c of flat) {
          if (c.op === "D") model.delete(c.id);
          else model.set(c.id, valuesOf(mode, c, c.seq));
        }

        // The engine: files arrive in a random order, some are replayed.
        const order = all.map((f, i) => ({ f, k: arrival[i] ?? 0 })).sort((a, b) => a.k - b.k);
        const store = memoryStore();
        const texts = new Map(
          all.map((f) => [
            f.relPath,
            dmsCsv(
              config,
              f.changes.map((c) => ({ op: c.op, values: valuesOf(mode, c, c.seq) })),
              !f.relPath.startsWith("LOAD"),
            ),
          ]),
        );
        // Arriving files are merged in passes: several files at once (one commit), or one by one.
        let pass: typeof all = [];
        const mergePass = async () => {
          if (pass.length === 1) {
            const f = pass[0] as (typeof all)[number];
            await mergeText(store, config, f.relPath, texts.get(f.relPath) as string, { flushKeys });
          } else if (pass.length > 1) {
            const result = await mergeFiles(
              store,
              config,
              pass.map((f) => ({
                file: { relPath: f.relPath, displayName: f.relPath },
                open: () => chunksOf(texts.get(f.relPath) as string, 64),
              })),
              { flushKeys },
            );
            expect(result.files.map((r) => r.outcome)).toEqual(pass.map(() => "merged"));
          }
          pass = [];
        };
        for (const [i, { f }] of order.entries()) {
          pass.push(f);
          if (passEnds[i]) await mergePass();
        }
        await mergePass();
        for (const r of replays) {
          const f = all[r % all.length] as (typeof all)[number];
          const result = await mergeText(store, config, f.relPath, texts.get(f.relPath) as string, { flushKeys });
          expect(result.outcome).toBe("replay");
        }

        const expected = asText(config, model.values());
        expect(await stateRows(store, config)).toEqual(expected);
        expect(await manifestRows(store, config, memUri)).toEqual(expected);
      }),
      { numRuns: 150 },
    );
  });
});
