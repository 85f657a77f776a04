/** The Kinesis-triggered functions' records and batch responses. */
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from "aws-lambda";

/** A Kinesis record as the stream pipelines take it. */
export interface ShardRecord {
  /** The shard it was read from (the first part of Lambda's `eventID`, `shardId-...:<sequence number>`). */
  shardId: string;
  sequenceNumber: string;
  /** Base64, as Kinesis delivers it. */
  data: string;
  /** The stream's ARN (`eventSourceARN`). */
  eventSourceArn?: string;
  partitionKey?: string;
  /** ISO-8601: when the stream received it (`approximateArrivalTimestamp`, epoch seconds). */
  arrivedAt?: string;
}

export function kinesisRecordsOf(event: KinesisStreamEvent): ShardRecord[] {
  return event.Records.map((record) => ({
    shardId: record.eventID.split(":")[0] ?? "",
    sequenceNumber: record.kinesis.sequenceNumber,
    data: record.kinesis.data,
    eventSourceArn: record.eventSourceARN,
    partitionKey: record.kinesis.partitionKey,
    arrivedAt: arrivalOf(record.kinesis.approximateArrivalTimestamp),
  }));
}

function arrivalOf(seconds: number | undefined): string | undefined {
  return typeof seconds === "number" && Number.isFinite(seconds) ? new Date(seconds * 1000).toISOString() : undefined;
}

/**
 * The partial batch response failing these records: Lambda retries the batch from the first of them, then hands
 * the range to the function's dead-letter queue (`reportBatchItemFailures` in infra/wiring.ts).
 */
export function failingRecords(records: readonly { sequenceNumber: string }[]): KinesisStreamBatchResponse {
  return { batchItemFailures: records.map(({ sequenceNumber }) => ({ itemIdentifier: sequenceNumber })) };
}
