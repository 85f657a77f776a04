/**
 * `kill -9` at any point of an Iceberg merge committed through the Glue catalog (this adapter, against the local Glue
 * emulator through the real SDK): every write and deleted key of the bucket, and the CreateTable/UpdateTable call —
 * before it is sent, and after Glue applied it but before the answer is used. Then the table Glue names reads as the
 * previous snapshot or the new one, the next merge applies every change exactly once, and its orphan sweep leaves no
 * unreferenced file, metadata files Glue never took included.
 */
import { GlueClient } from "@aws-sdk/client-glue";
import { chunksOf, dmsCsv, type TestChange, testTable } from "@sluice/cdc/fixtures/dms";
import { icebirdRowsAt, unreferencedFiles } from "@sluice/cdc/fixtures/iceberg";
import { Killed, type KillSwitch, killSwitch, mortalStore } from "@sluice/cdc/fixtures/kill";
import { type ReplayFile, replayText } from "@sluice/cdc/fixtures/replay";
import type { IcebergCatalog } from "@sluice/cdc/iceberg-catalog";
import { mergeFilesIceberg } from "@sluice/cdc/iceberg-pass";
import { createMemoryStore, type ObjectStore } from "@sluice/cdc/storage";
import type { Value } from "@sluice/cdc/values";
import { type GlueCatalogEmulator, startGlueCatalog } from "@sluice/local/emulators/glue";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGlueCatalog } from "./iceberg-catalog.ts";

let emulator: GlueCatalogEmulator;
beforeAll(async () => {
  emulator = await startGlueCatalog({ accountId: "000000000000" });
});
afterAll(() => emulator.stop());

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
const c2 = file("20261101-1100000000.csv", [
  { op: "U", values: row(5, "five") },
  { op: "D", values: row(7, null) },
]);
const c3 = file("20261101-1200000000.csv", [
  { op: "U", values: row(2, "two") },
  { op: "I", values: row(9, "nine") },
]);
const c4 = file("20261101-1300000000.csv", [{ op: "D", values: row(9, null) }]);

/** The table after the files' changes applied in DMS order (the oracle). */
const applied = (...files: ReplayFile[]) => replayText(config, files);

function merge(store: ObjectStore, catalog: IcebergCatalog, files: { relPath: string; text: string }[]) {
  return mergeFilesIceberg(
    store,
    catalog,
    config,
    files.map((f) => ({ file: { relPath: f.relPath, displayName: f.relPath }, open: () => chunksOf(f.text, 64) })),
    { flushKeys: 2, indexDeltaShare: 0.5, sweepEvery: 1, graceMs: 0 },
  );
}

/** A Glue client of a process `kill` can end: CreateTable and UpdateTable are crash points before and after Glue. */
function mortalGlue(kill: KillSwitch): GlueClient {
  const glue = new GlueClient({
    region: "us-east-1",
    endpoint: emulator.endpoint,
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
    maxAttempts: 1,
  });
  glue.middlewareStack.add(
    (next, context) => async (args) => {
      const writes = context.commandName === "CreateTableCommand" || context.commandName === "UpdateTableCommand";
      if (writes) kill.point(`glue ${context.commandName}`);
      else kill.alive();
      const answer = await next(args);
      if (writes) kill.point(`glue ${context.commandName} answered`);
      return answer;
    },
    { step: "initialize", name: "kill" },
  );
  return glue;
}

describe("an Iceberg merge committed through Glue, killed at any point (kill -9)", () => {
  it("leaves the snapshot Glue names readable, the next merge exact, and no orphan after its sweep", async () => {
    const points: string[][] = [];
    for (let k = 0; ; k++) {
      const database = `sluice_kill_${k}_sales`;
      emulator.createDatabase(database);
      const kill = killSwitch();
      const memory = createMemoryStore();
      const store = mortalStore({ ...memory, uri: (key) => `s3://curated/${key}` }, kill);
      const catalog = createGlueCatalog(mortalGlue(kill), store, { databaseOf: () => database });
      await merge(store, catalog, [load]);
      await merge(store, catalog, [c1]);
      // A merge killed after writing its metadata file, before UpdateTable: a metadata file Glue never took.
      kill.arm((label) => label === "glue UpdateTableCommand");
      await expect(merge(store, catalog, [c2])).rejects.toBeInstanceOf(Killed);
      kill.arm(k);
      const done = await merge(store, catalog, [c2, c3]).then(
        () => true,
        (error) => {
          if (!kill.dead) throw error;
          return false;
        },
      );
      points.push([...kill.points]);
      if (done && !kill.dead) break;
      const at = `killed before ${kill.points.at(-1)}`;
      kill.arm(Number.POSITIVE_INFINITY);
      const current = await catalog.load(config.schema, config.table);
      const seen = await icebirdRowsAt(store, config, current?.metadataLocation as string);
      expect(seen, at).toEqual(current?.version === 3 ? applied(load, c1, c2, c3) : applied(load, c1));
      await merge(store, catalog, [c2, c3, c4]);
      const after = await catalog.load(config.schema, config.table);
      expect(await icebirdRowsAt(store, config, after?.metadataLocation as string), at).toEqual(
        applied(load, c1, c2, c3, c4),
      );
      expect(await unreferencedFiles(store, catalog, config), at).toEqual([]);
      for (const { "metadata-file": older } of after?.metadata["metadata-log"] ?? [])
        await icebirdRowsAt(store, config, older);
    }
    const last = points.at(-1) ?? [];
    // Glue's calls were kill points, before and after Glue applied them; and the killed attempt's metadata file swept.
    expect(last).toContain("glue UpdateTableCommand");
    expect(last).toContain("glue UpdateTableCommand answered");
    expect(last.some((p) => /^delete .*\/metadata\/00003-[0-9a-f-]+\.metadata\.json$/.test(p))).toBe(true);
  });
});
