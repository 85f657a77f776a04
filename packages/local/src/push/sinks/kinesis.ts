/**
 * Puts records into a Kinesis data stream with `PutRecords`: batches of at most 500 records and 5 MiB, and the
 * entries a batch reports as failed (`ProvisionedThroughputExceededException`, `InternalFailure`) sent again with
 * back-off until they succeed or run out of attempts. Batches go one after another, so records of one partition
 * key keep their order except when one of them had to be retried (PutRecords' own semantics).
 */
import { type KinesisClient, PutRecordsCommand, type PutRecordsRequestEntry } from "@aws-sdk/client-kinesis";
import { backoffDelay, sleep as defaultSleep } from "@sluice/retry";
import { PushFailed } from "../errors.ts";
import type { RetryOptions } from "../retry-options.ts";

/** PutRecords limits. */
export const MAX_RECORDS_PER_REQUEST = 500;
export const MAX_BYTES_PER_REQUEST = 5 * 1024 * 1024;
/** Data plus partition key of one record. */
export const MAX_RECORD_BYTES = 1024 * 1024;
export const MAX_PARTITION_KEY_LENGTH = 256;

export interface KinesisEntry {
  data: Uint8Array;
  partitionKey: string;
}

export interface PutRecordsReport {
  records: number;
  requests: number;
  /** Entries sent more than once (each retry of an entry counts). */
  retried: number;
  /** Records per shard id. */
  shards: Record<string, number>;
}

export interface PutRecordsOptions extends RetryOptions {
  /** Called after each batch with the number of records it stored. */
  onStored?: (count: number) => void;
  /** Called while retrying, with the number of entries waiting for another attempt (0 when done). */
  onRetry?: (pending: number, errorCode: string | undefined) => void;
  maxRecordsPerRequest?: number;
}

export function entryBytes(entry: KinesisEntry): number {
  return entry.data.byteLength + Buffer.byteLength(entry.partitionKey);
}

export async function putRecords(
  client: KinesisClient,
  streamName: string,
  entries: AsyncIterable<KinesisEntry> | Iterable<KinesisEntry>,
  options: PutRecordsOptions = {},
): Promise<PutRecordsReport> {
  const report: PutRecordsReport = { records: 0, requests: 0, retried: 0, shards: {} };
  const maxRecords = options.maxRecordsPerRequest ?? MAX_RECORDS_PER_REQUEST;
  let batch: KinesisEntry[] = [];
  let batchBytes = 0;
  for await (const entry of entries) {
    const bytes = entryBytes(entry);
    if (batch.length > 0 && (batch.length >= maxRecords || batchBytes + bytes > MAX_BYTES_PER_REQUEST)) {
      await sendBatch(client, streamName, batch, report, options);
      batch = [];
      batchBytes = 0;
    }
    batch.push(entry);
    batchBytes += bytes;
  }
  if (batch.length > 0) await sendBatch(client, streamName, batch, report, options);
  return report;
}

async function sendBatch(
  client: KinesisClient,
  streamName: string,
  batch: readonly KinesisEntry[],
  report: PutRecordsReport,
  options: PutRecordsOptions,
): Promise<void> {
  const maxAttempts = options.maxAttempts ?? 10;
  const sleep = options.sleep ?? defaultSleep;
  let pending: PutRecordsRequestEntry[] = batch.map((e) => ({ Data: e.data, PartitionKey: e.partitionKey }));
  for (let attempt = 1; ; attempt++) {
    if (attempt > 1) {
      report.retried += pending.length;
      await sleep(
        backoffDelay(attempt - 1, { baseDelayMs: options.baseDelayMs ?? 50, maxDelayMs: options.maxDelayMs ?? 5000 }),
      );
    }
    const response = await client.send(new PutRecordsCommand({ StreamName: streamName, Records: pending }));
    report.requests++;
    const results = response.Records ?? [];
    const failed: PutRecordsRequestEntry[] = [];
    let firstError: string | undefined;
    let stored = 0;
    pending.forEach((entry, i) => {
      const result = results[i];
      if (result?.ErrorCode || !result?.SequenceNumber) {
        failed.push(entry);
        firstError ??= result?.ErrorCode ? `${result.ErrorCode}: ${result.ErrorMessage ?? ""}` : "no result";
        return;
      }
      stored++;
      const shard = result.ShardId ?? "unknown";
      report.shards[shard] = (report.shards[shard] ?? 0) + 1;
    });
    report.records += stored;
    if (stored > 0) options.onStored?.(stored);
    if (failed.length === 0) {
      if (attempt > 1) options.onRetry?.(0, undefined);
      return;
    }
    if (attempt >= maxAttempts) {
      throw new PushFailed(
        `${failed.length} records were refused by ${streamName} after ${maxAttempts} attempts (last error ${firstError}); ` +
          `${report.records} records were stored before that.`,
      );
    }
    options.onRetry?.(failed.length, firstError);
    pending = failed;
  }
}
