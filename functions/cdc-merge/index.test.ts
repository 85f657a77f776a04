import { describe, expect, it, vi } from "vitest";
import { coldStart, lambdaContext, s3Event } from "#kit/testing";

// The function's ports in memory: its two buckets, its Audit topic, and the tables' catalog (Glue's stand-in: the file
// catalog over the same bucket; the adapters have tests of their own).
const { buckets, audit } = await vi.hoisted(async () => {
  const { createMemoryStore } = await import("@sluice/cdc/storage");
  const { memoryAuditSink } = await import("#kit/testing");
  return { buckets: { raw: createMemoryStore(), curated: createMemoryStore() }, audit: memoryAuditSink() };
});
vi.mock("@sluice/aws/cdc", () => ({
  createS3ObjectStore: (_s3: unknown, bucket: "raw" | "curated") => buckets[bucket],
}));
vi.mock("@sluice/aws/audit", () => ({ createSnsAuditSink: () => audit }));
vi.mock("@sluice/aws/iceberg-catalog", async () => {
  const { createFileCatalog } = await import("@sluice/cdc/iceberg-catalog");
  return {
    createGlueCatalog: (_glue: unknown, store: Parameters<typeof createFileCatalog>[0]) => createFileCatalog(store),
  };
});

const fn = coldStart(
  "CdcMerge",
  {
    CdcRaw: { name: "raw" },
    Curated: { name: "curated" },
    Audit: { arn: "arn:aws:sns:us-east-1:123456789012:Audit" },
    CdcCatalog: { name: "sluice_test" },
  },
  {},
  () => import("./index.ts"),
  audit,
);

/** A DMS file of `sales.orders` (config/cdc-tables.json) landed in CdcRaw. */
async function landed(name: string, text: string) {
  const key = `dms/sales/orders/${name}`;
  await buckets.raw.put(key, text);
  return { key, size: text.length };
}

const curatedKeys = () => [...buckets.curated.objects.keys()];

describe("CdcMerge handler", () => {
  it("merges the DMS file of the notification into its table in Curated, logging and auditing it", async () => {
    const load = await landed(
      "LOAD00000001.csv",
      "1,7,new,10.00,2026-11-01,2026-11-01 09:00:00,2026-11-01 10:00:00\n2,7,new,20.50,2026-11-01,2026-11-01 09:00:00,2026-11-01 10:00:00\n",
    );

    await fn.handler(s3Event("raw", [{ ...load, requestId: "REQ-1" }]), lambdaContext("CdcMerge", "inv-1"));

    // An Iceberg table (the default format): a data file and the table's first metadata version.
    expect(curatedKeys().some((key) => /^sales\/orders\/data\/.*\.parquet$/.test(key))).toBe(true);
    expect(curatedKeys()).toContain("sales/orders/metadata/v1.metadata.json");
    expect(fn.stdout.logs()).toEqual([
      expect.objectContaining({
        level: "INFO",
        message: "cdc-merge",
        outcome: "merged",
        table: "sales.orders",
        rows: 2,
        correlation_id: "REQ-1",
      }),
    ]);
    expect(audit.messages).toEqual([
      expect.objectContaining({ pipeline: "cdc-merge", outcome: "succeeded", correlationId: "REQ-1" }),
    ]);
  });

  it("rejects a corrupt file to Audit without failing the invocation (a retry cannot fix it)", async () => {
    const before = curatedKeys();
    const corrupt = await landed(
      "20261101-1300000000.csv",
      "U,2,7,lost,not-a-number,2026-11-01,2026-11-01 09:00:00,2026-11-01 13:00:00\n",
    );

    await fn.handler(s3Event("raw", [corrupt]), lambdaContext("CdcMerge", "inv-2"));

    expect(curatedKeys().filter((key) => !before.includes(key) && key.endsWith(".parquet"))).toEqual([]);
    expect(audit.messages).toEqual([
      expect.objectContaining({ pipeline: "cdc-merge", outcome: "refused", file: corrupt.key }),
    ]);
    // A file to fix at its source, not an error of the function: WARN, like its audit message.
    expect(fn.stdout.logs()).toEqual([
      expect.objectContaining({
        level: "WARN",
        message: "cdc-merge",
        outcome: "refused",
        file: corrupt.key,
        row: 1,
        reason: 'column amount: not a decimal: "not-a-number"',
      }),
    ]);
  });

  it("logs every file its pass merged, one line each: the invocation of a corrupt file commits the good file pending beside it", async () => {
    const good = await landed(
      "20261102-1700000000.csv",
      "U,1,7,delivered,10.00,2026-11-01,2026-11-01 09:00:00,2026-11-02 17:00:00\n",
    );
    const corrupt = await landed(
      "20261102-1000000000.csv",
      "X,1,7,lost,10.00,2026-11-01,2026-11-01 09:00:00,2026-11-02 10:00:00\n",
    );

    await fn.handler(s3Event("raw", [{ ...corrupt, requestId: "REQ-C" }]), lambdaContext("CdcMerge", "inv-c"));

    // The same files and words as its Audit messages (Audit says `succeeded` where the log says `merged`).
    const lines = fn.stdout.logs().filter((line) => line.message === "cdc-merge");
    expect(lines).toEqual([
      expect.objectContaining({
        level: "WARN",
        outcome: "refused",
        file: corrupt.key,
        row: 1,
        reason: 'unknown Op "X"',
        correlation_id: "REQ-C",
      }),
      expect.objectContaining({
        level: "INFO",
        outcome: "merged",
        file: good.key,
        table: "sales.orders",
        rows: 1,
        correlation_id: "REQ-C",
      }),
    ]);
    expect(audit.messages.map((m) => [m.outcome, m.file])).toEqual([
      ["refused", corrupt.key],
      ["succeeded", good.key],
    ]);

    // The good file's own invocation finds it applied, and says why.
    fn.stdout.clear();
    await fn.handler(s3Event("raw", [{ ...good, requestId: "REQ-G" }]), lambdaContext("CdcMerge", "inv-g"));
    expect(fn.stdout.logs()).toEqual([
      expect.objectContaining({
        level: "INFO",
        message: "cdc-merge",
        outcome: "skipped",
        file: good.key,
        reason: "already applied",
        version: lines[1]?.version,
      }),
    ]);
  });

  it("fails the invocation when a merge fails for another reason, after trying every record", async () => {
    const first = await landed(
      "20261101-1400000000.csv",
      "U,1,7,shipped,10.00,2026-11-01,2026-11-01 09:00:00,2026-11-01 14:00:00\n",
    );
    const second = await landed(
      "20261101-1500000000.csv",
      "U,1,7,delivered,10.00,2026-11-01,2026-11-01 09:00:00,2026-11-01 15:00:00\n",
    );
    const put = buckets.curated.put;
    let failures = 1;
    vi.spyOn(buckets.curated, "put").mockImplementation(async (...args) => {
      if (failures-- > 0) throw new Error("InternalError: we encountered an internal error");
      return put(...args);
    });

    await expect(fn.handler(s3Event("raw", [first, second]), lambdaContext("CdcMerge", "inv-3"))).rejects.toThrow(
      "InternalError: we encountered an internal error",
    );

    // The second record's pass committed the first record's file too: a line each.
    const logged = fn.stdout.logs().map((line) => [line.level, line.message, line.outcome, line.file]);
    expect(logged).toEqual([
      ["ERROR", "merge failed", undefined, undefined],
      ["INFO", "cdc-merge", "merged", first.key],
      ["INFO", "cdc-merge", "merged", second.key],
      ["ERROR", "Invocation failed", undefined, undefined],
    ]);
  });
});
