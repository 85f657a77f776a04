/**
 * The exact S3 requests of the CDC store: the conditional commit and how S3's answers map to the port's.
 */
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { PreconditionFailed, ReadBuffer } from "@sluice/cdc";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { createS3ObjectStore } from "./cdc.ts";

const s3 = mockClient(S3Client);
const store = createS3ObjectStore(new S3Client({ region: "us-east-1" }), "curated");

const failure = (name: string, status: number) =>
  new S3ServiceException({ name, $fault: "client", $metadata: { httpStatusCode: status }, message: name });

beforeEach(() => s3.reset());

describe("createS3ObjectStore", () => {
  it("commits with PutObject IfNoneMatch: * and maps 412 and 409 to PreconditionFailed", async () => {
    s3.on(PutObjectCommand)
      .resolvesOnce({})
      .rejectsOnce(failure("PreconditionFailed", 412))
      .rejectsOnce(failure("ConditionalRequestConflict", 409));
    await store.put("s/t/_cdc/metadata/v1.json", "{}", { ifNoneMatch: true, contentType: "application/json" });
    expect(s3.commandCalls(PutObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: "curated",
      Key: "s/t/_cdc/metadata/v1.json",
      Body: "{}",
      ContentType: "application/json",
      IfNoneMatch: "*",
    });
    await expect(store.put("k", "{}", { ifNoneMatch: true })).rejects.toBeInstanceOf(PreconditionFailed);
    await expect(store.put("k", "{}", { ifNoneMatch: true })).rejects.toBeInstanceOf(PreconditionFailed);
  });

  it("writes data files without a condition", async () => {
    s3.on(PutObjectCommand).resolves({});
    await store.put("s/t/data/b0001.parquet", new Uint8Array([1]));
    expect(s3.commandCalls(PutObjectCommand)[0]?.args[0].input).not.toHaveProperty("IfNoneMatch");
  });

  it("lists every page (with LastModified), and answers undefined for a missing object", async () => {
    const at = new Date("2026-11-01T12:00:00Z");
    s3.on(ListObjectsV2Command)
      .resolvesOnce({ Contents: [{ Key: "p/b", Size: 2 }], IsTruncated: true, NextContinuationToken: "t" })
      .resolvesOnce({ Contents: [{ Key: "p/a", Size: 1, LastModified: at }], IsTruncated: false });
    expect(await store.list("p/")).toEqual([
      { key: "p/a", size: 1, lastModified: at.getTime() },
      { key: "p/b", size: 2 },
    ]);
    expect(s3.commandCalls(ListObjectsV2Command)[1]?.args[0].input).toMatchObject({ ContinuationToken: "t" });
    s3.on(GetObjectCommand).rejects(failure("NoSuchKey", 404));
    expect(await store.get("missing")).toBeUndefined();
  });

  it("reads an object into a reused buffer chunk by chunk, and refuses a body shorter than its Content-Length", async () => {
    const body = (chunks: number[][]) =>
      Object.assign(
        (async function* () {
          for (const c of chunks) yield new Uint8Array(c);
        })(),
        { transformToByteArray: async () => new Uint8Array(chunks.flat()) },
      );
    s3.on(GetObjectCommand)
      .resolvesOnce({ Body: body([[1, 2], [3]]) as never, ContentLength: 3 })
      .resolvesOnce({ Body: body([[9]]) as never, ContentLength: 1 })
      .resolvesOnce({ Body: body([[1]]) as never, ContentLength: 2 })
      .rejectsOnce(failure("NoSuchKey", 404));
    const into = new ReadBuffer();
    const first = await store.getInto?.("s/t/_cdc/index/b0000.idx", into);
    expect([...(first as Uint8Array)]).toEqual([1, 2, 3]);
    const second = await store.getInto?.("s/t/_cdc/index/b0001.idx", into);
    expect([...(second as Uint8Array)]).toEqual([9]);
    expect((second as Uint8Array).buffer).toBe((first as Uint8Array).buffer);
    expect(s3.commandCalls(GetObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: "curated",
      Key: "s/t/_cdc/index/b0000.idx",
    });
    await expect(store.getInto?.("short", into)).rejects.toThrow("1 of 2 bytes");
    expect(await store.getInto?.("missing", into)).toBeUndefined();
  });

  it("deletes in batches of 1000 and fails on per-key errors", async () => {
    s3.on(DeleteObjectsCommand).resolves({});
    await store.delete(Array.from({ length: 1500 }, (_, i) => `k${i}`));
    expect(s3.commandCalls(DeleteObjectsCommand).map((c) => c.args[0].input.Delete?.Objects?.length)).toEqual([
      1000, 500,
    ]);
    s3.on(DeleteObjectsCommand).resolves({ Errors: [{ Key: "k1", Code: "AccessDenied" }] });
    await expect(store.delete(["k1"])).rejects.toThrow("AccessDenied");
  });

  it("addresses objects as s3:// URIs (the paths Iceberg manifests name)", () => {
    expect(store.uri("s/t/data/b0001.parquet")).toBe("s3://curated/s/t/data/b0001.parquet");
  });
});
