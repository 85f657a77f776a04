/**
 * A test's own SQS queue subscribed (raw delivery) to one of the local cloud's topics, to read exactly what the
 * pipelines published there, independently of the SnsLogger.
 */
import { SNSClient, SubscribeCommand } from "@aws-sdk/client-sns";
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { LocalCloud } from "../../packages/local/src/cloud.ts";

export interface TopicTap {
  /** Every message published since the last drain, parsed as JSON, in the order the queue gives them. */
  drain(): Promise<Array<Record<string, unknown>>>;
}

export async function tapTopic(cloud: LocalCloud, sqs: SQSClient, topic: string, queueName: string): Promise<TopicTap> {
  const topicArn = cloud.resources.topics[topic];
  if (!topicArn) throw new Error(`no topic ${topic} in the local cloud`);
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: queueName }));
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["QueueArn"] }));
  const sns = new SNSClient({
    region: "us-east-1",
    endpoint: cloud.endpoints.sns,
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
  await sns.send(
    new SubscribeCommand({
      TopicArn: topicArn,
      Protocol: "sqs",
      Endpoint: Attributes?.QueueArn,
      Attributes: { RawMessageDelivery: "true" },
    }),
  );
  sns.destroy();

  return {
    async drain() {
      const out: Array<Record<string, unknown>> = [];
      for (;;) {
        const { Messages = [] } = await sqs.send(
          new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
        );
        if (Messages.length === 0) return out;
        for (const m of Messages) out.push(JSON.parse(m.Body ?? "{}"));
        await sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl,
            Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
          }),
        );
      }
    },
  };
}
