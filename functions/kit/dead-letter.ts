/**
 * A stream consumer's poison records (never processable: not decodable, not valid) sent to its own dead-letter queue
 * WITH their data and reason (`@sluice/aws/dead-letter`), instead of being returned as batch item failures: Lambda
 * would retry them (and the records after them) `maximumRetryAttempts` times, then put only a pointer (shard and
 * sequence range, good records with the bad) in the queue, readable from the stream for its retention only. Sent, a
 * record is done and the rest of the batch goes on; a record the queue did not take stays a batch item failure (the
 * stream's retries, then Lambda's pointer): nothing is lost either way.
 */
import { SQSClient } from "@aws-sdk/client-sqs";
import {
  createSqsPoisonQueue,
  type KinesisPoisonRecord,
  type PoisonQueue,
  type PoisonRecord,
  type PoisonSendResult,
} from "@sluice/aws/dead-letter";
import { DEAD_LETTER_QUEUE_URL, deadLetterQueueOf, type FunctionName } from "@sluice/infra/wiring";
import type { Observability } from "@sluice/observability";
import * as z from "zod/mini";
import { configOf } from "./config.ts";
import type { ShardRecord } from "./kinesis-records.ts";

export type { PoisonRecord, PoisonSendResult };

/**
 * The function's own `<Function>Dlq`, whose URL `sst deploy` and the local cloud give it (`DEAD_LETTER_QUEUE_URL`);
 * its role may `sqs:SendMessage` there (infra/permissions.ts). Read at cold start: without the URL the function does
 * not start. The function is named once, here: the queue's messages and the audit fields name the same one.
 */
export function deadLettersOf(functionName: FunctionName, env: Record<string, string | undefined> = process.env) {
  const config = configOf(
    functionName,
    z.object({ [DEAD_LETTER_QUEUE_URL]: z.url({ error: `the URL of ${deadLetterQueueOf(functionName)}` }) }),
    env,
  );
  // The queue URL is the queue's own address; on AWS it is the regional endpoint's, elsewhere the endpoint configured
  // (AWS_ENDPOINT_URL_SQS) is the one to call.
  const client = new SQSClient({ useQueueUrlAsEndpoint: false });
  return deadLettersTo(
    createSqsPoisonQueue(client, config[DEAD_LETTER_QUEUE_URL] as string, functionName),
    functionName,
  );
}

/** A Kinesis record refused for `reason`, as the dead-letter queue keeps it. */
export function kinesisPoison(record: ShardRecord, reason: string): KinesisPoisonRecord {
  return {
    eventSource: "aws:kinesis",
    ...(record.eventSourceArn ? { eventSourceArn: record.eventSourceArn } : {}),
    shardId: record.shardId,
    ...(record.partitionKey !== undefined ? { partitionKey: record.partitionKey } : {}),
    sequenceNumber: record.sequenceNumber,
    ...(record.arrivedAt ? { arrivedAt: record.arrivedAt } : {}),
    data: record.data,
    reason,
  };
}

/**
 * The records of the batch that `bad` names, each with its reason, as the dead-letter queue keeps them. A name that
 * is not in the batch throws (failing the invocation: the stream retries it, nothing is lost): a record refused but
 * neither dead-lettered nor returned as a failure would be lost without a trace.
 */
export function kinesisPoisonOf(
  records: readonly ShardRecord[],
  bad: readonly { shardId: string; sequenceNumber: string; reason: string }[],
): KinesisPoisonRecord[] {
  const byKey = new Map(records.map((record) => [poisonKey(record), record]));
  return bad.map((b) => {
    const record = byKey.get(poisonKey(b));
    if (!record) throw new Error(`refused record ${poisonKey(b)} is not in the batch (${b.reason})`);
    return kinesisPoison(record, b.reason);
  });
}

/** What the audit message of a poison record says of its dead letter: the queue and message id, or why not sent. */
export type DeadLetterFields =
  | { deadLetterQueue: string; deadLetterMessageId: string }
  | { deadLetterQueue: string; deadLetterError: string; retried: true };

/** A function's dead letters: {@link DeadLetters.send} puts its poison records in its own queue. */
export interface DeadLetters {
  /** The queue's name, `<Function>Dlq`, as the audit messages give it. */
  readonly queueName: string;
  /**
   * Sends `poison`; returns, by `<shard>:<sequence number>` (`sequenceNumber` alone for a record without a shard), what
   * each record's audit message should say of it, and the records left to the stream (to return as batch item
   * failures). Logs (ERROR) the records the queue did not take. Counts, in every stream consumer alike, the records
   * sent (`DeadLettered`) and those the queue did not take (`DeadLetterFailures`).
   */
  send(
    poison: readonly PoisonRecord[],
    observability: Pick<Observability, "logger" | "metrics">,
  ): Promise<{ fields: Map<string, DeadLetterFields>; unsent: PoisonRecord[] }>;
}

/** `functionName`'s dead letters in `queue` (its `<Function>Dlq`). */
export function deadLettersTo(queue: PoisonQueue, functionName: FunctionName): DeadLetters {
  const deadLetterQueue = deadLetterQueueOf(functionName);
  return {
    queueName: deadLetterQueue,
    async send(poison, { logger, metrics }) {
      const fields = new Map<string, DeadLetterFields>();
      if (poison.length === 0) return { fields, unsent: [] };
      const result = await queue.send(poison);
      for (const { record, messageId } of result.sent) {
        fields.set(poisonKey(record), { deadLetterQueue, deadLetterMessageId: messageId });
      }
      for (const { record, error } of result.unsent) {
        fields.set(poisonKey(record), { deadLetterQueue, deadLetterError: error, retried: true });
        logger.error(`poison record not sent to ${deadLetterQueue}: left to the stream's retries`, {
          sequenceNumber: record.sequenceNumber,
          ...("shardId" in record ? { shardId: record.shardId } : {}),
          reason: record.reason,
          error,
        });
      }
      metrics.addMetric("DeadLettered", "Count", result.sent.length);
      metrics.addMetric("DeadLetterFailures", "Count", result.unsent.length);
      return { fields, unsent: result.unsent.map(({ record }) => record) };
    },
  };
}

/** How {@link DeadLetters.send} keys a record. */
export function poisonKey(record: { sequenceNumber: string; shardId?: string }): string {
  return record.shardId === undefined ? record.sequenceNumber : `${record.shardId}:${record.sequenceNumber}`;
}
