/**
 * The S3 adapters of the file pipelines: `MoverStore` (HeadObject, CopyObject, multipart UploadPartCopy,
 * DeleteObject) and `DeleterStore` (ListObjectsV2, ListObjectVersions, DeleteObjects, and the text objects of
 * requests and reports), over one `S3Client`. S3's conditional-request failures become `PreconditionFailed`.
 */
import {
  AbortMultipartUploadCommand,
  type CompletedPart,
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
  type ChecksumAlgorithm as S3ChecksumAlgorithm,
  type S3Client,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import {
  bareETag,
  type Checksum,
  type ChecksumAlgorithm,
  copySourceOf,
  type DeleterStore,
  InconsistentListing,
  type ListedEntry,
  type MoverStore,
  type ObjectHead,
  ObjectTooLarge,
  PreconditionFailed,
} from "@sluice/files";

const ALGORITHMS: readonly ChecksumAlgorithm[] = ["CRC64NVME", "CRC32C", "CRC32", "SHA256", "SHA1"];
/** CRC checksums of a multipart upload can be of the whole object; SHA ones only composite. */
const FULL_OBJECT_CAPABLE = new Set<ChecksumAlgorithm>(["CRC64NVME", "CRC32C", "CRC32"]);

type ChecksumFields = Partial<Record<`Checksum${ChecksumAlgorithm}`, string>> & { ChecksumType?: string };

/** The checksum S3 returned (the first algorithm present), if any. */
export function checksumOf(fields: ChecksumFields): Checksum | undefined {
  for (const algorithm of ALGORITHMS) {
    const value = fields[`Checksum${algorithm}`];
    if (value) {
      const type = fields.ChecksumType === "COMPOSITE" || /-\d+$/.test(value) ? "COMPOSITE" : "FULL_OBJECT";
      return { algorithm, value, type };
    }
  }
  return undefined;
}

const quoted = (eTag: string) => `"${bareETag(eTag)}"`;

/** Drops a response body without reading it (a Node stream is destroyed; anything else is left to the GC). */
function discard(body: unknown): void {
  const stream = body as { destroy?: () => void } | undefined;
  if (typeof stream?.destroy === "function") stream.destroy();
}

interface S3Failure {
  name?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

function statusOf(err: unknown): number | undefined {
  return (err as S3Failure)?.$metadata?.httpStatusCode;
}

function isNotFound(err: unknown): boolean {
  const e = err as S3Failure;
  return statusOf(err) === 404 || e?.name === "NotFound" || e?.name === "NoSuchKey";
}

/** 412 (the condition failed) and 409 (a concurrent conditional write won) both mean "not the object you named". */
function asPrecondition(err: unknown): unknown {
  const e = err as S3Failure;
  if (
    statusOf(err) === 412 ||
    e?.name === "PreconditionFailed" ||
    e?.name === "ConditionalRequestConflict" ||
    statusOf(err) === 409
  ) {
    return new PreconditionFailed(`${e?.name ?? "PreconditionFailed"}: the object is not the version named`);
  }
  return err;
}

/** The file mover's object operations over S3. */
export function createS3MoverStore(client: S3Client): MoverStore {
  return {
    async head(ref) {
      try {
        const out = await client.send(
          new HeadObjectCommand({
            Bucket: ref.bucket,
            Key: ref.key,
            ...(ref.versionId ? { VersionId: ref.versionId } : {}),
            ChecksumMode: "ENABLED",
          }),
        );
        const checksum = checksumOf(out);
        const head: ObjectHead = {
          size: out.ContentLength ?? 0,
          eTag: bareETag(out.ETag ?? ""),
          metadata: { ...(out.Metadata ?? {}) },
          ...(out.VersionId && out.VersionId !== "null" ? { versionId: out.VersionId } : {}),
          ...(out.ContentType ? { contentType: out.ContentType } : {}),
          ...(out.StorageClass ? { storageClass: out.StorageClass } : {}),
          ...(checksum ? { checksum } : {}),
          ...(out.CacheControl ? { cacheControl: out.CacheControl } : {}),
          ...(out.ContentDisposition ? { contentDisposition: out.ContentDisposition } : {}),
          ...(out.ContentEncoding ? { contentEncoding: out.ContentEncoding } : {}),
          ...(out.ContentLanguage ? { contentLanguage: out.ContentLanguage } : {}),
          ...(out.Expires ? { expires: out.Expires } : {}),
        };
        return head;
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },

    async copyObject(input) {
      try {
        const out = await client.send(
          new CopyObjectCommand({
            Bucket: input.destination.bucket,
            Key: input.destination.key,
            CopySource: copySourceOf(input.source.bucket, input.source.key, input.source.versionId),
            CopySourceIfMatch: quoted(input.sourceETag),
            // Content type, user metadata and tags come with the copy; storage class and checksum do not unless named.
            MetadataDirective: "COPY",
            TaggingDirective: "COPY",
            ...(input.storageClass ? { StorageClass: input.storageClass as never } : {}),
            ...(input.checksumAlgorithm ? { ChecksumAlgorithm: input.checksumAlgorithm as S3ChecksumAlgorithm } : {}),
          }),
        );
        const checksum = checksumOf(out.CopyObjectResult ?? {});
        return {
          eTag: bareETag(out.CopyObjectResult?.ETag ?? ""),
          ...(out.VersionId && out.VersionId !== "null" ? { versionId: out.VersionId } : {}),
          ...(checksum ? { checksum } : {}),
        };
      } catch (err) {
        throw asPrecondition(err);
      }
    },

    async getTagging(ref) {
      const out = await client.send(
        new GetObjectTaggingCommand({
          Bucket: ref.bucket,
          Key: ref.key,
          ...(ref.versionId ? { VersionId: ref.versionId } : {}),
        }),
      );
      return Object.fromEntries((out.TagSet ?? []).map((t) => [t.Key ?? "", t.Value ?? ""]));
    },

    async startMultipartCopy(input) {
      const { head } = input;
      const out = await client.send(
        new CreateMultipartUploadCommand({
          Bucket: input.destination.bucket,
          Key: input.destination.key,
          ...(head.contentType ? { ContentType: head.contentType } : {}),
          Metadata: head.metadata,
          ...(head.cacheControl ? { CacheControl: head.cacheControl } : {}),
          ...(head.contentDisposition ? { ContentDisposition: head.contentDisposition } : {}),
          ...(head.contentEncoding ? { ContentEncoding: head.contentEncoding } : {}),
          ...(head.contentLanguage ? { ContentLanguage: head.contentLanguage } : {}),
          ...(head.expires ? { Expires: head.expires } : {}),
          ...(input.tagging ? { Tagging: input.tagging } : {}),
          ...(input.storageClass ? { StorageClass: input.storageClass as never } : {}),
          ...(input.checksumAlgorithm
            ? {
                ChecksumAlgorithm: input.checksumAlgorithm as S3ChecksumAlgorithm,
                // A full-object CRC of the copy is comparable with the source's; a composite one is not.
                ...(FULL_OBJECT_CAPABLE.has(input.checksumAlgorithm) ? { ChecksumType: "FULL_OBJECT" as const } : {}),
              }
            : {}),
        }),
      );
      if (!out.UploadId) throw new Error("CreateMultipartUpload returned no UploadId");
      return out.UploadId;
    },

    async copyPart(input) {
      try {
        const out = await client.send(
          new UploadPartCopyCommand({
            Bucket: input.destination.bucket,
            Key: input.destination.key,
            UploadId: input.uploadId,
            PartNumber: input.partNumber,
            CopySource: copySourceOf(input.source.bucket, input.source.key, input.source.versionId),
            CopySourceIfMatch: quoted(input.sourceETag),
            CopySourceRange: `bytes=${input.start}-${input.end}`,
          }),
        );
        const checksum = checksumOf(out.CopyPartResult ?? {});
        return {
          partNumber: input.partNumber,
          eTag: bareETag(out.CopyPartResult?.ETag ?? ""),
          ...(checksum ? { checksum: checksum.value } : {}),
        };
      } catch (err) {
        throw asPrecondition(err);
      }
    },

    async completeMultipartCopy(input) {
      const parts: CompletedPart[] = [...input.parts]
        .sort((a, b) => a.partNumber - b.partNumber)
        .map((p) => ({
          PartNumber: p.partNumber,
          ETag: quoted(p.eTag),
          ...(p.checksum && input.checksumAlgorithm ? { [`Checksum${input.checksumAlgorithm}`]: p.checksum } : {}),
        }));
      const out = await client.send(
        new CompleteMultipartUploadCommand({
          Bucket: input.destination.bucket,
          Key: input.destination.key,
          UploadId: input.uploadId,
          MultipartUpload: { Parts: parts },
        }),
      );
      const checksum = checksumOf(out);
      return {
        eTag: bareETag(out.ETag ?? ""),
        ...(out.VersionId && out.VersionId !== "null" ? { versionId: out.VersionId } : {}),
        ...(checksum ? { checksum } : {}),
      };
    },

    async abortMultipartCopy(input) {
      await client.send(
        new AbortMultipartUploadCommand({
          Bucket: input.destination.bucket,
          Key: input.destination.key,
          UploadId: input.uploadId,
        }),
      );
    },

    deleteObject: (input) => deleteObject(client, input),
  };
}

async function deleteObject(
  client: S3Client,
  input: Parameters<MoverStore["deleteObject"]>[0],
): Promise<"deleted" | "not-found"> {
  try {
    await client.send(
      new DeleteObjectCommand({
        Bucket: input.bucket,
        Key: input.key,
        ...(input.versionId ? { VersionId: input.versionId } : {}),
        ...(input.ifMatch ? { IfMatch: quoted(input.ifMatch) } : {}),
      }),
    );
    return "deleted";
  } catch (err) {
    // A conditional delete of an object that is not there answers 404.
    if (isNotFound(err)) return "not-found";
    throw asPrecondition(err);
  }
}

/** The file deleter's object operations over S3. */
export function createS3DeleterStore(client: S3Client): DeleterStore {
  return {
    async listObjects(input) {
      const out = await client.send(
        new ListObjectsV2Command({
          Bucket: input.bucket,
          Prefix: input.prefix,
          MaxKeys: input.maxKeys,
          ...(input.startAfter !== undefined ? { StartAfter: input.startAfter } : {}),
        }),
      );
      return {
        entries: (out.Contents ?? []).map((o) => ({
          key: o.Key ?? "",
          ...(o.Size !== undefined ? { size: o.Size } : {}),
        })),
        isTruncated: out.IsTruncated === true,
      };
    },

    async listVersions(input) {
      const out = await client
        .send(
          new ListObjectVersionsCommand({
            Bucket: input.bucket,
            Prefix: input.prefix,
            MaxKeys: input.maxKeys,
            ...(input.keyMarker !== undefined ? { KeyMarker: input.keyMarker } : {}),
            ...(input.versionIdMarker !== undefined ? { VersionIdMarker: input.versionIdMarker } : {}),
          }),
        )
        .catch((err: unknown) => {
          // An S3-compatible endpoint without versioning (the local cloud's) may answer 501 NotImplemented: as
          // permanent as an empty version listing that contradicts ListObjectsV2.
          if ((err as Error).name !== "NotImplemented") throw err;
          throw new InconsistentListing(
            `ListObjectVersions answered NotImplemented on ${input.bucket}: this S3 endpoint does not support versions, so allVersions cannot be honoured`,
          );
        });
      const entries: ListedEntry[] = [
        ...(out.Versions ?? []).map((v) => ({
          key: v.Key ?? "",
          versionId: v.VersionId ?? "null",
          isDeleteMarker: false,
          ...(v.Size !== undefined ? { size: v.Size } : {}),
        })),
        ...(out.DeleteMarkers ?? []).map((m) => ({
          key: m.Key ?? "",
          versionId: m.VersionId ?? "null",
          isDeleteMarker: true,
        })),
      ].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      return {
        entries,
        isTruncated: out.IsTruncated === true,
        ...(out.NextKeyMarker !== undefined ? { nextKeyMarker: out.NextKeyMarker } : {}),
        ...(out.NextVersionIdMarker !== undefined ? { nextVersionIdMarker: out.NextVersionIdMarker } : {}),
      };
    },

    async deleteBatch(input) {
      if (input.entries.length > 1000) throw new RangeError("DeleteObjects takes at most 1000 keys");
      const out = await client.send(
        new DeleteObjectsCommand({
          Bucket: input.bucket,
          Delete: {
            // Quiet: S3 lists only the failures; everything else asked for was deleted.
            Quiet: true,
            Objects: input.entries.map((e) => ({ Key: e.key, ...(e.versionId ? { VersionId: e.versionId } : {}) })),
          },
        }),
      );
      const failed = new Set((out.Errors ?? []).map((e) => `${e.Key}\u0000${e.VersionId ?? ""}`));
      return {
        deleted: input.entries.filter((e) => !failed.has(`${e.key}\u0000${e.versionId ?? ""}`)),
        errors: (out.Errors ?? []).map((e) => ({
          key: e.Key ?? "",
          ...(e.VersionId ? { versionId: e.VersionId } : {}),
          code: e.Code ?? "Error",
          message: e.Message ?? "",
        })),
      };
    },

    async getText(input) {
      try {
        const out = await client.send(
          new GetObjectCommand({
            Bucket: input.bucket,
            Key: input.key,
            ...(input.ifMatch ? { IfMatch: quoted(input.ifMatch) } : {}),
          }),
        );
        if (input.maxBytes !== undefined && (out.ContentLength ?? 0) > input.maxBytes) {
          // Refused on its Content-Length: the body is dropped unread (the connection is closed, not drained).
          discard(out.Body);
          throw new ObjectTooLarge(input.key, out.ContentLength ?? 0, input.maxBytes);
        }
        return { text: (await out.Body?.transformToString("utf-8")) ?? "", eTag: bareETag(out.ETag ?? "") };
      } catch (err) {
        if (err instanceof ObjectTooLarge) throw err;
        if (isNotFound(err)) return undefined;
        throw asPrecondition(err);
      }
    },

    async putText(input) {
      try {
        const out = await client.send(
          new PutObjectCommand({
            Bucket: input.bucket,
            Key: input.key,
            Body: input.text,
            ContentType: input.contentType ?? "text/plain; charset=utf-8",
            ...(input.ifMatch ? { IfMatch: quoted(input.ifMatch) } : {}),
            ...(input.ifNoneMatch ? { IfNoneMatch: "*" } : {}),
          }),
        );
        return bareETag(out.ETag ?? "");
      } catch (err) {
        throw asPrecondition(err);
      }
    },

    deleteObject: (input) => deleteObject(client, input),
  };
}
