import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { CreateTopicCommand, PublishCommand, SNSClient } from "@aws-sdk/client-sns";
import { CreateQueueCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { type FauxqsServer, startFauxqs } from "fauxqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../paths.ts";
import { type AsyncInvoker, createAsyncInvoker } from "../runtime/async-invoke.ts";
import { createFunctionHost, type FunctionHost } from "../runtime/function-host.ts";
import { type SnsSubscription, startSnsSubscription } from "./sns-subscription.ts";

const credentials = { accessKeyId: "local", secretAccessKey: "local" };

describe("SNS -> Lambda subscriptions (against the SNS/SQS emulator)", () => {
  let fauxqs: FauxqsServer;
  let sns: SNSClient;
  let sqs: SQSClient;
  let host: FunctionHost;
  let asyncInvoker: AsyncInvoker;
  let dir: string;
  let dlqUrl: string;
  const subscriptions: SnsSubscription[] = [];

  const records = (name: string) => {
    const file = path.join(dir, `${name}.jsonl`);
    return existsSync(file)
      ? readFileSync(file, "utf8")
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l) as { event: { Records: Array<{ Sns: Record<string, unknown> }> } })
      : [];
  };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "sluice-sns-"));
    fauxqs = await startFauxqs({ port: 0, logger: false });
    const endpoint = `http://127.0.0.1:${fauxqs.port}`;
    sns = new SNSClient({ region: "us-east-1", endpoint, credentials });
    sqs = new SQSClient({ region: "us-east-1", endpoint, credentials });
    const fixture = (name: string, failTimes: number) => ({
      description: name,
      handler: "test/fixtures/functions/recorder.handler",
      timeout: 5,
      memory: 128,
      links: [],
      environment: { RECORD_FILE: path.join(dir, `${name}.jsonl`), FAIL_TIMES: String(failTimes) },
      triggers: [],
    });
    host = createFunctionHost({
      repoRoot,
      functions: { Logger: fixture("Logger", 0), Flaky: fixture("Flaky", 1), Broken: fixture("Broken", 99) },
      baseEnv: { SST_RESOURCE_App: JSON.stringify({ name: "sluice", stage: "test" }) },
      resourceLinks: {},
      logDir: dir,
      region: "us-east-1",
      accountId: "000000000000",
    });
    ({ QueueUrl: dlqUrl = "" } = await sqs.send(new CreateQueueCommand({ QueueName: "dlq" })));
    asyncInvoker = createAsyncInvoker({
      invoker: host,
      retryDelaysMs: [50, 100],
      deadLetter: {
        send: async (_queue, body) => {
          await sqs.send(new SendMessageCommand({ QueueUrl: dlqUrl, MessageBody: JSON.stringify(body) }));
        },
      },
    });
  });
  afterAll(async () => {
    for (const s of subscriptions) await s.stop();
    asyncInvoker.stop();
    await host.stop();
    await fauxqs.stop();
  });

  async function subscribe(functionName: string, topic: string, filterPolicy?: Record<string, unknown>) {
    const { TopicArn = "" } = await sns.send(new CreateTopicCommand({ Name: topic }));
    const subscription = await startSnsSubscription({
      sns,
      sqs,
      topicArn: TopicArn,
      functionName,
      filterPolicy,
      asyncInvoker,
      asyncConfig: { maximumRetryAttempts: 2, maximumEventAgeInSeconds: 3600, onFailure: "dlq" },
      queuePrefix: "carrier-",
    });
    subscriptions.push(subscription);
    return { TopicArn, subscription };
  }

  it("delivers each message as the SNS Lambda event, with attributes, and honours the filter policy", async () => {
    const { TopicArn, subscription } = await subscribe("Logger", "audit", { severity: ["ERROR", "WARN"] });
    await sns.send(
      new PublishCommand({
        TopicArn,
        Subject: "move failed",
        Message: JSON.stringify({ hello: "world" }),
        MessageAttributes: { severity: { DataType: "String", StringValue: "ERROR" } },
      }),
    );
    await sns.send(
      new PublishCommand({
        TopicArn,
        Message: "filtered out",
        MessageAttributes: { severity: { DataType: "String", StringValue: "INFO" } },
      }),
    );
    await subscription.idle();
    const delivered = records("Logger");
    expect(delivered).toHaveLength(1);
    const record = delivered[0]?.event.Records[0];
    expect(record).toEqual({
      EventVersion: "1.0",
      EventSubscriptionArn: subscription.subscriptionArn,
      EventSource: "aws:sns",
      Sns: {
        SignatureVersion: "1",
        Timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        Signature: expect.any(String),
        SigningCertUrl: expect.any(String),
        MessageId: expect.any(String),
        Message: '{"hello":"world"}',
        MessageAttributes: { severity: { Type: "String", Value: "ERROR" } },
        Type: "Notification",
        UnsubscribeUrl: expect.any(String),
        TopicArn,
        Subject: "move failed",
      },
    });
    expect(subscription.subscriptionArn.startsWith(`${TopicArn}:`)).toBe(true);
  });

  it("retries a failed invocation (async retries) and succeeds without dead-lettering", async () => {
    const { TopicArn, subscription } = await subscribe("Flaky", "flaky");
    await sns.send(new PublishCommand({ TopicArn, Message: "once" }));
    await subscription.idle();
    expect(records("Flaky")).toHaveLength(2);
  });

  it("after two retries sends the event to the on-failure destination with the error", async () => {
    const { TopicArn, subscription } = await subscribe("Broken", "broken");
    await sns.send(new PublishCommand({ TopicArn, Message: "poison" }));
    await subscription.idle();
    expect(records("Broken")).toHaveLength(3);
    const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlqUrl, MaxNumberOfMessages: 10 }));
    expect(Messages).toHaveLength(1);
    const failure = JSON.parse(Messages[0]?.Body ?? "{}");
    expect(failure).toMatchObject({
      version: "1.0",
      requestContext: {
        functionArn: "arn:aws:lambda:us-east-1:000000000000:function:Broken:$LATEST",
        condition: "RetriesExhausted",
        approximateInvokeCount: 3,
      },
      responseContext: { statusCode: 200, executedVersion: "$LATEST", functionError: "Unhandled" },
      responsePayload: { errorType: "Error", errorMessage: "planned failure 3" },
    });
    expect(failure.requestPayload.Records[0].Sns.Message).toBe("poison");
  });
});
