/**
 * A stream consumer's poison records (records it can never process: not decodable, not valid) sent to its own
 * dead-letter queue (`<Function>Dlq`), one SQS message each, WITH the record: Lambda's own on-failure message for a
 * Kinesis or DynamoDB stream batch is only a pointer (shard and sequence range), readable from the stream for its
 * retention only (24 hours by default), and names good records with the bad.
 *
 * The message body (JSON):
 *
 * ```json
 * {
 *   "type": "PoisonRecord", "version": "1.0",
 *   "function": "AnomalyAlert",
 *   "reason": "not a clickstream event: action: \"hover\" is not one of impression, click, add_to_cart, purchase",
 *   "timestamp": "2026-03-01T12:00:00.000Z",              // when it was sent
 *   "record": {
 *     "eventSource": "aws:kinesis", "eventSourceArn": "arn:aws:kinesis:...:stream/...",
 *     "shardId": "shardId-000000000001", "partitionKey": "k-1", "sequenceNumber": "4959...",
 *     "arrivedAt": "2026-03-01T11:59:58.500Z",             // the stream's approximate arrival time
 *     "data": "eyJldmVudElkIjo...",                        // the record's bytes, base64, as received
 *     "text": "{\"eventId\":..."                           // the same bytes as text, when they are UTF-8
 *   }
 * }
 * ```
 *
 * A DynamoDB stream record carries `eventName` and `dynamodb` (keys, images, sequence number) as received instead of
 * `data`. The message has the attributes `type` (`PoisonRecord`) and `function`, which tell it from Lambda's own
 * on-failure messages. A record whose message would exceed SQS's 256 KiB is sent without `text`; one still too large
 * is not sent (returned as unsent, as a refused send is: the caller leaves it to the stream's retries and Lambda's
 * pointer).
 */
import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";

/** SQS's message size limit everywhere (queues created before 2025 and emulators included), attributes counted. */
export const MAX_MESSAGE_BYTES = 262_144;

/** Messages sent at once. */
const PARALLELISM = 8;

interface PoisonRecordBase {
  /** Its stream's ARN, as the event gave it. */
  eventSourceArn?: string;
  sequenceNumber: string;
  /** Why it is refused. */
  reason: string;
}

/** A Kinesis record. */
export interface KinesisPoisonRecord extends PoisonRecordBase {
  eventSource: "aws:kinesis";
  shardId: string;
  partitionKey?: string;
  /** ISO-8601: when the stream received it (`approximateArrivalTimestamp`). */
  arrivedAt?: string;
  /** The record's bytes, base64, as received. */
  data: string;
}

/** A DynamoDB stream record. */
export interface DynamoPoisonRecord extends PoisonRecordBase {
  eventSource: "aws:dynamodb";
  /** `INSERT`, `MODIFY` or `REMOVE`. */
  eventName?: string;
  /** The record's `dynamodb` (keys, images, sequence number, size), as received. */
  dynamodb: unknown;
}

export type PoisonRecord = KinesisPoisonRecord | DynamoPoisonRecord;

export interface PoisonSendResult {
  /** In the dead-letter queue, with the message's id. */
  sent: Array<{ record: PoisonRecord; messageId: string }>;
  /** Not sent, with why (`<error name>: <message>`): still to be kept some other way. */
  unsent: Array<{ record: PoisonRecord; error: string }>;
}

export interface PoisonQueue {
  /** Sends each record as one message; never throws for a record SQS refuses (it is returned as unsent). */
  send(records: readonly PoisonRecord[]): Promise<PoisonSendResult>;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The bytes of `base64` as text, if they are UTF-8. */
function textOf(base64: string): string | undefined {
  try {
    return utf8.decode(Buffer.from(base64, "base64"));
  } catch {
    return undefined;
  }
}

/** The record as the message carries it (without its reason, which is the message's). */
function recordBody(record: PoisonRecord, withText: boolean): Record<string, unknown> {
  const { reason: _reason, ...rest } = record;
  if (rest.eventSource !== "aws:kinesis" || !withText) return rest;
  const text = textOf(rest.data);
  return text === undefined ? rest : { ...rest, text };
}

/**
 * `functionName`: the function whose poison it is (named in every message); `now`: the clock of `timestamp` (tests
 * give their own).
 */
export function createSqsPoisonQueue(
  client: SQSClient,
  queueUrl: string,
  functionName: string,
  now: () => Date = () => new Date(),
): PoisonQueue {
  const attributes = {
    type: { DataType: "String", StringValue: "PoisonRecord" },
    function: { DataType: "String", StringValue: functionName },
  };
  const attributeBytes = Object.entries(attributes).reduce(
    (sum, [name, value]) =>
      sum + Buffer.byteLength(name) + value.DataType.length + Buffer.byteLength(value.StringValue),
    0,
  );
  const bodyOf = (record: PoisonRecord, withText: boolean) =>
    JSON.stringify({
      type: "PoisonRecord",
      version: "1.0",
      function: functionName,
      reason: record.reason,
      timestamp: now().toISOString(),
      record: recordBody(record, withText),
    });

  async function sendOne(record: PoisonRecord): Promise<{ messageId: string } | { error: string }> {
    let body = bodyOf(record, true);
    if (Buffer.byteLength(body) + attributeBytes > MAX_MESSAGE_BYTES) body = bodyOf(record, false);
    const size = Buffer.byteLength(body) + attributeBytes;
    if (size > MAX_MESSAGE_BYTES) {
      return { error: `too large for an SQS message: ${size} bytes, more than ${MAX_MESSAGE_BYTES}` };
    }
    try {
      const out = await client.send(
        new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body, MessageAttributes: attributes }),
      );
      if (!out.MessageId) return { error: "SQS answered without a message id" };
      return { messageId: out.MessageId };
    } catch (error) {
      const { name, message } = error as Error;
      return { error: `${name}: ${message}` };
    }
  }

  return {
    async send(records) {
      const outcomes = new Array<{ messageId: string } | { error: string }>(records.length);
      let next = 0;
      const worker = async () => {
        for (let i = next++; i < records.length; i = next++) outcomes[i] = await sendOne(records[i] as PoisonRecord);
      };
      await Promise.all(Array.from({ length: Math.min(PARALLELISM, records.length) }, worker));
      const result: PoisonSendResult = { sent: [], unsent: [] };
      records.forEach((record, i) => {
        const outcome = outcomes[i] as { messageId: string } | { error: string };
        if ("messageId" in outcome) result.sent.push({ record, messageId: outcome.messageId });
        else result.unsent.push({ record, error: outcome.error });
      });
      return result;
    },
  };
}
