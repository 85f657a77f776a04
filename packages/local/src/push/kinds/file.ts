import { existsSync, statSync } from "node:fs";
import path from "node:path";
import { InvalidInput, UsageError } from "../errors.ts";
import { defineKind } from "../kind.ts";
import { formatBytes, formatDuration } from "../progress.ts";
import {
  DEFAULT_PART_SIZE,
  type LocalFile,
  listFiles,
  MIN_PART_SIZE,
  type UploadedObject,
  uploadFile,
} from "../sinks/s3.ts";

/** S3's limit on a key, in UTF-8 bytes. */
const MAX_KEY_BYTES = 1024;

/**
 * The objects to create: a file goes to `key` (or `prefix/` + its name; its name when no key is given); a folder's
 * files go to `prefix/` + their path inside it, as `aws s3 cp --recursive` does.
 */
export function planUploads(source: string, key: string | undefined): Array<LocalFile & { key: string }> {
  if (!existsSync(source)) throw new UsageError(`no such file or folder: ${source}`, "file");
  const stats = statSync(source);
  if (stats.isFile()) {
    const name = path.basename(source);
    const target = key === undefined || key === "" ? name : key.endsWith("/") ? `${key}${name}` : key;
    return [{ file: source, relative: name, size: stats.size, key: target }];
  }
  if (!stats.isDirectory()) throw new UsageError(`not a file or folder: ${source}`, "file");
  const prefix = key ? (key.endsWith("/") ? key : `${key}/`) : "";
  const files = listFiles(source);
  if (files.length === 0) throw new InvalidInput(`no files under ${source}`);
  return files.map((f) => ({ ...f, key: `${prefix}${f.relative}` }));
}

/**
 * Runs `worker` over `items` with at most `limit` in flight. The first failure stops new work; it is thrown once
 * the uploads already in flight have settled (so none is left running behind the summary).
 */
async function eachLimited<T, R>(items: readonly T[], limit: number, worker: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failed = false;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (!failed && next < items.length) {
      const index = next++;
      try {
        results[index] = await worker(items[index] as T);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  });
  const settled = await Promise.allSettled(lanes);
  const rejected = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (rejected) throw rejected.reason;
  return results;
}

export const fileKind = defineKind({
  name: "file",
  summary: "upload a file, or a folder recursively, to a bucket (multipart for big files)",
  usage: "file <path> [--bucket Inbox] [--key <key> | --key <prefix/>] [--content-type <type>]",
  help: `Uploads one file, or every file under a folder (recursively), to a bucket. Files bigger than one part
are sent as multipart uploads with parts in parallel; the content type comes from the file extension.

Options:
  --bucket <Name>        bucket component name (default Inbox)
  --key <key>            for a file: the object key; ending in "/", a prefix the file name is appended to
                         (default: the file name). For a folder: the prefix of every key (default: none),
                         followed by the file's path inside the folder, as \`aws s3 cp --recursive\`
  --content-type <type>  override the content type of every object
  --part-size <MB>       multipart part size in MiB (default ${DEFAULT_PART_SIZE / 1024 / 1024}, at least ${MIN_PART_SIZE / 1024 / 1024})
  --concurrency <n>      files uploaded at once (default 4)
  --verbose              print each object written

Examples:
  pnpm push file ./orders.csv --key incoming/orders/        -> s3://<Inbox>/incoming/orders/orders.csv
  pnpm push file ./exports --bucket CdcRaw --key dms/       -> every file under ./exports, under dms/`,
  options: {
    bucket: { type: "string", default: "Inbox" },
    key: { type: "string" },
    "content-type": { type: "string" },
    "part-size": { type: "string" },
    concurrency: { type: "string", default: "4" },
    verbose: { type: "boolean", default: false },
  },
  positionals: [1, 1],
  async run(context, { values, positionals }) {
    const source = path.resolve(context.cwd, positionals[0] ?? "");
    const partSize = values["part-size"] === undefined ? DEFAULT_PART_SIZE : Number(values["part-size"]) * 1024 * 1024;
    if (!Number.isFinite(partSize) || partSize < MIN_PART_SIZE) {
      throw new UsageError(`--part-size must be a number of MiB, at least ${MIN_PART_SIZE / 1024 / 1024}`, "file");
    }
    const concurrency = Number(values.concurrency);
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new UsageError("--concurrency must be a positive integer", "file");
    }
    const bucket = context.resolve("bucket", values.bucket);
    const uploads = planUploads(source, values.key);
    for (const u of uploads) {
      if (Buffer.byteLength(u.key) > MAX_KEY_BYTES)
        throw new InvalidInput(`key longer than ${MAX_KEY_BYTES} bytes: ${u.key}`);
    }
    const totalBytes = uploads.reduce((sum, u) => sum + u.size, 0);
    const client = context.clients.s3();
    const progress = context.progress(`uploading to ${bucket.component}`, "files", uploads.length);
    let written: UploadedObject[];
    try {
      written = await eachLimited(uploads, concurrency, async (u) => {
        const object = await uploadFile(client, {
          bucket: bucket.physical,
          key: u.key,
          file: u.file,
          partSize,
          ...(values["content-type"] ? { contentType: values["content-type"] } : {}),
          onBytes: (bytes) => progress.addBytes(bytes),
        });
        progress.add(1);
        if (values.verbose) context.stdout.write(`s3://${object.bucket}/${object.key} (${formatBytes(object.size)})\n`);
        return object;
      });
    } finally {
      progress.done();
    }
    const multipart = written.filter((o) => o.multipart).length;
    const where = uploads.length === 1 ? `s3://${bucket.physical}/${uploads[0]?.key}` : `s3://${bucket.physical}/`;
    const seconds = Math.max(progress.elapsedMs, 1) / 1000;
    return (
      `uploaded ${written.length} ${written.length === 1 ? "file" : "files"} (${formatBytes(totalBytes)}` +
      `${multipart ? `, ${multipart} multipart` : ""}) in ${formatDuration(progress.elapsedMs)} ` +
      `(${formatBytes(totalBytes / seconds)}/s) to ${bucket.component}: ${where}`
    );
  },
});
