/**
 * The CDC pipeline end to end, on the local cloud or a deployed stage (test/e2e/target.ts), with the real wiring
 * (CdcMerge as deployed), the real table configuration (config/cdc-tables.json) and the real AWS SDK: DMS-style files
 * uploaded to CdcRaw become Iceberg tables in Curated, registered in the Glue Data Catalog, which icebird (a
 * third-party Iceberg reader) reads back holding exactly the rows of the changes applied in order; late files,
 * replays, concurrent uploads, a full load split into several files merged in one commit, and a corrupt file
 * (rejected, reported to Audit, table unchanged) followed by its correction.
 *
 * Each upload is waited for through CdcMerge's own report on the Audit topic (merged, skipped or refused), so that
 * the next step starts from a known table on a stage as locally. The tables live at fixed places in Curated (the
 * tables of config/cdc-tables.json): no other flow writes CdcRaw or Curated, and on a stage the file expects a freshly
 * deployed stage.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { GetTableCommand } from "@aws-sdk/client-glue";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { catalogDatabaseName } from "../../infra/wiring.ts";
import { createS3ObjectStore } from "../../packages/aws/src/cdc.ts";
import { icebirdRowsAt } from "../../packages/cdc/src/fixtures/iceberg.ts";
import { parseTablesConfig, type TableConfig, TableLease } from "../../packages/cdc/src/index.ts";
import { startTarget, type Target } from "./target.ts";
import type { TopicTap } from "./topic-tap.ts";

const config = parseTablesConfig(
  JSON.parse(readFileSync(new URL("../../config/cdc-tables.json", import.meta.url), "utf8")),
);
const orders = config.tables.get("sales.orders") as TableConfig;
const customers = config.tables.get("sales.customers") as TableConfig;

describe("CDC merge", () => {
  let target: Target;
  let s3: S3Client;
  let raw: string;
  let curated: string;
  let started: Date;
  let auditTap: TopicTap;
  const reports: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    started = new Date();
    target = await startTarget({ name: "cdc" });
    s3 = target.clients.s3;
    raw = target.resources.buckets.CdcRaw as string;
    curated = target.resources.buckets.Curated as string;
    auditTap = await target.tap("Audit");
  }, 180_000);

  afterAll(async () => {
    await target?.stop();
  });

  const upload = (key: string, body: string | Uint8Array) =>
    s3.send(new PutObjectCommand({ Bucket: raw, Key: key, Body: body }));

  /** Waits until CdcMerge has reported on the file `key` `times` times in all, and returns those reports. */
  async function merged(key: string, times = 1): Promise<Array<Record<string, unknown>>> {
    return target.eventually(`CdcMerge's report #${times} on ${key}`, async () => {
      for (const body of await auditTap.drain())
        reports.push(typeof body.Message === "string" ? JSON.parse(body.Message) : body);
      const about = reports.filter((r) => r.pipeline === "cdc-merge" && r.file === key);
      expect(about.length).toBeGreaterThanOrEqual(times);
      return about;
    });
  }

  /** The table's current metadata file, as the Glue Data Catalog names it (what Athena reads first). */
  async function snapshot(table: TableConfig): Promise<string> {
    const { Table } = await target.clients.glue.send(
      new GetTableCommand({
        DatabaseName: catalogDatabaseName(target.resources.catalogs.CdcCatalog as string, table.schema),
        Name: table.table.toLowerCase(),
      }),
    );
    expect(Table?.Parameters?.table_type).toBe("ICEBERG");
    return Table?.Parameters?.metadata_location as string;
  }

  /** The table's metadata version: the sequence number of its metadata file (`<seq>-<uuid>.metadata.json`). */
  const version = async (table: TableConfig) =>
    Number(/\/(\d+)-[^/]*\.metadata\.json$/.exec(await snapshot(table))?.[1]);

  /** The table as an Iceberg reader sees it: the snapshot Glue names, read by icebird from Curated. */
  const read = async (table: TableConfig) =>
    icebirdRowsAt(createS3ObjectStore(s3, curated), table, await snapshot(table));

  const ordersDir = "dms/sales/orders";
  const order = (id: number, status: string | null, amount: string, ts: string) => [
    String(id),
    "7",
    status,
    amount,
    "2026-11-01",
    "2026-11-01 09:00:00.000000",
    `2026-11-01 ${ts}.000000`,
  ];

  it("merges a full load, then change files, into an Iceberg table registered in Glue", async () => {
    await upload(
      `${ordersDir}/LOAD00000001.csv`,
      '1,7,new,10.00,2026-11-01,2026-11-01 09:00:00,2026-11-01 10:00:00\n2,7,"new, ""rush""",20.50,2026-11-01,2026-11-01 09:00:00,2026-11-01 10:00:00\n3,7,"",0,2026-11-01,2026-11-01 09:00:00,2026-11-01 10:00:00\n',
    );
    expect(await merged(`${ordersDir}/LOAD00000001.csv`)).toEqual([expect.objectContaining({ outcome: "succeeded" })]);
    await upload(
      `${ordersDir}/20261101-1100000000.csv`,
      'U,1,7,shipped,10.00,2026-11-01,2026-11-01 09:00:00,2026-11-01 11:00:00\nD,3,7,"",0,2026-11-01,2026-11-01 09:00:00,2026-11-01 11:00:00\nI,4,7,"multi\nline 日本",,2026-11-01,2026-11-01 09:00:00,2026-11-01 11:00:01\n',
    );
    await merged(`${ordersDir}/20261101-1100000000.csv`);
    expect(await read(orders)).toEqual([
      order(1, "shipped", "10.00", "11:00:00"),
      order(2, 'new, "rush"', "20.50", "10:00:00"),
      [...order(4, "multi\nline 日本", "", "11:00:01")].map((v, i) => (i === 3 ? null : v)),
    ]);
  });

  it("applies late files only where newer, and replays change nothing", async () => {
    // Committed at 10:30, older than the 11:00 update of order 1: only order 5 is new.
    await upload(
      `${ordersDir}/20261101-1030000000.csv`,
      "U,1,7,stale,1.00,2026-11-01,2026-11-01 09:00:00,2026-11-01 10:30:00\nI,5,7,late,5.00,2026-11-01,2026-11-01 09:00:00,2026-11-01 10:30:00\n",
    );
    await merged(`${ordersDir}/20261101-1030000000.csv`);
    const rows = await read(orders);
    expect(rows.map((r) => [r[0], r[2]])).toEqual([
      ["1", "shipped"],
      ["2", 'new, "rush"'],
      ["4", "multi\nline 日本"],
      ["5", "late"],
    ]);
    const before = await snapshot(orders);
    await upload(
      `${ordersDir}/20261101-1100000000.csv`,
      'U,1,7,shipped,10.00,2026-11-01,2026-11-01 09:00:00,2026-11-01 11:00:00\nD,3,7,"",0,2026-11-01,2026-11-01 09:00:00,2026-11-01 11:00:00\nI,4,7,"multi\nline 日本",,2026-11-01,2026-11-01 09:00:00,2026-11-01 11:00:01\n',
    );
    const replay = (await merged(`${ordersDir}/20261101-1100000000.csv`, 2))[1];
    expect(replay).toMatchObject({ outcome: "skipped", reason: "already applied" });
    expect(await snapshot(orders)).toBe(before);
  });

  it("merges concurrent uploads to one table without losing a change", async () => {
    const ids = [6, 7, 8, 9];
    await Promise.all(
      ids.map((id) =>
        upload(
          `${ordersDir}/20261101-12${id}0000000.csv`,
          `I,${id},7,concurrent,1.00,2026-11-01,2026-11-01 09:00:00,2026-11-01 12:00:00\n`,
        ),
      ),
    );
    for (const id of ids) await merged(`${ordersDir}/20261101-12${id}0000000.csv`);
    expect((await read(orders)).map((r) => r[0])).toEqual(["1", "2", "4", "5", "6", "7", "8", "9"]);
  });

  it("merges a full load split into LOAD files that arrive together in one pass and one commit; the other invocations skip theirs", async () => {
    const store = createS3ObjectStore(s3, curated);
    const before = await version(orders);
    // The table is busy (as while a merge runs) when the files land: their invocations wait for its lease.
    const holder = await TableLease.acquire(store, orders);
    const loads = [2, 3, 4, 5, 6].map((n) => ({
      key: `${ordersDir}/LOAD0000000${n}.csv`,
      body: [0, 1]
        .map((i) => `${n * 100 + i},7,loaded,1.00,2026-11-01,2026-11-01 09:00:00,2026-11-01 09:00:00\n`)
        .join(""),
    }));
    await Promise.all(loads.map((l) => upload(l.key, l.body)));
    await new Promise((r) => setTimeout(r, 1500));
    await holder?.release();
    const keys = new Set(loads.map((l) => l.key));
    const about = await target.eventually("CdcMerge's reports on the five LOAD files", async () => {
      for (const body of await auditTap.drain())
        reports.push(typeof body.Message === "string" ? JSON.parse(body.Message) : body);
      const mine = reports.filter((r) => r.pipeline === "cdc-merge" && keys.has(r.file as string));
      expect(mine).toHaveLength(9);
      return mine;
    });
    // One pass merged all five (one "succeeded" each); the four other invocations found theirs applied.
    for (const key of keys) {
      expect(about.filter((r) => r.file === key && r.outcome === "succeeded")).toHaveLength(1);
    }
    expect(about.filter((r) => r.outcome === "skipped")).toHaveLength(4);
    expect(await version(orders)).toBe(before + 1);
    expect((await read(orders)).map((r) => r[0])).toEqual(
      expect.arrayContaining(["200", "201", "300", "301", "400", "401", "500", "501", "600", "601"]),
    );
  });

  it("rejects a corrupt file, reports file/row/reason to Audit, leaves the table unchanged, then applies its correction", async () => {
    const before = await snapshot(orders);
    await upload(
      `${ordersDir}/20261101-1300000000.csv`,
      "U,1,7,delivered,10.00,2026-11-01,2026-11-01 09:00:00,2026-11-01 13:00:00\nU,2,7,lost,not-a-number,2026-11-01,2026-11-01 09:00:00,2026-11-01 13:00:00\n",
    );
    await merged(`${ordersDir}/20261101-1300000000.csv`);
    expect(await snapshot(orders)).toBe(before);
    const refused = await target.eventually("the refusal logged by the SnsLogger", async () => {
      const refused = (await target.logRecords("SnsLogger", started))
        .map((record) => JSON.stringify(record))
        .filter((line) => line.includes('"pipeline":"cdc-merge"') && line.includes('"outcome":"refused"'));
      expect(refused).toHaveLength(1);
      return refused;
    });
    expect(refused[0]).toContain("dms/sales/orders/20261101-1300000000.csv");
    expect(refused[0]).toContain('"row":2');
    expect(refused[0]).toContain("column amount: not a decimal");

    await upload(
      `${ordersDir}/20261101-1300000000.csv`,
      "U,1,7,delivered,10.00,2026-11-01,2026-11-01 09:00:00,2026-11-01 13:00:00\nU,2,7,lost,20.50,2026-11-01,2026-11-01 09:00:00,2026-11-01 13:00:00\n",
    );
    await merged(`${ordersDir}/20261101-1300000000.csv`, 2);
    expect((await read(orders)).slice(0, 2).map((r) => [r[0], r[2]])).toEqual([
      ["1", "delivered"],
      ["2", "lost"],
    ]);
  });

  it("merges gzip files with a header, Op in the full load and change-sequence order", async () => {
    const dir = "dms/sales/customers";
    await upload(
      `${dir}/LOAD00000001.csv.gz`,
      gzipSync("Op,customer_id,name,email,active,ar_h_change_seq\nI,1,Zoë,z@example.com,true,\nI,2,Bo,,false,\n"),
    );
    await merged(`${dir}/LOAD00000001.csv.gz`);
    // Within one file, the sequence (not the row order) decides.
    await upload(
      `${dir}/20261101-1200000000.csv.gz`,
      gzipSync(
        "Op,customer_id,name,email,active,ar_h_change_seq\nU,1,Zoë B,z@example.com,true,20261101000000000000000000000000002\nU,1,Zoë A,z@example.com,true,20261101000000000000000000000000001\nD,2,Bo,,false,20261101000000000000000000000000003\n",
      ),
    );
    await merged(`${dir}/20261101-1200000000.csv.gz`);
    expect(await read(customers)).toEqual([
      ["1", "Zoë B", "z@example.com", "true", "20261101000000000000000000000000002"],
    ]);
  });

  it("pnpm query reads the current snapshots with DuckDB: the same rows icebird reads", async () => {
    const query = async (sql: string) => {
      const { stdout } = await promisify(execFile)("pnpm", ["--silent", "query", sql, "--json"], {
        cwd: new URL("../..", import.meta.url).pathname,
        env: { ...process.env, ...target.env },
      });
      return stdout
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    };

    const ordersSeen = await query("SELECT order_id, status FROM sales.orders ORDER BY order_id");
    const customersSeen = await query("SELECT customer_id, name FROM sales.customers ORDER BY customer_id");

    expect(ordersSeen.map((r) => [String(r.order_id), r.status])).toEqual(
      (await read(orders)).map((r) => [r[0], r[2]]),
    );
    expect(customersSeen).toEqual([{ customer_id: "1", name: "Zoë B" }]);
  }, 120_000);
});
