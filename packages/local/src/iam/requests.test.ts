/**
 * Requests as the real AWS SDK v3 clients send them (captured before they leave the client), classified into the
 * IAM checks the service makes.
 */
import {
  BatchWriteItemCommand,
  DynamoDBClient,
  PutItemCommand,
  QueryCommand,
  TransactWriteItemsCommand,
} from "@aws-sdk/client-dynamodb";
import {
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand as StreamIteratorCommand,
} from "@aws-sdk/client-dynamodb-streams";
import {
  KinesisClient,
  GetRecordsCommand as KinesisGetRecordsCommand,
  ListShardsCommand,
  PutRecordsCommand,
} from "@aws-sdk/client-kinesis";
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import { InvokeEndpointCommand, SageMakerRuntimeClient } from "@aws-sdk/client-sagemaker-runtime";
import { PublishBatchCommand, PublishCommand, SNSClient } from "@aws-sdk/client-sns";
import { SendMessageBatchCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { describe, expect, it } from "vitest";
import { type ClassifiedRequest, classify, type RequestView, type ServiceFamily } from "./requests.ts";

const region = "us-east-1";
const accountId = "000000000000";
const credentials = { accessKeyId: "ASIAEXAMPLE", secretAccessKey: "secret", sessionToken: "token" };

/** The parts of the SDK's outgoing HTTP request the gateway sees. */
interface HttpRequest {
  method: string;
  path: string;
  query?: Record<string, string | string[] | null>;
  headers: Record<string, string>;
  body?: unknown;
}

function queryString(query: HttpRequest["query"] = {}): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    for (const v of Array.isArray(value) ? value : [value]) params.append(name, v ?? "");
  }
  return params.toString();
}

class Captured extends Error {
  constructor(readonly request: HttpRequest) {
    super("captured");
  }
}

/** The HTTP request a client sends for a command, as the gateway would receive it. */
async function sent(
  client: { send(command: never): Promise<unknown>; destroy(): void },
  command: unknown,
): Promise<RequestView> {
  try {
    await client.send(command as never);
  } catch (err) {
    if (!(err instanceof Captured)) throw err;
    const { request } = err;
    const query = queryString(request.query);
    const body = request.body;
    return {
      method: request.method,
      url: `${request.path}${query ? `?${query}` : ""}`,
      headers: Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k.toLowerCase(), v])),
      body: typeof body === "string" || body instanceof Uint8Array ? Buffer.from(body) : undefined,
    };
  } finally {
    client.destroy();
  }
  throw new Error("the command was sent");
}

const capture = { handle: async (request: HttpRequest) => Promise.reject(new Captured(request)) };
const config = { region, credentials, endpoint: "http://127.0.0.1:4566", requestHandler: capture, maxAttempts: 1 };
const known = new Map<string, string>([["shard-iterator-1", "arn:aws:kinesis:us-east-1:000000000000:stream/clicks"]]);
const ctx = { region, accountId, streamOfToken: (token: string) => known.get(token) };

async function checksOf(
  family: ServiceFamily,
  client: Parameters<typeof sent>[0],
  command: unknown,
): Promise<ClassifiedRequest> {
  const result = classify(family, await sent(client, command), ctx);
  if ("problem" in result) throw new Error(result.problem);
  return result;
}

const s3 = () => new S3Client({ ...config, forcePathStyle: true, requestChecksumCalculation: "WHEN_REQUIRED" });
const object = (key: string) => `arn:aws:s3:::inbox/${key}`;

describe("S3 requests", () => {
  it.each([
    [
      "GetObject",
      new GetObjectCommand({ Bucket: "inbox", Key: "a b/c+d.csv" }),
      [["s3:GetObject", object("a b/c+d.csv")]],
    ],
    [
      "GetObject",
      new GetObjectCommand({ Bucket: "inbox", Key: "k", VersionId: "v1" }),
      [["s3:GetObjectVersion", object("k")]],
    ],
    ["HeadObject", new HeadObjectCommand({ Bucket: "inbox", Key: "k" }), [["s3:GetObject", object("k")]]],
    ["PutObject", new PutObjectCommand({ Bucket: "inbox", Key: "k", Body: "x" }), [["s3:PutObject", object("k")]]],
    [
      "PutObject",
      new PutObjectCommand({ Bucket: "inbox", Key: "k", Body: "x", Tagging: "a=b" }),
      [
        ["s3:PutObject", object("k")],
        ["s3:PutObjectTagging", object("k")],
      ],
    ],
    ["DeleteObject", new DeleteObjectCommand({ Bucket: "inbox", Key: "k" }), [["s3:DeleteObject", object("k")]]],
    [
      "DeleteObject",
      new DeleteObjectCommand({ Bucket: "inbox", Key: "k", VersionId: "v" }),
      [["s3:DeleteObjectVersion", object("k")]],
    ],
    [
      "ListObjectsV2",
      new ListObjectsV2Command({ Bucket: "inbox", Prefix: "p/" }),
      [["s3:ListBucket", "arn:aws:s3:::inbox"]],
    ],
    [
      "CopyObject",
      new CopyObjectCommand({ Bucket: "lake", Key: "raw/x y.csv", CopySource: "inbox/incoming/x%20y.csv" }),
      [
        ["s3:PutObject", "arn:aws:s3:::lake/raw/x y.csv"],
        ["s3:GetObject", object("incoming/x y.csv")],
      ],
    ],
    [
      "UploadPartCopy",
      new UploadPartCopyCommand({
        Bucket: "lake",
        Key: "big",
        CopySource: "inbox/big%3F.bin",
        UploadId: "u",
        PartNumber: 1,
      }),
      [
        ["s3:PutObject", "arn:aws:s3:::lake/big"],
        ["s3:GetObject", object("big?.bin")],
      ],
    ],
  ])("%s %#", async (operation, command, checks) => {
    const classified = await checksOf("s3", s3(), command);
    expect(classified.operation).toBe(operation);
    expect(classified.checks.map((c) => [c.action, c.resource])).toEqual(checks);
  });

  it("checks DeleteObjects key by key", async () => {
    const classified = await checksOf(
      "s3",
      s3(),
      new DeleteObjectsCommand({
        Bucket: "inbox",
        Delete: { Objects: [{ Key: "a&b.csv" }, { Key: "old", VersionId: "v1" }], Quiet: true },
      }),
    );
    expect(classified.operation).toBe("DeleteObjects");
    expect(classified.keys?.map((k) => [k.key, k.check.action, k.check.resource])).toEqual([
      ["a&b.csv", "s3:DeleteObject", object("a&b.csv")],
      ["old", "s3:DeleteObjectVersion", object("old")],
    ]);
  });

  it("refuses ListObjectVersions, which the local S3 does not implement (fauxqs would list the objects)", async () => {
    const result = classify("s3", await sent(s3(), new ListObjectVersionsCommand({ Bucket: "inbox" })), ctx);
    expect(result).toMatchObject({ s3Error: { status: 501, code: "NotImplemented" } });
  });

  it("names what it cannot classify", () => {
    const result = classify("s3", { method: "PATCH", url: "/inbox/k", headers: {} }, ctx);
    expect(result).toEqual({ protocol: "rest-xml", problem: expect.stringContaining("PATCH /inbox/k") });
  });
});

describe("S3 requests the local S3 (fauxqs) does not run as S3 would: refused, never forwarded", () => {
  const view = (method: string, url: string, headers: Record<string, string> = {}, body?: string): RequestView => ({
    method,
    url,
    headers: { host: "127.0.0.1:4566", ...headers },
    ...(body === undefined ? {} : { body: Buffer.from(body) }),
  });
  const notImplemented = (operation: string) => ({
    protocol: "rest-xml",
    problem: expect.stringContaining(`${operation} is not implemented by the local S3`),
    s3Error: { status: 501, code: "NotImplemented" },
  });

  it.each([
    // fauxqs runs GetObject, PutObject or DeleteObject for these.
    ["GetObjectTagging", view("GET", "/inbox/k?tagging")],
    ["PutObjectTagging", view("PUT", "/inbox/k?tagging", {}, "<Tagging/>")],
    ["DeleteObjectTagging", view("DELETE", "/inbox/k?tagging")],
    ["GetObjectAcl", view("GET", "/inbox/k?acl")],
    ["PutObjectAcl", view("PUT", "/inbox/k?acl")],
    ["ListParts", view("GET", "/inbox/k?uploadId=u1")],
    ["UploadPart", view("PUT", "/inbox/k?uploadId=u1")],
    ["AbortMultipartUpload", view("DELETE", "/inbox/k?uploadId=")],
    ["CompleteMultipartUpload", view("POST", "/inbox/k?uploads&uploadId=u1")],
    ["PutObject", view("PUT", "/inbox/k?renameObject", { "x-amz-rename-source": "/inbox/other" })],
    // fauxqs runs DeleteObjects for a POST on a key it does not know.
    ["SelectObjectContent", view("POST", "/inbox/k?select&select-type=2", {}, "<Delete/>")],
    ["RestoreObject", view("POST", "/inbox/k?restore")],
    // Bucket sub-resources: fauxqs lists the objects, deletes or (re)creates the bucket.
    ["ListObjectVersions", view("GET", "/inbox?versions")],
    ["ListMultipartUploads", view("GET", "/inbox?uploads")],
    ["GetBucketLocation", view("GET", "/inbox?location")],
    ["DeleteBucketPolicy", view("DELETE", "/inbox?policy")],
    ["DeleteBucketTagging", view("DELETE", "/inbox?tagging")],
    ["DeleteBucketCors", view("DELETE", "/inbox?cors")],
    ["PutBucketVersioning", view("PUT", "/inbox?versioning")],
    ["GetBucketWebsite", view("GET", "/inbox?website")],
    ["DeleteBucketWebsite", view("DELETE", "/inbox?website")],
    ["DeleteBucketReplication", view("DELETE", "/inbox?replication")],
    ["GetObjectTorrent", view("GET", "/inbox/k?torrent")],
    // A browser-form upload (POST Object): its key is in the form, and the local cloud does not read forms.
    ["PostObject", view("POST", "/inbox?delete", { "content-type": "multipart/form-data; boundary=XyZ" }, "--XyZ--")],
    ["PostObject", view("POST", "/inbox", { "content-type": "multipart/form-data; boundary=XyZ" }, "--XyZ--")],
  ])("%s %#", (operation, request) => {
    expect(classify("s3", request, ctx)).toEqual(notImplemented(operation));
  });

  it("refuses a DeleteObjects that lists no object, as S3 does (400 MalformedXML), rather than forward it", () => {
    for (const body of ["", "<Delete></Delete>", "<Delete><Quiet>true</Quiet></Delete>"]) {
      expect(classify("s3", view("POST", "/inbox?delete", {}, body), ctx)).toEqual({
        protocol: "rest-xml",
        problem: expect.stringContaining("lists no object"),
        s3Error: { status: 400, code: "MalformedXML" },
      });
    }
  });

  it("refuses a DeleteObjects body the local S3 would read other keys from than S3", () => {
    const refused = (body: string) => classify("s3", view("POST", "/inbox?delete", {}, body), ctx);
    // fauxqs deletes every <Key> of the body, inside an <Object> or not: S3 refuses such a body.
    expect(refused("<Delete><Object><Key>tmp/a</Key></Object><Key>secret</Key></Delete>")).toEqual({
      protocol: "rest-xml",
      problem: expect.stringContaining("<Key>"),
      s3Error: { status: 400, code: "MalformedXML" },
    });
    // fauxqs decodes no character references, and decodes &amp; first: S3 would delete another key than fauxqs.
    for (const key of ["&#116;mp/x", "a&amp;lt;b"]) {
      expect(refused(`<Delete><Object><Key>${key}</Key></Object></Delete>`)).toEqual({
        protocol: "rest-xml",
        problem: expect.stringContaining("would delete"),
        s3Error: { status: 501, code: "NotImplemented" },
      });
    }
    const ok = classify(
      "s3",
      view("POST", "/inbox?delete", {}, "<Delete><Object><Key>a &amp; b</Key></Object></Delete>"),
      ctx,
    );
    expect("keys" in ok ? ok.keys?.map((k) => k.key) : ok).toEqual(["a & b"]);
  });

  it("refuses a copy from a version: fauxqs has none, and would copy an object named `key?versionId=...`", async () => {
    for (const command of [
      new CopyObjectCommand({ Bucket: "lake", Key: "k", CopySource: "inbox/big?versionId=v7" }),
      new UploadPartCopyCommand({
        Bucket: "lake",
        Key: "k",
        CopySource: "inbox/big?versionId=v7",
        UploadId: "u",
        PartNumber: 1,
      }),
    ]) {
      expect(classify("s3", await sent(s3(), command), ctx)).toEqual({
        protocol: "rest-xml",
        problem: expect.stringContaining("versionId"),
        s3Error: { status: 501, code: "NotImplemented" },
      });
    }
  });

  it("still classifies what fauxqs runs as S3 does", () => {
    const ok = (request: RequestView) => {
      const result = classify("s3", request, ctx);
      if ("problem" in result) throw new Error(result.problem);
      return result.operation;
    };
    expect(ok(view("GET", "/inbox/k?partNumber=1&versionId=v"))).toBe("GetObject");
    expect(ok(view("GET", "/inbox/k?attributes", { "x-amz-object-attributes": "ETag" }))).toBe("GetObjectAttributes");
    expect(ok(view("PUT", "/inbox/k?partNumber=1&uploadId=u1"))).toBe("UploadPart");
    expect(ok(view("POST", "/inbox/k?uploads"))).toBe("CreateMultipartUpload");
    expect(ok(view("DELETE", "/inbox/k?uploadId=u1"))).toBe("AbortMultipartUpload");
    expect(ok(view("GET", "/inbox?list-type=2&prefix=a"))).toBe("ListObjectsV2");
    expect(ok(view("GET", "/inbox?lifecycle"))).toBe("GetBucketLifecycleConfiguration");
  });

  it("refuses a request whose bucket is no bucket name, or whose target is not a path", () => {
    for (const url of ["/in%2Fbox/k", "http://127.0.0.1:4566/inbox/k"]) {
      expect(classify("s3", view("GET", url), ctx)).toMatchObject({ problem: expect.any(String) });
    }
  });
});

describe("JSON-protocol requests", () => {
  const table = (name: string) => `arn:aws:dynamodb:${region}:${accountId}:table/${name}`;
  const dynamo = () => new DynamoDBClient(config);

  it.each([
    [
      "PutItem",
      new PutItemCommand({ TableName: "Catalog", Item: { id: { S: "1" } } }),
      [["dynamodb:PutItem", table("Catalog")]],
    ],
    [
      "BatchWriteItem",
      new BatchWriteItemCommand({
        RequestItems: {
          Windows: [{ PutRequest: { Item: { pk: { S: "1" } } } }],
          Other: [{ DeleteRequest: { Key: { pk: { S: "1" } } } }],
        },
      }),
      [
        ["dynamodb:BatchWriteItem", table("Windows")],
        ["dynamodb:BatchWriteItem", table("Other")],
      ],
    ],
    [
      "TransactWriteItems",
      new TransactWriteItemsCommand({
        TransactItems: [
          {
            Update: {
              TableName: "Catalog",
              Key: { id: { S: "1" } },
              UpdateExpression: "SET p = :p",
              ExpressionAttributeValues: { ":p": { N: "1" } },
            },
          },
          { Put: { TableName: "History", Item: { id: { S: "1" } } } },
        ],
      }),
      [
        ["dynamodb:UpdateItem", table("Catalog")],
        ["dynamodb:PutItem", table("History")],
      ],
    ],
    [
      "Query",
      new QueryCommand({
        TableName: "Catalog",
        IndexName: "byDate",
        KeyConditionExpression: "d = :d",
        ExpressionAttributeValues: { ":d": { S: "x" } },
      }),
      [["dynamodb:Query", `${table("Catalog")}/index/byDate`]],
    ],
  ])("DynamoDB %s", async (operation, command, checks) => {
    const classified = await checksOf("dynamodb", dynamo(), command);
    expect([classified.operation, classified.checks.map((c) => [c.action, c.resource])]).toEqual([operation, checks]);
  });

  it("reads a DynamoDB stream from its ARN, or from the shard iterator that starts with it", async () => {
    const local = "arn:aws:dynamodb:ddblocal:000000000000:table/Requests/stream/2026-12-05T14:40:06.952";
    const stream = `${table("Requests")}/stream/2026-12-05T14:40:06.952`;
    const streams = () => new DynamoDBStreamsClient(config);
    const iterator = await checksOf(
      "dynamodb",
      streams(),
      new StreamIteratorCommand({ StreamArn: local, ShardId: "s", ShardIteratorType: "LATEST" }),
    );
    expect(iterator.checks).toEqual([{ action: "dynamodb:GetShardIterator", resource: stream }]);
    const records = await checksOf("dynamodb", streams(), new GetRecordsCommand({ ShardIterator: `${local}|001|abc` }));
    expect(records.checks).toEqual([{ action: "dynamodb:GetRecords", resource: stream }]);
  });

  it("reads Kinesis streams from names, ARNs, and the iterators the gateway has seen", async () => {
    const kinesis = () => new KinesisClient(config);
    const stream = `arn:aws:kinesis:${region}:${accountId}:stream/clicks`;
    const put = await checksOf(
      "kinesis",
      kinesis(),
      new PutRecordsCommand({ StreamName: "clicks", Records: [{ Data: new Uint8Array([1]), PartitionKey: "p" }] }),
    );
    expect(put.checks).toEqual([{ action: "kinesis:PutRecords", resource: stream }]);
    const shards = await checksOf("kinesis", kinesis(), new ListShardsCommand({ StreamARN: stream }));
    expect(shards.checks).toEqual([{ action: "kinesis:ListShards", resource: stream }]);
    const records = await checksOf(
      "kinesis",
      kinesis(),
      new KinesisGetRecordsCommand({ ShardIterator: "shard-iterator-1" }),
    );
    expect(records.checks).toEqual([{ action: "kinesis:GetRecords", resource: stream }]);
    const unknown = classify(
      "kinesis",
      await sent(kinesis(), new KinesisGetRecordsCommand({ ShardIterator: "forged" })),
      ctx,
    );
    expect(unknown).toMatchObject({ problem: expect.stringContaining("GetRecords") });
  });

  it("maps SQS batch operations to their single actions", async () => {
    const url = "http://127.0.0.1:4566/000000000000/FileMoverDlq";
    const queue = `arn:aws:sqs:${region}:${accountId}:FileMoverDlq`;
    const send = await checksOf(
      "sns-sqs",
      new SQSClient(config),
      new SendMessageCommand({ QueueUrl: url, MessageBody: "x" }),
    );
    expect([send.protocol, send.checks]).toEqual(["json", [{ action: "sqs:SendMessage", resource: queue }]]);
    const batch = await checksOf(
      "sns-sqs",
      new SQSClient(config),
      new SendMessageBatchCommand({ QueueUrl: url, Entries: [{ Id: "1", MessageBody: "x" }] }),
    );
    expect(batch.checks).toEqual([{ action: "sqs:SendMessage", resource: queue }]);
  });
});

describe("query-protocol and REST-JSON requests", () => {
  const topic = `arn:aws:sns:${region}:${accountId}:Audit`;

  it("reads SNS Publish and PublishBatch from the form body", async () => {
    const publish = await checksOf(
      "sns-sqs",
      new SNSClient(config),
      new PublishCommand({ TopicArn: topic, Message: "m" }),
    );
    expect([publish.protocol, publish.api, publish.checks]).toEqual([
      "query",
      "sns",
      [{ action: "sns:Publish", resource: topic }],
    ]);
    const batch = await checksOf(
      "sns-sqs",
      new SNSClient(config),
      new PublishBatchCommand({ TopicArn: topic, PublishBatchRequestEntries: [{ Id: "1", Message: "m" }] }),
    );
    expect(batch.checks).toEqual([{ action: "sns:Publish", resource: topic }]);
  });

  it("reads SageMaker InvokeEndpoint from the path, the endpoint ARN in lower case", async () => {
    const invoke = await checksOf(
      "sagemaker-runtime",
      new SageMakerRuntimeClient(config),
      new InvokeEndpointCommand({
        EndpointName: "Sluice-Local-PricingModel",
        Body: new TextEncoder().encode("{}"),
        ContentType: "application/json",
      }),
    );
    expect(invoke.checks).toEqual([
      {
        action: "sagemaker:InvokeEndpoint",
        resource: `arn:aws:sagemaker:${region}:${accountId}:endpoint/sluice-local-pricingmodel`,
      },
    ]);
  });
});

describe("SNS and SQS read as fauxqs runs them", () => {
  const view = (headers: Record<string, string>, body: string): RequestView => ({
    method: "POST",
    url: "/",
    headers,
    body: Buffer.from(body),
  });
  const form = "application/x-www-form-urlencoded; charset=utf-8";
  const topic = `arn:aws:sns:${region}:${accountId}:Audit`;

  it("reads a form body as SNS whatever its Version, and refuses one with X-Amz-Target", () => {
    const sqsQuery = classify(
      "sns-sqs",
      view({ "content-type": form }, `Action=Publish&Version=2012-11-05&TopicArn=${encodeURIComponent(topic)}`),
      ctx,
    );
    expect(sqsQuery).toMatchObject({ api: "sns", checks: [{ action: "sns:Publish", resource: topic }] });
    const hybrid = classify(
      "sns-sqs",
      view({ "content-type": form, "x-amz-target": "AmazonSQS.SendMessage" }, '{"QueueUrl":"x"}'),
      ctx,
    );
    expect(hybrid).toMatchObject({ problem: expect.stringContaining("with a form body") });
    const both = classify("sns-sqs", view({ "content-type": `${form}, application/x-amz-json-1.0` }, "{}"), ctx);
    expect(both).toMatchObject({ problem: expect.stringContaining("neither") });
    const otherTarget = classify(
      "sns-sqs",
      view({ "content-type": "application/x-amz-json-1.0", "x-amz-target": "DynamoDB_20120810.PutItem" }, "{}"),
      ctx,
    );
    expect(otherTarget).toMatchObject({ problem: expect.stringContaining("no SQS operation") });
  });

  it("refuses a repeated form parameter as SNS does (InvalidParameter)", () => {
    const dup = classify(
      "sns-sqs",
      view({ "content-type": form }, `Action=Publish&TopicArn=${encodeURIComponent(topic)}&TopicArn=other`),
      ctx,
    );
    expect(dup).toMatchObject({ invalid: { api: "sns", code: "InvalidParameter" } });
  });
});

describe("Kinesis requests naming a stream more than once", () => {
  const json = (operation: string, body: object): RequestView => ({
    method: "POST",
    url: "/",
    headers: { "content-type": "application/x-amz-json-1.1", "x-amz-target": `Kinesis_20131202.${operation}` },
    body: Buffer.from(JSON.stringify(body)),
  });
  const arn = (name: string) => `arn:aws:kinesis:${region}:${accountId}:stream/${name}`;

  it("refuses names that disagree (InvalidArgumentException) and checks the one stream they agree on", () => {
    const mixed = classify("kinesis", json("GetShardIterator", { StreamARN: arn("A"), StreamName: "B" }), ctx);
    expect(mixed).toMatchObject({ invalid: { api: "kinesis", code: "InvalidArgumentException" } });
    const consumer = classify(
      "kinesis",
      json("DescribeStreamConsumer", { ConsumerARN: `${arn("A")}/consumer/c:1`, StreamARN: arn("B") }),
      ctx,
    );
    expect(consumer).toMatchObject({ invalid: { code: "InvalidArgumentException" } });
    const same = classify("kinesis", json("GetShardIterator", { StreamARN: arn("A"), StreamName: "A" }), ctx);
    expect(same).toMatchObject({ checks: [{ action: "kinesis:GetShardIterator", resource: arn("A") }] });
    // An iterator the gateway did not hand out cannot be told, whatever stream the request names beside it.
    const forged = classify("kinesis", json("GetRecords", { ShardIterator: "forged", StreamARN: arn("A") }), ctx);
    expect(forged).toMatchObject({ problem: expect.stringContaining("no stream") });
  });
});
