/**
 * The S3 gateway: a pass-through HTTP proxy in front of the S3 emulator that sees every request, and after each
 * successful object-level change (PUT, copy, completed multipart upload, DELETE, multi-object delete) reports an
 * `ObjectChange`, from which bucket notifications are built. Emulators that emit their own change events get
 * them wrong in ways handlers care about (unencoded keys, no events for batch deletes), so the local cloud
 * observes the S3 API itself, as S3's notification system does. Which requests change what is read in
 * `s3-object-changes.ts`; conditional writes are checked under a per-key lock in `s3-conditional-writes.ts`. A request
 * the emulator would run as another operation than S3 (`GET key?tagging` returns the object...) is answered 501
 * NotImplemented instead (`s3EmulatorRefusal`).
 */
import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { listen } from "../emulators/ports.ts";
import { s3ErrorAnswer } from "../iam/errors.ts";
import { s3EmulatorRefusal } from "../iam/requests.ts";
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
    const declared = declaredBodySize(req.headers);
    if (declared !== undefined && declared > MAX_BODY_BYTES) {
      // Read (and drop) the body before answering, so that the client gets the answer rather than a reset.
      req.resume();
      req.on("end", () => sendEntityTooLarge(res, req, declared));
      return;
    }
    // What the emulator would run as another operation is refused, whoever asks (see s3-emulator-operations.ts).
    const refusal = s3EmulatorRefusal({ method: req.method ?? "GET", url: req.url ?? "/", headers: req.headers });
    if (refusal) {
      const answer = s3ErrorAnswer(refusal, refusal.message, req.method ?? "GET");
      req.resume();
      req.on("end", () => {
        res.writeHead(answer.status, { ...answer.headers, "content-length": String(Buffer.byteLength(answer.body)) });
        res.end(answer.body);
      });
      return;
    }
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

/** The largest request body the S3 emulator (fauxqs) takes: 11 MiB. S3 itself takes 5 GiB in one PutObject. */
export const MAX_BODY_BYTES = 11 * 1024 * 1024;

/** The size a request says its body has (the decoded size of an `aws-chunked` upload), if it says. */
function declaredBodySize(headers: http.IncomingHttpHeaders): number | undefined {
  const raw = headers["x-amz-decoded-content-length"] ?? headers["content-length"];
  const size = typeof raw === "string" ? Number(raw) : Number.NaN;
  return Number.isSafeInteger(size) && size >= 0 ? size : undefined;
}

/**
 * S3's answer to a body over the limit (400 `EntityTooLarge`, with the proposed and allowed sizes), with the local
 * cloud's limit, which is far below S3's, and what to do instead.
 */
function sendEntityTooLarge(res: http.ServerResponse, req: http.IncomingMessage, proposed?: number): void {
  const part = new URL(req.url ?? "/", "http://local").searchParams.has("partNumber");
  const what = part ? "This part" : "This single PutObject";
  const instead = part
    ? "use parts of at most 11 MiB"
    : "upload it in parts (multipart upload), as `aws s3 cp` and `pnpm push file` do";
  const size = proposed === undefined ? "" : ` (${proposed} bytes)`;
  const message = `${what}${size} is above the local cloud's limit of ${MAX_BODY_BYTES} bytes (11 MiB; S3 takes up to 5 GiB): ${instead}.`;
  const requestId = randomUUID().replaceAll("-", "").slice(0, 16).toUpperCase();
  const body =
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>EntityTooLarge</Code>' +
    `<Message>${xmlText(message)}</Message>` +
    (proposed === undefined ? "" : `<ProposedSize>${proposed}</ProposedSize>`) +
    `<MaxSizeAllowed>${MAX_BODY_BYTES}</MaxSizeAllowed>` +
    `<RequestId>${requestId}</RequestId><HostId>${Buffer.from(requestId).toString("base64")}</HostId></Error>`;
  if (res.headersSent) return;
  res.writeHead(400, {
    "content-type": "application/xml",
    "content-length": String(Buffer.byteLength(body)),
    "x-amz-request-id": requestId,
  });
  res.end(body);
}

const xmlText = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

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
    let tooLarge = false;
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
        if (status === 413) {
          tooLarge = true;
          // A body over the emulator's limit that did not say its size up front (chunked): S3's answer, not fastify's.
          upstreamRes.resume();
          done();
          if (req.complete) sendEntityTooLarge(res, req);
          else {
            req.resume();
            req.on("end", () => sendEntityTooLarge(res, req));
          }
          return;
        }
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
      if (tooLarge) return;
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
