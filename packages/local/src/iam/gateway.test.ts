/**
 * The IAM gateway in front of a real S3/SNS/SQS emulator (fauxqs), called with the real AWS SDK: a function's calls
 * are authorized against its policy and refused as each service refuses them; everyone else passes untouched.
 */

import http from "node:http";
import {
  CreateBucketCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { CreateTopicCommand, PublishCommand, SNSClient } from "@aws-sdk/client-sns";
import { CreateQueueCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { type FauxqsServer, startFauxqs } from "fauxqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type IamGateway, startIamGateway } from "./gateway.ts";
import { functionCredentials } from "./identities.ts";
import type { PolicyDocument } from "./policy.ts";
import { accountId, admin, app, failure, region, testIdentity } from "./testing.ts";

const policy: PolicyDocument = {
  Version: "2012-10-17",
  Statement: [
    { Effect: "Allow", Action: ["s3:GetObject", "s3:PutObject"], Resource: "arn:aws:s3:::data/*" },
    { Effect: "Allow", Action: "s3:DeleteObject", Resource: "arn:aws:s3:::data/tmp/*" },
    { Effect: "Allow", Action: "sns:Publish", Resource: `arn:aws:sns:${region}:${accountId}:Audit` },
    { Effect: "Allow", Action: "sqs:SendMessage", Resource: `arn:aws:sqs:${region}:${accountId}:WorkerDlq` },
  ],
};
const identity = testIdentity("Worker", policy.Statement);

describe("IAM gateway (S3, SNS and SQS emulator behind it)", () => {
  let fauxqs: FauxqsServer;
  let s3Gateway: IamGateway;
  let snsSqsGateway: IamGateway;
  const denied: string[] = [];
  const clients = (credentials: typeof admin) => ({
    s3: new S3Client({
      region,
      credentials,
      endpoint: s3Gateway.endpoint,
      forcePathStyle: true,
      requestChecksumCalculation: "WHEN_REQUIRED",
      maxAttempts: 1,
    }),
    sns: new SNSClient({ region, credentials, endpoint: snsSqsGateway.endpoint, maxAttempts: 1 }),
    sqs: new SQSClient({ region, credentials, endpoint: snsSqsGateway.endpoint, maxAttempts: 1 }),
  });
  let fn: ReturnType<typeof clients>;
  let root: ReturnType<typeof clients>;

  beforeAll(async () => {
    fauxqs = await startFauxqs({ port: 0, logger: false });
    const upstream = `http://127.0.0.1:${fauxqs.port}`;
    const common = {
      upstream,
      region,
      accountId,
      identityOf: (key: string) => (key === identity.credentials.accessKeyId ? identity : undefined),
      onDenied: (name: string, message: string) => denied.push(`${name}: ${message}`),
    };
    s3Gateway = await startIamGateway({ family: "s3", ...common });
    snsSqsGateway = await startIamGateway({ family: "sns-sqs", ...common });
    fn = clients(identity.credentials);
    root = clients(admin);
    await root.s3.send(new CreateBucketCommand({ Bucket: "data" }));
    await root.s3.send(new CreateBucketCommand({ Bucket: "other" }));
    await root.sns.send(new CreateTopicCommand({ Name: "Audit" }));
    await root.sns.send(new CreateTopicCommand({ Name: "Alerts" }));
    await root.sqs.send(new CreateQueueCommand({ QueueName: "WorkerDlq" }));
    await root.sqs.send(new CreateQueueCommand({ QueueName: "OtherDlq" }));
  });

  afterAll(async () => {
    for (const c of [fn, root]) for (const client of Object.values(c ?? {})) client.destroy();
    await s3Gateway?.stop();
    await snsSqsGateway?.stop();
    await fauxqs?.stop();
  });

  it("lets a function do what its policy allows", async () => {
    await fn.s3.send(new PutObjectCommand({ Bucket: "data", Key: "a.csv", Body: "a" }));
    const got = await fn.s3.send(new GetObjectCommand({ Bucket: "data", Key: "a.csv" }));
    expect(await got.Body?.transformToString()).toBe("a");
    const published = await fn.sns.send(
      new PublishCommand({ TopicArn: `arn:aws:sns:${region}:${accountId}:Audit`, Message: "m" }),
    );
    expect(published.MessageId).toBeTruthy();
  });

  it("refuses S3 calls outside the policy with 403 AccessDenied, naming the action and resource", async () => {
    expect(await failure(fn.s3.send(new PutObjectCommand({ Bucket: "other", Key: "x", Body: "x" })))).toEqual({
      name: "AccessDenied",
      status: 403,
      message: `User: ${identity.principal} is not authorized to perform: s3:PutObject on resource: arn:aws:s3:::other/x because no identity-based policy allows the s3:PutObject action`,
    });
    expect(await failure(fn.s3.send(new ListObjectsV2Command({ Bucket: "data" })))).toMatchObject({
      name: "AccessDenied",
      status: 403,
      message: expect.stringContaining("s3:ListBucket on resource: arn:aws:s3:::data "),
    });
    expect(denied).toContain("Worker: s3:PutObject on arn:aws:s3:::other/x");
  });

  it("answers a missing object with 403, not 404, to a caller without s3:ListBucket", async () => {
    expect(await failure(fn.s3.send(new GetObjectCommand({ Bucket: "data", Key: "missing" })))).toMatchObject({
      name: "AccessDenied",
      status: 403,
    });
    expect(await failure(fn.s3.send(new HeadObjectCommand({ Bucket: "data", Key: "missing" })))).toMatchObject({
      status: 403,
    });
    // The administrator may list the bucket: the same object is simply missing.
    expect(await failure(root.s3.send(new GetObjectCommand({ Bucket: "data", Key: "missing" })))).toMatchObject({
      name: "NoSuchKey",
      status: 404,
    });
  });

  it("deletes only the keys a DeleteObjects caller may delete, and reports the others as AccessDenied", async () => {
    for (const key of ["tmp/1", "tmp/2", "keep/1"]) {
      await root.s3.send(new PutObjectCommand({ Bucket: "data", Key: key, Body: key }));
    }
    const result = await fn.s3.send(
      new DeleteObjectsCommand({
        Bucket: "data",
        Delete: { Objects: [{ Key: "tmp/1" }, { Key: "keep/1" }, { Key: "tmp/2" }] },
      }),
    );
    expect((result.Deleted ?? []).map((d) => d.Key).sort()).toEqual(["tmp/1", "tmp/2"]);
    expect(result.Errors).toEqual([{ Key: "keep/1", Code: "AccessDenied", Message: "Access Denied" }]);
    const left = await root.s3.send(new ListObjectsV2Command({ Bucket: "data", Prefix: "" }));
    expect((left.Contents ?? []).map((o) => o.Key)).toContain("keep/1");
    expect((left.Contents ?? []).map((o) => o.Key)).not.toContain("tmp/1");

    const none = await fn.s3.send(
      new DeleteObjectsCommand({ Bucket: "data", Delete: { Objects: [{ Key: "keep/1" }] } }),
    );
    expect([none.Deleted ?? [], none.Errors?.map((e) => e.Code)]).toEqual([[], ["AccessDenied"]]);
  });

  it("refuses SNS Publish with 403 AuthorizationError (query protocol)", async () => {
    const alerts = `arn:aws:sns:${region}:${accountId}:Alerts`;
    expect(await failure(fn.sns.send(new PublishCommand({ TopicArn: alerts, Message: "m" })))).toEqual({
      name: "AuthorizationErrorException",
      status: 403,
      message: `User: ${identity.principal} is not authorized to perform: SNS:Publish on resource: ${alerts} because no identity-based policy allows the SNS:Publish action`,
    });
  });

  it("refuses, for every caller, an SNS Subject SNS refuses (the emulator accepts any)", async () => {
    const audit = `arn:aws:sns:${region}:${accountId}:Audit`;
    for (const Subject of ["shop\nbroken", " leading space", "x".repeat(100), "café"]) {
      expect(await failure(root.sns.send(new PublishCommand({ TopicArn: audit, Message: "m", Subject })))).toEqual({
        name: "InvalidParameterException",
        status: 400,
        message: "Invalid parameter: Subject",
      });
    }
    const ok = await fn.sns.send(
      new PublishCommand({ TopicArn: audit, Message: "m", Subject: `[open] ${"x".repeat(92)}` }),
    );
    expect(ok.MessageId).toBeTruthy();
  });

  it("refuses SQS SendMessage with 403 AccessDenied (JSON protocol), and sends where allowed", async () => {
    const base = `${snsSqsGateway.endpoint}/${accountId}`;
    await fn.sqs.send(new SendMessageCommand({ QueueUrl: `${base}/WorkerDlq`, MessageBody: "x" }));
    const received = await root.sqs.send(new ReceiveMessageCommand({ QueueUrl: `${base}/WorkerDlq` }));
    expect(received.Messages?.map((m) => m.Body)).toEqual(["x"]);
    expect(
      await failure(fn.sqs.send(new SendMessageCommand({ QueueUrl: `${base}/OtherDlq`, MessageBody: "x" }))),
    ).toMatchObject({
      status: 403,
      message: expect.stringContaining(`sqs:SendMessage on resource: arn:aws:sqs:${region}:${accountId}:OtherDlq`),
    });
  });

  it("leaves every other caller unrestricted", async () => {
    await root.s3.send(new PutObjectCommand({ Bucket: "other", Key: "x", Body: "x" }));
    const listed = await root.s3.send(new ListObjectsV2Command({ Bucket: "other" }));
    expect(listed.Contents?.map((o) => o.Key)).toEqual(["x"]);
    await root.sns.send(new PublishCommand({ TopicArn: `arn:aws:sns:${region}:${accountId}:Alerts`, Message: "m" }));
  });
});

/**
 * Requests the S3 emulator (fauxqs) reads otherwise than S3, raw as a caller can send them (the review's probes): the
 * gateway must authorize what the emulator will act on, and refuse what the emulator would run as another operation.
 */
describe("IAM gateway: S3 requests the emulator would read or run otherwise", () => {
  let fauxqs: FauxqsServer;
  let gateway: IamGateway;
  const fn = testIdentity;
  const identities = [
    fn("SnsLogger", [{ Effect: "Allow", Action: "sqs:SendMessage", Resource: "*" }]),
    fn("FileMover", [{ Effect: "Allow", Action: "s3:GetObject", Resource: "arn:aws:s3:::lake/*" }]),
    fn("FileDeleter", [{ Effect: "Allow", Action: "s3:GetObject", Resource: "arn:aws:s3:::inbox/requests/delete/*" }]),
    fn("Reader", [
      {
        Effect: "Allow",
        Action: ["s3:GetObject", "s3:GetObjectTagging", "s3:PutObjectTagging", "s3:DeleteObjectTagging"],
        Resource: "arn:aws:s3:::cdcraw/*",
      },
      { Effect: "Allow", Action: "s3:RestoreObject", Resource: "arn:aws:s3:::cdcraw/*" },
    ]),
  ];
  const keyOf = (name: string) => (name === "admin" ? "local" : functionCredentials(app, name).accessKeyId);
  const req = (
    caller: string,
    method: string,
    path: string,
    headers: Record<string, string> = {},
    body?: string,
  ): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const endpoint = new URL(gateway.endpoint);
      const r = http.request(
        {
          host: endpoint.hostname,
          port: endpoint.port,
          method,
          path,
          headers: {
            authorization: `AWS4-HMAC-SHA256 Credential=${keyOf(caller)}/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00`,
            "x-amz-date": "20260101T000000Z",
            host: endpoint.host,
            ...headers,
            ...(body === undefined ? {} : { "content-length": String(Buffer.byteLength(body)) }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        },
      );
      r.on("error", reject);
      r.end(body);
    });
  const put = async (path: string, body: string) =>
    expect((await req("admin", "PUT", path, {}, body)).status).toBe(200);

  beforeAll(async () => {
    fauxqs = await startFauxqs({ port: 0, logger: false });
    gateway = await startIamGateway({
      family: "s3",
      upstream: `http://127.0.0.1:${fauxqs.port}`,
      region,
      accountId,
      identityOf: (key) => identities.find((i) => i.credentials.accessKeyId === key),
    });
    for (const bucket of ["lake", "cdcraw", "inbox"])
      expect((await req("admin", "PUT", `/${bucket}`)).status).toBe(200);
  });
  afterAll(async () => {
    await gateway?.stop();
    await fauxqs?.stop();
  });

  it("refuses a browser-form upload (POST bucket?delete, multipart/form-data), which fauxqs runs as PostObject", async () => {
    const b = "XyZ";
    const form = `--${b}\r\nContent-Disposition: form-data; name="key"\r\n\r\nplanted.txt\r\n--${b}\r\nContent-Disposition: form-data; name="file"; filename="f"\r\nContent-Type: text/plain\r\n\r\nPLANTED\r\n--${b}--\r\n`;
    const type = { "content-type": `multipart/form-data; boundary=${b}` };
    for (const path of ["/lake?delete", "/lake"]) {
      const answer = await req("SnsLogger", "POST", path, type, form);
      expect(answer.status).toBe(501);
      expect(answer.body).toMatch(/<Code>NotImplemented<\/Code>.*PostObject is not implemented by the local S3/s);
    }
    expect((await req("admin", "GET", "/lake/planted.txt")).status).toBe(404);
  });

  it("refuses a DeleteObjects that lists no object with 400 MalformedXML", async () => {
    const answer = await req("SnsLogger", "POST", "/lake?delete", { "content-type": "application/xml" }, "<Delete/>");
    expect(answer.status).toBe(400);
    expect(answer.body).toContain("<Code>MalformedXML</Code>");
  });

  it("refuses a DeleteObjects whose body fauxqs would read more keys from than the ones authorized", async () => {
    await put("/cdcraw/secret.txt", "SECRET");
    const deleter = fn("TmpDeleter", [
      { Effect: "Allow", Action: "s3:DeleteObject", Resource: "arn:aws:s3:::cdcraw/tmp/*" },
    ]);
    identities.push(deleter);
    const body = "<Delete><Object><Key>tmp/a</Key></Object><Key>secret.txt</Key></Delete>";
    const answer = await req("TmpDeleter", "POST", "/cdcraw?delete", { "content-type": "application/xml" }, body);
    expect(answer.status).toBe(400);
    expect(answer.body).toContain("<Code>MalformedXML</Code>");
    expect((await req("admin", "HEAD", "/cdcraw/secret.txt")).status).toBe(200);
  });

  it("refuses SelectObjectContent and RestoreObject (fauxqs would run DeleteObjects), deleting nothing", async () => {
    await put("/cdcraw/a.txt", "hello");
    const del = "<Delete><Object><Key>a.txt</Key></Object></Delete>";
    const xml = { "content-type": "application/xml" };
    for (const [path, operation] of [
      ["/cdcraw/a.txt?select&select-type=2", "SelectObjectContent"],
      ["/cdcraw/a.txt?restore", "RestoreObject"],
    ]) {
      const answer = await req("Reader", "POST", path as string, xml, del);
      expect(answer.status).toBe(501);
      expect(answer.body).toContain(`${operation} is not implemented by the local S3`);
    }
    expect((await req("admin", "HEAD", "/cdcraw/a.txt")).status).toBe(200);
  });

  it("refuses object tagging (fauxqs would read, overwrite or delete the object itself)", async () => {
    await put("/cdcraw/t.txt", "DATA");
    const got = await req("Reader", "GET", "/cdcraw/t.txt?tagging");
    expect(got).toEqual({ status: 501, body: expect.stringContaining("GetObjectTagging is not implemented") });
    expect((await req("Reader", "DELETE", "/cdcraw/t.txt?tagging")).status).toBe(501);
    const tagging = "<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>";
    expect((await req("Reader", "PUT", "/cdcraw/t.txt?tagging", {}, tagging)).status).toBe(501);
    expect(await req("admin", "GET", "/cdcraw/t.txt")).toEqual({ status: 200, body: "DATA" });
  });

  it("authorizes the bucket fauxqs uses: the path's, when a dotted Host comes with SNS's or SQS's content type", async () => {
    await put("/cdcraw/c.txt", "SECRET");
    const host = `lake.localhost:${new URL(gateway.endpoint).port}`;
    for (const type of ["application/x-www-form-urlencoded", "application/x-amz-json-1.0"]) {
      const answer = await req("FileMover", "GET", "/cdcraw/c.txt", { host, "content-type": type });
      expect(answer.status).toBe(403);
      expect(answer.body).not.toContain("SECRET");
    }
  });

  it("authorizes the literal key, `..` segments included, as S3 and fauxqs name the object", async () => {
    await put("/inbox/secret/../requests/delete/x", "LITERAL-1");
    await put("/inbox/requests/delete/../../x", "LITERAL-2");
    const escaped = await req("FileDeleter", "GET", "/inbox/secret/../requests/delete/x");
    expect(escaped.status).toBe(403);
    expect(escaped.body).toContain("arn:aws:s3:::inbox/secret/../requests/delete/x");
    // The reverse: the key is under requests/delete/, so S3 allows it.
    expect(await req("FileDeleter", "GET", "/inbox/requests/delete/../../x")).toEqual({
      status: 200,
      body: "LITERAL-2",
    });
  });
});
