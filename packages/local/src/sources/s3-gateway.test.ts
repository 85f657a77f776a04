import http from "node:http";
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketPolicyCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  DeleteObjectTaggingCommand,
  GetBucketLocationCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadBucketCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { type FauxqsServer, startFauxqs } from "fauxqs";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { ObjectChange } from "./s3-events.ts";
import { type S3Gateway, startS3Gateway } from "./s3-gateway.ts";
import { deletedKeys } from "./s3-object-changes.ts";

describe("S3 gateway (against the S3 emulator)", () => {
  let fauxqs: FauxqsServer;
  let gateway: S3Gateway;
  let s3: S3Client;
  let changes: ObjectChange[] = [];
  const bucket = "gateway-test";

  const settle = async (count: number) => {
    for (let i = 0; i < 100 && changes.length < count; i++) await new Promise((r) => setTimeout(r, 20));
  };

  beforeAll(async () => {
    fauxqs = await startFauxqs({ port: 0, logger: false });
    gateway = await startS3Gateway({ upstream: `http://127.0.0.1:${fauxqs.port}`, onChange: (c) => changes.push(c) });
    s3 = new S3Client({
      region: "us-east-1",
      endpoint: gateway.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
      requestChecksumCalculation: "WHEN_REQUIRED",
    });
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  });
  afterAll(async () => {
    await gateway.stop();
    await fauxqs.stop();
  });
  beforeEach(() => {
    changes = [];
  });

  it.each(["incoming/a b.csv", "incoming/a+b.csv", "incoming/100%.csv", "incoming/dt=1/été 😀.csv"])(
    "reports a PUT of %j with its raw key, size and ETag, and passes the object through",
    async (key) => {
      const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: "hello" }));
      await settle(1);
      expect(changes).toEqual([
        expect.objectContaining({
          bucket,
          key,
          eventName: "ObjectCreated:Put",
          size: 5,
          eTag: put.ETag?.replace(/"/g, ""),
        }),
      ]);
      const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      expect(await got.Body?.transformToString()).toBe("hello");
    },
  );

  it("stores an empty PUT without a Content-Type as S3 does (binary/octet-stream, zero bytes) and reports it", async () => {
    // What `aws s3api put-object --bucket b --key folder/` sends: no body, no Content-Type.
    const key = "incoming/sales/folder/";
    const status = await new Promise<number>((resolve, reject) => {
      const url = new URL(`${gateway.endpoint}/${bucket}/${key}`);
      const req = http.request(url, { method: "PUT", headers: { "content-length": "0" } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      req.end();
    });
    expect(status).toBe(200);
    await settle(1);
    expect(changes).toEqual([expect.objectContaining({ bucket, key, eventName: "ObjectCreated:Put", size: 0 })]);
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    expect(got.ContentType).toBe("binary/octet-stream");
    expect(got.ContentLength).toBe(0);
    expect(await got.Body?.transformToString()).toBe("");
  });

  it("reports copies, completed multipart uploads, deletes and each key of a batch delete", async () => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "src.txt", Body: "abc" }));
    await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: "copy of.txt", CopySource: `${bucket}/src.txt` }));
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: "big.bin" }));
    const part = await s3.send(
      new UploadPartCommand({ Bucket: bucket, Key: "big.bin", UploadId, PartNumber: 1, Body: Buffer.alloc(1024, 1) }),
    );
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: "big.bin",
        UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
      }),
    );
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: "src.txt" }));
    await s3.send(
      new DeleteObjectsCommand({
        Bucket: bucket,
        Delete: { Objects: [{ Key: "copy of.txt" }, { Key: "big.bin" }] },
      }),
    );
    await settle(6);
    expect(changes.map((c) => [c.eventName, c.key])).toEqual([
      ["ObjectCreated:Put", "src.txt"],
      ["ObjectCreated:Copy", "copy of.txt"],
      ["ObjectCreated:CompleteMultipartUpload", "big.bin"],
      ["ObjectRemoved:Delete", "src.txt"],
      ["ObjectRemoved:Delete", "copy of.txt"],
      ["ObjectRemoved:Delete", "big.bin"],
    ]);
    expect(changes[2]?.size).toBe(1024);
    const sequencers = changes.map((c) => c.sequencer);
    expect([...sequencers].sort()).toEqual(sequencers);
  });

  it("reports nothing for a failed request", async () => {
    await expect(
      s3.send(new CopyObjectCommand({ Bucket: bucket, Key: "x", CopySource: `${bucket}/missing` })),
    ).rejects.toMatchObject({ name: "NoSuchKey", $metadata: { httpStatusCode: 404 } });
    // A request that succeeds after it: once its change is reported, one for the failed copy would have been too.
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "after.txt", Body: "ok" }));
    await settle(1);
    expect(changes.map((c) => [c.eventName, c.key])).toEqual([["ObjectCreated:Put", "after.txt"]]);
  });

  it("enforces conditional writes (If-None-Match: *, If-Match), which the emulator ignores: one of concurrent creates wins", async () => {
    const key = "cdc/_cdc/metadata/v1.json";
    const attempts = await Promise.allSettled(
      ["a", "b", "c", "d"].map((body) =>
        s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, IfNoneMatch: "*" })),
      ),
    );
    expect(attempts.filter((a) => a.status === "fulfilled")).toHaveLength(1);
    for (const failed of attempts.filter((a) => a.status === "rejected"))
      expect((failed as PromiseRejectedResult).reason).toMatchObject({
        name: "PreconditionFailed",
        $metadata: { httpStatusCode: 412 },
      });
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const eTag = got.ETag as string;
    await got.Body?.transformToString();
    await expect(
      s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: "x", IfMatch: '"nope"' })),
    ).rejects.toMatchObject({
      name: "PreconditionFailed",
    });
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: "e", IfMatch: eTag }));
    const after = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    expect(await after.Body?.transformToString()).toBe("e");
    await settle(2);
    expect(changes.filter((c) => c.eventName === "ObjectCreated:Put")).toHaveLength(2);
  });

  it("refuses a single PUT over the local limit as S3 refuses an oversized one: 400 EntityTooLarge, saying to use multipart", async () => {
    const limit = 11 * 1024 * 1024;
    const key = "incoming/too-big.bin";
    // The SDK, as `pnpm push` and scripts use it.
    const refused = s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.alloc(limit + 1) }));
    await expect(refused).rejects.toMatchObject({
      name: "EntityTooLarge",
      $metadata: { httpStatusCode: 400 },
      message: expect.stringMatching(/above the local cloud's limit .*11 MiB.*multipart.*aws s3 cp.*pnpm push file/),
    });
    // On the wire: S3's error document, with the sizes; with and without a Content-Length.
    const put = (headers: http.OutgoingHttpHeaders) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request(`${gateway.endpoint}/${bucket}/${key}`, { method: "PUT", headers }, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
        });
        req.on("error", reject);
        req.end(Buffer.alloc(limit + 1));
      });
    for (const answer of [await put({ "content-length": limit + 1 }), await put({ "transfer-encoding": "chunked" })]) {
      expect(answer.status).toBe(400);
      expect(answer.body).toMatch(
        /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<Error><Code>EntityTooLarge<\/Code><Message>[^<]+<\/Message>/,
      );
      expect(answer.body).toContain(`<MaxSizeAllowed>${limit}</MaxSizeAllowed>`);
      expect(answer.body).toMatch(/<RequestId>[^<]+<\/RequestId><HostId>[^<]+<\/HostId><\/Error>$/);
    }
    expect((await put({ "content-length": limit + 1 })).body).toContain(`<ProposedSize>${limit + 1}</ProposedSize>`);
    await new Promise((r) => setTimeout(r, 100));
    expect(changes).toEqual([]);
  });

  it("answers 501 NotImplemented, to every caller, what the emulator would run as another operation, which then does not happen", async () => {
    const key = "tags/t.txt";
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: "DATA" }));
    await settle(1);
    changes = [];
    const refused = async (call: Promise<unknown>, operation: string) => {
      const err = await call.then(
        () => undefined,
        (e: { name: string; message: string; $metadata: { httpStatusCode?: number } }) => e,
      );
      expect(err, operation).toMatchObject({
        name: "NotImplemented",
        message: expect.stringContaining(`${operation} is not implemented by the local S3`),
        $metadata: { httpStatusCode: 501 },
      });
    };
    await refused(s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key })), "GetObjectTagging");
    const TagSet = [{ Key: "a", Value: "b" }];
    await refused(
      s3.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: key, Tagging: { TagSet } })),
      "PutObjectTagging",
    );
    await refused(s3.send(new DeleteObjectTaggingCommand({ Bucket: bucket, Key: key })), "DeleteObjectTagging");
    await refused(s3.send(new ListObjectVersionsCommand({ Bucket: bucket })), "ListObjectVersions");
    await refused(s3.send(new GetBucketLocationCommand({ Bucket: bucket })), "GetBucketLocation");
    await refused(s3.send(new DeleteBucketPolicyCommand({ Bucket: bucket })), "DeleteBucketPolicy");
    // The object and the bucket are as they were (fauxqs would have returned, overwritten or deleted them).
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    expect(await got.Body?.transformToString()).toBe("DATA");
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
    // A browser-form upload: refused too (its object would raise no notification).
    const form = `--XyZ\r\nContent-Disposition: form-data; name="key"\r\n\r\nplanted.txt\r\n--XyZ\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\nPLANTED\r\n--XyZ--\r\n`;
    const posted = await fetch(`${gateway.endpoint}/${bucket}`, {
      method: "POST",
      headers: { "content-type": "multipart/form-data; boundary=XyZ" },
      body: form,
    });
    expect([posted.status, await posted.text()]).toEqual([501, expect.stringContaining("<Code>NotImplemented</Code>")]);
    await new Promise((r) => setTimeout(r, 50));
    expect(changes).toEqual([]);
    const planted = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "planted.txt" })).then(
      () => "found",
      (e: Error) => e.name,
    );
    expect(planted).toBe("NoSuchKey");
  });

  it("parses the deleted keys of a DeleteObjects response, XML entities included", () => {
    const xml =
      '<?xml version="1.0"?><DeleteResult><Deleted><Key>a &amp; b.txt</Key></Deleted><Error><Key>x</Key></Error><Deleted><Key>c&lt;d</Key><VersionId>1</VersionId></Deleted></DeleteResult>';
    expect(deletedKeys(xml)).toEqual(["a & b.txt", "c<d"]);
  });
});
