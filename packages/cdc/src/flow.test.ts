import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AuditPort as CdcAudit } from "@sluice/messages";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseTablesConfig } from "./config.ts";
import { TableBusy } from "./errors.ts";
import { icebirdRows } from "./fixtures/iceberg.ts";
import { mergeObject, type ObjectOutcome } from "./flow.ts";
import { createFileCatalog } from "./iceberg-catalog.ts";
import { loadIcebergTable } from "./iceberg-pass.ts";
import { TableLease } from "./lease.ts";
import { icebergEngine } from "./run.ts";
import { createDirectoryStore, createMemoryStore, type ObjectStore } from "./storage.ts";

const config = parseTablesConfig({
  tables: {
    "sales.orders": {
      primaryKey: ["id"],
      columns: [
        { name: "id", type: "int64" },
        { name: "name", type: "string" },
      ],
    },
  },
});
const orders = config.tables.get("sales.orders");
const table = orders as NonNullable<typeof orders>;

// Each test's target: a directory, which icebird (a third-party Iceberg reader) reads back.
let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "flow-"));
});
afterEach(() => rm(root, { recursive: true, force: true }));

/** The table's rows as icebird reads them. */
const rows = () => icebirdRows(root, table);
/** The table's catalog version (one a commit), and the files its merge state lists. */
const version = async (target: ObjectStore) => (await createFileCatalog(target).load("sales", "orders"))?.version;
const files = (target: ObjectStore) => icebergEngine().files(target, table);

/** The outcome of the invocation's own file among those it reports (one per file, as to Audit). */
function mine(outcomes: Awaited<ReturnType<typeof mergeObject>>, key: string) {
  const own = outcomes.filter((o) => o.file === key);
  expect(own).toHaveLength(1);
  return own[0] as ObjectOutcome;
}

function setup() {
  const source = createMemoryStore();
  const target = createDirectoryStore(root);
  const messages: Parameters<CdcAudit["publish"]>[0][] = [];
  const audit: CdcAudit = { publish: async (m) => void messages.push(m) };
  const deps = { source, target, config, audit, correlationId: "req-1", pass: { pollMs: 10 } };
  return { source, target, messages, deps };
}

describe("mergeObject", () => {
  it("merges a file of a configured table and reports it", async () => {
    const { source, messages, deps } = setup();
    await source.put("dms/sales/orders/20261101-1200000000.csv", "I,1,a\nI,2,b\n");
    const outcomes = await mergeObject("dms/sales/orders/20261101-1200000000.csv", deps);
    expect(outcomes).toEqual([
      expect.objectContaining({
        outcome: "merged",
        file: "dms/sales/orders/20261101-1200000000.csv",
        table: "sales.orders",
        rows: 2,
      }),
    ]);
    expect(messages).toEqual([
      expect.objectContaining({
        pipeline: "cdc-merge",
        action: "merge",
        outcome: "succeeded",
        file: "dms/sales/orders/20261101-1200000000.csv",
        table: "sales.orders",
        version: 1,
        rows: 2,
        correlationId: "req-1",
      }),
    ]);
    expect(await rows()).toEqual([
      ["1", "a"],
      ["2", "b"],
    ]);
  });

  it("reports a corrupt file as refused with row and reason, and leaves the table unchanged", async () => {
    const { source, target, messages, deps } = setup();
    await source.put("dms/sales/orders/20261101-1200000000.csv", "I,1,a\nQ,2,b\n");
    const outcomes = await mergeObject("dms/sales/orders/20261101-1200000000.csv", deps);
    expect(outcomes).toEqual([
      expect.objectContaining({ outcome: "refused", table: "sales.orders", row: 2, reason: 'unknown Op "Q"' }),
    ]);
    expect(messages).toEqual([
      expect.objectContaining({ outcome: "refused", row: 2, reason: 'unknown Op "Q"', table: "sales.orders" }),
    ]);
    // Nothing but the table's released merge lease.
    expect((await target.list("")).map((o) => o.key)).toEqual([
      expect.stringMatching(/^sales\/orders\/_cdc\/lease\/e\d{20}\.json$/),
    ]);
  });

  it("reports replays and files of unconfigured tables as skipped", async () => {
    const { source, messages, deps } = setup();
    await source.put("dms/sales/orders/20261101-1200000000.csv", "I,1,a\n");
    await mergeObject("dms/sales/orders/20261101-1200000000.csv", deps);
    expect(await mergeObject("dms/sales/orders/20261101-1200000000.csv", deps)).toEqual([
      {
        outcome: "skipped",
        file: "dms/sales/orders/20261101-1200000000.csv",
        table: "sales.orders",
        reason: "already applied",
        version: 1,
      },
    ]);
    expect(await mergeObject("dms/crm/other/LOAD00000001.csv", deps)).toEqual([
      {
        outcome: "skipped",
        file: "dms/crm/other/LOAD00000001.csv",
        reason: "not a DMS data file of a configured table",
      },
    ]);
    expect(messages.slice(1).map((m) => [m.outcome, m.reason])).toEqual([
      ["skipped", "already applied"],
      ["skipped", "not a DMS data file of a configured table"],
    ]);
  });

  it("files of a table arriving together are merged in one pass (DMS order, one commit); the other invocations skip theirs", async () => {
    const { source, target, messages, deps } = setup();
    // A full load split into 10 files (ids 1..50), and a change file that updates id 1, all uploaded at once.
    const keys: string[] = [];
    for (let f = 1; f <= 10; f++) {
      const key = `dms/sales/orders/LOAD${f.toString(16).toUpperCase().padStart(8, "0")}.csv`;
      const rows = Array.from({ length: 5 }, (_, i) => `${(f - 1) * 5 + i + 1},load ${f}\n`).join("");
      await source.put(key, rows);
      keys.push(key);
    }
    await source.put("dms/sales/orders/20261101-1200000000.csv", "U,1,changed\n");
    keys.push("dms/sales/orders/20261101-1200000000.csv");
    const indexPuts: string[] = [];
    const put = target.put;
    target.put = async (key, body, options) => {
      if (key.includes("/_cdc/index/")) indexPuts.push(key);
      return put(key, body, options);
    };
    // Their events are handled at the same time, the change file's first.
    const reported = await Promise.all([...keys].reverse().map((key) => mergeObject(key, deps)));
    const outcomes = reported.map((r, i) => mine(r, [...keys].reverse()[i] as string));
    expect(await version(target)).toBe(1);
    const { applied } = await files(target);
    expect(Object.keys(applied).sort()).toEqual(keys.map((k) => k.slice("dms/sales/orders/".length)).sort());
    expect(Object.values(applied).map((a) => a.version)).toEqual(keys.map(() => 1));
    // Each bucket's index shard written once.
    const buckets = indexPuts.map((key) => /\/b(\d+)-/.exec(key)?.[1]);
    expect(indexPuts.length).toBeGreaterThan(0);
    expect(new Set(buckets).size).toBe(indexPuts.length);
    expect(outcomes.filter((o) => o.outcome === "merged")).toHaveLength(1);
    expect(outcomes.filter((o) => o.outcome === "skipped")).toHaveLength(10);
    // Every file reported merged exactly once, by the pass that merged it: to Audit, and in that invocation's outcomes.
    const succeeded = messages.filter((m) => m.outcome === "succeeded").map((m) => m.file);
    expect(succeeded.sort()).toEqual([...keys].sort());
    const merged = reported.filter((r) => r.some((o) => o.outcome === "merged"));
    expect(merged).toHaveLength(1);
    expect(merged[0]?.map((o) => [o.outcome, o.file])).toEqual(keys.map((k) => ["merged", k]));
    const read = await rows();
    expect(read).toHaveLength(50);
    expect(read[0]).toEqual(["1", "changed"]);
  });

  it.each([
    ["at once", false],
    ["the corrupt file's first", true],
  ])(
    "a corrupt file among files arriving together (handled %s): the others merge in one commit, it is refused once, by its own invocation",
    async (_, corruptFirst) => {
      const { source, target, messages, deps } = setup();
      const keys = ["1100", "1200", "1300"].map((t) => `dms/sales/orders/20261101-${t}000000.csv`);
      await source.put(keys[0] as string, "I,1,a\n");
      await source.put(keys[1] as string, "I,2,b\nQ,3,c\n");
      await source.put(keys[2] as string, "U,1,a2\n");
      const first = corruptFirst ? await mergeObject(keys[1] as string, deps) : undefined;
      const reported = await Promise.all(keys.map((key, i) => (first && i === 1 ? first : mergeObject(key, deps))));
      const outcomes = reported.map((r, i) => mine(r, keys[i] as string));
      // Whichever invocation took the lease merged both good files in its pass.
      expect(outcomes[1]?.outcome).toBe("refused");
      expect([outcomes[0]?.outcome, outcomes[2]?.outcome].filter((o) => o === "merged").length).toBeLessThanOrEqual(1);
      expect(await version(target)).toBe(1);
      expect(await rows()).toEqual([["1", "a2"]]);
      expect(messages.filter((m) => m.outcome === "refused")).toEqual([
        expect.objectContaining({ file: keys[1], row: 2, reason: 'unknown Op "Q"' }),
      ]);
      expect(messages.filter((m) => m.outcome === "succeeded").map((m) => m.file)).toEqual([keys[0], keys[2]]);
    },
  );

  it("the invocation of a corrupt file reports every file its pass merged, one outcome each, as it reports them to Audit", async () => {
    const { source, messages, deps } = setup();
    const corrupt = "dms/sales/orders/20261102-1000000000.csv";
    const good = "dms/sales/orders/20261102-1700000000.csv";
    await source.put(corrupt, "X,1,a\n");
    await source.put(good, "I,2,b\n");
    const outcomes = await mergeObject(corrupt, deps);
    expect(outcomes).toEqual([
      { outcome: "refused", file: corrupt, table: "sales.orders", row: 1, reason: 'unknown Op "X"' },
      expect.objectContaining({ outcome: "merged", file: good, table: "sales.orders", rows: 1, version: 1 }),
    ]);
    // The same files and words as Audit, whose enum says `succeeded` for `merged`.
    expect(messages.map((m) => [m.outcome, m.file])).toEqual(
      outcomes.map((o) => [o.outcome === "merged" ? "succeeded" : o.outcome, o.file]),
    );
    // The good file's own invocation finds it applied.
    expect(await mergeObject(good, deps)).toEqual([
      { outcome: "skipped", file: good, table: "sales.orders", reason: "already applied", version: 1 },
    ]);
    expect(await rows()).toEqual([["2", "b"]]);
  });

  it("passes stay within their limits; every file is still merged once", async () => {
    const { source, messages, deps } = setup();
    const keys = Array.from({ length: 7 }, (_, i) => `dms/sales/orders/20261101-1${i}00000000.csv`);
    for (const [i, key] of keys.entries()) await source.put(key, `I,${i},f${i}\n`);
    const outcomes = await Promise.all(
      keys.map(async (key) => mine(await mergeObject(key, { ...deps, pass: { pollMs: 5, maxPassFiles: 3 } }), key)),
    );
    expect(outcomes.filter((o) => o.outcome === "merged").length).toBeGreaterThanOrEqual(3);
    const succeeded = messages.filter((m) => m.outcome === "succeeded");
    expect(succeeded.map((m) => m.file).sort()).toEqual(keys);
    expect(Math.max(...succeeded.map((m) => m.commitFiles as number))).toBeLessThanOrEqual(3);
    expect(await rows()).toHaveLength(7);
  });

  it("waits for a table another invocation is merging; with too little time left it fails (TableBusy) to be retried", async () => {
    const { source, target, deps } = setup();
    const key = "dms/sales/orders/20261101-1200000000.csv";
    await source.put(key, "I,1,a\n");
    const holder = await TableLease.acquire(target, orders as NonNullable<typeof orders>);
    await expect(mergeObject(key, { ...deps, remainingMs: () => 30_000 })).rejects.toBeInstanceOf(TableBusy);
    // With time left it waits, and merges once the holder is done.
    const waiting = mergeObject(key, { ...deps, remainingMs: () => 600_000 });
    await new Promise((r) => setTimeout(r, 50));
    await holder?.release();
    expect(await waiting).toEqual([expect.objectContaining({ outcome: "merged", version: 1 })]);
  });

  it("a corrupt file left in the folder is read by one later pass, recorded, and not read again until replaced", async () => {
    const { source, target, messages, deps } = setup();
    const corrupt = "dms/sales/orders/20261101-1100000000.csv";
    const reads: string[] = [];
    const read = source.read;
    source.read = (key) => {
      reads.push(key);
      return read(key);
    };
    await source.put(corrupt, "I,1,a\nQ,2,b\n");
    expect(await mergeObject(corrupt, deps)).toEqual([expect.objectContaining({ outcome: "refused", row: 2 })]);
    for (const t of ["1200", "1300", "1400"]) {
      const key = `dms/sales/orders/20261101-${t}000000.csv`;
      await source.put(key, `I,${t},x\n`);
      expect(await mergeObject(key, deps)).toEqual([expect.objectContaining({ outcome: "merged", file: key })]);
    }
    // Read by its own invocation, then by the next pass (which recorded it), never again.
    expect(reads.filter((k) => k === corrupt)).toHaveLength(2);
    expect(messages.filter((m) => m.outcome === "refused")).toHaveLength(1);
    expect((await files(target)).rejected).toMatchObject({
      "20261101-1100000000.csv": { row: 2, reason: 'unknown Op "Q"' },
    });
    // Its correction is merged, and the record dropped.
    await source.put(corrupt, "I,1,a\nI,2,b\n");
    expect(await mergeObject(corrupt, deps)).toEqual([expect.objectContaining({ outcome: "merged", file: corrupt })]);
    expect((await files(target)).rejected).toEqual({});
    expect(await rows()).toHaveLength(5);
  });
});

describe("mergeObject compacts a small Iceberg table as the CLI engine does (CompactionPolicy)", () => {
  it("after the pass that brings the delete files to the threshold: one replace snapshot, no delete file left, same rows", async () => {
    const { source, target, deps } = setup();
    const engine = icebergEngine(undefined, { deleteFiles: 3 });
    await source.put("dms/sales/orders/LOAD00000001.csv", "1,a\n2,b\n3,c\n");
    await mergeObject("dms/sales/orders/LOAD00000001.csv", { ...deps, target, engine });
    const totals = async () => (await loadIcebergTable(target, createFileCatalog(target), table)).state.totals;
    for (const [i, change] of ["U,1,a2\n", "D,2,b\n", "U,3,c2\nI,4,d\n"].entries()) {
      const key = `dms/sales/orders/20261101-1${i}00000000.csv`;
      await source.put(key, change);
      await mergeObject(key, { ...deps, target, engine });
      if (i < 2) expect((await totals()).deleteFiles).toBe(i + 1);
    }

    expect(await totals()).toMatchObject({ deleteFiles: 0, records: 3 });
    const metadata = (await createFileCatalog(target).load("sales", "orders"))?.metadata;
    expect(metadata?.snapshots.at(-1)?.summary.operation).toBe("replace");
    expect(await icebirdRows(root, table)).toEqual([
      ["1", "a2"],
      ["3", "c2"],
      ["4", "d"],
    ]);
  });
});
