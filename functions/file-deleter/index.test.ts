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
      expect.objectContaining({ level: "INFO", message: "file-deleter", status: "completed", name: "gdpr-42" }),
    );
    expect(audit.messages).toContainEqual(expect.objectContaining({ pipeline: "file-deleter" }));
  });

  it("takes the payload of a direct invocation as the request, and refuses a bucket outside the allow-list", async () => {
    const results = await fn.handler(
      { bucket: "SomeoneElsesBucket", keys: ["a.csv"], reason: "clean-up" },
      lambdaContext("FileDeleter", "inv-2"),
    );

    expect(results).toEqual([expect.objectContaining({ status: "refused" })]);
    expect(fn.stdout.logs()).toContainEqual(expect.objectContaining({ message: "file-deleter", status: "refused" }));
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
