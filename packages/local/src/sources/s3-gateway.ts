/**
 * The S3 gateway: a pass-through HTTP proxy in front of the S3 emulator that sees every request, and after each
 * successful object-level change (PUT, copy, completed multipart upload, DELETE, multi-object delete) reports an
 * `ObjectChange`, from which bucket notifications are built. Emulators that emit their own change events get
 * them wrong in ways handlers care about (unencoded keys, no events for batch deletes), so the local cloud
 * observes the S3 API itself, as S3's notification system does.
 */
import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { nextSequencer, type ObjectChange } from "./s3-events.ts";

export interface S3GatewayOptions {
  /** The S3 emulator, e.g. `http://127.0.0.1:4566`. */
  upstream: string;
  port?: number;
  host?: string;
  onChange: (change: ObjectChange) => void;
}

export interface S3Gateway {
  endpoint: string;
  /** Resolves when every change seen so far has been reported. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

export interface Target {
  bucket: string;
  key: string;
  query: URLSearchParams;
}

/** Bucket and key of a path-style request (`/bucket/key`), or of a virtual-hosted one (`bucket.host/key`). */
export function targetOf(req: Pick<http.IncomingMessage, "url" | "headers">): Target | undefined {
  const url = new URL(req.url ?? "/", "http://gateway");
  const hostname = (req.headers.host ?? "").split(":")[0] ?? "";
  const virtualHosted = hostname.includes(".") && !/^\d+\.\d+\.\d+\.\d+$/.test(hostname);
  const segments = url.pathname.split("/").slice(1);
  const decode = (segment: string) => decodeURIComponent(segment);
  if (virtualHosted) {
    return {
      bucket: hostname.slice(0, hostname.indexOf(".")),
      key: segments.map(decode).join("/"),
      query: url.searchParams,
    };
  }
  const [bucket, ...rest] = segments;
  if (!bucket) return undefined;
  return { bucket: decode(bucket), key: rest.map(decode).join("/"), query: url.searchParams };
}

type Classified =
  | { kind: "put" | "copy" | "complete" | "delete"; target: Target }
  | { kind: "batch-delete"; target: Target }
  | undefined;

function classify(req: http.IncomingMessage): Classified {
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

export async function startS3Gateway(options: S3GatewayOptions): Promise<S3Gateway> {
  const upstream = new URL(options.upstream);
  const agent = new http.Agent({ keepAlive: true });

  /** HEAD of the object as it is now: size, ETag, version of what was just written. */
  function head(req: http.IncomingMessage): Promise<{ size?: number; eTag?: string; versionId?: string }> {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    return new Promise((resolve) => {
      const headReq = http.request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: "HEAD",
          path,
          headers: { host: req.headers.host ?? upstream.host },
          agent,
        },
        (res) => {
          res.resume();
          const length = res.headers["content-length"];
          const eTag = res.headers.etag?.replace(/"/g, "");
          const versionId = res.headers["x-amz-version-id"];
          resolve({
            size: length === undefined ? undefined : Number(length),
            eTag,
            versionId: typeof versionId === "string" && versionId !== "null" ? versionId : undefined,
          });
        },
      );
      headReq.on("error", () => resolve({}));
      headReq.end();
    });
  }

  let pending = 0;
  let idleWaiters: Array<() => void> = [];
  const settle = () => {
    pending--;
    if (pending === 0) {
      for (const resolve of idleWaiters) resolve();
      idleWaiters = [];
    }
  };

  /** Status and ETag of the object a request names, as the emulator has it now. */
  function current(req: http.IncomingMessage): Promise<{ status: number; eTag?: string }> {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    return new Promise((resolve, reject) => {
      const headReq = http.request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: "HEAD",
          path,
          headers: { host: req.headers.host ?? upstream.host },
          agent,
        },
        (res) => {
          res.resume();
          resolve({ status: res.statusCode ?? 500, eTag: res.headers.etag?.replace(/"/g, "") });
        },
      );
      headReq.on("error", reject);
      headReq.end();
    });
  }

  // Conditional writes (PutObject with If-None-Match: * or If-Match: <etag>), which S3 supports and fauxqs ignores:
  // the gateway checks the condition and forwards the PUT while holding a per-key lock, so concurrent conditional
  // writes through the gateway behave as on S3 (one wins, the others get 412 PreconditionFailed).
  const keyLocks = new Map<string, Promise<void>>();
  function conditionalPut(req: http.IncomingMessage) {
    const classified = classify(req);
    const ifNoneMatch = req.headers["if-none-match"];
    const ifMatch = req.headers["if-match"];
    if (classified?.kind !== "put" || (ifNoneMatch === undefined && ifMatch === undefined)) return undefined;
    return { lockKey: `${classified.target.bucket}/${classified.target.key}`, ifNoneMatch, ifMatch };
  }

  const server = http.createServer((req, res) => {
    const conditional = conditionalPut(req);
    if (!conditional) {
      forward(req, res);
      return;
    }
    const previous = keyLocks.get(conditional.lockKey) ?? Promise.resolve();
    const run = previous.then(async () => {
      try {
        const { status, eTag } = await current(req);
        const exists = status < 300 && eTag !== undefined;
        const holds =
          (conditional.ifNoneMatch === undefined ||
            (conditional.ifNoneMatch === "*" ? !exists : eTag !== conditional.ifNoneMatch.replace(/"/g, ""))) &&
          (conditional.ifMatch === undefined || (exists && eTag === conditional.ifMatch.replace(/"/g, "")));
        if (!holds) {
          req.resume();
          res.writeHead(412, { "content-type": "application/xml" });
          res.end(
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>',
          );
          return;
        }
        await new Promise<void>((resolve) => {
          res.on("close", resolve);
          forward(req, res);
        });
      } catch (error) {
        if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
        res.end(`S3 gateway: upstream error: ${(error as Error).message}`);
      }
    });
    const settled = run.catch(() => undefined);
    keyLocks.set(conditional.lockKey, settled);
    void settled.then(() => {
      if (keyLocks.get(conditional.lockKey) === settled) keyLocks.delete(conditional.lockKey);
    });
  });

  function forward(req: http.IncomingMessage, res: http.ServerResponse): void {
    const classified = classify(req);
    // Counted from the request on, so that a client that got its response and asks for idle() waits for the event.
    if (classified) pending++;
    let settled = false;
    const done = () => {
      if (classified && !settled) {
        settled = true;
        settle();
      }
    };
    const sourceIp = req.socket.remoteAddress?.replace(/^::ffff:/, "") ?? "127.0.0.1";
    const proxied = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent,
      },
      (upstreamRes) => {
        const status = upstreamRes.statusCode ?? 502;
        const needsBody = classified?.kind === "batch-delete" || classified?.kind === "complete";
        if (!classified || status >= 300 || !needsBody) {
          res.writeHead(status, upstreamRes.headers);
          upstreamRes.pipe(res);
          if (classified && status < 300) {
            upstreamRes.on("end", () => void report(classified, req, upstreamRes, sourceIp).finally(done));
          } else {
            done();
          }
          return;
        }
        const chunks: Buffer[] = [];
        upstreamRes.on("data", (chunk: Buffer) => chunks.push(chunk));
        upstreamRes.on("end", () => {
          const body = Buffer.concat(chunks);
          res.writeHead(status, upstreamRes.headers);
          res.end(body);
          void report(classified, req, upstreamRes, sourceIp, body.toString("utf8")).finally(done);
        });
      },
    );
    proxied.on("error", (err) => {
      done();
      if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
      res.end(`S3 gateway: upstream error: ${err.message}`);
    });
    req.pipe(proxied);
  }

  async function report(
    classified: NonNullable<Classified>,
    req: http.IncomingMessage,
    upstreamRes: http.IncomingMessage,
    sourceIp: string,
    body = "",
  ): Promise<void> {
    const requestId = String(
      upstreamRes.headers["x-amz-request-id"] ?? randomUUID().replaceAll("-", "").slice(0, 16).toUpperCase(),
    );
    const base = { bucket: classified.target.bucket, eventTime: new Date(), sourceIp, requestId };
    switch (classified.kind) {
      case "batch-delete":
        for (const key of deletedKeys(body)) {
          options.onChange({ ...base, key, eventName: "ObjectRemoved:Delete", sequencer: nextSequencer() });
        }
        return;
      case "delete":
        options.onChange({
          ...base,
          key: classified.target.key,
          eventName: "ObjectRemoved:Delete",
          sequencer: nextSequencer(),
        });
        return;
      case "complete":
        // S3 can answer 200 with an error document for CompleteMultipartUpload.
        if (/<Error>/.test(body)) return;
        break;
      default:
        break;
    }
    const sequencer = nextSequencer();
    const eventName =
      classified.kind === "put"
        ? "ObjectCreated:Put"
        : classified.kind === "copy"
          ? "ObjectCreated:Copy"
          : "ObjectCreated:CompleteMultipartUpload";
    const meta = await head(req);
    options.onChange({ ...base, key: classified.target.key, eventName, ...meta, sequencer });
  }

  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? "127.0.0.1", resolve));
  const address = server.address() as AddressInfo;
  return {
    endpoint: `http://${options.host ?? "127.0.0.1"}:${address.port}`,
    idle: () => (pending === 0 ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve))),
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      }),
  };
}
