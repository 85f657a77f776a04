/**
 * The CDC merge's object store (`ObjectStore` of `@sluice/cdc`) on S3: ListObjectsV2 with continuation, GetObject
 * (whole or streamed), PutObject with `IfNoneMatch: "*"` for the commit of a table version, DeleteObjects in
 * batches of 1000. S3 answers a lost conditional write with 412 (or 409 when a concurrent conditional write is in
 * flight): both become `PreconditionFailed`, and the merge retries on top of the version that won.
 */
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { type ListedObject, type ObjectStore, PreconditionFailed } from "@sluice/cdc";

interface S3Failure {
  name?: string;
  $metadata?: { httpStatusCode?: number };
}

const statusOf = (err: unknown) => (err as S3Failure)?.$metadata?.httpStatusCode;

function isNotFound(err: unknown): boolean {
  return statusOf(err) === 404 || (err as S3Failure)?.name === "NoSuchKey";
}

function isConditionFailure(err: unknown): boolean {
  const name = (err as S3Failure)?.name;
  return (
    statusOf(err) === 412 ||
    statusOf(err) === 409 ||
    name === "PreconditionFailed" ||
    name === "ConditionalRequestConflict"
  );
}

/** An `ObjectStore` over one bucket. */
export function createS3ObjectStore(client: S3Client, bucket: string): ObjectStore {
  return {
    async list(prefix) {
      const out: ListedObject[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }),
        );
        for (const o of page.Contents ?? [])
          if (o.Key)
            out.push({
              key: o.Key,
              size: o.Size ?? 0,
              ...(o.LastModified ? { lastModified: o.LastModified.getTime() } : {}),
            });
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    },
    async get(key) {
      try {
        const result = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return result.Body ? await result.Body.transformToByteArray() : new Uint8Array();
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
    },
    async getInto(key, into) {
      let result: GetObjectCommandOutput;
      try {
        result = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
      if (!result.Body) return new Uint8Array();
      if (result.ContentLength === undefined) return await result.Body.transformToByteArray();
      // The response's chunks copied into the reused buffer: no buffer of the object's size allocated per read.
      const bytes = into.reserve(result.ContentLength);
      let at = 0;
      for await (const chunk of result.Body as AsyncIterable<Uint8Array>) {
        if (at + chunk.byteLength > bytes.length) throw new Error(`${key}: more bytes than its Content-Length`);
        bytes.set(chunk, at);
        at += chunk.byteLength;
      }
      if (at !== result.ContentLength) throw new Error(`${key}: ${at} of ${result.ContentLength} bytes received`);
      return bytes.subarray(0, at);
    },
    async *read(key) {
      const result = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      if (!result.Body) return;
      for await (const chunk of result.Body as AsyncIterable<Uint8Array>) yield chunk;
    },
    async put(key, body, options) {
      try {
        await client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: body,
            ...(options?.contentType ? { ContentType: options.contentType } : {}),
            ...(options?.ifNoneMatch ? { IfNoneMatch: "*" } : {}),
          }),
        );
      } catch (error) {
        if (options?.ifNoneMatch && isConditionFailure(error)) throw new PreconditionFailed(`${key} exists`);
        throw error;
      }
    },
    async delete(keys) {
      for (let i = 0; i < keys.length; i += 1000) {
        const batch = keys.slice(i, i + 1000);
        const result = await client.send(
          new DeleteObjectsCommand({
            Bucket: bucket,
            Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
          }),
        );
        const errors = result.Errors ?? [];
        if (errors.length > 0)
          throw new Error(`DeleteObjects: ${errors.length} key(s) not deleted (${errors[0]?.Key}: ${errors[0]?.Code})`);
      }
    },
    uri(key) {
      return `s3://${bucket}/${key}`;
    },
  };
}
