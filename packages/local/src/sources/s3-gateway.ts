/**
 * The S3 gateway: a pass-through HTTP proxy in front of the S3 emulator that sees every request, and after each
 * successful object-level change (PUT, copy, completed multipart upload, DELETE, multi-object delete) reports an
 * `ObjectChange`, from which bucket notifications are built. Emulators that emit their own change events get
 * them wrong in ways handlers care about (unencoded keys, no events for batch deletes), so the local cloud
 * observes the S3 API itself, as S3's notification system does. Which requests change what is read in
 * `s3-object-changes.ts`; conditional writes are checked under a per-key lock in `s3-conditional-writes.ts`.
 */
import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { listen } from "../emulators/ports.ts";
import { conditionalWrites } from "./s3-conditional-writes.ts";
import type { ObjectChange } from "./s3-events.ts";
import { classifyRequest, needsResponseBody, type ObjectRequest, reportedChanges } from "./s3-object-changes.ts";

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

/** What a HEAD of an object answers: its status, and the size, ETag and version of what is there now. */
interface ObjectHead {
  status: number;
  size?: number;
  eTag?: string;
  versionId?: string;
}

/** Starts the gateway; resolves once it listens. */
export async function startS3Gateway(options: S3GatewayOptions): Promise<S3Gateway> {
  const proxy = new S3Proxy(new URL(options.upstream), options.onChange);
  const conditionalWrite = conditionalWrites({
    current: (req) => proxy.headObject(req),
    forward: (req, res) => proxy.forward(req, res),
  });
  const server = http.createServer((req, res) => {
    if (!conditionalWrite(req, res)) proxy.forward(req, res);
  });
  await listen(server, options.port ?? 0, options.host ?? "127.0.0.1");
  const address = server.address() as AddressInfo;
  return {
    endpoint: `http://${options.host ?? "127.0.0.1"}:${address.port}`,
    idle: () => proxy.idle(),
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        proxy.destroy();
      }),
  };
}

/**
 * A PutObject's headers with S3's default Content-Type, `binary/octet-stream`, when it has none. The emulator parses
 * no body for a PUT with neither a Content-Type nor a body (what `aws s3api put-object --key folder/` sends) and then
 * fails on it with a 500 (ERR_INVALID_ARG_TYPE), where S3 stores a zero-byte object; with the header it stores one.
 * A non-empty PUT without one is stored as `binary/octet-stream` too, as S3 does (the emulator's own default is
 * `application/octet-stream`).
 */
function withDefaultContentType(headers: http.IncomingHttpHeaders): http.IncomingHttpHeaders {
  return headers["content-type"] === undefined ? { ...headers, "content-type": "binary/octet-stream" } : headers;
}

/** Forwards requests to the emulator, and reports the changes of those that succeed. */
class S3Proxy {
  private readonly agent = new http.Agent({ keepAlive: true });
  /** Object requests forwarded whose changes are not reported yet. */
  private pending = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly upstream: URL,
    private readonly onChange: (change: ObjectChange) => void,
  ) {}

  /** Resolves when every change seen so far has been reported. */
  idle(): Promise<void> {
    return this.pending === 0 ? Promise.resolve() : new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  destroy(): void {
    this.agent.destroy();
  }

  private settle(): void {
    this.pending--;
    if (this.pending === 0) {
      for (const resolve of this.idleWaiters) resolve();
      this.idleWaiters = [];
    }
  }

  /** HEAD of the object a request names, as the emulator has it now. */
  headObject(req: http.IncomingMessage): Promise<ObjectHead> {
    const { upstream, agent } = this;
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
          const length = res.headers["content-length"];
          const versionId = res.headers["x-amz-version-id"];
          resolve({
            status: res.statusCode ?? 500,
            size: length === undefined ? undefined : Number(length),
            eTag: res.headers.etag?.replace(/"/g, ""),
            versionId: typeof versionId === "string" && versionId !== "null" ? versionId : undefined,
          });
        },
      );
      headReq.on("error", reject);
      headReq.end();
    });
  }

  /** Forwards a request as it is; the response goes back as the emulator gives it. */
  forward(req: http.IncomingMessage, res: http.ServerResponse): void {
    const request = classifyRequest(req);
    // Counted from the request on, so that a client that got its response and asks for idle() waits for the event.
    if (request) this.pending++;
    let settled = false;
    const done = () => {
      if (request && !settled) {
        settled = true;
        this.settle();
      }
    };
    const sourceIp = req.socket.remoteAddress?.replace(/^::ffff:/, "") ?? "127.0.0.1";
    const { upstream, agent } = this;
    const proxied = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: request?.kind === "put" ? withDefaultContentType(req.headers) : req.headers,
        agent,
      },
      (upstreamRes) => {
        const status = upstreamRes.statusCode ?? 502;
        if (!request || status >= 300 || !needsResponseBody(request)) {
          res.writeHead(status, upstreamRes.headers);
          upstreamRes.pipe(res);
          if (request && status < 300) {
            upstreamRes.on("end", () => void this.report(request, req, upstreamRes, sourceIp).finally(done));
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
          void this.report(request, req, upstreamRes, sourceIp, body.toString("utf8")).finally(done);
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

  /** Reports the changes of a successful request; a new object's size, ETag and version come from a HEAD of it. */
  private async report(
    request: ObjectRequest,
    req: http.IncomingMessage,
    upstreamRes: http.IncomingMessage,
    sourceIp: string,
    body = "",
  ): Promise<void> {
    const requestId = String(
      upstreamRes.headers["x-amz-request-id"] ?? randomUUID().replaceAll("-", "").slice(0, 16).toUpperCase(),
    );
    const reported = reportedChanges(request, { requestId, sourceIp, eventTime: new Date(), body });
    if (reported.kind === "removed") {
      for (const change of reported.changes) this.onChange(change);
    } else if (reported.kind === "created") {
      // Without an answer to the HEAD, the change is reported without them.
      const meta = await this.headObject(req).then(
        ({ size, eTag, versionId }) => ({ size, eTag, versionId }),
        () => ({}),
      );
      this.onChange({ ...reported.change, ...meta, sequencer: reported.sequencer });
    }
  }
}
