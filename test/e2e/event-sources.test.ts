/**
 * The local cloud's S3 notifications and asynchronous invocation semantics, end to end: real S3 calls through
 * the SDK, the gateway's notifications, fixture handlers running in the function host, and the on-failure queue.
 */
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { DeleteObjectsCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { FunctionSpec } from "../../infra/wiring.ts";
import { type LocalCloud, startLocalCloud } from "../../packages/local/src/cloud.ts";
import { localOnly } from "./target.ts";

const dir = mkdtempSync(path.join(tmpdir(), "sluice-sources-"));

const recorder = (name: string, failTimes: number, triggers: FunctionSpec["triggers"]): FunctionSpec => ({
  description: name,
  handler: "test/fixtures/functions/recorder.handler",
  timeout: 5,
  memory: 128,
  links: ["Inbox"],
  environment: { RECORD_FILE: path.join(dir, `${name}.jsonl`), FAIL_TIMES: String(failTimes) },
  async: { maximumRetryAttempts: 2, maximumEventAgeInSeconds: 3600 },
  triggers,
});

interface S3Record {
  eventName: string;
  s3: { bucket: { name: string }; object: { key: string; size?: number; eTag?: string; sequencer: string } };
}

function recorded(name: string): Array<{ event: { Records: S3Record[] }; requestId: string }> {
  const file = path.join(dir, `${name}.jsonl`);
  return existsSync(file)
    ? readFileSync(file, "utf8")
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line))
    : [];
}

const local = localOnly(
  "tests the local cloud's own event runtime (S3 gateway notifications, async retries) with fixture handlers",
);

local.describe("S3 notifications and async invocations on the local cloud", () => {
  let cloud: LocalCloud;
  let s3: S3Client;
  let sqs: SQSClient;
  let bucket: string;

  beforeAll(async () => {
    cloud = await startLocalCloud({
      basePort: 0,
      stateDir: dir,
      writeEnvFile: false,
      asyncRetryDelaysMs: [50, 100],
      models: [],
      wiring: {
        buckets: { Inbox: { versioning: false } },
        topics: {},
        streams: {},
        tables: {},
        functions: {
          Created: recorder("Created", 0, [
            { kind: "s3", bucket: "Inbox", events: ["s3:ObjectCreated:*"], filterPrefix: "incoming/" },
          ]),
          Requests: recorder("Requests", 0, [
            {
              kind: "s3",
              bucket: "Inbox",
              events: ["s3:ObjectCreated:*"],
              filterPrefix: "requests/",
              filterSuffix: ".json",
            },
          ]),
          Removed: recorder("Removed", 0, [{ kind: "s3", bucket: "Inbox", events: ["s3:ObjectRemoved:*"] }]),
          Poisoned: recorder("Poisoned", 99, [
            { kind: "s3", bucket: "Inbox", events: ["s3:ObjectCreated:Put"], filterPrefix: "poison/" },
          ]),
        },
      },
    });
    const credentials = { accessKeyId: "local", secretAccessKey: "local" };
    s3 = new S3Client({ region: "us-east-1", endpoint: cloud.endpoints.s3, forcePathStyle: true, credentials });
    sqs = new SQSClient({ region: "us-east-1", endpoint: cloud.endpoints.sqs, credentials });
    bucket = cloud.resources.buckets.Inbox as string;
  }, 120_000);
  afterAll(() => cloud?.stop());

  it("sends one S3-shaped record per object, URL-encoding keys as S3 does", async () => {
    const keys = [
      "incoming/sales/Q4 report.csv",
      "incoming/a+b.csv",
      "incoming/100%.csv",
      "incoming/données/été 😀.csv",
    ];
    for (const key of keys) await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: "x,y\n1,2\n" }));
    await cloud.idle();
    const records = recorded("Created").map((r) => r.event.Records);
    expect(records.every((r) => r.length === 1)).toBe(true);
    const byKey = new Map(records.map((r) => [r[0]?.s3.object.key, r[0]]));
    expect([...byKey.keys()].sort()).toEqual(
      [
        "incoming/sales/Q4+report.csv",
        "incoming/a%2Bb.csv",
        "incoming/100%25.csv",
        "incoming/donn%C3%A9es/%C3%A9t%C3%A9+%F0%9F%98%80.csv",
      ].sort(),
    );
    for (const record of byKey.values()) {
      expect(record).toMatchObject({
        eventName: "ObjectCreated:Put",
        s3: { bucket: { name: bucket }, object: { size: 8, eTag: expect.stringMatching(/^[0-9a-f]{32}$/) } },
      });
      expect(keys).toContain(decodeURIComponent((record?.s3.object.key ?? "").replace(/\+/g, " ")));
    }
  });

  it("applies prefix and suffix filters", async () => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "requests/delete/r1.json", Body: "{}" }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "requests/delete/r1.txt", Body: "{}" }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "elsewhere/r2.json", Body: "{}" }));
    await cloud.idle();
    expect(recorded("Requests").map((r) => r.event.Records[0]?.s3.object.key)).toEqual(["requests/delete/r1.json"]);
  });

  it("sends ObjectRemoved:Delete for every key of a multi-object delete", async () => {
    await s3.send(
      new DeleteObjectsCommand({
        Bucket: bucket,
        Delete: { Objects: [{ Key: "requests/delete/r1.json" }, { Key: "elsewhere/r2.json" }] },
      }),
    );
    await cloud.idle();
    // S3 does not order notifications, and async invocations run concurrently: compare as sets.
    const removed = recorded("Removed").map(
      (r) => `${r.event.Records[0]?.eventName} ${r.event.Records[0]?.s3.object.key}`,
    );
    expect(removed.sort()).toEqual([
      "ObjectRemoved:Delete elsewhere/r2.json",
      "ObjectRemoved:Delete requests/delete/r1.json",
    ]);
  });

  it("retries a failing invocation twice, then puts the event and the error on the on-failure queue", async () => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "poison/bad file.csv", Body: "oops" }));
    await cloud.idle();
    expect(recorded("Poisoned")).toHaveLength(3);
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: cloud.resources.queues.PoisonedDlq,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
      }),
    );
    expect(Messages).toHaveLength(1);
    const failure = JSON.parse(Messages[0]?.Body ?? "{}");
    expect(failure).toMatchObject({
      requestContext: { condition: "RetriesExhausted", approximateInvokeCount: 3 },
      responsePayload: { errorMessage: "planned failure 3" },
      requestPayload: { Records: [{ eventName: "ObjectCreated:Put", s3: { object: { key: "poison/bad+file.csv" } } }] },
    });
  });

  it("gives each function its declared links", async () => {
    expect(cloud.host.environmentOf("Created").SST_RESOURCE_Inbox).toBe(cloud.resources.links.Inbox);
    expect(
      Object.keys(cloud.host.environmentOf("Created"))
        .filter((k) => k.startsWith("SST_RESOURCE_"))
        .sort(),
    ).toEqual(["SST_RESOURCE_App", "SST_RESOURCE_Inbox"]);
  });
});
