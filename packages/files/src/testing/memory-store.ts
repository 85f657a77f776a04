/**
 * An in-memory S3 for tests of the file pipelines: versioned or not per bucket, conditional requests, multipart
 * copies, listings with S3's markers, per-call counting and fault injection. It implements both `MoverStore` and
 * `DeleterStore`, with S3's semantics where the domain relies on them.
 */
import { createHash } from "node:crypto";
import { ObjectTooLarge, PreconditionFailed } from "../errors.ts";
import type {
  Checksum,
  ChecksumAlgorithm,
  CopiedPart,
  CopyReceipt,
  DeleteBatchResult,
  DeleteObjectInput,
  DeleterStore,
  ListedEntry,
  ListPage,
  MoverStore,
  ObjectHead,
  ObjectRef,
  PutTextInput,
} from "../ports.ts";

interface Version {
  versionId: string;
  isDeleteMarker: boolean;
  body: Buffer;
  eTag: string;
  contentType?: string;
  metadata: Record<string, string>;
  tags: Record<string, string>;
  storageClass?: string;
  checksum?: Checksum;
}

interface Upload {
  bucket: string;
  key: string;
  head: ObjectHead;
  tags: Record<string, string>;
  storageClass?: string;
  checksumAlgorithm?: ChecksumAlgorithm;
  parts: Map<number, Buffer>;
}

export interface PutInput {
  body?: Buffer | string;
  contentType?: string;
  metadata?: Record<string, string>;
  tags?: Record<string, string>;
  storageClass?: string;
  checksum?: Checksum;
  /** Pretend it was uploaded in this many parts (a multipart ETag). */
  parts?: number;
}

const md5 = (b: Buffer) => createHash("md5").update(b).digest("hex");

/**
 * The checksum S3 gives an object of `body` uploaded with `algorithm` in parts of `partBytes` (the last smaller):
 * SHA-1/SHA-256 of a multipart upload are COMPOSITE (the hash of the parts' hashes, `-N`), so they depend on the part
 * layout; CRCs are FULL_OBJECT unless `type` says COMPOSITE. Real SHA digests; the CRCs are stood in for by a keyed
 * SHA-256 of the whole object (or of each part), which compares exactly as a CRC does: equal for equal bytes.
 */
export function checksumOfLayout(
  algorithm: ChecksumAlgorithm,
  body: Buffer,
  partBytes: number = body.length,
  type?: Checksum["type"],
): Checksum {
  const digest = (b: Buffer): Buffer =>
    algorithm === "SHA1" || algorithm === "SHA256"
      ? createHash(algorithm === "SHA1" ? "sha1" : "sha256")
          .update(b)
          .digest()
      : createHash("sha256").update(algorithm).update(b).digest();
  const parts: Buffer[] = [];
  for (let start = 0; start < body.length || parts.length === 0; start += partBytes) {
    parts.push(body.subarray(start, Math.min(start + partBytes, body.length)));
  }
  const composite = type ?? (algorithm === "SHA1" || algorithm === "SHA256" ? "COMPOSITE" : "FULL_OBJECT");
  if (parts.length === 1 || composite === "FULL_OBJECT") {
    return { algorithm, value: digest(body).toString("base64"), type: "FULL_OBJECT" };
  }
  const value = `${digest(Buffer.concat(parts.map(digest))).toString("base64")}-${parts.length}`;
  return { algorithm, value, type: "COMPOSITE" };
}

export class MemoryS3 implements MoverStore, DeleterStore {
  private readonly buckets = new Map<string, { versioned: boolean; objects: Map<string, Version[]> }>();
  private readonly uploads = new Map<string, Upload>();
  private sequence = 0;
  /** Every call, by operation name. */
  readonly calls: Array<{ op: string; input: unknown }> = [];
  /** Throws `error` on the next call of `op` (once per entry). */
  readonly faults: Array<{ op: string; error: Error; when?: (input: unknown) => boolean }> = [];
  /** Keys DeleteObjects reports as failed (AccessDenied). */
  readonly failingKeys = new Set<string>();
  /** Bytes of object bodies `getText` returned (what a reader held in memory). */
  bytesRead = 0;
  /** Corrupts what copies write (a copy that does not match its source). */
  corruptCopies = false;

  constructor(buckets: Record<string, { versioned?: boolean }>) {
    for (const [name, spec] of Object.entries(buckets)) {
      this.buckets.set(name, { versioned: spec.versioned ?? false, objects: new Map() });
    }
  }

  count(op: string): number {
    return this.calls.filter((c) => c.op === op).length;
  }

  openUploads(): number {
    return this.uploads.size;
  }

  private record(op: string, input: unknown): void {
    this.calls.push({ op, input });
    const index = this.faults.findIndex((f) => f.op === op && (f.when?.(input) ?? true));
    if (index !== -1) {
      const [fault] = this.faults.splice(index, 1);
      throw fault?.error;
    }
  }

  private bucket(name: string) {
    const bucket = this.buckets.get(name);
    if (!bucket) throw new Error(`NoSuchBucket: ${name}`);
    return bucket;
  }

  private newVersionId(versioned: boolean): string {
    this.sequence++;
    return versioned ? `v${String(this.sequence).padStart(8, "0")}` : "null";
  }

  private write(bucketName: string, key: string, version: Omit<Version, "versionId">): Version {
    const bucket = this.bucket(bucketName);
    const full: Version = { ...version, versionId: this.newVersionId(bucket.versioned) };
    const versions = bucket.objects.get(key) ?? [];
    bucket.objects.set(key, bucket.versioned ? [full, ...versions] : [full]);
    return full;
  }

  /** Test setup: writes an object (no call recorded). */
  put(bucket: string, key: string, input: PutInput = {}): Version {
    const body = Buffer.isBuffer(input.body) ? input.body : Buffer.from(input.body ?? "");
    const eTag = input.parts ? `${md5(Buffer.from(md5(body), "hex"))}-${input.parts}` : md5(body);
    return this.write(bucket, key, {
      isDeleteMarker: false,
      body,
      eTag,
      ...(input.contentType ? { contentType: input.contentType } : {}),
      metadata: input.metadata ?? {},
      tags: input.tags ?? {},
      ...(input.storageClass ? { storageClass: input.storageClass } : {}),
      ...(input.checksum ? { checksum: input.checksum } : {}),
    });
  }

  /** Test inspection: the current object (undefined when absent or a delete marker). */
  current(bucket: string, key: string): Version | undefined {
    const v = this.bucket(bucket).objects.get(key)?.[0];
    return v && !v.isDeleteMarker ? v : undefined;
  }

  versions(bucket: string, key: string): Version[] {
    return [...(this.bucket(bucket).objects.get(key) ?? [])];
  }

  keys(bucket: string): string[] {
    return [...this.bucket(bucket).objects.entries()]
      .filter(([, versions]) => versions[0] && !versions[0].isDeleteMarker)
      .map(([key]) => key)
      .sort();
  }

  private find(ref: ObjectRef): Version | undefined {
    const versions = this.bucket(ref.bucket).objects.get(ref.key) ?? [];
    const v = ref.versionId ? versions.find((x) => x.versionId === ref.versionId) : versions[0];
    return v && !v.isDeleteMarker ? v : undefined;
  }

  private headOf(v: Version): ObjectHead {
    return {
      size: v.body.length,
      eTag: v.eTag,
      ...(v.versionId !== "null" ? { versionId: v.versionId } : {}),
      ...(v.contentType ? { contentType: v.contentType } : {}),
      ...(v.storageClass ? { storageClass: v.storageClass } : {}),
      ...(v.checksum ? { checksum: v.checksum } : {}),
      metadata: { ...v.metadata },
    };
  }

  async head(ref: ObjectRef): Promise<ObjectHead | undefined> {
    this.record("head", ref);
    const v = this.find(ref);
    return v ? this.headOf(v) : undefined;
  }

  async copyObject(input: Parameters<MoverStore["copyObject"]>[0]): Promise<CopyReceipt> {
    this.record("copyObject", input);
    const src = this.find(input.source);
    if (!src) throw new Error("NoSuchKey");
    if (src.eTag !== input.sourceETag) throw new PreconditionFailed("copy source ETag does not match");
    const body = this.corruptCopies ? Buffer.concat([src.body, Buffer.from("!")]) : src.body;
    const written = this.write(input.destination.bucket, input.destination.key, {
      isDeleteMarker: false,
      body,
      eTag: md5(body),
      ...(src.contentType ? { contentType: src.contentType } : {}),
      metadata: { ...src.metadata },
      tags: { ...src.tags },
      ...(input.storageClass ? { storageClass: input.storageClass } : {}),
      // S3 computes the copy's checksum over what it wrote, in one piece: a FULL_OBJECT checksum.
      ...(input.checksumAlgorithm ? { checksum: checksumOfLayout(input.checksumAlgorithm, body) } : {}),
    });
    return {
      eTag: written.eTag,
      ...(written.versionId !== "null" ? { versionId: written.versionId } : {}),
      ...(written.checksum ? { checksum: written.checksum } : {}),
    };
  }

  async getTagging(ref: ObjectRef): Promise<Record<string, string>> {
    this.record("getTagging", ref);
    return { ...(this.find(ref)?.tags ?? {}) };
  }

  async startMultipartCopy(input: Parameters<MoverStore["startMultipartCopy"]>[0]): Promise<string> {
    this.record("startMultipartCopy", input);
    const uploadId = `upload-${++this.sequence}`;
    const tags = Object.fromEntries(new URLSearchParams(input.tagging ?? ""));
    this.uploads.set(uploadId, {
      bucket: input.destination.bucket,
      key: input.destination.key,
      head: input.head,
      tags,
      ...(input.storageClass ? { storageClass: input.storageClass } : {}),
      ...(input.checksumAlgorithm ? { checksumAlgorithm: input.checksumAlgorithm } : {}),
      parts: new Map(),
    });
    return uploadId;
  }

  async copyPart(input: Parameters<MoverStore["copyPart"]>[0]): Promise<CopiedPart> {
    this.record("copyPart", input);
    const upload = this.uploads.get(input.uploadId);
    if (!upload) throw new Error("NoSuchUpload");
    const src = this.find(input.source);
    if (!src) throw new Error("NoSuchKey");
    if (src.eTag !== input.sourceETag) throw new PreconditionFailed("copy source ETag does not match");
    const part = src.body.subarray(input.start, input.end + 1);
    upload.parts.set(input.partNumber, part);
    return { partNumber: input.partNumber, eTag: md5(part) };
  }

  async completeMultipartCopy(input: Parameters<MoverStore["completeMultipartCopy"]>[0]): Promise<CopyReceipt> {
    this.record("completeMultipartCopy", input);
    const upload = this.uploads.get(input.uploadId);
    if (!upload) throw new Error("NoSuchUpload");
    const ordered = [...input.parts].sort((a, b) => a.partNumber - b.partNumber);
    const body = Buffer.concat(ordered.map((p) => upload.parts.get(p.partNumber) ?? Buffer.alloc(0)));
    const eTag = `${md5(Buffer.concat(ordered.map((p) => Buffer.from(p.eTag, "hex"))))}-${ordered.length}`;
    this.uploads.delete(input.uploadId);
    // As S3 does: SHA checksums of the parts combined (COMPOSITE, this upload's layout), a CRC of the whole object.
    const partSizes = ordered.map((p) => upload.parts.get(p.partNumber)?.length ?? 0);
    const uniform = partSizes.slice(0, -1).every((n) => n === partSizes[0]);
    if (upload.checksumAlgorithm && !uniform) throw new Error("the memory store models uniform part sizes only");
    const checksum = upload.checksumAlgorithm
      ? checksumOfLayout(upload.checksumAlgorithm, body, partSizes[0] ?? body.length)
      : undefined;
    const written = this.write(upload.bucket, upload.key, {
      isDeleteMarker: false,
      body,
      eTag,
      ...(upload.head.contentType ? { contentType: upload.head.contentType } : {}),
      metadata: { ...upload.head.metadata },
      tags: upload.tags,
      ...(upload.storageClass ? { storageClass: upload.storageClass } : {}),
      ...(checksum ? { checksum } : {}),
    });
    return {
      eTag: written.eTag,
      ...(written.versionId !== "null" ? { versionId: written.versionId } : {}),
      ...(checksum ? { checksum } : {}),
    };
  }

  async abortMultipartCopy(input: { destination: { bucket: string; key: string }; uploadId: string }): Promise<void> {
    this.record("abortMultipartCopy", input);
    this.uploads.delete(input.uploadId);
  }

  async deleteObject(input: DeleteObjectInput): Promise<"deleted" | "not-found"> {
    this.record("deleteObject", input);
    return this.deleteOne(
      input.bucket,
      { key: input.key, ...(input.versionId ? { versionId: input.versionId } : {}) },
      input.ifMatch,
    );
  }

  private deleteOne(bucketName: string, entry: ListedEntry, ifMatch?: string): "deleted" | "not-found" {
    const bucket = this.bucket(bucketName);
    const versions = bucket.objects.get(entry.key) ?? [];
    if (ifMatch !== undefined) {
      const current = versions[0];
      if (!current || current.isDeleteMarker) return "not-found";
      if (current.eTag !== ifMatch) throw new PreconditionFailed("ETag does not match");
    }
    if (entry.versionId !== undefined) {
      const index = versions.findIndex((v) => v.versionId === entry.versionId);
      if (index === -1) return "not-found";
      versions.splice(index, 1);
      if (versions.length === 0) bucket.objects.delete(entry.key);
      return "deleted";
    }
    if (bucket.versioned) {
      // Without a version id, a versioned bucket only gets a delete marker.
      this.write(bucketName, entry.key, {
        isDeleteMarker: true,
        body: Buffer.alloc(0),
        eTag: "",
        metadata: {},
        tags: {},
      });
      return "deleted";
    }
    const existed = versions.length > 0;
    bucket.objects.delete(entry.key);
    return existed ? "deleted" : "not-found";
  }

  async listObjects(input: {
    bucket: string;
    prefix: string;
    startAfter?: string;
    maxKeys: number;
  }): Promise<ListPage> {
    this.record("listObjects", input);
    const keys = this.keys(input.bucket).filter(
      (k) => k.startsWith(input.prefix) && (input.startAfter === undefined || k > input.startAfter),
    );
    const page = keys.slice(0, input.maxKeys);
    return {
      entries: page.map((key) => ({ key, size: this.current(input.bucket, key)?.body.length ?? 0 })),
      isTruncated: keys.length > page.length,
    };
  }

  async listVersions(input: {
    bucket: string;
    prefix: string;
    keyMarker?: string;
    versionIdMarker?: string;
    maxKeys: number;
  }): Promise<ListPage> {
    this.record("listVersions", input);
    const all: ListedEntry[] = [];
    for (const key of [...this.bucket(input.bucket).objects.keys()].sort()) {
      if (!key.startsWith(input.prefix)) continue;
      for (const v of this.bucket(input.bucket).objects.get(key) ?? []) {
        all.push({ key, versionId: v.versionId, isDeleteMarker: v.isDeleteMarker });
      }
    }
    let start = 0;
    if (input.keyMarker !== undefined) {
      if (input.versionIdMarker !== undefined) {
        const at = all.findIndex((e) => e.key === input.keyMarker && e.versionId === input.versionIdMarker);
        // S3 lists after the marker's position even when that version is gone: the next key or later version.
        start =
          at !== -1
            ? at + 1
            : all.findIndex(
                (e) =>
                  e.key > (input.keyMarker as string) ||
                  (e.key === input.keyMarker && (e.versionId ?? "") < (input.versionIdMarker ?? "")),
              );
        if (start === -1) start = all.length;
      } else {
        start = all.findIndex((e) => e.key > (input.keyMarker as string));
        if (start === -1) start = all.length;
      }
    }
    const page = all.slice(start, start + input.maxKeys);
    const last = page.at(-1);
    const truncated = start + page.length < all.length;
    return {
      entries: page,
      isTruncated: truncated,
      ...(truncated && last
        ? { nextKeyMarker: last.key, ...(last.versionId ? { nextVersionIdMarker: last.versionId } : {}) }
        : {}),
    };
  }

  async deleteBatch(input: { bucket: string; entries: readonly ListedEntry[] }): Promise<DeleteBatchResult> {
    this.record("deleteBatch", input);
    if (input.entries.length > 1000) throw new Error("MalformedXML: more than 1000 keys");
    const result: DeleteBatchResult = { deleted: [], errors: [] };
    for (const entry of input.entries) {
      if (this.failingKeys.has(entry.key)) {
        result.errors.push({ ...entry, code: "AccessDenied", message: "Access Denied" });
        continue;
      }
      this.deleteOne(input.bucket, entry);
      result.deleted.push(entry);
    }
    return result;
  }

  async getText(input: {
    bucket: string;
    key: string;
    ifMatch?: string;
    maxBytes?: number;
  }): Promise<{ text: string; eTag: string } | undefined> {
    this.record("getText", input);
    const v = this.find(input);
    if (!v) return undefined;
    if (input.ifMatch !== undefined && v.eTag !== input.ifMatch) throw new PreconditionFailed("ETag does not match");
    if (input.maxBytes !== undefined && v.body.length > input.maxBytes) {
      throw new ObjectTooLarge(input.key, v.body.length, input.maxBytes);
    }
    this.bytesRead += v.body.length;
    return { text: v.body.toString("utf8"), eTag: v.eTag };
  }

  async putText(input: PutTextInput): Promise<string> {
    this.record("putText", input);
    const current = this.find(input);
    if (input.ifNoneMatch && current) throw new PreconditionFailed("object exists");
    if (input.ifMatch !== undefined && current?.eTag !== input.ifMatch)
      throw new PreconditionFailed("ETag does not match");
    const body = Buffer.from(input.text);
    const written = this.write(input.bucket, input.key, {
      isDeleteMarker: false,
      body,
      eTag: md5(body),
      ...(input.contentType ? { contentType: input.contentType } : {}),
      metadata: {},
      tags: {},
    });
    return written.eTag;
  }
}
