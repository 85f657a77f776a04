/** The Kinesis-triggered functions' records and batch responses. */
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from "aws-lambda";

/** A Kinesis record as the stream pipelines take it. */
export interface ShardRecord {
  /** The shard it was read from (the first part of Lambda's `eventID`, `shardId-...:<sequence number>`). */
  shardId: string;
  sequenceNumber: string;
  /** Base64, as Kinesis delivers it. */
  data: string;
}

export function kinesisRecordsOf(event: KinesisStreamEvent): ShardRecord[] {
  return event.Records.map((record) => ({
    shardId: record.eventID.split(":")[0] ?? "",
    sequenceNumber: record.kinesis.sequenceNumber,
    data: record.kinesis.data,
  }));
}

/**
 * The partial batch response failing these records: Lambda retries the batch from the first of them, then hands
 * the range to the function's dead-letter queue (`reportBatchItemFailures` in infra/wiring.ts).
 */
export function failingRecords(records: readonly { sequenceNumber: string }[]): KinesisStreamBatchResponse {
  return { batchItemFailures: records.map(({ sequenceNumber }) => ({ itemIdentifier: sequenceNumber })) };
}
