/**
 * The IAM gateway: an HTTP proxy in front of one emulator that authorizes every request a function makes against
 * that function's IAM policy, as AWS does, and answers a request outside the policy the way the service would
 * (see errors.ts). Requests signed with any other credentials pass through untouched.
 *
 * Besides the policy check itself, it reproduces what IAM changes in a service's answers:
 * - S3 answers a missing object with 403, not 404, to a caller without `s3:ListBucket` on the bucket;
 * - S3 `DeleteObjects` refuses key by key: the keys the caller may delete are deleted, the others come back as
 *   `AccessDenied` errors in the 200 response.
 * Kinesis shard iterators are opaque, so the gateway remembers which stream each iterator it handed out belongs to.
 *
 * In front of DynamoDB Local it also translates ARNs, for every caller: DynamoDB Local names its region `ddblocal` in
 * the ARNs it returns (tables, streams, the stream ARN inside shard iterators); callers see the local cloud's region
 * there, as in every other ARN of the local cloud and in the stream events, and the ARNs they send back are turned
 * into DynamoDB Local's form before they reach it.
 */
import { createHash } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { crc32 } from "node:zlib";
import { listen } from "../emulators/ports.ts";
import { type FaultInjector, faultAnswer } from "../faults.ts";
import {
  accessDenied,
  denialMessage,
  type HttpAnswer,
  s3ErrorAnswer,
  serviceError,
  unclassifiable,
  xmlEscape,
} from "./errors.ts";
import { accessKeyOf, type FunctionIdentity } from "./identities.ts";
import { evaluate } from "./policy.ts";
import { type ClassifiedRequest, classify, needsBody, type RequestView, type ServiceFamily } from "./requests.ts";

export interface IamGatewayOptions {
  family: ServiceFamily;
  /** The emulator, e.g. `http://127.0.0.1:45123`. */
  upstream: string;
  port?: number;
  host?: string;
  region: string;
  accountId: string;
  /** The function a request's access key belongs to; undefined for every other caller (unrestricted). */
  identityOf(accessKeyId: string): FunctionIdentity | undefined;
  /**
   * The KMS key an SNS topic is encrypted with, if it is (a function publishing to it also needs `kms:GenerateDataKey`
   * and `kms:Decrypt` on the key: SNS asks KMS for the data key with the publisher's credentials).
   */
  topicKeyOf?(topicArn: string): string | undefined;
  /** Told about every denied request (the local cloud prints them). */
  onDenied?(functionName: string, message: string): void;
  /** Faults to inject into the calls of faultable identities (see faults.ts). */
  faults?: FaultInjector;
  /** Told about every injected fault. */
  onFault?(functionName: string, message: string): void;
}

/** What SNS allows in all the messages of a `PublishBatch`, attributes included (SNS API reference, PublishBatch). */
export const SNS_BATCH_MAX_BYTES = 262_144;

/**
 * What SNS refuses in a `Publish` or `PublishBatch` that the emulator accepts, answered as SNS answers it:
 * - a Subject must be ASCII text that starts with a letter, digit or punctuation mark, without line breaks or control
 *   characters, under 100 characters (SNS API reference, Publish: "Subject"): 400 `InvalidParameter`;
 * - a batch's messages and their attributes may total 256 KiB (the topics keep the default `MaximumMessageSize`):
 *   400 `BatchRequestTooLong`.
 * The emulator runs the last value of a repeated parameter; so is `Action` read here.
 */
export function snsPublishRefusal(form: URLSearchParams): HttpAnswer | undefined {
  const action = form.getAll("Action").at(-1);
  if (action !== "Publish" && action !== "PublishBatch") return undefined;
  if (action === "PublishBatch") {
    const counted =
      /^PublishBatchRequestEntries\.member\.\d+\.(Message|MessageAttributes\.entry\.\d+\.(Name|Value\.DataType|Value\.StringValue|Value\.BinaryValue))$/;
    let total = 0;
    for (const [name, value] of form.entries()) {
      const part = counted.exec(name);
      if (!part) continue;
      total += name.endsWith(".BinaryValue") ? Buffer.from(value, "base64").length : Buffer.byteLength(value);
    }
    if (total > SNS_BATCH_MAX_BYTES)
      return serviceError(
        "query",
        "sns",
        "BatchRequestTooLong",
        `The length of all the batch messages put together (${total} bytes) is more than the limit (${SNS_BATCH_MAX_BYTES} bytes).`,
      );
  }
  const subjects = [...form.entries()]
    .filter(([name]) => name === "Subject" || /\.Subject$/.test(name))
    .map(([, v]) => v);
  const valid = (subject: string) =>
    subject.length > 0 && subject.length < 100 && /^[\x21-\x7e][\x20-\x7e]*$/.test(subject);
  if (subjects.every(valid)) return undefined;
  return {
    status: 400,
    headers: { "content-type": "text/xml" },
    body: '<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>InvalidParameter</Code><Message>Invalid parameter: Subject</Message></Error><RequestId>local</RequestId></ErrorResponse>',
  };
}

export interface IamGateway {
  endpoint: string;
  stop(): Promise<void>;
}

/** How many Kinesis iterators and tokens are remembered (an iterator expires after 5 minutes on AWS anyway). */
const MAX_TOKENS = 100_000;

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function send(res: http.ServerResponse, answer: HttpAnswer): void {
  res.writeHead(answer.status, { ...answer.headers, "content-length": String(Buffer.byteLength(answer.body)) });
  res.end(answer.body);
}

/**
 * DynamoDB Local's ARNs (region `ddblocal`) and the local cloud's (its region), both ways: requests are turned into the
 * emulator's form, answers into the cloud's, with the answer's CRC32 header (which the SDK checks) recomputed.
 */
export function dynamoDbArnTranslation(region: string) {
  const emulator = "arn:aws:dynamodb:ddblocal:";
  const cloud = `arn:aws:dynamodb:${region}:`;
  const replace = (body: Buffer, from: string, to: string): Buffer =>
    body.includes(from) ? Buffer.from(body.toString("utf8").replaceAll(from, to), "utf8") : body;
  return {
    request: (body: Buffer): Buffer => replace(body, cloud, emulator),
    response: (
      body: Buffer,
      headers: http.IncomingHttpHeaders,
    ): { body: Buffer; headers: http.IncomingHttpHeaders } => {
      const translated = replace(body, emulator, cloud);
      if (translated === body) return { body, headers };
      const out = { ...headers };
      if (out["x-amz-crc32"] !== undefined) out["x-amz-crc32"] = String(crc32(translated));
      return { body: translated, headers: out };
    },
  };
}

export async function startIamGateway(options: IamGatewayOptions): Promise<IamGateway> {
  const upstream = new URL(options.upstream);
  const arns = options.family === "dynamodb" ? dynamoDbArnTranslation(options.region) : undefined;
  const agent = new http.Agent({ keepAlive: true });
  const tokens = new Map<string, string>();
  const remember = (token: unknown, stream: string) => {
    if (typeof token !== "string") return;
    if (tokens.size >= MAX_TOKENS) tokens.delete(tokens.keys().next().value as string);
    tokens.set(token, stream);
  };
  const ctx = { region: options.region, accountId: options.accountId, streamOfToken: (t: string) => tokens.get(t) };

  interface Forward {
    body?: Buffer;
    /** Reads the emulator's answer before the caller does; returns the answer to send instead, if any. */
    inspect?: (status: number, body: Buffer) => HttpAnswer | undefined;
    /** Whether `inspect` needs the answer's body (else it is called with an empty one and the body streams). */
    inspectBody?: boolean;
    /** A `timeout` fault: the call is applied, its answer swallowed, and the connection dropped after this many ms. */
    dropAfterMs?: number;
  }

  function forward(req: http.IncomingMessage, res: http.ServerResponse, given: Forward = {}): void {
    const how = arns && given.body ? { ...given, body: arns.request(given.body) } : given;
    const headers = { ...req.headers };
    if (how.body) {
      delete headers["transfer-encoding"];
      headers["content-length"] = String(how.body.length);
    }
    const proxied = http.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent },
      (upstreamRes) => {
        const status = upstreamRes.statusCode ?? 502;
        if (how.dropAfterMs !== undefined) {
          upstreamRes.resume();
          const timer = setTimeout(() => res.socket?.destroy(), how.dropAfterMs);
          res.on("close", () => clearTimeout(timer));
          return;
        }
        if (!how.inspect && !arns) {
          res.writeHead(status, upstreamRes.headers);
          upstreamRes.pipe(res);
          return;
        }
        if (how.inspect && !how.inspectBody && !arns) {
          const replaced = how.inspect(status, Buffer.alloc(0));
          if (replaced) {
            upstreamRes.resume();
            send(res, replaced);
            return;
          }
          res.writeHead(status, upstreamRes.headers);
          upstreamRes.pipe(res);
          return;
        }
        const chunks: Buffer[] = [];
        upstreamRes.on("data", (chunk: Buffer) => chunks.push(chunk));
        upstreamRes.on("end", () => {
          const answer = { body: Buffer.concat(chunks), headers: upstreamRes.headers };
          const { body, headers: answerHeaders } = arns ? arns.response(answer.body, answer.headers) : answer;
          const replaced = how.inspect?.(status, how.inspectBody ? body : Buffer.alloc(0));
          if (replaced) {
            send(res, replaced);
            return;
          }
          const out = { ...answerHeaders, "content-length": String(body.length) };
          delete out["transfer-encoding"];
          res.writeHead(status, out);
          res.end(body);
        });
      },
    );
    proxied.on("error", (err) => {
      if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
      res.end(`IAM gateway: upstream error: ${err.message}`);
    });
    if (how.body) proxied.end(how.body);
    else req.pipe(proxied);
  }

  async function authorize(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    identity: FunctionIdentity,
    body?: Buffer,
  ): Promise<void> {
    const view: RequestView = { method: req.method ?? "GET", url: req.url ?? "/", headers: req.headers, body };
    if (!view.body && needsBody(options.family, view)) view.body = await readBody(req);
    const classified = classify(options.family, view, ctx);
    const deny = (answer: HttpAnswer, message: string) => {
      if (!view.body) req.resume();
      options.onDenied?.(identity.functionName, message);
      send(res, answer);
    };
    if ("problem" in classified) {
      const { protocol, problem, invalid, s3Error } = classified;
      deny(
        s3Error
          ? s3ErrorAnswer(s3Error, problem, view.method)
          : invalid
            ? serviceError(protocol, invalid.api, invalid.code, problem)
            : unclassifiable(protocol, problem, view.method),
        problem,
      );
      return;
    }
    for (const check of classified.checks) {
      const decision = evaluate(identity.policy, check);
      if (decision.allowed) continue;
      const denial = { principal: identity.principal, request: check, reason: decision.reason };
      deny(accessDenied(classified, denial, view.method), `${check.action} on ${check.resource}`);
      return;
    }
    // A message to an encrypted topic is encrypted with a data key SNS asks KMS for as the publisher.
    const publishes = classified.api === "sns" && ["Publish", "PublishBatch"].includes(classified.operation);
    const topicKey = publishes ? options.topicKeyOf?.(classified.checks[0]?.resource ?? "") : undefined;
    for (const action of topicKey ? ["kms:GenerateDataKey", "kms:Decrypt"] : []) {
      const check = { action, resource: topicKey as string };
      const decision = evaluate(identity.policy, check);
      if (decision.allowed) continue;
      const message = denialMessage({ principal: identity.principal, request: check, reason: decision.reason });
      deny(serviceError("query", "sns", "KMSAccessDenied", message), `${action} on ${check.resource}`);
      return;
    }
    const fault = identity.faultable ? options.faults?.draw(classified.api) : undefined;
    if (fault) {
      const what = `${classified.api}:${classified.operation}`;
      if (fault === "timeout") {
        options.onFault?.(identity.functionName, `${what} applied, answer dropped after ${options.faults?.slowMs} ms`);
        forward(req, res, { body: view.body, dropAfterMs: options.faults?.slowMs ?? 5_000 });
        return;
      }
      if (!view.body) req.resume();
      if (fault === "reset") {
        options.onFault?.(identity.functionName, `${what} connection reset`);
        req.socket.destroy();
        return;
      }
      const answer = faultAnswer(classified, fault, (options.faults?.random() ?? 0) < 0.5);
      options.onFault?.(identity.functionName, `${what} answered ${answer.status}`);
      send(res, answer);
      return;
    }
    if (classified.keys) {
      deleteObjects(req, res, identity, classified, view.body ?? Buffer.alloc(0));
      return;
    }
    forward(req, res, { body: view.body, ...inspection(identity, classified) });
  }

  /** What the gateway reads in an answer for a function's request (see the module comment). */
  function inspection(identity: FunctionIdentity, classified: ClassifiedRequest): Forward {
    const resource = classified.checks[0]?.resource ?? "";
    if (classified.api === "s3" && (classified.operation === "GetObject" || classified.operation === "HeadObject")) {
      const bucket = resource.replace(/^(arn:aws:s3:::[^/]+)\/.*$/, "$1");
      return {
        inspect: (status) => {
          if (status !== 404 || evaluate(identity.policy, { action: "s3:ListBucket", resource: bucket }).allowed)
            return undefined;
          return {
            status: 403,
            headers: { "content-type": "application/xml" },
            body:
              classified.operation === "HeadObject"
                ? ""
                : '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>',
          };
        },
      };
    }
    if (
      classified.api === "kinesis" &&
      ["GetShardIterator", "GetRecords", "ListShards"].includes(classified.operation)
    ) {
      return {
        inspectBody: true,
        inspect: (status, body) => {
          if (status !== 200) return undefined;
          try {
            const answer = JSON.parse(body.toString("utf8")) as Record<string, unknown>;
            remember(answer.ShardIterator, resource);
            remember(answer.NextShardIterator, resource);
            remember(answer.NextToken, resource);
          } catch {
            // Not JSON: nothing to remember; the caller gets the answer as it is.
          }
          return undefined;
        },
      };
    }
    return {};
  }

  /** S3 `DeleteObjects` for a caller that may delete only some of the keys (see the module comment). */
  function deleteObjects(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    identity: FunctionIdentity,
    classified: ClassifiedRequest,
    body: Buffer,
  ): void {
    const keys = classified.keys ?? [];
    const denied = keys.filter((k) => !evaluate(identity.policy, k.check).allowed);
    if (denied.length === 0) {
      forward(req, res, { body });
      return;
    }
    for (const k of denied) options.onDenied?.(identity.functionName, `${k.check.action} on ${k.check.resource}`);
    const errors = denied
      .map(
        (k) =>
          `<Error><Key>${xmlEscape(k.key)}</Key>${k.versionId ? `<VersionId>${xmlEscape(k.versionId)}</VersionId>` : ""}<Code>AccessDenied</Code><Message>Access Denied</Message></Error>`,
      )
      .join("");
    const allowed = keys.filter((k) => !denied.includes(k));
    const xmlns = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"';
    if (allowed.length === 0) {
      send(res, {
        status: 200,
        headers: { "content-type": "application/xml" },
        body: `<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult ${xmlns}>${errors}</DeleteResult>`,
      });
      return;
    }
    const quiet = /<Quiet>\s*true\s*<\/Quiet>/i.test(body.toString("utf8"));
    const objects = allowed
      .map(
        (k) =>
          `<Object><Key>${xmlEscape(k.key)}</Key>${k.versionId ? `<VersionId>${xmlEscape(k.versionId)}</VersionId>` : ""}</Object>`,
      )
      .join("");
    const rewritten = Buffer.from(
      `<?xml version="1.0" encoding="UTF-8"?>\n<Delete ${xmlns}>${objects}${quiet ? "<Quiet>true</Quiet>" : ""}</Delete>`,
    );
    // The body changed: its checksums must too.
    for (const name of Object.keys(req.headers)) {
      if (name.startsWith("x-amz-checksum-") || name === "x-amz-sdk-checksum-algorithm") delete req.headers[name];
    }
    req.headers["content-md5"] = createHash("md5").update(rewritten).digest("base64");
    forward(req, res, {
      body: rewritten,
      inspectBody: true,
      inspect: (status, answer) => {
        if (status !== 200) return undefined;
        const text = answer.toString("utf8");
        const merged = text.includes("</DeleteResult>")
          ? text.replace("</DeleteResult>", `${errors}</DeleteResult>`)
          : text.replace(/<DeleteResult([^>]*)\/>/, `<DeleteResult$1>${errors}</DeleteResult>`);
        return { status, headers: { "content-type": "application/xml" }, body: merged };
      },
    });
  }

  /** SNS checks the emulator leaves out (for every caller: AWS refuses such a call whoever makes it). */
  async function snsValidation(req: http.IncomingMessage): Promise<{ body: Buffer; refusal?: HttpAnswer }> {
    const body = await readBody(req);
    return { body, refusal: snsPublishRefusal(new URLSearchParams(body.toString("utf8"))) };
  }

  const server = http.createServer((req, res) => {
    const key = accessKeyOf(req);
    const identity = key === undefined ? undefined : options.identityOf(key);
    // What fauxqs runs as SNS: a form body (see classifySnsSqs in requests.ts).
    const contentType = String(req.headers["content-type"] ?? "");
    const querySns =
      options.family === "sns-sqs" &&
      req.method === "POST" &&
      contentType.includes("application/x-www-form-urlencoded") &&
      !contentType.includes("application/x-amz-json-1.0");
    const handle = async () => {
      let body: Buffer | undefined;
      if (querySns) {
        const validated = await snsValidation(req);
        if (validated.refusal) {
          send(res, validated.refusal);
          return;
        }
        body = validated.body;
      }
      // DynamoDB's ARNs are translated for every caller (see the module comment).
      if (arns && !body) body = await readBody(req);
      if (!identity) {
        forward(req, res, { body });
        return;
      }
      await authorize(req, res, identity, body);
    };
    handle().catch((err) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end(`IAM gateway: ${(err as Error).message}`);
    });
  });

  await listen(server, options.port ?? 0, options.host ?? "127.0.0.1");
  const address = server.address() as AddressInfo;
  return {
    endpoint: `http://${options.host ?? "127.0.0.1"}:${address.port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      }),
  };
}
