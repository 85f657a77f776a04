/**
 * The `Audit` topic adapter: every pipeline reports what it did, skipped, refused or failed to do as one JSON
 * message. The `severity` and `correlationId` message attributes are what the SnsLogger reads for the record's
 * level and correlation id, so an audit message lands in the logs at the right level without parsing its body.
 */
import { PublishBatchCommand, PublishCommand, type SNSClient } from "@aws-sdk/client-sns";

export type AuditOutcome = "succeeded" | "skipped" | "refused" | "failed";

/** One audit message. Pipelines add their own fields (from, to, size, reason, ...). */
export interface AuditMessage {
  /** The pipeline or function reporting: `file-mover`, `cdc-merge`, ... */
  pipeline: string;
  /** What happened: `move`, `delete-request`, `merge`, `price-change`, ... */
  action: string;
  outcome: AuditOutcome;
  /** Ties the message to the request or event that caused it. */
  correlationId?: string;
  reason?: string;
  [field: string]: unknown;
}

/** The port domain code and handlers depend on; tests hand in an array-backed fake. */
export interface AuditSink {
  publish(message: AuditMessage): Promise<void>;
  publishAll(messages: readonly AuditMessage[]): Promise<void>;
}

const severityOf: Record<AuditOutcome, string> = {
  succeeded: "INFO",
  skipped: "INFO",
  refused: "WARN",
  failed: "ERROR",
};

/** SNS's batch limit: 10 messages per PublishBatch call. */
const BATCH = 10;

function attributesOf(message: AuditMessage) {
  return {
    severity: { DataType: "String", StringValue: severityOf[message.outcome] },
    pipeline: { DataType: "String", StringValue: message.pipeline },
    outcome: { DataType: "String", StringValue: message.outcome },
    ...(message.correlationId ? { correlationId: { DataType: "String", StringValue: message.correlationId } } : {}),
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
