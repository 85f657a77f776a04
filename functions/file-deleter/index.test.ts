import { describe, expect, it, vi } from "vitest";
import { coldStart, lambdaContext, s3Event } from "#kit/testing";

// The function's ports in memory: its S3 buckets and its Audit topic (the adapters have tests of their own).
const { store, audit } = await vi.hoisted(async () => {
  const { MemoryS3 } = await import("@sluice/files/fixtures");
  const { memoryAuditSink } = await import("#kit/testing");
  const buckets = { inbox: {}, lake: { versioned: true }, raw: {}, curated: {} };
  return { store: new MemoryS3(buckets), audit: memoryAuditSink() };
});
vi.mock("@sluice/aws/files", () => ({ createS3DeleterStore: () => store }));
vi.mock("@sluice/aws/audit", () => ({ createSnsAuditSink: () => audit }));

const fn = coldStart(
  "FileDeleter",
  {
    Inbox: { name: "inbox" },
    Lake: { name: "lake" },
    CdcRaw: { name: "raw" },
    Curated: { name: "curated" },
    Audit: { arn: "arn:aws:sns:us-east-1:123456789012:Audit" },
  },
  {},
  () => import("./index.ts"),
  audit,
);

describe("FileDeleter handler", () => {
  it("deletes what a request object in the Inbox names, every version, and writes its report", async () => {
    store.put("lake", "raw/customers/c-42/a.csv", { body: Buffer.from("v1") });
    store.put("lake", "raw/customers/c-42/a.csv", { body: Buffer.from("v2") });
    store.put("lake", "raw/customers/c-43/b.csv", { body: Buffer.from("kept") });
    const body = JSON.stringify({
      bucket: "Lake",
      prefixes: ["raw/customers/c-42/"],
      allVersions: true,
      reason: "GDPR erasure, ticket 42",
    });
    const { eTag } = store.put("inbox", "requests/delete/gdpr-42.json", { body: Buffer.from(body) });

    const results = await fn.handler(
      s3Event("inbox", [{ key: "requests/delete/gdpr-42.json", size: body.length, eTag }]),
      lambdaContext("FileDeleter", "inv-1"),
    );

    expect(results).toEqual([expect.objectContaining({ status: "completed", name: "gdpr-42" })]);
    expect(store.versions("lake", "raw/customers/c-42/a.csv")).toEqual([]);
    expect(store.current("lake", "raw/customers/c-43/b.csv")).toBeDefined();
    expect(store.current("inbox", "reports/delete/gdpr-42.json")).toBeDefined();
    expect(fn.stdout.logs()).toContainEqual(
      expect.objectContaining({
        level: "INFO",
        message: "file-deleter",
        outcome: "succeeded",
        status: "completed",
        name: "gdpr-42",
      }),
    );
    expect(audit.messages).toContainEqual(expect.objectContaining({ pipeline: "file-deleter" }));
  });

  it("takes the payload of a direct invocation as the request, and refuses a bucket outside the allow-list", async () => {
    const results = await fn.handler(
      { bucket: "SomeoneElsesBucket", keys: ["a.csv"], reason: "clean-up" },
      lambdaContext("FileDeleter", "inv-2"),
    );

    expect(results).toEqual([expect.objectContaining({ status: "refused" })]);
    // Input the sender must fix: WARN, like its audit message.
    expect(fn.stdout.logs()).toEqual([
      expect.objectContaining({ level: "WARN", message: "file-deleter", outcome: "refused", status: "refused" }),
    ]);
  });

  it("logs at ERROR a deletion that completed with keys it could not delete, and one that failed", async () => {
    store.put("lake", "raw/customers/c-44/a.csv", { body: Buffer.from("v1") });
    store.put("lake", "raw/customers/c-44/b.csv", { body: Buffer.from("v1") });
    store.failingKeys.add("raw/customers/c-44/b.csv");
    const partly = await fn.handler(
      { bucket: "Lake", keys: ["raw/customers/c-44/a.csv", "raw/customers/c-44/b.csv"], reason: "GDPR", name: "c-44" },
      lambdaContext("FileDeleter", "inv-4"),
    );
    store.failingKeys.clear();
    // An S3 endpoint without versions (ListObjectVersions lists nothing): allVersions cannot be honoured.
    store.put("raw", "dms/x/LOAD1.csv", { body: Buffer.from("x") });
    vi.spyOn(store, "listVersions").mockResolvedValueOnce({ entries: [], isTruncated: false });
    const failed = await fn.handler(
      { bucket: "CdcRaw", prefixes: ["dms/"], allVersions: true, reason: "purge", name: "purge" },
      lambdaContext("FileDeleter", "inv-5"),
    );

    expect(partly).toEqual([expect.objectContaining({ status: "completed" })]);
    expect(failed).toEqual([expect.objectContaining({ status: "failed" })]);
    expect(fn.stdout.logs()).toEqual([
      expect.objectContaining({ level: "ERROR", message: "file-deleter", outcome: "failed", status: "completed" }),
      expect.objectContaining({ level: "ERROR", message: "file-deleter", outcome: "failed", status: "failed" }),
    ]);
  });

  it("does nothing for S3's test event (sent when the notification is configured)", async () => {
    const results = await fn.handler(
      { Service: "Amazon S3", Event: "s3:TestEvent", Bucket: "inbox" },
      lambdaContext("FileDeleter", "inv-3"),
    );

    expect(results).toEqual([]);
    expect(fn.stdout.logs()).toEqual([]);
  });
});
