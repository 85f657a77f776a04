/**
 * The ports the file pipelines need, as small interfaces: `packages/aws` implements them with the S3 client,
 * tests hand in in-memory fakes. Failures of conditional requests arrive as `PreconditionFailed`. The audit port
 * is the contract's (`AuditPort` of `@sluice/messages`).
 */
import type { StorageClassName } from "./routing.ts";

export type ChecksumAlgorithm = "CRC32" | "CRC32C" | "CRC64NVME" | "SHA1" | "SHA256";

export interface Checksum {
  algorithm: ChecksumAlgorithm;
  /** Base64, as S3 returns it (`...-N` for a composite checksum of N parts). */
  value: string;
  /** FULL_OBJECT: of the whole object; COMPOSITE: a checksum of the parts' checksums. */
  type: "FULL_OBJECT" | "COMPOSITE";
}

export interface ObjectRef {
  bucket: string;
  key: string;
  versionId?: string;
}

/** What HeadObject says about an object. */
export interface ObjectHead {
  size: number;
  /** Without quotes. */
  eTag: string;
  versionId?: string;
  contentType?: string;
  /** Absent means STANDARD. */
  storageClass?: string;
  checksum?: Checksum;
  /** User metadata (`x-amz-meta-*`), keys lower case. */
  metadata: Record<string, string>;
  cacheControl?: string;
  contentDisposition?: string;
  contentEncoding?: string;
  contentLanguage?: string;
  expires?: Date;
}

/** What a copy wrote, as S3 reports it. */
export interface CopyReceipt {
  /** Without quotes. */
  eTag: string;
  versionId?: string;
  checksum?: Checksum;
}

export interface CopyObjectInput {
  source: ObjectRef;
  /** The copy happens only if the source still has this ETag (`CopySourceIfMatch`). */
  sourceETag: string;
  destination: { bucket: string; key: string };
  storageClass?: StorageClassName | string;
  checksumAlgorithm?: ChecksumAlgorithm;
}

export interface StartMultipartInput {
  destination: { bucket: string; key: string };
  /** Content type, metadata and headers to give the new object (UploadPartCopy copies bytes only). */
  head: ObjectHead;
  /** `k1=v1&k2=v2`, URL-encoded. */
  tagging?: string;
  storageClass?: string;
  checksumAlgorithm?: ChecksumAlgorithm;
}

export interface CopyPartInput {
  destination: { bucket: string; key: string };
  uploadId: string;
  partNumber: number;
  source: ObjectRef;
  sourceETag: string;
  /** Inclusive byte range. */
  start: number;
  end: number;
}

export interface CopiedPart {
  partNumber: number;
  eTag: string;
  checksum?: string;
}

export interface DeleteObjectInput {
  bucket: string;
  key: string;
  /** Deletes exactly this version (versioned buckets). */
  versionId?: string;
  /** Deletes only if the current object still has this ETag (unversioned buckets). */
  ifMatch?: string;
}

/** Object operations the file mover needs. */
export interface MoverStore {
  head(ref: ObjectRef): Promise<ObjectHead | undefined>;
  copyObject(input: CopyObjectInput): Promise<CopyReceipt>;
  getTagging(ref: ObjectRef): Promise<Record<string, string>>;
  startMultipartCopy(input: StartMultipartInput): Promise<string>;
  copyPart(input: CopyPartInput): Promise<CopiedPart>;
  completeMultipartCopy(input: {
    destination: { bucket: string; key: string };
    uploadId: string;
    parts: readonly CopiedPart[];
    /** The algorithm the upload was started with: each part's `checksum` is of that algorithm. */
    checksumAlgorithm?: ChecksumAlgorithm;
  }): Promise<CopyReceipt>;
  abortMultipartCopy(input: { destination: { bucket: string; key: string }; uploadId: string }): Promise<void>;
  /** `deleted`, or `not-found` when there was nothing to delete. */
  deleteObject(input: DeleteObjectInput): Promise<"deleted" | "not-found">;
}

/** One entry of a listing: an object, or (listing versions) a version or a delete marker. */
export interface ListedEntry {
  key: string;
  versionId?: string;
  isDeleteMarker?: boolean;
  size?: number;
}

export interface ListPage {
  entries: ListedEntry[];
  isTruncated: boolean;
  /** ListObjectVersions: where the next page starts. */
  nextKeyMarker?: string;
  nextVersionIdMarker?: string;
}

export interface DeleteBatchResult {
  deleted: ListedEntry[];
  errors: Array<ListedEntry & { code: string; message: string }>;
}

/** Object operations the file deleter needs. */
/** A text object to write; `ifMatch` / `ifNoneMatch: true` make the write conditional. */
export interface PutTextInput {
  bucket: string;
  key: string;
  text: string;
  contentType?: string;
  ifMatch?: string;
  ifNoneMatch?: boolean;
}

export interface DeleterStore {
  /** ListObjectsV2, keys after `startAfter`, at most `maxKeys`. */
  listObjects(input: { bucket: string; prefix: string; startAfter?: string; maxKeys: number }): Promise<ListPage>;
  /** ListObjectVersions (versions and delete markers), from the markers, at most `maxKeys`. */
  listVersions(input: {
    bucket: string;
    prefix: string;
    keyMarker?: string;
    versionIdMarker?: string;
    maxKeys: number;
  }): Promise<ListPage>;
  /** One DeleteObjects call (at most 1000 entries); per-key errors are returned, not thrown. */
  deleteBatch(input: { bucket: string; entries: readonly ListedEntry[] }): Promise<DeleteBatchResult>;
  /**
   * The text of an object and its ETag; undefined when absent. `ifMatch` fails with PreconditionFailed. An object
   * larger than `maxBytes` (its `Content-Length`) fails with ObjectTooLarge before its body is read.
   */
  getText(input: {
    bucket: string;
    key: string;
    ifMatch?: string;
    maxBytes?: number;
  }): Promise<{ text: string; eTag: string } | undefined>;
  /**
   * Writes a text object; `ifMatch` / `ifNoneMatch: true` make it conditional (PreconditionFailed when the object
   * changed, or exists). Returns the new ETag.
   */
  putText(input: PutTextInput): Promise<string>;
  deleteObject(input: DeleteObjectInput): Promise<"deleted" | "not-found">;
}
