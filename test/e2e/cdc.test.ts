/**
 * The CDC pipeline end to end on the local cloud, with the real wiring (CdcMerge as deployed), the real table
 * configuration (config/cdc-tables.json) and the real AWS SDK: DMS-style files uploaded to CdcRaw become tables in
 * Curated whose symlink manifest lists Parquet files holding exactly the rows of the changes applied in order;
 * late files, replays, concurrent uploads, a full load split into several files merged in one commit, and a corrupt
 * file (rejected, reported to Audit, table unchanged) followed by its correction.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createS3ObjectStore } from "../../packages/aws/src/cdc-store.ts";
import { loadMetadata, parseTablesConfig, type TableConfig, TableLease } from "../../packages/cdc/src/index.ts";
import { manifestRows } from "../../packages/cdc/src/testing/table.ts";
import { type LocalCloud, startLocalCloud } from "../../packages/local/src/cloud.ts";

const config = parseTablesConfig(
  JSON.parse(readFileSync(new URL("../../config/cdc-tables.json", import.meta.url), "utf8")),
);
const orders = config.tables.get("sales.orders") as TableConfig;
const customers = config.tables.get("sales.customers") as TableConfig;

describe("CDC merge on the local cloud", () => {
  let cloud: LocalCloud;
  let s3: S3Client;
  let raw: string;
  let curated: string;

  beforeAll(async () => {
    const stateDir = mkdtempSync(path.join(tmpdir(), "sluice-cdc-"));
    cloud = await startLocalCloud({
      basePort: 0,
      stateDir,
      writeEnvFile: false,
      asyncRetryDelaysMs: [50, 100],
      models: [],
    });
    s3 = new S3Client({
      region: "us-east-1",
      endpoint: cloud.endpoints.s3,
      forcePathStyle: true,
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
    raw = cloud.resources.buckets.CdcRaw as string;
    curated = cloud.resources.buckets.Curated as string;
  }, 180_000);

  afterAll(async () => {
    s3?.destroy();
    await cloud?.stop();
  });

  const upload = (key: string, body: string | Uint8Array) =>
    s3.send(new PutObjectCommand({ Bucket: raw, Key: key, Body: body }));

  /** The table as Athena would read it: the manifest in Curated, then each Parquet file it lists. */
  const read = (table: TableConfig) =>
    manifestRows(createS3ObjectStore(s3, curated), table, (uri) => {
      expect(uri.startsWith(`s3://${curated}/`)).toBe(true);
      return uri.slice(`s3://${curated}/`.length);
    });

  async function manifest(table: TableConfig): Promise<string> {
    const out = await s3.send(
      new GetObjectCommand({
        Bucket: curated,
        Key: `${table.schema}/${table.table}/_symlink_format_manifest/manifest`,
      }),
    );
    return (await out.Body?.transformToString()) ?? "";
  }

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

  it("merges a full load, then change files, into Parquet listed by the symlink manifest", async () => {
    await upload(
      `${ordersDir}/LOAD00000001.csv`,
      '1,7,new,10.00,2026-11-01,2026-11-01 09:00:00,2026-11-01 10:00:00\n2,7,"new, ""rush""",20.50,2026-11-01,2026-11-01 09:00:00,2026-11-01 10:00:00\n3,7,"",0,2026-11-01,2026-11-01 09:00:00,2026-11-01 10:00:00\n',
    );
    await cloud.idle();
    await upload(
      `${ordersDir}/20261101-1100000000.csv`,
      'U,1,7,shipped,10.00,2026-11-01,2026-11-01 09:00:00,2026-11-01 11:00:00\nD,3,7,"",0,2026-11-01,2026-11-01 09:00:00,2026-11-01 11:00:00\nI,4,7,"multi\nline 日本",,2026-11-01,2026-11-01 09:00:00,2026-11-01 11:00:01\n',
    );
    await cloud.idle();
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
    await cloud.idle();
    const rows = await read(orders);
    expect(rows.map((r) => [r[0], r[2]])).toEqual([
      ["1", "shipped"],
      ["2", 'new, "rush"'],
      ["4", "multi\nline 日本"],
      ["5", "late"],
    ]);
    const before = await manifest(orders);
    await upload(
      `${ordersDir}/20261101-1100000000.csv`,
      'U,1,7,shipped,10.00,2026-11-01,2026-11-01 09:00:00,2026-11-01 11:00:00\nD,3,7,"",0,2026-11-01,2026-11-01 09:00:00,2026-11-01 11:00:00\nI,4,7,"multi\nline 日本",,2026-11-01,2026-11-01 09:00:00,2026-11-01 11:00:01\n',
    );
    await cloud.idle();
    expect(await manifest(orders)).toBe(before);
  });

  it("merges concurrent uploads to one table without losing a change", async () => {
    await Promise.all(
      [6, 7, 8, 9].map((id) =>
        upload(
          `${ordersDir}/20261101-12${id}0000000.csv`,
          `I,${id},7,concurrent,1.00,2026-11-01,2026-11-01 09:00:00,2026-11-01 12:00:00\n`,
        ),
      ),
    );
    await cloud.idle();
    expect((await read(orders)).map((r) => r[0])).toEqual(["1", "2", "4", "5", "6", "7", "8", "9"]);
  });

  it("merges a full load split into LOAD files that arrive together in one pass and one commit; the other invocations skip theirs", async () => {
    const store = createS3ObjectStore(s3, curated);
    const before = (await loadMetadata(store, orders)).version;
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
    await cloud.idle();
    expect((await loadMetadata(store, orders)).version).toBe(before + 1);
    expect((await read(orders)).map((r) => r[0])).toEqual(
      expect.arrayContaining(["200", "201", "300", "301", "400", "401", "500", "501", "600", "601"]),
    );
    const log = readFileSync(path.join(cloud.logDir, "SnsLogger.log"), "utf8")
      .split("\n")
      .filter((line) => line.includes('"pipeline":"cdc-merge"') && /LOAD0000000[2-6]/.test(line));
    for (const { key } of loads) {
      const lines = log.filter((line) => line.includes(key));
      expect(lines.filter((line) => line.includes('"outcome":"succeeded"'))).toHaveLength(1);
    }
    expect(log.filter((line) => line.includes('"outcome":"skipped"'))).toHaveLength(4);
  });

  it("rejects a corrupt file, reports file/row/reason to Audit, leaves the table unchanged, then applies its correction", async () => {
    const before = await manifest(orders);
    await upload(
      `${ordersDir}/20261101-1300000000.csv`,
      "U,1,7,delivered,10.00,2026-11-01,2026-11-01 09:00:00,2026-11-01 13:00:00\nU,2,7,lost,not-a-number,2026-11-01,2026-11-01 09:00:00,2026-11-01 13:00:00\n",
    );
    await cloud.idle();
    expect(await manifest(orders)).toBe(before);
    const log = readFileSync(path.join(cloud.logDir, "SnsLogger.log"), "utf8");
    const refused = log
      .split("\n")
      .filter((line) => line.includes('"pipeline":"cdc-merge"') && line.includes('"outcome":"refused"'));
    expect(refused).toHaveLength(1);
    expect(refused[0]).toContain("dms/sales/orders/20261101-1300000000.csv");
    expect(refused[0]).toContain('"row":2');
    expect(refused[0]).toContain("column amount: not a decimal");

    await upload(
      `${ordersDir}/20261101-1300000000.csv`,
      "U,1,7,delivered,10.00,2026-11-01,2026-11-01 09:00:00,2026-11-01 13:00:00\nU,2,7,lost,20.50,2026-11-01,2026-11-01 09:00:00,2026-11-01 13:00:00\n",
    );
    await cloud.idle();
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
    await cloud.idle();
    // Within one file, the sequence (not the row order) decides.
    await upload(
      `${dir}/20261101-1200000000.csv.gz`,
      gzipSync(
        "Op,customer_id,name,email,active,ar_h_change_seq\nU,1,Zoë B,z@example.com,true,20261101000000000000000000000000002\nU,1,Zoë A,z@example.com,true,20261101000000000000000000000000001\nD,2,Bo,,false,20261101000000000000000000000000003\n",
      ),
    );
    await cloud.idle();
    expect(await read(customers)).toEqual([
      ["1", "Zoë B", "z@example.com", "true", "20261101000000000000000000000000002"],
    ]);
  });
});
