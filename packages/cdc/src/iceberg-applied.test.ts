/**
 * Applied-file entries of an Iceberg table past their retention move out of the merge state into archive objects
 * (the state is read and written by every merge); the CLI still recognizes their replays, and the orphan sweep keeps
 * the archives.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseTablesConfig } from "./config.ts";
import { chunksOf, dmsCsv, testTable } from "./fixtures/dms.ts";
import { icebirdRows, unreferencedFiles } from "./fixtures/iceberg.ts";
import { asText } from "./fixtures/replay.ts";
import { createFileCatalog } from "./iceberg-catalog.ts";
import { loadIcebergTable, mergeFilesIceberg } from "./iceberg-pass.ts";
import { icebergEngine, mergeAll } from "./run.ts";
import { createDirectoryStore, createMemoryStore } from "./storage.ts";
import type { Value } from "./values.ts";

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "iceberg-applied-"));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const config = testTable();
const row = (id: number, name: string): Value[] => [BigInt(id), name, BigInt(id)];

describe("applied files of an Iceberg table", () => {
  it("moves entries older than the retention into an archive; the CLI still recognizes their replays", async () => {
    const store = createDirectoryStore(root);
    const catalog = createFileCatalog(store);
    const day = 24 * 3600_000;
    // From now on: the sweeps (after every commit) see every file written, past its grace period.
    const start = Date.now();
    const files = [0, 1, 2, 9].map((d) => ({
      name: `2026110${d}-0000000000.csv`,
      text: dmsCsv(config, [{ op: "I", values: row(d, `day ${d}`) }]),
      at: new Date(start + d * day),
    }));
    for (const f of files)
      await mergeFilesIceberg(
        store,
        catalog,
        config,
        [{ file: { relPath: f.name, displayName: f.name }, open: () => chunksOf(f.text, 64) }],
        { now: () => f.at, sweepEvery: 1, graceMs: 0 },
      );
    const { state } = await loadIcebergTable(store, catalog, config);
    // On day 9, the files of days 0, 1 and 2 are past the 7-day retention (and day 0 a day past it): archived.
    expect(Object.keys(state.applied)).toEqual([files[3]?.name]);
    expect(state.archives).toHaveLength(1);
    const engine = icebergEngine();
    expect(Object.keys(await engine.applied(store, config)).sort()).toEqual(files.map((f) => f.name));
    // The archive survives the orphan sweep (it ran after every commit), and a re-run over the same source replays all.
    expect(await unreferencedFiles(store, catalog, config)).toEqual([]);
    const source = createMemoryStore();
    for (const f of files) await source.put(`dms/sales/orders/${f.name}`, f.text);
    const tables = parseTablesConfig({
      tables: {
        "sales.orders": {
          primaryKey: ["id"],
          buckets: 4,
          columns: config.columns.map((c) => ({
            name: c.name,
            type: c.type.kind === "decimal" ? `decimal(${c.type.precision},${c.type.scale})` : c.type.kind,
          })),
        },
      },
    });
    const report = await mergeAll(source, store, tables, { engine });
    expect([report.merged, report.replayed, report.rejected]).toEqual([0, 4, 0]);
    expect(await icebirdRows(root, config)).toEqual(
      asText(
        config,
        files.map((_f, i) => row([0, 1, 2, 9][i] as number, `day ${[0, 1, 2, 9][i]}`)),
      ),
    );
  });
});
