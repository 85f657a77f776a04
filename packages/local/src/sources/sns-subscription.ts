/**
 * SNS -> Lambda subscriptions on the local cloud. The SNS emulator delivers only to SQS, so each Lambda
 * subscription is carried by a private SQS queue subscribed to the topic with the subscription's filter policy;
 * a poller turns each delivered notification back into the event SNS gives Lambda, and invokes the function
 * asynchronously (retries, then the on-failure destination), as SNS does.
 */
import { createHash } from "node:crypto";
import { type SNSClient, SubscribeCommand } from "@aws-sdk/client-sns";
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { AsyncInvokeConfig, AsyncInvoker } from "../runtime/async-invoke.ts";

export interface SnsSubscriptionOptions {
  sns: SNSClient;
  sqs: SQSClient;
  topicArn: string;
  functionName: string;
  filterPolicy?: Record<string, unknown>;
  filterPolicyScope?: "MessageAttributes" | "MessageBody";
  asyncInvoker: AsyncInvoker;
  asyncConfig: AsyncInvokeConfig;
  /** Prefix of the carrier queue's name. */
  queuePrefix: string;
}

export interface SnsSubscription {
  /** The subscription ARN Lambda sees in `EventSubscriptionArn`. */
  subscriptionArn: string;
  /** Resolves when every message delivered so far has been handed to the function. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

/** An SNS notification as SNS delivers it to SQS (non-raw delivery). */
interface SnsEnvelope {
  Type: string;
  MessageId: string;
  TopicArn: string;
  Subject?: string;
  Message: string;
  Timestamp: string;
  SignatureVersion?: string;
  Signature?: string;
  SigningCertURL?: string;
  UnsubscribeURL?: string;
  MessageAttributes?: Record<string, { Type: string; Value: string }>;
}

/** The `Records[0]` SNS gives a Lambda function for one notification. */
export function snsEventRecord(envelope: SnsEnvelope, subscriptionArn: string) {
  return {
    EventVersion: "1.0",
    EventSubscriptionArn: subscriptionArn,
    EventSource: "aws:sns",
    Sns: {
      SignatureVersion: envelope.SignatureVersion ?? "1",
      Timestamp: envelope.Timestamp,
      Signature: envelope.Signature ?? "",
      SigningCertUrl: envelope.SigningCertURL ?? "",
      MessageId: envelope.MessageId,
      Message: envelope.Message,
      MessageAttributes: envelope.MessageAttributes ?? {},
      Type: envelope.Type,
      UnsubscribeUrl: envelope.UnsubscribeURL ?? "",
      TopicArn: envelope.TopicArn,
      Subject: envelope.Subject ?? null,
    },
  };
}

export async function startSnsSubscription(options: SnsSubscriptionOptions): Promise<SnsSubscription> {
  const topicName = options.topicArn.split(":").pop() ?? "topic";
  const queueName = `${options.queuePrefix}${options.functionName}-${topicName}`.slice(0, 80);
  const { QueueUrl } = await options.sqs.send(new CreateQueueCommand({ QueueName: queueName }));
  if (!QueueUrl) throw new Error(`could not create the carrier queue ${queueName}`);
  const { Attributes } = await options.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["QueueArn"] }),
  );
  const attributes: Record<string, string> = {};
  if (options.filterPolicy) {
    attributes.FilterPolicy = JSON.stringify(options.filterPolicy);
    attributes.FilterPolicyScope = options.filterPolicyScope ?? "MessageAttributes";
  }
  await options.sns.send(
    new SubscribeCommand({
      TopicArn: options.topicArn,
      Protocol: "sqs",
      Endpoint: Attributes?.QueueArn,
      Attributes: attributes,
      ReturnSubscriptionArn: true,
    }),
  );
  const uuid = createHash("sha256").update(`${options.functionName}|${options.topicArn}`).digest("hex");
  const subscriptionArn = `${options.topicArn}:${uuid.slice(0, 8)}-${uuid.slice(8, 12)}-${uuid.slice(12, 16)}-${uuid.slice(16, 20)}-${uuid.slice(20, 32)}`;

  let stopped = false;

  async function poll(): Promise<void> {
    while (!stopped) {
      try {
        const { Messages = [] } = await options.sqs.send(
          new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
        );
        for (const message of Messages) {
          const envelope = JSON.parse(message.Body ?? "{}") as SnsEnvelope;
          options.asyncInvoker.invokeAsync(
            options.functionName,
            { Records: [snsEventRecord(envelope, subscriptionArn)] },
            options.asyncConfig,
          );
        }
        if (Messages.length > 0) {
          await options.sqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl,
              Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
            }),
          );
        }
      } catch (err) {
        if (stopped) return;
        console.error(`[sluice] SNS subscription ${queueName}: ${(err as Error).message}`);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }
  const loop = poll();

  return {
    subscriptionArn,
    async idle() {
      // The carrier queue is empty (nothing waiting, nothing received but not yet handed to the async invoker,
      // which deletes it only after) when everything published before this call was delivered. Asking the queue
      // is much faster than waiting for an empty long poll to end.
      for (;;) {
        if (stopped) return;
        const { Attributes = {} } = await options.sqs.send(
          new GetQueueAttributesCommand({
            QueueUrl,
            AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
          }),
        );
        if (
          Attributes.ApproximateNumberOfMessages === "0" &&
          Attributes.ApproximateNumberOfMessagesNotVisible === "0"
        ) {
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await options.asyncInvoker.idle();
    },
    async stop() {
      stopped = true;
      await loop;
    },
  };
}
