/**
 * The `Audit` topic adapter: every pipeline reports what it did, skipped, refused or failed to do as one JSON
 * message (`AuditMessage` of `@sluice/messages`), through the port this implements (`AuditSink`). The `severity` and
 * `correlationId` message attributes are what the SnsLogger reads for the record's level and correlation id, so an
 * audit message lands in the logs at the right level without parsing its body.
 */
import { PublishBatchCommand, PublishCommand, type SNSClient } from "@aws-sdk/client-sns";
import type { AuditMessage, AuditOutcome, AuditSink } from "@sluice/messages";

const severityOf: Record<AuditOutcome, string> = {
  succeeded: "INFO",
  skipped: "INFO",
  refused: "WARN",
  failed: "ERROR",
};

/** SNS's batch limit: 10 messages per PublishBatch call. */
const BATCH = 10;

/**
 * A message attribute value with its control characters and unpaired surrogates escaped as `\uXXXX` (SNS holds
 * attribute values to the message body's rules, where they are invalid; ids built from input, such as a site name,
 * may carry them). Other text is kept as it is, so filter policies still match it.
 */
export function attributeText(text: string): string {
  return text.replace(
    // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
    /[\u0000-\u001f\u007f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

function attributesOf(message: AuditMessage) {
  return {
    severity: { DataType: "String", StringValue: severityOf[message.outcome] },
    pipeline: { DataType: "String", StringValue: message.pipeline },
    outcome: { DataType: "String", StringValue: message.outcome },
    ...(message.correlationId
      ? { correlationId: { DataType: "String", StringValue: attributeText(message.correlationId) } }
      : {}),
  };
}

/** An audit sink publishing to an SNS topic (the `Audit` topic's ARN, from `Resource.Audit.arn`). */
export function createSnsAuditSink(client: SNSClient, topicArn: string): AuditSink {
  return {
    async publish(message) {
      await client.send(
        new PublishCommand({
          TopicArn: topicArn,
          Subject: `${message.pipeline} ${message.action} ${message.outcome}`.slice(0, 100),
          Message: JSON.stringify(message),
          MessageAttributes: attributesOf(message),
        }),
      );
    },
    async publishAll(messages) {
      for (let i = 0; i < messages.length; i += BATCH) {
        const chunk = messages.slice(i, i + BATCH);
        const result = await client.send(
          new PublishBatchCommand({
            TopicArn: topicArn,
            PublishBatchRequestEntries: chunk.map((message, j) => ({
              Id: String(j),
              Subject: `${message.pipeline} ${message.action} ${message.outcome}`.slice(0, 100),
              Message: JSON.stringify(message),
              MessageAttributes: attributesOf(message),
            })),
          }),
        );
        if (result.Failed && result.Failed.length > 0) {
          const first = result.Failed[0];
          throw new Error(
            `Audit: ${result.Failed.length} message(s) not published (${first?.Code}: ${first?.Message})`,
          );
        }
      }
    },
  };
}

/** An in-memory sink for tests: keeps what was published. */
export function createMemoryAuditSink(): AuditSink & { messages: AuditMessage[] } {
  const messages: AuditMessage[] = [];
  return {
    messages,
    async publish(message) {
      messages.push(message);
    },
    async publishAll(batch) {
      messages.push(...batch);
    },
  };
}
