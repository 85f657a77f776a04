import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AuditPort as CdcAudit } from "@sluice/messages";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseTablesConfig } from "./config.ts";
import { TableBusy } from "./errors.ts";
import { icebirdRows } from "./fixtures/iceberg.ts";
import { stateRows } from "./fixtures/table.ts";
import { mergeObject } from "./flow.ts";
import { createFileCatalog } from "./iceberg-catalog.ts";
import { loadIcebergTable } from "./iceberg-pass.ts";
import { TableLease } from "./lease.ts";
import { icebergEngine } from "./run.ts";
import { createDirectoryStore, createMemoryStore } from "./storage.ts";
import { loadMetadata } from "./table.ts";

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

function setup() {
  const source = createMemoryStore();
  const target = createMemoryStore();
  const messages: Parameters<CdcAudit["publish"]>[0][] = [];
  const audit: CdcAudit = { publish: async (m) => void messages.push(m) };
  const deps = { source, target, config, audit, correlationId: "req-1", pass: { pollMs: 10 } };
  return { source, target, messages, deps };
}

describe("mergeObject", () => {
  it("merges a file of a configured table and reports it", async () => {
    const { source, target, messages, deps } = setup();
    await source.put("dms/sales/orders/20261101-1200000000.csv", "I,1,a\nI,2,b\n");
    const outcome = await mergeObject("dms/sales/orders/20261101-1200000000.csv", deps);
    expect(outcome).toMatchObject({ outcome: "merged", table: "sales.orders", rows: 2 });
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
    expect(await stateRows(target, orders as NonNullable<typeof orders>)).toEqual([
      ["1", "a"],
      ["2", "b"],
    ]);
  });

  it("reports a corrupt file as refused with row and reason, and leaves the table unchanged", async () => {
    const { source, target, messages, deps } = setup();
    await source.put("dms/sales/orders/20261101-1200000000.csv", "I,1,a\nQ,2,b\n");
    const outcome = await mergeObject("dms/sales/orders/20261101-1200000000.csv", deps);
    expect(outcome).toMatchObject({ outcome: "rejected", row: 2, reason: 'unknown Op "Q"' });
    expect(messages).toEqual([
      expect.objectContaining({ outcome: "refused", row: 2, reason: 'unknown Op "Q"', table: "sales.orders" }),
    ]);
    // Nothing but the table's released merge lease.
    expect([...target.objects.keys()]).toEqual([expect.stringMatching(/^sales\/orders\/_cdc\/lease\/e\d{20}\.json$/)]);
  });

  it("reports replays and files of unconfigured tables as skipped", async () => {
    const { source, messages, deps } = setup();
    await source.put("dms/sales/orders/20261101-1200000000.csv", "I,1,a\n");
    await mergeObject("dms/sales/orders/20261101-1200000000.csv", deps);
    expect(await mergeObject("dms/sales/orders/20261101-1200000000.csv", deps)).toMatchObject({ outcome: "replay" });
    expect(await mergeObject("dms/crm/other/LOAD00000001.csv", deps)).toEqual({
      outcome: "ignored",
      file: "dms/crm/other/LOAD00000001.csv",
    });
    expect(messages.slice(1).map((m) => [m.outcome, m.reason])).toEqual([
      ["skipped", "already applied"],
      ["skipped", "not a DMS data file of a configured table"],
    ]);
  });

  it("files of a table arriving together are merged in one pass (DMS order, one commit); the other invocations skip theirs", async () => {
    const { source, target, messages, deps } = setup();
    const table = orders as NonNullable<typeof orders>;
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
    const statePuts: string[] = [];
    const put = target.put;
    target.put = async (key, body, options) => {
      if (key.includes("/_cdc/state/")) statePuts.push(key);
      return put(key, body, options);
    };
    // Their events are handled at the same time, the change file's first.
    const outcomes = await Promise.all([...keys].reverse().map((key) => mergeObject(key, deps)));
    const metadata = await loadMetadata(target, table);
    expect(metadata.version).toBe(1);
    expect(Object.keys(metadata.applied).sort()).toEqual(keys.map((k) => k.slice("dms/sales/orders/".length)).sort());
    // Each bucket written once.
    expect(statePuts).toHaveLength(Object.keys(metadata.buckets).length);
    expect(outcomes.filter((o) => o.outcome === "merged")).toHaveLength(1);
    expect(outcomes.filter((o) => o.outcome === "replay")).toHaveLength(10);
    // Every file reported merged exactly once, by the pass that merged it.
    const succeeded = messages.filter((m) => m.outcome === "succeeded").map((m) => m.file);
    expect(succeeded.sort()).toEqual([...keys].sort());
    const rows = await stateRows(target, table);
    expect(rows).toHaveLength(50);
    expect(rows[0]).toEqual(["1", "changed"]);
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
      const outcomes = await Promise.all(keys.map((key, i) => (first && i === 1 ? first : mergeObject(key, deps))));
      // Whichever invocation took the lease merged both good files in its pass.
      expect(outcomes[1]?.outcome).toBe("rejected");
      expect([outcomes[0]?.outcome, outcomes[2]?.outcome].filter((o) => o === "merged").length).toBeLessThanOrEqual(1);
      expect((await loadMetadata(target, orders as NonNullable<typeof orders>)).version).toBe(1);
      expect(await stateRows(target, orders as NonNullable<typeof orders>)).toEqual([["1", "a2"]]);
      expect(messages.filter((m) => m.outcome === "refused")).toEqual([
        expect.objectContaining({ file: keys[1], row: 2, reason: 'unknown Op "Q"' }),
      ]);
      expect(messages.filter((m) => m.outcome === "succeeded").map((m) => m.file)).toEqual([keys[0], keys[2]]);
    },
  );

  it("passes stay within their limits; every file is still merged once", async () => {
    const { source, target, messages, deps } = setup();
    const keys = Array.from({ length: 7 }, (_, i) => `dms/sales/orders/20261101-1${i}00000000.csv`);
    for (const [i, key] of keys.entries()) await source.put(key, `I,${i},f${i}\n`);
    const outcomes = await Promise.all(
      keys.map((key) => mergeObject(key, { ...deps, pass: { pollMs: 5, maxPassFiles: 3 } })),
    );
    expect(outcomes.filter((o) => o.outcome === "merged").length).toBeGreaterThanOrEqual(3);
    const succeeded = messages.filter((m) => m.outcome === "succeeded");
    expect(succeeded.map((m) => m.file).sort()).toEqual(keys);
    expect(Math.max(...succeeded.map((m) => m.commitFiles as number))).toBeLessThanOrEqual(3);
    expect(await stateRows(target, orders as NonNullable<typeof orders>)).toHaveLength(7);
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
    expect(await waiting).toMatchObject({ outcome: "merged", version: 1 });
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
    expect(await mergeObject(corrupt, deps)).toMatchObject({ outcome: "rejected", row: 2 });
    for (const t of ["1200", "1300", "1400"]) {
      const key = `dms/sales/orders/20261101-${t}000000.csv`;
      await source.put(key, `I,${t},x\n`);
      expect(await mergeObject(key, deps)).toMatchObject({ outcome: "merged" });
    }
    // Read by its own invocation, then by the next pass (which recorded it), never again.
    expect(reads.filter((k) => k === corrupt)).toHaveLength(2);
    expect(messages.filter((m) => m.outcome === "refused")).toHaveLength(1);
    expect((await loadMetadata(target, orders as NonNullable<typeof orders>)).rejected).toMatchObject({
      "20261101-1100000000.csv": { row: 2, reason: 'unknown Op "Q"' },
    });
    // Its correction is merged, and the record dropped.
    await source.put(corrupt, "I,1,a\nI,2,b\n");
    expect(await mergeObject(corrupt, deps)).toMatchObject({ outcome: "merged" });
    const metadata = await loadMetadata(target, orders as NonNullable<typeof orders>);
    expect(metadata.rejected).toEqual({});
    expect(await stateRows(target, orders as NonNullable<typeof orders>)).toHaveLength(5);
  });
});

describe("mergeObject into Iceberg tables (icebergEngine), read back by icebird", () => {
  const table = orders as NonNullable<typeof orders>;
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), "flow-iceberg-"));
  });
  afterEach(() => rm(root, { recursive: true, force: true }));
  const icebergSetup = () => {
    const { source, messages, deps } = setup();
    const target = createDirectoryStore(root);
    return { source, target, messages, deps: { ...deps, target, engine: icebergEngine() } };
  };

  it("files arriving together are merged in one snapshot in DMS order; the other invocations skip theirs", async () => {
    const { source, target, messages, deps } = icebergSetup();
    const keys = ["LOAD00000001.csv", "LOAD00000002.csv", "20261101-1200000000.csv"].map(
      (f) => `dms/sales/orders/${f}`,
    );
    await source.put(keys[0] as string, "1,a\n2,b\n");
    await source.put(keys[1] as string, "3,c\n");
    await source.put(keys[2] as string, "U,1,a2\nD,2,b\n");

    const outcomes = await Promise.all([...keys].reverse().map((key) => mergeObject(key, deps)));

    expect(outcomes.filter((o) => o.outcome === "merged")).toHaveLength(1);
    expect(
      messages
        .filter((m) => m.outcome === "succeeded")
        .map((m) => m.file)
        .sort(),
    ).toEqual([...keys].sort());
    expect(await icebirdRows(root, table)).toEqual([
      ["1", "a2"],
      ["3", "c"],
    ]);
    const { applied } = await icebergEngine().files(target, table);
    expect(Object.values(applied).map((a) => a.version)).toEqual([1, 1, 1]);
    expect(await mergeObject(keys[2] as string, deps)).toMatchObject({ outcome: "replay", version: 1 });
  });

  it("a corrupt file is refused whole (the table unchanged), recorded, and not read again until replaced", async () => {
    const { source, messages, deps } = icebergSetup();
    await source.put("dms/sales/orders/20261101-1100000000.csv", "I,1,a\n");
    await mergeObject("dms/sales/orders/20261101-1100000000.csv", deps);
    const corrupt = "dms/sales/orders/20261101-1200000000.csv";
    await source.put(corrupt, "U,1,lost\nQ,2,b\n");
    const reads: string[] = [];
    const read = source.read;
    source.read = (key) => {
      reads.push(key);
      return read(key);
    };

    expect(await mergeObject(corrupt, deps)).toMatchObject({ outcome: "rejected", row: 2 });
    await source.put("dms/sales/orders/20261101-1300000000.csv", "I,3,c\n");
    expect(await mergeObject("dms/sales/orders/20261101-1300000000.csv", deps)).toMatchObject({ outcome: "merged" });

    expect(messages.filter((m) => m.outcome === "refused")).toEqual([
      expect.objectContaining({ file: corrupt, row: 2, reason: 'unknown Op "Q"' }),
    ]);
    expect(await icebirdRows(root, table)).toEqual([
      ["1", "a"],
      ["3", "c"],
    ]);
    // Read by its own invocation, then by the next pass (which recorded it), not again.
    await source.put("dms/sales/orders/20261101-1400000000.csv", "I,4,d\n");
    await mergeObject("dms/sales/orders/20261101-1400000000.csv", deps);
    expect(reads.filter((k) => k === corrupt)).toHaveLength(2);
  });
});

describe("mergeObject compacts a small Iceberg table as the CLI engine does (CompactionPolicy)", () => {
  it("after the pass that brings the delete files to the threshold: one replace snapshot, no delete file left, same rows", async () => {
    const root = await mkdtemp(join(tmpdir(), "flow-compact-"));
    try {
      const { source, deps } = setup();
      const target = createDirectoryStore(root);
      const engine = icebergEngine(undefined, { deleteFiles: 3 });
      const table = orders as NonNullable<typeof orders>;
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
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
