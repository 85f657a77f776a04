/**
 * What the S3 gateway reads from the requests it proxies: which object a request names, whether it changes objects
 * (PUT, copy, completed multipart upload, DELETE, multi-object delete), and the `ObjectChange`s a successful one
 * reports, from which bucket notifications are built. No I/O: the gateway (`s3-gateway.ts`) proxies, and adds what
 * only the emulator knows (the new object's size, ETag and version).
 */
import type http from "node:http";
import { nextSequencer, type ObjectChange } from "./s3-events.ts";

export interface Target {
  bucket: string;
  key: string;
  query: URLSearchParams;
}

/**
 * Bucket and key of a path-style request (`/bucket/key`), or of a virtual-hosted one (`bucket.host/key`), read exactly
 * as the S3 emulator (fauxqs 2.4, on fastify/find-my-way) reads them, so that what is authorized and reported is what
 * the emulator acts on:
 * - the path ends at the first `?` or `#`, and the query is what follows it;
 * - each segment is percent-decoded, and nothing is normalised: `.` and `..` are parts of the key, as on S3;
 * - a Host with a dot (not an IPv4 address) names the bucket, unless the content type contains
 *   `x-www-form-urlencoded` or `x-amz-json-1.0` (the emulator then takes the request for SNS's or SQS's and leaves
 *   the bucket in the path).
 * Undefined for a request that names no bucket, or whose path is not origin-form (`/...`).
 */
export function targetOf(req: Pick<http.IncomingMessage, "url" | "headers">): Target | undefined {
  const raw = req.url ?? "/";
  const end = raw.search(/[?#]/);
  const path = end < 0 ? raw : raw.slice(0, end);
  const query = new URLSearchParams(end < 0 ? "" : raw.slice(end + 1));
  if (!path.startsWith("/")) return undefined;
  const segments = path.slice(1).split("/").map(decodeURIComponent);
  const hostname = (req.headers.host ?? "").split(":")[0] ?? "";
  const contentType = String(req.headers["content-type"] ?? "");
  const virtualHosted =
    hostname.includes(".") &&
    !/^\d+\.\d+\.\d+\.\d+$/.test(hostname) &&
    !contentType.includes("x-www-form-urlencoded") &&
    !contentType.includes("x-amz-json-1.0");
  if (virtualHosted) return { bucket: hostname.slice(0, hostname.indexOf(".")), key: segments.join("/"), query };
  const [bucket, ...rest] = segments;
  if (!bucket) return undefined;
  return { bucket, key: rest.join("/"), query };
}

/** A request that changes objects when it succeeds. */
export type ObjectRequest =
  | { kind: "put" | "copy" | "complete" | "delete"; target: Target }
  | { kind: "batch-delete"; target: Target };

/** The object-level change a request makes if it succeeds, or `undefined` (reads, tagging, ACLs, uploads' parts). */
export function classifyRequest(
  req: Pick<http.IncomingMessage, "method" | "url" | "headers">,
): ObjectRequest | undefined {
  const target = targetOf(req);
  if (!target) return undefined;
  const { key, query } = target;
  if (req.method === "POST" && query.has("delete") && !key) return { kind: "batch-delete", target };
  if (!key) return undefined;
  if (
    req.method === "PUT" &&
    !query.has("uploadId") &&
    !query.has("tagging") &&
    !query.has("acl") &&
    !query.has("retention") &&
    !query.has("legal-hold")
  ) {
    return { kind: req.headers["x-amz-copy-source"] ? "copy" : "put", target };
  }
  if (req.method === "POST" && query.has("uploadId")) return { kind: "complete", target };
  if (req.method === "DELETE" && !query.has("uploadId")) return { kind: "delete", target };
  return undefined;
}

/** Whether the request's response body is needed to tell what changed (deleted keys; a completion's error). */
export function needsResponseBody(request: ObjectRequest): boolean {
  return request.kind === "batch-delete" || request.kind === "complete";
}

/** The text of an XML element's content, entities decoded. */
export function decodeXml(text: string): string {
  return text
    .replace(/&#x([0-9a-fA-F]+);/g, (_, hex: string) => String.fromCodePoint(Number.parseInt(hex, 16)))
    .replace(/&#(\d+);/g, (_, dec: string) => String.fromCodePoint(Number(dec)))
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, "&");
}

/** Keys listed as deleted in a `DeleteObjects` response. */
export function deletedKeys(xml: string): string[] {
  const keys: string[] = [];
  for (const block of xml.matchAll(/<Deleted>([\s\S]*?)<\/Deleted>/g)) {
    const key = /<Key>([\s\S]*?)<\/Key>/.exec(block[1] ?? "")?.[1];
    if (key !== undefined) keys.push(decodeXml(key));
  }
  return keys;
}

/** The answer to a successful object request, as far as the changes it reports depend on it. */
export interface ObjectResponse {
  requestId: string;
  sourceIp: string;
  eventTime: Date;
  /** The response body, read only when `needsResponseBody` says so. */
  body: string;
}

/** What a successful object request reports. */
export type ReportedChanges =
  /** Removals: complete as they are. */
  | { kind: "removed"; changes: ObjectChange[] }
  /** A new object: the change, to be completed with the object's size, ETag and version once it is known. */
  | { kind: "created"; change: Omit<ObjectChange, "sequencer">; sequencer: string }
  /** Nothing changed (S3 can answer 200 with an error document for CompleteMultipartUpload). */
  | { kind: "none" };

/**
 * The changes a successful object request made, each with the next sequencer: removals in the order of the
 * response, or the one created object.
 */
export function reportedChanges(request: ObjectRequest, response: ObjectResponse): ReportedChanges {
  const { requestId, sourceIp, eventTime, body } = response;
  const base = { bucket: request.target.bucket, eventTime, sourceIp, requestId };
  switch (request.kind) {
    case "batch-delete":
      return {
        kind: "removed",
        changes: deletedKeys(body).map((key) => ({
          ...base,
          key,
          eventName: "ObjectRemoved:Delete",
          sequencer: nextSequencer(),
        })),
      };
    case "delete":
      return {
        kind: "removed",
        changes: [{ ...base, key: request.target.key, eventName: "ObjectRemoved:Delete", sequencer: nextSequencer() }],
      };
    case "complete":
      if (/<Error>/.test(body)) return { kind: "none" };
      break;
    default:
      break;
  }
  const sequencer = nextSequencer();
  const eventName =
    request.kind === "put"
      ? "ObjectCreated:Put"
      : request.kind === "copy"
        ? "ObjectCreated:Copy"
        : "ObjectCreated:CompleteMultipartUpload";
  return { kind: "created", change: { ...base, key: request.target.key, eventName }, sequencer };
}
