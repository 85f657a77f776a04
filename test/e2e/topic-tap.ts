/**
 * A test's own SQS queue subscribed (raw delivery) to one of the system's topics, to read exactly what the pipelines
 * published there, independently of the SnsLogger. The same calls work on the local cloud and on a deployed stage.
 */
import { type SNSClient, SubscribeCommand, UnsubscribeCommand } from "@aws-sdk/client-sns";
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SetQueueAttributesCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";

export interface TopicTap {
  /** Every message published since the last drain, parsed as JSON, in the order the queue gives them. */
  drain(): Promise<Array<Record<string, unknown>>>;
  /** Unsubscribes and deletes the queue (on a stage they are not part of the stack: `sst remove` would keep them). */
  remove(): Promise<void>;
}

export interface TapOptions {
  /**
   * Long-poll seconds of each receive. 0 on the local cloud (it has delivered before the test drains); on AWS a short
   * poll asks only some of the queue's servers and may miss a message that is there, a long poll asks them all.
   */
  waitSeconds?: number;
}

/**
 * The queue policy SNS needs to deliver to a queue on AWS (the local emulator ignores it): this topic may send, nothing
 * else may.
 */
export function snsDeliveryPolicy(queueArn: string, topicArn: string): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Allow",
        Principal: { Service: "sns.amazonaws.com" },
        Action: "sqs:SendMessage",
        Resource: queueArn,
        Condition: { ArnEquals: { "aws:SourceArn": topicArn } },
      },
    ],
  });
}

/** Creates the queue `queueName`, lets `topicArn` deliver to it, and subscribes it with raw message delivery. */
export async function tapTopic(
  clients: { sns: SNSClient; sqs: SQSClient },
  topicArn: string,
  queueName: string,
  options: TapOptions = {},
): Promise<TopicTap> {
  const { sns, sqs } = clients;
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: queueName }));
  if (!QueueUrl) throw new Error(`queue ${queueName} was not created`);
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["QueueArn"] }));
  const queueArn = Attributes?.QueueArn ?? "";
  let subscriptionArn: string | undefined;
  try {
    // The policy is set once the queue exists: it names the queue's own ARN.
    await sqs.send(
      new SetQueueAttributesCommand({ QueueUrl, Attributes: { Policy: snsDeliveryPolicy(queueArn, topicArn) } }),
    );
    ({ SubscriptionArn: subscriptionArn } = await sns.send(
      new SubscribeCommand({
        TopicArn: topicArn,
        Protocol: "sqs",
        Endpoint: queueArn,
        Attributes: { RawMessageDelivery: "true" },
        ReturnSubscriptionArn: true,
      }),
    ));
  } catch (err) {
    await sqs.send(new DeleteQueueCommand({ QueueUrl })).catch(() => {});
    throw err;
  }

  return {
    async drain() {
      const messages = await receiveAll(sqs, QueueUrl, { waitSeconds: options.waitSeconds ?? 0, remove: true });
      return messages.map((m) => JSON.parse(m.Body ?? "{}"));
    },
    async remove() {
      if (subscriptionArn?.startsWith("arn:"))
        await sns.send(new UnsubscribeCommand({ SubscriptionArn: subscriptionArn })).catch(() => {});
      await sqs.send(new DeleteQueueCommand({ QueueUrl }));
    },
  };
}

/**
 * Receives every message of a queue until a receive comes back empty. A received message stays invisible for the
 * queue's visibility timeout (or `visibilitySeconds`), so one call reads each message once; with `remove` they are
 * deleted, else they come back after it (a dead-letter queue read by a test keeps what it holds).
 */
export async function receiveAll(
  sqs: SQSClient,
  queueUrl: string,
  options: { waitSeconds: number; remove?: boolean; visibilitySeconds?: number },
): Promise<Message[]> {
  const out: Message[] = [];
  for (;;) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: options.waitSeconds,
        VisibilityTimeout: options.visibilitySeconds,
      }),
    );
    if (Messages.length === 0) return out;
    out.push(...Messages);
    if (options.remove)
      await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
        }),
      );
  }
}
