/**
 * Uploads local files to S3: one `PutObject` for a file up to one part, a multipart upload (parts in parallel)
 * above that, through `@aws-sdk/lib-storage`, with the content type from the file's extension.
 */
import { createReadStream, readdirSync, statSync } from "node:fs";
import path from "node:path";
import type { S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";

/** S3's minimum part size; also where a file stops being one PutObject. */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
export const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
export const MAX_PARTS = 10_000;

const contentTypes: Record<string, string> = {
  ".json": "application/json",
  ".jsonl": "application/x-ndjson",
  ".ndjson": "application/x-ndjson",
  ".csv": "text/csv",
  ".tsv": "text/tab-separated-values",
  ".txt": "text/plain",
  ".log": "text/plain",
  ".md": "text/markdown",
  ".html": "text/html",
  ".xml": "application/xml",
  ".yaml": "application/yaml",
  ".yml": "application/yaml",
  ".parquet": "application/vnd.apache.parquet",
  ".avro": "application/avro",
  ".orc": "application/octet-stream",
  ".gz": "application/gzip",
  ".zip": "application/zip",
  ".zst": "application/zstd",
  ".pdf": "application/pdf",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".svg": "image/svg+xml",
  ".webp": "image/webp",
};

/** The content type of a file name by its extension; `application/octet-stream` when unknown. */
export function contentTypeOf(file: string): string {
  return contentTypes[path.extname(file).toLowerCase()] ?? "application/octet-stream";
}

export interface LocalFile {
  /** Absolute path. */
  file: string;
  /** Path relative to the uploaded folder, with `/` separators (the file name for a single file). */
  relative: string;
  size: number;
}

/** Every regular file under `dir` (symlinks followed), sorted by relative path. */
export function listFiles(dir: string): LocalFile[] {
  const found: LocalFile[] = [];
  const walk = (current: string) => {
    for (const entry of readdirSync(current, { withFileTypes: true })) {
      const full = path.join(current, entry.name);
      const stats = statSync(full);
      if (stats.isDirectory()) walk(full);
      else if (stats.isFile())
        found.push({ file: full, relative: path.relative(dir, full).split(path.sep).join("/"), size: stats.size });
    }
  };
  walk(dir);
  return found.sort((a, b) => (a.relative < b.relative ? -1 : a.relative > b.relative ? 1 : 0));
}

export interface UploadFileOptions {
  bucket: string;
  key: string;
  file: string;
  contentType?: string;
  partSize?: number;
  /** Parts of one file in flight at once. Default 4. */
  queueSize?: number;
  /** Called with the bytes sent since the last call. */
  onBytes?: (bytes: number) => void;
}

export interface UploadedObject {
  bucket: string;
  key: string;
  size: number;
  eTag?: string;
  multipart: boolean;
}

export async function uploadFile(client: S3Client, options: UploadFileOptions): Promise<UploadedObject> {
  const size = statSync(options.file).size;
  // S3 takes at most 10,000 parts: a file too big for the requested part size gets bigger parts.
  const partSize = Math.max(options.partSize ?? DEFAULT_PART_SIZE, MIN_PART_SIZE, Math.ceil(size / MAX_PARTS));
  const upload = new Upload({
    client,
    params: {
      Bucket: options.bucket,
      Key: options.key,
      Body: createReadStream(options.file),
      ContentType: options.contentType ?? contentTypeOf(options.file),
      ContentLength: size,
    },
    partSize,
    queueSize: options.queueSize ?? 4,
    leavePartsOnError: false,
  });
  let reported = 0;
  upload.on("httpUploadProgress", (progress) => {
    // Multipart uploads report running totals; a single PutObject reports once with the whole size.
    const loaded = Math.min(progress.loaded ?? 0, size);
    if (loaded > reported) {
      options.onBytes?.(loaded - reported);
      reported = loaded;
    }
  });
  const result = await upload.done();
  if (reported < size) options.onBytes?.(size - reported);
  return {
    bucket: options.bucket,
    key: options.key,
    size,
    ...(result.ETag ? { eTag: result.ETag } : {}),
    multipart: size > partSize,
  };
}
