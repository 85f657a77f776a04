import { describe, expect, it } from "vitest";
import { conditionalPutOf, preconditionHolds } from "./s3-conditional-writes.ts";
import { classifyRequest, type ObjectRequest, reportedChanges, targetOf } from "./s3-object-changes.ts";

const request = (method: string, url: string, headers: Record<string, string> = {}) => ({
  method,
  url,
  headers: { host: "127.0.0.1:4566", ...headers },
});

describe("which S3 requests change objects (no emulator)", () => {
  it.each<[string, ReturnType<typeof request>, ObjectRequest["kind"] | undefined]>([
    ["PutObject", request("PUT", "/inbox/incoming/a%20b.csv"), "put"],
    ["CopyObject", request("PUT", "/inbox/b.csv", { "x-amz-copy-source": "/inbox/a.csv" }), "copy"],
    ["CompleteMultipartUpload", request("POST", "/inbox/big.bin?uploadId=u1"), "complete"],
    ["DeleteObject", request("DELETE", "/inbox/a.csv"), "delete"],
    ["DeleteObjects", request("POST", "/inbox?delete"), "batch-delete"],
    ["UploadPart", request("PUT", "/inbox/big.bin?partNumber=1&uploadId=u1"), undefined],
    ["AbortMultipartUpload", request("DELETE", "/inbox/big.bin?uploadId=u1"), undefined],
    ["PutObjectTagging", request("PUT", "/inbox/a.csv?tagging"), undefined],
    ["PutObjectAcl", request("PUT", "/inbox/a.csv?acl"), undefined],
    ["GetObject", request("GET", "/inbox/a.csv"), undefined],
    ["CreateBucket", request("PUT", "/inbox"), undefined],
  ])("%s", (_, req, kind) => {
    expect(classifyRequest(req)?.kind).toBe(kind);
  });

  it("decodes the key of a path-style and of a virtual-hosted request", () => {
    expect(classifyRequest(request("PUT", "/inbox/dt%3D1/%C3%A9t%C3%A9.csv"))?.target).toMatchObject({
      bucket: "inbox",
      key: "dt=1/été.csv",
    });
    const virtual = { method: "PUT", url: "/a%2Bb.csv", headers: { host: "inbox.s3.localhost:4566" } };
    expect(classifyRequest(virtual)?.target).toMatchObject({ bucket: "inbox", key: "a+b.csv" });
  });
});

describe("the bucket and key of a request, read as the S3 emulator (fauxqs) reads them", () => {
  it("keeps `.` and `..` segments in a key, as S3 and the emulator do (no URL normalisation)", () => {
    expect(targetOf(request("GET", "/inbox/secret/../requests/delete/x"))).toMatchObject({
      bucket: "inbox",
      key: "secret/../requests/delete/x",
    });
    expect(targetOf(request("GET", "/inbox/reports/delete/../../x?versionId=v1"))?.key).toBe("reports/delete/../../x");
    expect(targetOf(request("GET", "/inbox/./a//b"))?.key).toBe("./a//b");
    expect(targetOf(request("GET", "/inbox/%2E%2E/a%2Fb"))?.key).toBe("../a/b");
  });

  it("reads the query after the first ? or #, as the emulator's router does", () => {
    expect(targetOf(request("GET", "/inbox/a.csv?tagging&x=1"))?.query.has("tagging")).toBe(true);
    const fragment = targetOf(request("GET", "/inbox/a#b?tagging"));
    expect(fragment?.key).toBe("a");
    expect(fragment?.query.has("tagging")).toBe(false);
  });

  it("takes the bucket from a dotted Host unless the content type is SNS's or SQS's (then from the path, as the emulator)", () => {
    const host = "lake.localhost:4566";
    expect(targetOf(request("GET", "/cdcraw/c.txt", { host }))).toMatchObject({ bucket: "lake", key: "cdcraw/c.txt" });
    for (const type of ["application/x-www-form-urlencoded", "application/x-amz-json-1.0; charset=utf-8"]) {
      expect(targetOf(request("GET", "/cdcraw/c.txt", { host, "content-type": type }))).toMatchObject({
        bucket: "cdcraw",
        key: "c.txt",
      });
    }
    expect(targetOf(request("GET", "/cdcraw/c.txt", { host: "127.0.0.1:4566" }))?.bucket).toBe("cdcraw");
  });
});

describe("the changes a successful object request reports", () => {
  const response = { requestId: "R1", sourceIp: "127.0.0.1", eventTime: new Date(0), body: "" };

  it("a batch delete: one removal per deleted key, in order, with increasing sequencers", () => {
    const batch = classifyRequest(request("POST", "/inbox?delete")) as ObjectRequest;
    const body =
      "<DeleteResult><Deleted><Key>a &amp; b.csv</Key></Deleted><Error><Key>locked.csv</Key></Error>" +
      "<Deleted><Key>c.csv</Key><VersionId>v1</VersionId></Deleted></DeleteResult>";
    const reported = reportedChanges(batch, { ...response, body });
    expect(reported.kind).toBe("removed");
    if (reported.kind !== "removed") throw new Error("unreachable");
    expect(reported.changes.map((c) => [c.key, c.eventName])).toEqual([
      ["a & b.csv", "ObjectRemoved:Delete"],
      ["c.csv", "ObjectRemoved:Delete"],
    ]);
    const [first, second] = reported.changes.map((c) => c.sequencer);
    expect((second as string) > (first as string)).toBe(true);
  });

  it.each<[string, ReturnType<typeof request>, string]>([
    ["a PUT", request("PUT", "/inbox/a.csv"), "ObjectCreated:Put"],
    ["a copy", request("PUT", "/inbox/a.csv", { "x-amz-copy-source": "/inbox/b.csv" }), "ObjectCreated:Copy"],
    ["a completed upload", request("POST", "/inbox/a.csv?uploadId=u1"), "ObjectCreated:CompleteMultipartUpload"],
  ])("%s: one creation, to be completed with the object's size and ETag", (_, req, eventName) => {
    const reported = reportedChanges(classifyRequest(req) as ObjectRequest, response);
    expect(reported).toMatchObject({ kind: "created", change: { bucket: "inbox", key: "a.csv", eventName } });
  });

  it("a completion answered 200 with an error document reports nothing", () => {
    const complete = classifyRequest(request("POST", "/inbox/a.csv?uploadId=u1")) as ObjectRequest;
    const body = "<Error><Code>InternalError</Code></Error>";
    expect(reportedChanges(complete, { ...response, body })).toEqual({ kind: "none" });
  });
});

describe("conditional writes", () => {
  it("only a PutObject with If-None-Match or If-Match is conditional, locked by bucket and key", () => {
    expect(conditionalPutOf(request("PUT", "/inbox/a.csv", { "if-none-match": "*" }))).toEqual({
      lockKey: "inbox/a.csv",
      ifNoneMatch: "*",
      ifMatch: undefined,
    });
    expect(conditionalPutOf(request("PUT", "/inbox/a.csv"))).toBeUndefined();
    expect(conditionalPutOf(request("DELETE", "/inbox/a.csv", { "if-match": '"e1"' }))).toBeUndefined();
  });

  const absent = { status: 404 };
  const present = { status: 200, eTag: "e1" };
  it.each<[string, { ifNoneMatch?: string; ifMatch?: string }, { status: number; eTag?: string }, boolean]>([
    ["If-None-Match: * on a new key", { ifNoneMatch: "*" }, absent, true],
    ["If-None-Match: * on an existing key", { ifNoneMatch: "*" }, present, false],
    ["If-Match on the current ETag (quoted)", { ifMatch: '"e1"' }, present, true],
    ["If-Match on another ETag", { ifMatch: '"e2"' }, present, false],
    ["If-Match on a missing key", { ifMatch: '"e1"' }, absent, false],
    ["If-None-Match on another ETag", { ifNoneMatch: '"e2"' }, present, true],
  ])("%s", (_, condition, current, holds) => {
    expect(preconditionHolds({ lockKey: "inbox/a.csv", ...condition }, current)).toBe(holds);
  });
});
