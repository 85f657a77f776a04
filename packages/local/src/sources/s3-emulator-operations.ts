/**
 * The operation the S3 emulator (fauxqs 2.4) runs for a request, read from its router
 * (`fauxqs/dist/s3/s3Router.js`): it routes on the method, whether the path names a key, a few query parameters and
 * the content type, and runs its nearest operation for everything else: `GET key?tagging` returns the object,
 * `DELETE key?tagging` deletes it, `PUT key?acl` overwrites it, `GET bucket?versions` lists the objects, `POST key?select`
 * is a `DeleteObjects`... The local cloud compares it with the operation S3 would run (`s3OperationOf`) and refuses the
 * request when they differ, rather than let the emulator do something else than what was asked and authorized.
 * Operation names are S3's.
 */
import type { Target } from "./s3-object-changes.ts";

/** fastify's query: a parameter given twice is an array, so truthy even when empty. */
const truthy = (query: URLSearchParams, name: string) => {
  const values = query.getAll(name);
  return values.length > 1 || (values[0] ?? "") !== "";
};

/** What the emulator runs for a request on `target` (undefined: no bucket), or undefined when it has no route. */
export function emulatorOperation(
  method: string,
  target: Target | undefined,
  contentType: string,
  copySource: boolean,
): string | undefined {
  if (!target) return method === "GET" ? "ListBuckets" : undefined;
  const { key, query } = target;
  const lifecycle = query.has("lifecycle");
  if (!key) {
    switch (method) {
      case "PUT":
        return lifecycle ? "PutBucketLifecycleConfiguration" : "CreateBucket";
      case "HEAD":
        return "HeadBucket";
      case "GET":
        if (lifecycle) return "GetBucketLifecycleConfiguration";
        return query.get("list-type") === "2" ? "ListObjectsV2" : "ListObjects";
      case "DELETE":
        return lifecycle ? "DeleteBucketLifecycle" : "DeleteBucket";
      case "POST":
        return contentType.toLowerCase().includes("multipart/form-data") ? "PostObject" : "DeleteObjects";
      default:
        return undefined;
    }
  }
  switch (method) {
    case "PUT":
      if (query.has("renameObject")) return "RenameObject";
      if (truthy(query, "uploadId") && truthy(query, "partNumber")) return copySource ? "UploadPartCopy" : "UploadPart";
      return copySource ? "CopyObject" : "PutObject";
    case "GET":
      return query.has("attributes") ? "GetObjectAttributes" : "GetObject";
    case "HEAD":
      return "HeadObject";
    case "DELETE":
      return truthy(query, "uploadId") ? "AbortMultipartUpload" : "DeleteObject";
    case "POST":
      if (query.has("uploads")) return "CreateMultipartUpload";
      return truthy(query, "uploadId") ? "CompleteMultipartUpload" : "DeleteObjects";
    default:
      return undefined;
  }
}

/**
 * The keys the emulator deletes for a `DeleteObjects` body: every `<Key>` anywhere in it (inside an `<Object>` or
 * not), with `&amp;` decoded first and no character references (`&#...;`), as its handler reads them.
 */
export function emulatorDeleteKeys(xml: string): string[] {
  return [...xml.matchAll(/<Key>([\s\S]*?)<\/Key>/g)].map((match) =>
    (match[1] ?? "")
      .replaceAll("&amp;", "&")
      .replaceAll("&lt;", "<")
      .replaceAll("&gt;", ">")
      .replaceAll("&quot;", '"')
      .replaceAll("&apos;", "'"),
  );
}
