/**
 * `pnpm push` against real emulators started here (fauxqs for S3/SNS/SQS, kinesalite, DynamoDB Local), through an
 * env file written the way `pnpm local` writes it: each kind's data is read back with the SDK.
 */
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  CreateTableCommand,
  DynamoDBClient,
  GetItemCommand,
  ScanCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import {
  CreateStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  ListShardsCommand,
} from "@aws-sdk/client-kinesis";
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { CreateTopicCommand, SNSClient, SubscribeCommand } from "@aws-sdk/client-sns";
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import { type FauxqsServer, startFauxqs } from "fauxqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DynamoDbLocal, startDynamoDbLocal } from "../emulators/dynamodb-local.ts";
import { createKinesisClient, type Kinesalite, startKinesalite } from "../emulators/kinesalite.ts";
import { repoRoot } from "../paths.ts";
import { runPush } from "./cli.ts";
import { sampleCatalog } from "./kinds/catalog.ts";

const region = "us-east-1";
const credentials = { accessKeyId: "local", secretAccessKey: "local" };
const names = {
  bucket: "sluice-test-inbox",
  topic: "sluice-test-Audit",
  queue: "sluice-test-audit-tap",
  stream: "sluice-test-Clickstream",
  table: "sluice-test-Catalog",
};

let dir: string;
let envFile: string;
let fauxqs: FauxqsServer;
let kinesalite: Kinesalite;
let dynamo: DynamoDbLocal;
let s3: S3Client;
let sqs: SQSClient;
let kinesis: KinesisClient;
let dynamodb: DynamoDBClient;
let queueUrl: string;
let topicArn: string;

/** Writes `export KEY='value'` lines, as `pnpm local` does. */
function writeEnv(file: string, env: Record<string, string>): void {
  const quote = (v: string) => `'${v.replaceAll("'", `'"'"'`)}'`;
  writeFileSync(
    file,
    `${Object.entries(env)
      .map(([k, v]) => `export ${k}=${quote(v)}`)
      .join("\n")}\n`,
  );
}

async function push(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runPush([...argv, "--cloud-env", envFile], {
    env: {},
    cwd: dir,
    stdout: { write: (t: string) => out.push(t) },
    stderr: { write: (t: string) => err.push(t), isTTY: false },
  });
  return { code, out: out.join(""), err: err.join("") };
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), "sluice-push-it-"));
  [fauxqs, kinesalite, dynamo] = await Promise.all([
    startFauxqs({ port: 0, logger: false, host: "127.0.0.1" }),
    startKinesalite(),
    startDynamoDbLocal(),
  ]);
  const fauxqsEndpoint = `http://127.0.0.1:${fauxqs.port}`;
  s3 = new S3Client({ region, credentials, endpoint: fauxqsEndpoint, forcePathStyle: true });
  const sns = new SNSClient({ region, credentials, endpoint: fauxqsEndpoint });
  sqs = new SQSClient({ region, credentials, endpoint: fauxqsEndpoint });
  kinesis = createKinesisClient(kinesalite.endpoint);
  dynamodb = new DynamoDBClient({ region, credentials, endpoint: dynamo.endpoint });

  await s3.send(new CreateBucketCommand({ Bucket: names.bucket }));
  topicArn = (await sns.send(new CreateTopicCommand({ Name: names.topic }))).TopicArn ?? "";
  queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: names.queue }))).QueueUrl ?? "";
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }),
  );
  await sns.send(new SubscribeCommand({ TopicArn: topicArn, Protocol: "sqs", Endpoint: Attributes?.QueueArn }));
  await kinesis.send(new CreateStreamCommand({ StreamName: names.stream, ShardCount: 2 }));
  await dynamodb.send(
    new CreateTableCommand({
      TableName: names.table,
      KeySchema: [{ AttributeName: "productId", KeyType: "HASH" }],
      AttributeDefinitions: [{ AttributeName: "productId", AttributeType: "S" }],
      BillingMode: "PAY_PER_REQUEST",
    }),
  );
  sns.destroy();

  envFile = path.join(dir, "local.env");
  writeEnv(envFile, {
    AWS_REGION: region,
    AWS_ACCESS_KEY_ID: "local",
    AWS_SECRET_ACCESS_KEY: "local",
    AWS_ENDPOINT_URL_S3: fauxqsEndpoint,
    AWS_ENDPOINT_URL_SNS: fauxqsEndpoint,
    AWS_ENDPOINT_URL_SQS: fauxqsEndpoint,
    AWS_ENDPOINT_URL_KINESIS: kinesalite.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    SST_RESOURCE_App: JSON.stringify({ name: "sluice", stage: "local" }),
    SST_RESOURCE_Inbox: JSON.stringify({ name: names.bucket, type: "sst.aws.Bucket" }),
    SST_RESOURCE_Audit: JSON.stringify({ arn: topicArn, type: "sst.aws.SnsTopic" }),
    SST_RESOURCE_Clickstream: JSON.stringify({ name: names.stream, type: "sst.aws.KinesisStream" }),
    SST_RESOURCE_Catalog: JSON.stringify({ name: names.table, type: "sst.aws.Dynamo" }),
  });
});

afterAll(async () => {
  for (const client of [s3, sqs, kinesis, dynamodb]) client?.destroy();
  await Promise.all([fauxqs?.stop(), kinesalite?.stop(), dynamo?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

async function objectBytes(key: string): Promise<{ body: Buffer; contentType: string | undefined }> {
  const object = await s3.send(new GetObjectCommand({ Bucket: names.bucket, Key: key }));
  return { body: Buffer.from((await object.Body?.transformToByteArray()) ?? []), contentType: object.ContentType };
}

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

describe("push file", () => {
  it("uploads one file under a prefix, bytes and content type intact", async () => {
    writeFileSync(path.join(dir, "orders.csv"), "id,total\n1,9.5\n");

    const run = await push("file", "orders.csv", "--key", "incoming/");

    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    expect(run.out).toMatch(
      /^uploaded 1 file \(15 B\) in .* to Inbox: s3:\/\/sluice-test-inbox\/incoming\/orders\.csv \[local cloud \(local\.env\)\]\n$/,
    );
    const object = await objectBytes("incoming/orders.csv");
    expect(object.body.toString()).toBe("id,total\n1,9.5\n");
    expect(object.contentType).toBe("text/csv");
  });

  it("uploads a big file as a multipart upload, byte for byte", async () => {
    const data = randomBytes(12 * 1024 * 1024 + 123);
    writeFileSync(path.join(dir, "big.parquet"), data);

    const run = await push("file", "big.parquet", "--key", "lake/big.parquet", "--part-size", "5");

    expect(run.code).toBe(0);
    expect(run.out).toContain("1 multipart");
    const object = await objectBytes("lake/big.parquet");
    expect(object.body.length).toBe(data.length);
    expect(sha256(object.body)).toBe(sha256(data));
    expect(object.contentType).toBe("application/vnd.apache.parquet");
  });

  it("uploads a folder recursively, keys relative to it", async () => {
    const folder = path.join(dir, "export");
    mkdirSync(path.join(folder, "public", "orders"), { recursive: true });
    writeFileSync(path.join(folder, "public", "orders", "LOAD00000001.csv"), "I,1,a\n");
    writeFileSync(path.join(folder, "public", "orders", "20260301-1200000000.csv"), "U,1,b\n");
    writeFileSync(path.join(folder, "manifest.json"), '{"tables":1}');

    const run = await push("file", "export", "--key", "dms", "--verbose");

    expect(run.code).toBe(0);
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: names.bucket, Prefix: "dms/" }));
    expect((listed.Contents ?? []).map((o) => o.Key).sort()).toEqual([
      "dms/manifest.json",
      "dms/public/orders/20260301-1200000000.csv",
      "dms/public/orders/LOAD00000001.csv",
    ]);
    expect((await objectBytes("dms/public/orders/20260301-1200000000.csv")).body.toString()).toBe("U,1,b\n");
    expect(run.out.split("\n").filter((l) => l.startsWith("s3://"))).toHaveLength(3);
    expect(run.out).toMatch(/uploaded 3 files/);
  });
});

describe("push publish", () => {
  async function receiveOne(): Promise<Record<string, unknown>> {
    for (let i = 0; i < 10; i++) {
      const { Messages } = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 1, MaxNumberOfMessages: 1 }),
      );
      const message = Messages?.[0];
      if (message) {
        await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }));
        return JSON.parse(message.Body ?? "{}");
      }
    }
    throw new Error("no message arrived on the queue subscribed to the topic");
  }

  it("publishes a message with subject and typed attributes; a subscribed queue receives it", async () => {
    const run = await push(
      "publish",
      "--topic",
      "Audit",
      "--message",
      '{"pipeline":"file-mover","moved":3}',
      "--subject",
      "moved",
      "--attr",
      "severity=WARN",
      "--attr",
      "attempt:Number=2",
    );

    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    const envelope = await receiveOne();
    expect(run.out).toContain(`MessageId ${envelope.MessageId}`);
    expect(envelope).toMatchObject({
      Type: "Notification",
      TopicArn: topicArn,
      Subject: "moved",
      Message: '{"pipeline":"file-mover","moved":3}',
      MessageAttributes: { severity: { Type: "String", Value: "WARN" }, attempt: { Type: "Number", Value: "2" } },
    });
  });

  it("publishes a message read from @file", async () => {
    writeFileSync(path.join(dir, "alert.txt"), "CTR dropped on /p/1\n");

    const run = await push("publish", "--topic", "Audit", "--message", "@alert.txt");

    expect(run.code).toBe(0);
    expect((await receiveOne()).Message).toBe("CTR dropped on /p/1\n");
  });
});

describe("push records", () => {
  const actions = ["impression", "click", "add_to_cart", "purchase"];
  const event = (i: number) => ({
    eventId: `e-${i}`,
    ts: new Date(Date.UTC(2026, 2, 1, 12, 0, 0, i)).toISOString(),
    site: "shop",
    page: `/p/${i % 7}`,
    productId: `p${i % 13}`,
    action: actions[i % 4],
    sessionId: `s${i % 50}`,
  });

  async function readStream(): Promise<Array<{ shard: string; partitionKey: string; data: Record<string, unknown> }>> {
    const { Shards } = await kinesis.send(new ListShardsCommand({ StreamName: names.stream }));
    const records: Array<{ shard: string; partitionKey: string; data: Record<string, unknown> }> = [];
    for (const shard of Shards ?? []) {
      let iterator = (
        await kinesis.send(
          new GetShardIteratorCommand({
            StreamName: names.stream,
            ShardId: shard.ShardId,
            ShardIteratorType: "TRIM_HORIZON",
          }),
        )
      ).ShardIterator;
      for (;;) {
        const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
        for (const r of page.Records ?? []) {
          records.push({
            shard: shard.ShardId ?? "",
            partitionKey: r.PartitionKey ?? "",
            data: JSON.parse(Buffer.from(r.Data ?? []).toString()),
          });
        }
        if (!page.Records?.length || !page.NextShardIterator) break;
        iterator = page.NextShardIterator;
      }
    }
    return records;
  }

  it("puts every line of a JSONL file (3 batches), keyed by eventId, in order within each shard", async () => {
    const events = Array.from({ length: 1234 }, (_, i) => event(i));
    writeFileSync(path.join(dir, "clicks.jsonl"), `${events.map((e) => JSON.stringify(e)).join("\n")}\n`);

    const run = await push("records", "--stream", "Clickstream", "--file", "clicks.jsonl");

    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    expect(run.out).toMatch(
      /^put 1,234 records in .* into Clickstream \(sluice-test-Clickstream\): 3 PutRecords calls, 2 shards/,
    );
    const stored = await readStream();
    expect(stored).toHaveLength(1234);
    expect(new Set(stored.map((r) => r.data.eventId))).toEqual(new Set(events.map((e) => e.eventId)));
    for (const r of stored) expect(r.partitionKey).toBe(r.data.eventId);
    for (const shard of new Set(stored.map((r) => r.shard))) {
      const order = stored.filter((r) => r.shard === shard).map((r) => Number(String(r.data.eventId).slice(2)));
      expect(order).toEqual([...order].sort((a, b) => a - b));
    }
  });

  it("rejects invalid clickstream lines with their line numbers and pushes nothing", async () => {
    const before = (await readStream()).length;
    const lines = [
      JSON.stringify(event(1)),
      JSON.stringify({ ...event(2), action: "view" }),
      "",
      "{not json",
      JSON.stringify({ ...event(5), ts: "2026-03-01 12:00:00" }),
    ];
    writeFileSync(path.join(dir, "bad.jsonl"), `${lines.join("\n")}\n`);

    const run = await push("records", "--stream", "Clickstream", "--file", "bad.jsonl");

    expect(run.code).toBe(1);
    expect(run.err).toContain("bad.jsonl: 3 of 4 records are invalid, nothing was pushed:");
    expect(run.err).toContain('line 2: action: "view" is not one of impression, click, add_to_cart, purchase');
    expect(run.err).toMatch(/line 4: not JSON/);
    expect(run.err).toContain('line 5: ts: "2026-03-01 12:00:00" is not an ISO-8601 UTC timestamp');
    expect((await readStream()).length).toBe(before);
  });

  it("puts --data records, and bad ones on purpose with --no-validate", async () => {
    const before = (await readStream()).length;

    const run = await push(
      "records",
      "--stream",
      "Clickstream",
      "--data",
      JSON.stringify(event(9001)),
      "--data",
      '{"eventId":"poison"}',
      "--no-validate",
    );

    expect(run.code).toBe(0);
    const stored = await readStream();
    expect(stored.length).toBe(before + 2);
    expect(stored.map((r) => r.data.eventId)).toEqual(expect.arrayContaining(["e-9001", "poison"]));
  });
});

describe("push items", () => {
  const count = async () =>
    (await dynamodb.send(new ScanCommand({ TableName: names.table, Select: "COUNT" }))).Count ?? 0;

  it("writes a JSON array of plain items (3 batches), types marshalled", async () => {
    const items = Array.from({ length: 60 }, (_, i) => ({
      productId: `sku-${i}`,
      name: `Runner ${i}`,
      price: 89.5 + i,
      tags: ["road", "neutral"],
      stock: { eu: i, us: null },
      active: i % 2 === 0,
    }));
    writeFileSync(path.join(dir, "catalog.json"), JSON.stringify(items));

    const run = await push("items", "--table", "Catalog", "--file", "catalog.json");

    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/^wrote 60 items in .* into Catalog \(sluice-test-Catalog\): 3 BatchWriteItem calls/);
    expect(await count()).toBe(60);
    const { Item } = await dynamodb.send(
      new GetItemCommand({ TableName: names.table, Key: { productId: { S: "sku-7" } } }),
    );
    expect(Item?.price).toEqual({ N: "96.5" });
    expect(unmarshall(Item ?? {})).toEqual(items[7]);
  });

  it("writes JSONL and DynamoDB JSON; a repeated key keeps its last item", async () => {
    writeFileSync(
      path.join(dir, "updates.jsonl"),
      ['{"productId":"sku-1","price":1}', '{"productId":"sku-x","price":2}', '{"productId":"sku-1","price":3}'].join(
        "\n",
      ),
    );

    const jsonl = await push("items", "--table", "Catalog", "--file", "updates.jsonl");
    const ddb = await push(
      "items",
      "--table",
      "Catalog",
      "--dynamodb-json",
      "--data",
      '{"productId":{"S":"sku-b"},"blob":{"B":"aGk="},"n":{"N":"1"}}',
    );

    expect(jsonl.code).toBe(0);
    expect(ddb.code).toBe(0);
    const one = await dynamodb.send(new GetItemCommand({ TableName: names.table, Key: { productId: { S: "sku-1" } } }));
    expect(unmarshall(one.Item ?? {})).toEqual({ productId: "sku-1", price: 3 });
    const b = await dynamodb.send(new GetItemCommand({ TableName: names.table, Key: { productId: { S: "sku-b" } } }));
    expect(Buffer.from(b.Item?.blob?.B ?? []).toString()).toBe("hi");
  });

  it("rejects items without the table's key, naming the line, and writes nothing", async () => {
    const before = await count();
    writeFileSync(
      path.join(dir, "nokey.jsonl"),
      ['{"productId":"ok-1"}', '{"name":"no key"}', '{"productId":7}', "[1]"].join("\n"),
    );

    const run = await push("items", "--table", "Catalog", "--file", "nokey.jsonl");

    expect(run.code).toBe(1);
    expect(run.err).toContain("nokey.jsonl: 3 of 4 items are invalid, nothing was pushed:");
    expect(run.err).toContain('line 2: key attribute "productId" is missing');
    expect(run.err).toContain('line 3: key attribute "productId" must be a non-empty string');
    expect(run.err).toContain("line 4: an item is a JSON object");
    expect(await count()).toBe(before);
  });
});

describe("push catalog", () => {
  const item = async (productId: string) =>
    unmarshall(
      (await dynamodb.send(new GetItemCommand({ TableName: names.table, Key: { productId: { S: productId } } })))
        .Item ?? {},
    );

  it("seeds catalog items, never taking one the table holds at the same or a newer version back", async () => {
    const first = await push("catalog", "--sample", "2");
    expect(first.code, first.err).toBe(0);
    expect(first.out).toMatch(/^wrote 2 catalog items/);
    // PriceInference changed fs-0001 since: price 66, version 2.
    await dynamodb.send(
      new UpdateItemCommand({
        TableName: names.table,
        Key: { productId: { S: "fs-0001" } },
        UpdateExpression: "SET price = :price, version = :version",
        ExpressionAttributeValues: { ":price": { N: "66" }, ":version": { N: "2" } },
      }),
    );

    const again = await push("catalog", "--sample", "2");
    expect(again.code, again.err).toBe(0);
    expect(again.out).toMatch(
      /^wrote 0 catalog items.*; kept 2 the table holds at the same or a newer version \(fs-0001, fs-0002\)/,
    );
    expect(await item("fs-0001")).toMatchObject({ price: 66, version: 2 });

    const [, second] = sampleCatalog(2);
    writeFileSync(path.join(dir, "newer.json"), JSON.stringify({ ...second, price: 99, version: 2 }));
    const newer = await push("catalog", "newer.json");
    expect(newer.code, newer.err).toBe(0);
    expect(newer.out).toMatch(/^wrote 1 catalog item/);
    expect(newer.out).not.toMatch(/kept/);
    expect(await item("fs-0002")).toMatchObject({ price: 99, version: 2 });
  });
});

describe("pnpm push, as a process", () => {
  it("finds the local cloud through $SLUICE_STATE_DIR/local.env and pushes (the path a user takes)", async () => {
    const stateDir = path.join(dir, "state");
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(path.join(stateDir, "local.env"), readFileSync(envFile));
    writeFileSync(path.join(dir, "hello.txt"), "hello");

    // Asynchronously: the emulators run in this process and must keep answering while the CLI runs.
    const child = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        path.join(repoRoot, "node_modules/.bin/tsx"),
        [path.join(repoRoot, "packages/local/src/cli/push.ts"), "file", "hello.txt", "--key", "proc/hello.txt"],
        { cwd: repoRoot, env: { PATH: process.env.PATH, SLUICE_STATE_DIR: stateDir, INIT_CWD: dir }, timeout: 60_000 },
        (error, stdout, stderr) =>
          resolve({ status: error ? ((error.code as number | null) ?? 1) : 0, stdout, stderr }),
      );
    });

    expect(child.stderr).toBe("");
    expect(child.status).toBe(0);
    expect(child.stdout).toMatch(/uploaded 1 file .* s3:\/\/sluice-test-inbox\/proc\/hello\.txt \[local cloud/);
    expect((await objectBytes("proc/hello.txt")).body.toString()).toBe("hello");
  });
});
