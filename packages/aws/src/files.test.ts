/**
 * The exact S3 requests of the file pipelines' adapters. These are asserted with aws-sdk-client-mock because the
 * local S3 emulator (fauxqs) cannot show them: it has no versioning and no ListObjectVersions, ignores
 * CopySourceIfMatch, tagging directives, storage classes and conditional writes, and its UploadPartCopy ignores
 * the copy source. Flows that the emulator can run are tested end to end in test/e2e/files.test.ts.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import {
  CopyOutOfTime,
  defaultRoutingRules,
  InconsistentListing,
  MiB,
  type MoveDependencies,
  moveObject,
  ObjectTooLarge,
  PreconditionFailed,
} from "@sluice/files";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { createS3DeleterStore, createS3MoverStore } from "./files.ts";

const s3 = mockClient(S3Client);
const client = new S3Client({ region: "us-east-1" });
const mover = createS3MoverStore(client);
const deleter = createS3DeleterStore(client);

function s3Error(name: string, status: number) {
  return new S3ServiceException({ name, $fault: "client", $metadata: { httpStatusCode: status }, message: name });
}

beforeEach(() => s3.reset());

describe("S3 mover store", () => {
  it("heads with checksums enabled and maps the answer; a missing object is undefined", async () => {
    s3.on(HeadObjectCommand, { Key: "incoming/a b.csv" }).resolves({
      ContentLength: 12,
      ETag: '"abc"',
      VersionId: "v1",
      ContentType: "text/csv",
      StorageClass: "STANDARD_IA",
      ChecksumCRC64NVME: "AAAAAAAAAAA=",
      ChecksumType: "FULL_OBJECT",
      Metadata: { owner: "sales" },
    });
    s3.on(HeadObjectCommand, { Key: "gone" }).rejects(s3Error("NotFound", 404));
    expect(await mover.head({ bucket: "inbox", key: "incoming/a b.csv" })).toEqual({
      size: 12,
      eTag: "abc",
      versionId: "v1",
      contentType: "text/csv",
      storageClass: "STANDARD_IA",
      checksum: { algorithm: "CRC64NVME", value: "AAAAAAAAAAA=", type: "FULL_OBJECT" },
      metadata: { owner: "sales" },
    });
    expect(s3.commandCalls(HeadObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: "inbox",
      Key: "incoming/a b.csv",
      ChecksumMode: "ENABLED",
    });
    expect(await mover.head({ bucket: "inbox", key: "gone" })).toBeUndefined();
  });

  it("copies server-side, pinned to the source ETag, keeping metadata, tags, storage class and checksum algorithm", async () => {
    s3.on(CopyObjectCommand).resolves({
      CopyObjectResult: { ETag: '"abc"', ChecksumCRC32: "AAAAAA==" },
      VersionId: "d1",
    });
    const receipt = await mover.copyObject({
      source: { bucket: "inbox", key: "incoming/x/a b+c%20é.csv" },
      sourceETag: "abc",
      destination: { bucket: "lake", key: "raw/x/dt=2026-11-23/a b+c%20é.csv" },
      storageClass: "STANDARD_IA",
      checksumAlgorithm: "CRC32",
    });
    expect(s3.commandCalls(CopyObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: "lake",
      Key: "raw/x/dt=2026-11-23/a b+c%20é.csv",
      CopySource: "inbox/incoming/x/a%20b%2Bc%2520%C3%A9.csv",
      CopySourceIfMatch: '"abc"',
      MetadataDirective: "COPY",
      TaggingDirective: "COPY",
      StorageClass: "STANDARD_IA",
      ChecksumAlgorithm: "CRC32",
    });
    expect(receipt).toEqual({
      eTag: "abc",
      versionId: "d1",
      checksum: { algorithm: "CRC32", value: "AAAAAA==", type: "FULL_OBJECT" },
    });
  });

  it("names the source version when there is one", async () => {
    s3.on(CopyObjectCommand).resolves({ CopyObjectResult: { ETag: '"abc"' } });
    await mover.copyObject({
      source: { bucket: "inbox", key: "k", versionId: "v/1" },
      sourceETag: "abc",
      destination: { bucket: "lake", key: "k" },
    });
    expect(s3.commandCalls(CopyObjectCommand)[0]?.args[0].input.CopySource).toBe("inbox/k?versionId=v%2F1");
  });

  it("turns a failed CopySourceIfMatch (412) into PreconditionFailed", async () => {
    s3.on(CopyObjectCommand).rejects(s3Error("PreconditionFailed", 412));
    await expect(
      mover.copyObject({
        source: { bucket: "i", key: "k" },
        sourceETag: "abc",
        destination: { bucket: "l", key: "k" },
      }),
    ).rejects.toBeInstanceOf(PreconditionFailed);
  });

  it("deletes exactly the copied version in a versioned bucket, and only the copied ETag otherwise", async () => {
    s3.on(DeleteObjectCommand).resolves({});
    await mover.deleteObject({ bucket: "inbox", key: "k", versionId: "v1" });
    await mover.deleteObject({ bucket: "inbox", key: "k", ifMatch: "abc" });
    expect(s3.commandCalls(DeleteObjectCommand).map((c) => c.args[0].input)).toEqual([
      { Bucket: "inbox", Key: "k", VersionId: "v1" },
      { Bucket: "inbox", Key: "k", IfMatch: '"abc"' },
    ]);
    s3.on(DeleteObjectCommand).rejects(s3Error("PreconditionFailed", 412));
    await expect(mover.deleteObject({ bucket: "inbox", key: "k", ifMatch: "abc" })).rejects.toBeInstanceOf(
      PreconditionFailed,
    );
    s3.on(DeleteObjectCommand).rejects(s3Error("NoSuchKey", 404));
    expect(await mover.deleteObject({ bucket: "inbox", key: "k", ifMatch: "abc" })).toBe("not-found");
  });

  it("moves an object above the threshold with CreateMultipartUpload, UploadPartCopy ranges and Complete", async () => {
    const size = 12 * MiB + 5;
    s3.on(HeadObjectCommand).resolves({
      ContentLength: size,
      ETag: '"src-2"',
      ContentType: "application/parquet",
      Metadata: { owner: "sales" },
      CacheControl: "no-cache",
      ChecksumCRC32C: "AAAAAA==",
      ChecksumType: "FULL_OBJECT",
    });
    s3.on(GetObjectTaggingCommand).resolves({ TagSet: [{ Key: "pii", Value: "no way" }] });
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: "u1" });
    s3.on(UploadPartCopyCommand).callsFake((input: { PartNumber: number }) => ({
      CopyPartResult: { ETag: `"p${input.PartNumber}"`, ChecksumCRC32C: `c${input.PartNumber}` },
    }));
    s3.on(CompleteMultipartUploadCommand).resolves({
      ETag: '"dst-3"',
      ChecksumCRC32C: "AAAAAA==",
      ChecksumType: "FULL_OBJECT",
    });
    s3.on(DeleteObjectCommand).resolves({});
    const deps: MoveDependencies = {
      store: mover,
      audit: { publish: async () => {} },
      rules: defaultRoutingRules,
      buckets: { Lake: "lake" },
      multipartThresholdBytes: 5 * MiB,
      multipart: { preferredPartBytes: 5 * MiB, maxParallelParts: 2 },
    };
    const outcome = await moveObject(
      {
        bucket: "inbox",
        key: "incoming/ds/big.parquet",
        size,
        eTag: "src-2",
        eventTime: new Date("2026-11-23T00:00:00Z"),
      },
      deps,
    );
    expect(outcome).toMatchObject({ outcome: "moved", method: "multipart", parts: 3, verifiedBy: "checksum" });
    expect(s3.commandCalls(CreateMultipartUploadCommand)[0]?.args[0].input).toEqual({
      Bucket: "lake",
      Key: "raw/ds/dt=2026-11-23/big.parquet",
      ContentType: "application/parquet",
      Metadata: { owner: "sales" },
      CacheControl: "no-cache",
      Tagging: "pii=no%20way",
      ChecksumAlgorithm: "CRC32C",
      ChecksumType: "FULL_OBJECT",
    });
    const parts = s3
      .commandCalls(UploadPartCopyCommand)
      .map((c) => c.args[0].input)
      .sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
    expect(parts.map((p) => [p.PartNumber, p.CopySourceRange, p.CopySourceIfMatch, p.CopySource, p.UploadId])).toEqual([
      [1, `bytes=0-${5 * MiB - 1}`, '"src-2"', "inbox/incoming/ds/big.parquet", "u1"],
      [2, `bytes=${5 * MiB}-${10 * MiB - 1}`, '"src-2"', "inbox/incoming/ds/big.parquet", "u1"],
      [3, `bytes=${10 * MiB}-${size - 1}`, '"src-2"', "inbox/incoming/ds/big.parquet", "u1"],
    ]);
    expect(s3.commandCalls(CompleteMultipartUploadCommand)[0]?.args[0].input.MultipartUpload?.Parts).toEqual([
      { PartNumber: 1, ETag: '"p1"', ChecksumCRC32C: "c1" },
      { PartNumber: 2, ETag: '"p2"', ChecksumCRC32C: "c2" },
      { PartNumber: 3, ETag: '"p3"', ChecksumCRC32C: "c3" },
    ]);
    expect(s3.commandCalls(AbortMultipartUploadCommand)).toHaveLength(0);
    expect(s3.commandCalls(DeleteObjectCommand)[0]?.args[0].input).toEqual({
      Bucket: "inbox",
      Key: "incoming/ds/big.parquet",
      IfMatch: '"src-2"',
    });
  });

  it("aborts the multipart upload when a part copy fails, and deletes nothing", async () => {
    s3.on(HeadObjectCommand).resolves({ ContentLength: 11 * MiB, ETag: '"src-2"' });
    s3.on(GetObjectTaggingCommand).resolves({ TagSet: [] });
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: "u9" });
    s3.on(UploadPartCopyCommand).rejects(s3Error("InternalError", 500));
    s3.on(AbortMultipartUploadCommand).resolves({});
    await expect(
      moveObject(
        { bucket: "inbox", key: "incoming/ds/big.bin", size: 11 * MiB, eTag: "src-2", eventTime: new Date() },
        {
          store: mover,
          audit: { publish: async () => {} },
          rules: defaultRoutingRules,
          buckets: { Lake: "lake" },
          multipartThresholdBytes: 5 * MiB,
          multipart: { preferredPartBytes: 5 * MiB },
        },
      ),
    ).rejects.toThrow();
    expect(s3.commandCalls(AbortMultipartUploadCommand)[0]?.args[0].input).toMatchObject({
      UploadId: "u9",
      Bucket: "lake",
    });
    expect(s3.commandCalls(CompleteMultipartUploadCommand)).toHaveLength(0);
    expect(s3.commandCalls(DeleteObjectCommand)).toHaveLength(0);
  });

  it("stops a multipart copy at the deadline: AbortMultipartUpload, no CompleteMultipartUpload, nothing deleted", async () => {
    // Four 5 MiB parts, one at a time, 20 s each on the move's clock; 50 s to the deadline: after the first part,
    // the rate says the other three need 60 s, with 30 s left.
    let clock = 0;
    s3.on(HeadObjectCommand).resolves({ ContentLength: 20 * MiB, ETag: '"src-4"' });
    s3.on(GetObjectTaggingCommand).resolves({ TagSet: [] });
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: "u7" });
    s3.on(UploadPartCopyCommand).callsFake((input: { PartNumber: number }) => {
      clock += 20_000;
      return { CopyPartResult: { ETag: `"p${input.PartNumber}"` } };
    });
    s3.on(AbortMultipartUploadCommand).resolves({});
    const move = moveObject(
      { bucket: "inbox", key: "incoming/ds/huge.bin", size: 20 * MiB, eTag: "src-4", eventTime: new Date() },
      {
        store: mover,
        audit: { publish: async () => {} },
        rules: defaultRoutingRules,
        buckets: { Lake: "lake" },
        multipartThresholdBytes: 5 * MiB,
        multipart: { preferredPartBytes: 5 * MiB, maxParallelParts: 1 },
        now: () => clock,
        deadline: 50_000,
      },
    );
    await expect(move).rejects.toThrow(CopyOutOfTime);
    expect(s3.commandCalls(UploadPartCopyCommand).map((c) => c.args[0].input.PartNumber)).toEqual([1]);
    expect(s3.commandCalls(AbortMultipartUploadCommand).map((c) => c.args[0].input)).toEqual([
      { Bucket: "lake", Key: expect.stringMatching(/huge\.bin$/), UploadId: "u7" },
    ]);
    expect(s3.commandCalls(CompleteMultipartUploadCommand)).toHaveLength(0);
    expect(s3.commandCalls(DeleteObjectCommand)).toHaveLength(0);
  });
});

describe("S3 deleter store", () => {
  it("lists current objects after a key", async () => {
    s3.on(ListObjectsV2Command).resolves({ Contents: [{ Key: "p/1", Size: 3 }], IsTruncated: true });
    expect(await deleter.listObjects({ bucket: "lake", prefix: "p/", startAfter: "p/0", maxKeys: 1000 })).toEqual({
      entries: [{ key: "p/1", size: 3 }],
      isTruncated: true,
    });
    expect(s3.commandCalls(ListObjectsV2Command)[0]?.args[0].input).toEqual({
      Bucket: "lake",
      Prefix: "p/",
      MaxKeys: 1000,
      StartAfter: "p/0",
    });
  });

  it("takes an endpoint that answers ListObjectVersions NotImplemented for one without versions: a permanent failure", async () => {
    s3.on(ListObjectVersionsCommand).rejects(s3Error("NotImplemented", 501));
    const listing = deleter.listVersions({ bucket: "lake", prefix: "p/", maxKeys: 1000 });
    await expect(listing).rejects.toBeInstanceOf(InconsistentListing);
    await expect(listing).rejects.toThrow(/NotImplemented.*does not support versions/);
  });

  it("lists every version and delete marker from the markers", async () => {
    s3.on(ListObjectVersionsCommand).resolves({
      Versions: [
        { Key: "p/a", VersionId: "v2", Size: 1 },
        { Key: "p/b", VersionId: "v1", Size: 1 },
      ],
      DeleteMarkers: [{ Key: "p/a", VersionId: "m3" }],
      IsTruncated: true,
      NextKeyMarker: "p/b",
      NextVersionIdMarker: "v1",
    });
    const page = await deleter.listVersions({
      bucket: "lake",
      prefix: "p/",
      keyMarker: "p/0",
      versionIdMarker: "v0",
      maxKeys: 1000,
    });
    expect(s3.commandCalls(ListObjectVersionsCommand)[0]?.args[0].input).toEqual({
      Bucket: "lake",
      Prefix: "p/",
      MaxKeys: 1000,
      KeyMarker: "p/0",
      VersionIdMarker: "v0",
    });
    expect(page).toEqual({
      entries: [
        { key: "p/a", versionId: "v2", isDeleteMarker: false, size: 1 },
        { key: "p/a", versionId: "m3", isDeleteMarker: true },
        { key: "p/b", versionId: "v1", isDeleteMarker: false, size: 1 },
      ],
      isTruncated: true,
      nextKeyMarker: "p/b",
      nextVersionIdMarker: "v1",
    });
  });

  it("deletes a batch with DeleteObjects (versions named) and returns per-key errors", async () => {
    s3.on(DeleteObjectsCommand).resolves({
      Errors: [{ Key: "p/b", VersionId: "v1", Code: "AccessDenied", Message: "Access Denied" }],
    });
    const result = await deleter.deleteBatch({
      bucket: "lake",
      entries: [{ key: "p/a", versionId: "v2" }, { key: "p/b", versionId: "v1" }, { key: "p/c" }],
    });
    expect(s3.commandCalls(DeleteObjectsCommand)[0]?.args[0].input).toEqual({
      Bucket: "lake",
      Delete: {
        Quiet: true,
        Objects: [{ Key: "p/a", VersionId: "v2" }, { Key: "p/b", VersionId: "v1" }, { Key: "p/c" }],
      },
    });
    expect(result).toEqual({
      deleted: [{ key: "p/a", versionId: "v2" }, { key: "p/c" }],
      errors: [{ key: "p/b", versionId: "v1", code: "AccessDenied", message: "Access Denied" }],
    });
    await expect(
      deleter.deleteBatch({ bucket: "lake", entries: Array.from({ length: 1001 }, (_, i) => ({ key: `${i}` })) }),
    ).rejects.toThrow(RangeError);
  });

  it("writes reports conditionally and reads requests pinned to the event's ETag", async () => {
    s3.on(PutObjectCommand).resolves({ ETag: '"r1"' });
    expect(
      await deleter.putText({ bucket: "inbox", key: "reports/delete/x.json", text: "{}", ifNoneMatch: true }),
    ).toBe("r1");
    await deleter.putText({ bucket: "inbox", key: "reports/delete/x.json", text: "{}", ifMatch: "r1" });
    expect(
      s3.commandCalls(PutObjectCommand).map((c) => [c.args[0].input.IfNoneMatch, c.args[0].input.IfMatch]),
    ).toEqual([
      ["*", undefined],
      [undefined, '"r1"'],
    ]);
    s3.on(PutObjectCommand).rejects(s3Error("PreconditionFailed", 412));
    await expect(deleter.putText({ bucket: "inbox", key: "k", text: "", ifMatch: "r1" })).rejects.toBeInstanceOf(
      PreconditionFailed,
    );
    s3.on(GetObjectCommand).rejects(s3Error("NoSuchKey", 404));
    expect(await deleter.getText({ bucket: "inbox", key: "k", ifMatch: "e" })).toBeUndefined();
    expect(s3.commandCalls(GetObjectCommand)[0]?.args[0].input).toEqual({ Bucket: "inbox", Key: "k", IfMatch: '"e"' });
  });

  it("refuses an object over maxBytes on its Content-Length, without reading the body", async () => {
    const { Readable } = await import("node:stream");
    const body = Object.assign(Readable.from(["x".repeat(64)]), {
      transformToString: async () => {
        throw new Error("the body was read");
      },
    });
    s3.on(GetObjectCommand).resolves({ ETag: '"big"', ContentLength: 17 * 1024 * 1024, Body: body as never });

    const read = deleter.getText({ bucket: "inbox", key: "requests/delete/big.json", maxBytes: 16 * 1024 * 1024 });

    await expect(read).rejects.toBeInstanceOf(ObjectTooLarge);
    await expect(read).rejects.toMatchObject({ size: 17 * 1024 * 1024, limit: 16 * 1024 * 1024 });
    expect(body.destroyed).toBe(true);
  });
});
