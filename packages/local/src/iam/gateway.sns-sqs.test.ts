/**
 * The IAM gateway in front of fauxqs (SNS and SQS on one endpoint), on what the gateway must read exactly as the
 * emulator reads it, and on what SNS checks beyond the publisher's `sns:` permissions: the topic's KMS key, the
 * protocol a request is (fauxqs goes by content type), repeated parameters, and PublishBatch's total size.
 */
import http from "node:http";
import {
  CreateTopicCommand,
  PublishBatchCommand,
  PublishCommand,
  SNSClient,
  SubscribeCommand,
} from "@aws-sdk/client-sns";
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { type FauxqsServer, startFauxqs } from "fauxqs";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type IamGateway, startIamGateway } from "./gateway.ts";
import type { FunctionIdentity } from "./identities.ts";
import { accountId, admin, failure, region, testIdentity } from "./testing.ts";

const topicArn = (name: string) => `arn:aws:sns:${region}:${accountId}:${name}`;
const audit = topicArn("Audit");
const alerts = topicArn("Alerts");
const topicKey = `arn:aws:kms:${region}:${accountId}:key/topics`;

const identityOf = testIdentity;
const dlq = (name: string) => `arn:aws:sqs:${region}:${accountId}:${name}Dlq`;
/** May publish to Audit, with the topics' key (as infra/permissions.ts grants a publisher). */
const publisher = identityOf("Publisher", [
  { Effect: "Allow", Action: "sns:Publish", Resource: audit },
  { Effect: "Allow", Action: ["kms:GenerateDataKey*", "kms:Decrypt"], Resource: topicKey },
  { Effect: "Allow", Action: "sqs:SendMessage", Resource: dlq("Publisher") },
]);
/** May publish to Audit by its `sns:` permissions, but was not given the key. */
const keyless = identityOf("Keyless", [{ Effect: "Allow", Action: "sns:*", Resource: audit }]);
const identities = new Map([publisher, keyless].map((i) => [i.credentials.accessKeyId, i]));

/** A raw request signed (in form only: the gateway reads the access key) as `who`. */
function raw(
  endpoint: string,
  who: FunctionIdentity,
  headers: Record<string, string>,
  body: string,
): Promise<{ status: number; body: string }> {
  const url = new URL(endpoint);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        method: "POST",
        path: "/",
        headers: {
          authorization: `AWS4-HMAC-SHA256 Credential=${who.credentials.accessKeyId}/20260101/${region}/sns/aws4_request, SignedHeaders=host, Signature=00`,
          "content-length": String(Buffer.byteLength(body)),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

const form = { "content-type": "application/x-www-form-urlencoded; charset=utf-8" };

describe("IAM gateway in front of SNS and SQS (fauxqs)", () => {
  let fauxqs: FauxqsServer;
  let gateway: IamGateway;
  let sns: (credentials: typeof admin) => SNSClient;
  let rootSqs: SQSClient;
  const sinks: Record<string, string> = {};

  beforeAll(async () => {
    fauxqs = await startFauxqs({ port: 0, logger: false });
    gateway = await startIamGateway({
      family: "sns-sqs",
      upstream: `http://127.0.0.1:${fauxqs.port}`,
      region,
      accountId,
      identityOf: (key) => identities.get(key),
      topicKeyOf: (arn) => ([audit, alerts].includes(arn) ? topicKey : undefined),
    });
    sns = (credentials) => new SNSClient({ region, credentials, endpoint: gateway.endpoint, maxAttempts: 1 });
    rootSqs = new SQSClient({ region, credentials: admin, endpoint: gateway.endpoint, maxAttempts: 1 });
    const root = sns(admin);
    for (const name of ["Audit", "Alerts", "Plain"]) {
      await root.send(new CreateTopicCommand({ Name: name }));
      const queue = await rootSqs.send(new CreateQueueCommand({ QueueName: `${name}Sink` }));
      sinks[name] = queue.QueueUrl as string;
      const attributes = await rootSqs.send(
        new GetQueueAttributesCommand({ QueueUrl: queue.QueueUrl, AttributeNames: ["QueueArn"] }),
      );
      await root.send(
        new SubscribeCommand({
          TopicArn: topicArn(name),
          Protocol: "sqs",
          Endpoint: attributes.Attributes?.QueueArn,
          Attributes: { RawMessageDelivery: "true" },
        }),
      );
    }
    await rootSqs.send(new CreateQueueCommand({ QueueName: "PublisherDlq" }));
  });

  afterAll(async () => {
    rootSqs?.destroy();
    await gateway?.stop();
    await fauxqs?.stop();
  });

  /** The messages delivered to a topic since the last call. */
  const delivered = async (topic: "Audit" | "Alerts") => {
    const got = await rootSqs.send(
      new ReceiveMessageCommand({ QueueUrl: sinks[topic], MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
    );
    return (got.Messages ?? []).map((m) => m.Body);
  };
  beforeEach(async () => {
    // Drain what earlier tests delivered.
    await delivered("Audit");
    await delivered("Alerts");
  });

  describe("the topic's KMS key", () => {
    it("refuses Publish and PublishBatch to an encrypted topic by a caller without kms: on its key (KMSAccessDenied)", async () => {
      const client = sns(keyless.credentials);
      expect(await failure(client.send(new PublishCommand({ TopicArn: audit, Message: "m" })))).toEqual({
        name: "KMSAccessDeniedException",
        status: 400,
        message: `User: ${keyless.principal} is not authorized to perform: kms:GenerateDataKey on resource: ${topicKey} because no identity-based policy allows the kms:GenerateDataKey action`,
      });
      expect(
        await failure(
          client.send(
            new PublishBatchCommand({ TopicArn: audit, PublishBatchRequestEntries: [{ Id: "1", Message: "m" }] }),
          ),
        ),
      ).toMatchObject({ name: "KMSAccessDeniedException", status: 400 });
      expect(await delivered("Audit")).toEqual([]);
    });

    it("publishes for a caller given the key, and to a topic without a key without it", async () => {
      await sns(publisher.credentials).send(new PublishCommand({ TopicArn: audit, Message: "with key" }));
      expect(await delivered("Audit")).toEqual(["with key"]);
      const plainOnly = identityOf("Keyless", [{ Effect: "Allow", Action: "sns:*", Resource: topicArn("Plain") }]);
      identities.set(plainOnly.credentials.accessKeyId, plainOnly);
      try {
        const sent = await sns(plainOnly.credentials).send(
          new PublishCommand({ TopicArn: topicArn("Plain"), Message: "m" }),
        );
        expect(sent.MessageId).toBeTruthy();
      } finally {
        identities.set(keyless.credentials.accessKeyId, keyless);
      }
    });
  });

  describe("the protocol, as fauxqs reads it (by content type)", () => {
    it("refuses X-Amz-Target with a form body, which fauxqs would run as SNS", async () => {
      // Valid JSON (an SQS SendMessage to the caller's own DLQ) and, read as a form, an SNS Publish to Alerts.
      const hybrid = JSON.stringify({
        QueueUrl: `${gateway.endpoint}/${accountId}/PublisherDlq`,
        MessageBody: `&Action=Publish&TopicArn=${encodeURIComponent(alerts)}&Message=hybrid&z=`,
      });
      const answer = await raw(
        gateway.endpoint,
        publisher,
        { ...form, "x-amz-target": "AmazonSQS.SendMessage" },
        hybrid,
      );
      expect(answer.status).toBeGreaterThanOrEqual(400);
      expect(await delivered("Alerts")).toEqual([]);
    });

    it("refuses a body whose content type fauxqs reads as neither protocol", async () => {
      const body = new URLSearchParams({ Action: "Publish", TopicArn: audit, Message: "m" }).toString();
      const answer = await raw(gateway.endpoint, publisher, { "content-type": "text/plain" }, body);
      expect(answer.status).toBeGreaterThanOrEqual(400);
      expect(await delivered("Audit")).toEqual([]);
    });
  });

  it("refuses a repeated form parameter (the gateway would check the first, fauxqs run the last)", async () => {
    const body = `Action=Publish&Version=2010-03-31&TopicArn=${encodeURIComponent(audit)}&TopicArn=${encodeURIComponent(alerts)}&Message=dup`;
    const answer = await raw(gateway.endpoint, publisher, form, body);
    expect(answer.status).toBe(400);
    expect(answer.body).toContain("<Code>InvalidParameter</Code>");
    expect(await delivered("Alerts")).toEqual([]);
    expect(await delivered("Audit")).toEqual([]);
  });

  it("refuses, for every caller, a PublishBatch whose messages total over 256 KiB (BatchRequestTooLong)", async () => {
    const batch = (sizes: number[]) =>
      new PublishBatchCommand({
        TopicArn: audit,
        PublishBatchRequestEntries: sizes.map((size, i) => ({ Id: `e${i}`, Message: "m".repeat(size) })),
      });
    for (const who of [admin, publisher.credentials]) {
      expect(await failure(sns(who).send(batch([200_000, 200_000])))).toMatchObject({
        name: "BatchRequestTooLongException",
        status: 400,
      });
    }
    // Exactly 262,144 bytes in all (attributes count too).
    const ok = await sns(publisher.credentials).send(batch([131_072, 131_072]));
    expect(ok.Successful).toHaveLength(2);
    expect(
      await failure(
        sns(publisher.credentials).send(
          new PublishBatchCommand({
            TopicArn: audit,
            PublishBatchRequestEntries: [
              {
                Id: "a",
                Message: "m".repeat(262_140),
                MessageAttributes: { severity: { DataType: "String", StringValue: "INFO" } },
              },
            ],
          }),
        ),
      ),
    ).toMatchObject({ name: "BatchRequestTooLongException", status: 400 });
  });
});
