/**
 * What IAM checks an AWS API request needs: its operation, and each action with the resource ARN it applies to.
 * Read from the request as the service reads it, per protocol:
 *
 * - S3 (REST-XML): method, bucket and key (path-style or virtual-hosted), sub-resource query parameters, and headers
 *   (`x-amz-copy-source`, tagging and ACL headers); `DeleteObjects` is checked key by key.
 * - DynamoDB, DynamoDB Streams, Kinesis and SQS (JSON protocols): `X-Amz-Target` and the JSON body.
 * - SNS (query protocol): the form body's `Action` and parameters.
 * SNS and SQS share the emulator (fauxqs), which tells them apart by content type alone: a request is read as it
 * would run there (see `classifySnsSqs`).
 * - SageMaker runtime (REST-JSON): the path `/endpoints/<name>/invocations`.
 * - Glue (JSON 1.1): `X-Amz-Target: AWSGlue.<Operation>`; a table operation is checked on the catalog, the database
 *   and the table, as Glue checks it.
 */
import type { IncomingHttpHeaders } from "node:http";
import { emulatorDeleteKeys, emulatorOperation } from "../sources/s3-emulator-operations.ts";
import { decodeXml, type Target, targetOf } from "../sources/s3-object-changes.ts";
import { type IamService, iamActionsOf, type S3Check, s3Operations } from "./actions.ts";
import type { AccessRequest } from "./policy.ts";

/** The emulator a gateway fronts, which decides how its requests are read. */
export type ServiceFamily = "s3" | "dynamodb" | "kinesis" | "sns-sqs" | "sagemaker-runtime" | "glue";

export type Protocol = "rest-xml" | "json" | "query" | "rest-json";

export interface RequestView {
  method: string;
  /** Path and query, as received. */
  url: string;
  headers: IncomingHttpHeaders;
  /** The body, for the requests whose authorization reads it (everything but S3 object uploads). */
  body?: Buffer;
}

export interface ClassifyContext {
  region: string;
  accountId: string;
  /** The stream ARN a Kinesis shard iterator or ListShards token was issued for (the gateway remembers them). */
  streamOfToken(token: string): string | undefined;
}

export interface ClassifiedRequest {
  protocol: Protocol;
  /** The service whose API was called (`dynamodbstreams` is a separate API with `dynamodb:` actions). */
  api: IamService | "dynamodbstreams";
  operation: string;
  checks: AccessRequest[];
  /** `DeleteObjects`: one check per listed key (S3 refuses key by key, in a 200 response). */
  keys?: Array<{ key: string; versionId?: string; check: AccessRequest }>;
}

/**
 * A request the gateway cannot authorize. `invalid`: one AWS itself refuses (answered 400 with the service's error
 * code); `s3Error`: the S3 error to answer instead of the "cannot authorize" AccessDenied (e.g. 501 NotImplemented
 * for an operation the emulator would run as another); otherwise one the local cloud cannot tell, a gap of the local
 * cloud.
 */
export type Classification =
  | ClassifiedRequest
  | {
      protocol: Protocol;
      problem: string;
      invalid?: { api: ClassifiedRequest["api"]; code: string };
      s3Error?: { status: number; code: string };
    };

/** Whether the gateway needs the request body before deciding. */
export function needsBody(family: ServiceFamily, req: Pick<RequestView, "method" | "url" | "headers">): boolean {
  if (family === "sagemaker-runtime") return false;
  if (family !== "s3") return true;
  return req.method === "POST" && (s3Target(req)?.query.has("delete") ?? false);
}

/** The IAM checks of one request. */
export function classify(family: ServiceFamily, req: RequestView, ctx: ClassifyContext): Classification {
  switch (family) {
    case "s3":
      return classifyS3(req);
    case "sagemaker-runtime":
      return classifySageMaker(req, ctx);
    case "dynamodb":
    case "kinesis":
    case "glue":
      return classifyJson(req, ctx);
    case "sns-sqs":
      return classifySnsSqs(req, ctx);
  }
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

// ---------------------------------------------------------------------------------------------------------------
// S3

const s3Object = (bucket: string, key: string) => `arn:aws:s3:::${bucket}/${key}`;
const s3Bucket = (bucket: string) => `arn:aws:s3:::${bucket}`;

/** Bucket sub-resources (`?versioning`...) and the operation each method on them is. */
const bucketSubresources: Readonly<Record<string, Partial<Record<string, string>>>> = {
  versions: { GET: "ListObjectVersions" },
  uploads: { GET: "ListMultipartUploads" },
  location: { GET: "GetBucketLocation" },
  versioning: { GET: "GetBucketVersioning", PUT: "PutBucketVersioning" },
  policy: { GET: "GetBucketPolicy", PUT: "PutBucketPolicy", DELETE: "DeleteBucketPolicy" },
  notification: { GET: "GetBucketNotificationConfiguration", PUT: "PutBucketNotificationConfiguration" },
  tagging: { GET: "GetBucketTagging", PUT: "PutBucketTagging", DELETE: "DeleteBucketTagging" },
  cors: { GET: "GetBucketCors", PUT: "PutBucketCors", DELETE: "DeleteBucketCors" },
  lifecycle: {
    GET: "GetBucketLifecycleConfiguration",
    PUT: "PutBucketLifecycleConfiguration",
    DELETE: "DeleteBucketLifecycle",
  },
  encryption: { GET: "GetBucketEncryption", PUT: "PutBucketEncryption", DELETE: "DeleteBucketEncryption" },
  acl: { GET: "GetBucketAcl", PUT: "PutBucketAcl" },
  publicAccessBlock: { GET: "GetPublicAccessBlock", PUT: "PutPublicAccessBlock", DELETE: "DeletePublicAccessBlock" },
  delete: { POST: "DeleteObjects" },
  // Known so that they are told from a listing (the emulator lists the objects, or deletes the bucket, for them).
  accelerate: { GET: "GetBucketAccelerateConfiguration", PUT: "PutBucketAccelerateConfiguration" },
  analytics: {
    GET: "GetBucketAnalyticsConfiguration",
    PUT: "PutBucketAnalyticsConfiguration",
    DELETE: "DeleteBucketAnalyticsConfiguration",
  },
  "intelligent-tiering": {
    GET: "GetBucketIntelligentTieringConfiguration",
    PUT: "PutBucketIntelligentTieringConfiguration",
    DELETE: "DeleteBucketIntelligentTieringConfiguration",
  },
  inventory: {
    GET: "GetBucketInventoryConfiguration",
    PUT: "PutBucketInventoryConfiguration",
    DELETE: "DeleteBucketInventoryConfiguration",
  },
  logging: { GET: "GetBucketLogging", PUT: "PutBucketLogging" },
  metrics: {
    GET: "GetBucketMetricsConfiguration",
    PUT: "PutBucketMetricsConfiguration",
    DELETE: "DeleteBucketMetricsConfiguration",
  },
  "object-lock": { GET: "GetObjectLockConfiguration", PUT: "PutObjectLockConfiguration" },
  ownershipControls: {
    GET: "GetBucketOwnershipControls",
    PUT: "PutBucketOwnershipControls",
    DELETE: "DeleteBucketOwnershipControls",
  },
  policyStatus: { GET: "GetBucketPolicyStatus" },
  replication: { GET: "GetBucketReplication", PUT: "PutBucketReplication", DELETE: "DeleteBucketReplication" },
  requestPayment: { GET: "GetBucketRequestPayment", PUT: "PutBucketRequestPayment" },
  website: { GET: "GetBucketWebsite", PUT: "PutBucketWebsite", DELETE: "DeleteBucketWebsite" },
  session: { GET: "CreateSession" },
};

/** Object sub-resources and the operation each method on them is. */
const objectSubresources: Readonly<Record<string, Partial<Record<string, string>>>> = {
  tagging: { GET: "GetObjectTagging", PUT: "PutObjectTagging", DELETE: "DeleteObjectTagging" },
  acl: { GET: "GetObjectAcl", PUT: "PutObjectAcl" },
  attributes: { GET: "GetObjectAttributes" },
  retention: { GET: "GetObjectRetention", PUT: "PutObjectRetention" },
  "legal-hold": { GET: "GetObjectLegalHold", PUT: "PutObjectLegalHold" },
  restore: { POST: "RestoreObject" },
  select: { POST: "SelectObjectContent" },
  uploads: { POST: "CreateMultipartUpload" },
  torrent: { GET: "GetObjectTorrent" },
};

/** The S3 operation a request is, or undefined when it is none the local cloud knows. */
export function s3OperationOf(
  method: string,
  bucket: string | undefined,
  key: string,
  query: URLSearchParams,
  copySource: boolean,
): string | undefined {
  if (!bucket) return method === "GET" ? "ListBuckets" : undefined;
  if (!key) {
    for (const [name, operations] of Object.entries(bucketSubresources)) {
      if (query.has(name)) return operations[method];
    }
    if (method === "GET") return query.get("list-type") === "2" ? "ListObjectsV2" : "ListObjects";
    return ({ HEAD: "HeadBucket", PUT: "CreateBucket", DELETE: "DeleteBucket" } as Record<string, string>)[method];
  }
  if (query.has("uploadId")) {
    if (method === "PUT") return copySource ? "UploadPartCopy" : "UploadPart";
    return (
      { GET: "ListParts", POST: "CompleteMultipartUpload", DELETE: "AbortMultipartUpload" } as Record<string, string>
    )[method];
  }
  for (const [name, operations] of Object.entries(objectSubresources)) {
    if (query.has(name)) return operations[method];
  }
  if (method === "PUT") return copySource ? "CopyObject" : "PutObject";
  return ({ GET: "GetObject", HEAD: "HeadObject", DELETE: "DeleteObject" } as Record<string, string>)[method];
}

/** `x-amz-copy-source`: `[/]bucket/key[?versionId=...]`, URL-encoded. */
function copySourceOf(value: string): { bucket: string; key: string; versionId?: string } | undefined {
  const [path = "", query = ""] = value.split("?");
  const decoded = decodeURIComponent(path.replace(/^\//, ""));
  const slash = decoded.indexOf("/");
  if (slash <= 0) return undefined;
  const versionId = new URLSearchParams(query).get("versionId") ?? undefined;
  return { bucket: decoded.slice(0, slash), key: decoded.slice(slash + 1), versionId };
}

/** The objects a `DeleteObjects` body lists. */
export function deleteObjectsKeys(xml: string): Array<{ key: string; versionId?: string }> {
  const objects: Array<{ key: string; versionId?: string }> = [];
  for (const block of xml.matchAll(/<Object>([\s\S]*?)<\/Object>/g)) {
    const key = /<Key>([\s\S]*?)<\/Key>/.exec(block[1] ?? "")?.[1];
    const versionId = /<VersionId>([\s\S]*?)<\/VersionId>/.exec(block[1] ?? "")?.[1];
    if (key !== undefined)
      objects.push({ key: decodeXml(key), ...(versionId ? { versionId: decodeXml(versionId) } : {}) });
  }
  return objects;
}

/** `targetOf`, or undefined for a path that is not valid percent-encoding (the emulator answers those 400). */
function s3Target(req: Pick<RequestView, "url" | "headers">): Target | undefined {
  try {
    return targetOf(req);
  } catch {
    return undefined;
  }
}

/** An S3 error the local cloud answers instead of forwarding the request to the emulator. */
export interface S3Refusal {
  status: number;
  code: string;
  message: string;
}

/**
 * The refusal of a request the local S3 (fauxqs) would not run as S3 does (see `s3-emulator-operations.ts`): 501
 * NotImplemented, naming the operation, whoever the caller: the emulator would run another operation than the one
 * asked for (and authorized). Browser-form uploads (POST Object) are refused too: their key and policy are in the
 * form, which the local cloud neither authorizes nor reports bucket notifications for.
 */
export function s3EmulatorRefusal(req: Pick<RequestView, "method" | "url" | "headers">): S3Refusal | undefined {
  let target: Target | undefined;
  try {
    target = targetOf(req);
  } catch {
    return undefined;
  }
  const copySource = Boolean(header(req.headers, "x-amz-copy-source"));
  const runs = emulatorOperation(req.method, target, header(req.headers, "content-type") ?? "", copySource);
  const operation =
    runs === "PostObject"
      ? runs
      : s3OperationOf(
          req.method,
          target?.bucket,
          target?.key ?? "",
          target?.query ?? new URLSearchParams(),
          copySource,
        );
  const source = header(req.headers, "x-amz-copy-source");
  if (operation === runs && source?.includes("?")) {
    return {
      status: 501,
      code: "NotImplemented",
      message: `${operation} from a version (x-amz-copy-source: ${source}) is not implemented by the local S3 (fauxqs has no versions, and would copy an object named after the whole header, versionId included)`,
    };
  }
  if (operation === runs && runs !== "PostObject") return undefined;
  const path = req.url.split("?")[0];
  const message =
    operation === undefined
      ? `${req.method} ${path} is no S3 operation the local cloud knows, and the local S3 (fauxqs) would run ${runs} for it: refused`
      : `${operation} is not implemented by the local S3 (fauxqs ${runs ? `would run ${runs} instead` : "has no such operation"}): the local cloud refuses it rather than run another operation`;
  return { status: 501, code: "NotImplemented", message };
}

/** S3's bucket naming rules (general purpose buckets), which keep a bucket name from holding a `/`. */
const bucketName = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

function classifyS3(req: RequestView): Classification {
  const protocol = "rest-xml";
  if (!req.url.startsWith("/")) return { protocol, problem: `the request target ${req.url} is not a path` };
  const target = s3Target(req);
  const path = req.url.split(/[?#]/)[0];
  if (!target && req.url !== "/" && !req.url.startsWith("/?"))
    return { protocol, problem: `${req.method} ${path}: the path is no bucket and key` };
  if (target && !bucketName.test(target.bucket))
    return { protocol, problem: `${req.method} ${path}: "${target.bucket}" is no S3 bucket name` };
  const refusal = s3EmulatorRefusal(req);
  if (refusal) return { protocol, problem: refusal.message, s3Error: { status: refusal.status, code: refusal.code } };
  const query = target?.query ?? new URLSearchParams();
  const copySourceHeader = header(req.headers, "x-amz-copy-source");
  const operation = s3OperationOf(req.method, target?.bucket, target?.key ?? "", query, Boolean(copySourceHeader));
  if (!operation) return { protocol, problem: `${req.method} ${path} is no S3 operation the local cloud knows` };
  const checks = s3Operations[operation] as readonly S3Check[];
  const bucket = target?.bucket ?? "";
  const key = target?.key ?? "";
  const versionId = query.get("versionId");
  const source = copySourceHeader ? copySourceOf(copySourceHeader) : undefined;
  if (copySourceHeader && !source)
    return { protocol, problem: `x-amz-copy-source ${copySourceHeader} names no object` };

  if (operation === "DeleteObjects") {
    const xml = req.body?.toString("utf8") ?? "";
    const objects = deleteObjectsKeys(xml);
    // The emulator must delete the keys that are authorized, no other.
    const emulatorKeys = emulatorDeleteKeys(xml);
    if (emulatorKeys.length !== objects.length) {
      return {
        protocol,
        problem: "the DeleteObjects body has a <Key> outside an <Object>",
        s3Error: { status: 400, code: "MalformedXML" },
      };
    }
    const misread = objects.findIndex((object, i) => object.key !== emulatorKeys[i]);
    if (misread >= 0) {
      return {
        protocol,
        problem: `the local S3 (fauxqs) would delete the key ${JSON.stringify(emulatorKeys[misread])} where S3 deletes ${JSON.stringify(objects[misread]?.key)} (it decodes XML entities otherwise): delete it with DeleteObject`,
        s3Error: { status: 501, code: "NotImplemented" },
      };
    }
    const keys = objects.map((object) => ({
      ...object,
      check: {
        action: object.versionId ? "s3:DeleteObjectVersion" : "s3:DeleteObject",
        resource: s3Object(bucket, object.key),
      },
    }));
    if (keys.length === 0) {
      // S3 answers 400 MalformedXML; the emulator would take the request for whatever its body is.
      return {
        protocol,
        problem: "the DeleteObjects request lists no object",
        s3Error: { status: 400, code: "MalformedXML" },
      };
    }
    return { protocol, api: "s3", operation, checks: [], keys };
  }

  const resolved: AccessRequest[] = checks.map((check) => {
    switch (check.on) {
      case "object":
        return {
          action: versionId && check.versioned ? check.versioned : check.action,
          resource: s3Object(bucket, key),
        };
      case "bucket":
        return { action: check.action, resource: s3Bucket(bucket) };
      case "source": {
        const from = source as NonNullable<typeof source>;
        return {
          action: from.versionId && check.versioned ? check.versioned : check.action,
          resource: s3Object(from.bucket, from.key),
        };
      }
      default:
        // "account": operations on no particular bucket (ListBuckets).
        return { action: check.action, resource: "*" };
    }
  });
  // Tags and ACLs set with the object need their own permissions (S3 API reference, PutObject: "Permissions").
  const setsTags =
    header(req.headers, "x-amz-tagging") !== undefined &&
    (operation !== "CopyObject" || header(req.headers, "x-amz-tagging-directive")?.toUpperCase() === "REPLACE");
  const writes = ["PutObject", "CopyObject", "CreateMultipartUpload"].includes(operation);
  if (writes && setsTags) resolved.push({ action: "s3:PutObjectTagging", resource: s3Object(bucket, key) });
  const setsAcl = Object.keys(req.headers).some((name) => name === "x-amz-acl" || name.startsWith("x-amz-grant-"));
  if (writes && setsAcl) resolved.push({ action: "s3:PutObjectAcl", resource: s3Object(bucket, key) });
  return { protocol, api: "s3", operation, checks: resolved };
}

// ---------------------------------------------------------------------------------------------------------------
// JSON protocols (DynamoDB, DynamoDB Streams, Kinesis, SQS)

type Json = Record<string, unknown>;

function parseJson(body: Buffer | undefined): Json | undefined {
  try {
    const value = JSON.parse(body?.toString("utf8") || "{}");
    return value && typeof value === "object" && !Array.isArray(value) ? (value as Json) : undefined;
  } catch {
    return undefined;
  }
}

const str = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);

/** DynamoDB Local names its region `ddblocal` in the ARNs it returns; the policies name the local cloud's. */
function normalizeDynamoArn(arn: string, region: string): string {
  return arn.replace(/^arn:aws:dynamodb:ddblocal:/, `arn:aws:dynamodb:${region}:`);
}

function classifyJson(req: RequestView, ctx: ClassifyContext): Classification {
  const protocol = "json";
  const target = header(req.headers, "x-amz-target") ?? "";
  const dot = target.indexOf(".");
  const prefix = target.slice(0, dot);
  const operation = target.slice(dot + 1);
  const body = parseJson(req.body);
  if (dot <= 0 || !operation) return { protocol, problem: `X-Amz-Target "${target}" names no operation` };
  if (!body) return { protocol, problem: `${target}: the body is not a JSON object` };
  switch (prefix) {
    case "DynamoDB_20120810":
      return { protocol, api: "dynamodb", operation, checks: dynamoChecks(operation, body, ctx) };
    case "DynamoDBStreams_20120810":
      return streamsChecks(operation, body, ctx);
    case "Kinesis_20131202":
      return kinesisChecks(operation, body, ctx);
    case "AmazonSQS":
      return { protocol, api: "sqs", operation, checks: sqsChecks(operation, (name) => str(body[name]), ctx) };
    case "AWSGlue":
      return { protocol, api: "glue", operation, checks: glueChecks(operation, body, ctx) };
    default:
      return { protocol, problem: `X-Amz-Target "${target}" is no service the local cloud knows` };
  }
}

function dynamoChecks(operation: string, body: Json, ctx: ClassifyContext): AccessRequest[] {
  const tableArn = (name: string) =>
    name.startsWith("arn:")
      ? normalizeDynamoArn(name, ctx.region)
      : `arn:aws:dynamodb:${ctx.region}:${ctx.accountId}:table/${name}`;
  const action = `dynamodb:${operation}`;
  switch (operation) {
    case "BatchGetItem":
    case "BatchWriteItem":
      return Object.keys((body.RequestItems as Json | undefined) ?? {}).map((table) => ({
        action,
        resource: tableArn(table),
      }));
    case "TransactWriteItems":
    case "TransactGetItems": {
      const actions: Record<string, string> = {
        Put: "dynamodb:PutItem",
        Update: "dynamodb:UpdateItem",
        Delete: "dynamodb:DeleteItem",
        ConditionCheck: "dynamodb:ConditionCheckItem",
        Get: "dynamodb:GetItem",
      };
      return ((body.TransactItems as Json[] | undefined) ?? []).flatMap((item) =>
        Object.entries(item).flatMap(([kind, spec]) => {
          const table = str((spec as Json | undefined)?.TableName);
          const itemAction = actions[kind];
          return itemAction && table ? [{ action: itemAction, resource: tableArn(table) }] : [];
        }),
      );
    }
    case "ExecuteStatement":
      return partiqlChecks(str(body.Statement) ?? "", tableArn);
    case "BatchExecuteStatement":
    case "ExecuteTransaction": {
      const statements = (body.Statements ?? body.TransactStatements) as Json[] | undefined;
      return (statements ?? []).flatMap((s) => partiqlChecks(str(s.Statement) ?? "", tableArn));
    }
    case "Query":
    case "Scan": {
      const table = tableArn(str(body.TableName) ?? "");
      const index = str(body.IndexName);
      return [{ action, resource: index ? `${table}/index/${index}` : table }];
    }
    case "TagResource":
    case "UntagResource":
    case "ListTagsOfResource":
      return [{ action, resource: normalizeDynamoArn(str(body.ResourceArn) ?? "*", ctx.region) }];
    default: {
      const table = str(body.TableName);
      return iamActionsOf("dynamodb", operation).map((a) => ({ action: a, resource: table ? tableArn(table) : "*" }));
    }
  }
}

/** PartiQL: the statement's verb decides the action; the first quoted or bare name after FROM/INTO/UPDATE the table. */
function partiqlChecks(statement: string, tableArn: (name: string) => string): AccessRequest[] {
  const verb = /^\s*(SELECT|INSERT|UPDATE|DELETE|EXISTS)/i.exec(statement)?.[1]?.toUpperCase();
  const table = /\b(?:FROM|INTO|UPDATE)\s+(?:"([^"]+)"|([A-Za-z0-9_.-]+))/i.exec(statement);
  const name = table?.[1] ?? table?.[2];
  const action = {
    SELECT: "PartiQLSelect",
    EXISTS: "PartiQLSelect",
    INSERT: "PartiQLInsert",
    UPDATE: "PartiQLUpdate",
    DELETE: "PartiQLDelete",
  }[verb ?? ""];
  return [{ action: `dynamodb:${action ?? "PartiQLSelect"}`, resource: name ? tableArn(name) : "*" }];
}

function streamsChecks(operation: string, body: Json, ctx: ClassifyContext): Classification {
  const protocol = "json";
  const action = `dynamodb:${operation}`;
  if (operation === "ListStreams")
    return { protocol, api: "dynamodbstreams", operation, checks: [{ action, resource: "*" }] };
  // A DynamoDB shard iterator starts with its stream's ARN (AWS's and DynamoDB Local's alike).
  const arn = str(body.StreamArn) ?? str(body.ShardIterator)?.split("|")[0];
  if (!arn?.startsWith("arn:")) return { protocol, problem: `${operation}: no stream ARN in the request` };
  return {
    protocol,
    api: "dynamodbstreams",
    operation,
    checks: [{ action, resource: normalizeDynamoArn(arn, ctx.region) }],
  };
}

function kinesisChecks(operation: string, body: Json, ctx: ClassifyContext): Classification {
  const protocol = "json";
  const action = `kinesis:${operation}`;
  const streamArn = (name: string) => `arn:aws:kinesis:${ctx.region}:${ctx.accountId}:stream/${name}`;
  if (operation === "ListStreams" || operation === "DescribeLimits")
    return { protocol, api: "kinesis", operation, checks: [{ action, resource: "*" }] };
  // Every stream the request names: AWS reads the ARN or the name, kinesalite the name (or the iterator's own stream),
  // the check one of them; so all of them must be one stream.
  const consumer = str(body.ConsumerARN);
  const named = new Set<string>();
  if (consumer) named.add(consumer.replace(/\/consumer\/.*$/, ""));
  if (str(body.StreamARN)) named.add(str(body.StreamARN) as string);
  if (str(body.StreamName)) named.add(streamArn(str(body.StreamName) as string));
  const token = str(body.ShardIterator) ?? str(body.NextToken);
  if (token) {
    const ofToken = ctx.streamOfToken(token);
    if (!ofToken) return { protocol, problem: `${operation}: the request names no stream the local cloud can tell` };
    named.add(ofToken);
  }
  if (named.size > 1) {
    const problem = `${operation}: the request names more than one stream (${[...named].join(", ")})`;
    return { protocol, problem, invalid: { api: "kinesis", code: "InvalidArgumentException" } };
  }
  const resource = consumer ?? [...named][0] ?? str(body.ResourceARN);
  if (!resource) return { protocol, problem: `${operation}: the request names no stream the local cloud can tell` };
  return { protocol, api: "kinesis", operation, checks: [{ action, resource }] };
}

/** SQS checks, from request parameters (JSON members or query fields, which have the same names). */
function sqsChecks(
  operation: string,
  param: (name: string) => string | undefined,
  ctx: ClassifyContext,
  path = "/",
): AccessRequest[] {
  const queueArn = (name: string, account = ctx.accountId) => `arn:aws:sqs:${ctx.region}:${account}:${name}`;
  let resource = "*";
  const url = param("QueueUrl") ?? (path !== "/" ? path : undefined);
  const name = param("QueueName");
  if (url) {
    const [account, queue] = new URL(url, "http://local").pathname.split("/").filter(Boolean).slice(-2);
    if (queue) resource = queueArn(queue, account);
  } else if (name && operation !== "ListQueues") {
    resource = queueArn(name, param("QueueOwnerAWSAccountId"));
  }
  return iamActionsOf("sqs", operation).map((action) => ({ action, resource }));
}

/**
 * Glue: a table operation needs its action on the catalog, the database and the table (AWS Glue developer guide,
 * "Specifying AWS Glue resource ARNs"); a database operation on the catalog and the database. Names in lower case, as
 * Glue keeps them.
 */
function glueChecks(operation: string, body: Json, ctx: ClassifyContext): AccessRequest[] {
  const account = str(body.CatalogId) ?? ctx.accountId;
  const arn = (resource: string) => `arn:aws:glue:${ctx.region}:${account}:${resource}`;
  const database = str(body.DatabaseName)?.toLowerCase();
  const table = (str(body.Name) ?? str((body.TableInput as Json | undefined)?.Name))?.toLowerCase();
  const resources = [arn("catalog")];
  if (database) resources.push(arn(`database/${database}`));
  if (database && table) resources.push(arn(`table/${database}/${table}`));
  return iamActionsOf("glue", operation).flatMap((action) => resources.map((resource) => ({ action, resource })));
}

// ---------------------------------------------------------------------------------------------------------------
// SNS and SQS on fauxqs

/**
 * fauxqs routes a request by its content type only (`includes`, JSON first): `application/x-amz-json-1.0` to SQS,
 * which reads `X-Amz-Target`; `application/x-www-form-urlencoded` to SNS, whatever the `Version` or `X-Amz-Target`
 * (SQS's query protocol included); anything else it refuses. A request is classified as it will run: a form with an
 * `X-Amz-Target` (valid JSON for one service, a form for the other) and a content type naming both are refused.
 */
function classifySnsSqs(req: RequestView, ctx: ClassifyContext): Classification {
  const contentType = header(req.headers, "content-type") ?? "";
  const target = header(req.headers, "x-amz-target");
  const json = contentType.includes("application/x-amz-json-1.0");
  const form = contentType.includes("application/x-www-form-urlencoded");
  if (json && !form) {
    if (!target?.startsWith("AmazonSQS."))
      return { protocol: "json", problem: `X-Amz-Target "${target ?? ""}" names no SQS operation` };
    return classifyJson(req, ctx);
  }
  if (form && !json) {
    if (target !== undefined)
      return { protocol: "query", problem: `X-Amz-Target "${target}" with a form body, which SNS would run` };
    return classifyQuery(req, ctx);
  }
  return {
    protocol: target === undefined ? "query" : "json",
    problem: `content type "${contentType}" is neither SQS's JSON nor SNS's form`,
  };
}

/**
 * SNS's query protocol: the form body only (fauxqs reads no parameter from the URL). A parameter given twice is
 * refused: the emulator runs the last value.
 */
function classifyQuery(req: RequestView, ctx: ClassifyContext): Classification {
  const protocol = "query";
  const form = new URLSearchParams(req.body?.toString("utf8") ?? "");
  const names = [...form.keys()];
  const repeated = names.find((name, i) => names.indexOf(name) !== i);
  if (repeated !== undefined) {
    const problem = `Invalid parameter: ${repeated} is given more than once`;
    return { protocol, problem, invalid: { api: "sns", code: "InvalidParameter" } };
  }
  const param = (name: string) => form.get(name) ?? undefined;
  const operation = param("Action");
  if (!operation) return { protocol, problem: "the request has no Action" };
  const topicArn = (name: string) => `arn:aws:sns:${ctx.region}:${ctx.accountId}:${name}`;
  const subscriptionTopic = (arn: string) => arn.slice(0, arn.lastIndexOf(":"));
  let resource = "*";
  const topic = param("TopicArn") ?? param("TargetArn") ?? param("ResourceArn");
  if (topic) resource = topic;
  else if (param("SubscriptionArn")) resource = subscriptionTopic(param("SubscriptionArn") as string);
  else if (operation === "CreateTopic" && param("Name")) resource = topicArn(param("Name") as string);
  return {
    protocol,
    api: "sns",
    operation,
    checks: iamActionsOf("sns", operation).map((action) => ({ action, resource })),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// SageMaker runtime (REST-JSON)

const sagemakerPaths: ReadonlyArray<[RegExp, string]> = [
  [/^\/endpoints\/([^/]+)\/invocations$/, "InvokeEndpoint"],
  [/^\/endpoints\/([^/]+)\/async-invocations$/, "InvokeEndpointAsync"],
  [/^\/endpoints\/([^/]+)\/invocations-response-stream$/, "InvokeEndpointWithResponseStream"],
];

function classifySageMaker(req: RequestView, ctx: ClassifyContext): Classification {
  const protocol = "rest-json";
  const path = new URL(req.url, "http://local").pathname;
  for (const [pattern, operation] of sagemakerPaths) {
    const name = pattern.exec(path)?.[1];
    if (req.method !== "POST" || name === undefined) continue;
    // SageMaker's ARNs name endpoints in lower case.
    const resource = `arn:aws:sagemaker:${ctx.region}:${ctx.accountId}:endpoint/${decodeURIComponent(name).toLowerCase()}`;
    return {
      protocol,
      api: "sagemaker",
      operation,
      checks: iamActionsOf("sagemaker", operation).map((action) => ({ action, resource })),
    };
  }
  return { protocol, problem: `${req.method} ${path} is no SageMaker runtime operation` };
}
