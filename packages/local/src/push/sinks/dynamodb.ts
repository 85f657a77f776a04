/**
 * Writes items into a DynamoDB table with `BatchWriteItem`: batches of at most 25 puts, `UnprocessedItems` sent
 * again with back-off until they are written or run out of attempts. A batch never holds two items with the same
 * key (DynamoDB rejects the whole request for that): a repeated key starts a new batch, and batches go one after
 * another, so the last item of a key in the input is the one that stays.
 */
import {
  type AttributeValue,
  BatchWriteItemCommand,
  type DynamoDBClient,
  type WriteRequest,
} from "@aws-sdk/client-dynamodb";
import { backoffDelay, sleep as defaultSleep } from "@sluice/retry";
import { PushFailed } from "../errors.ts";
import type { RetryOptions } from "../retry-options.ts";

export const MAX_ITEMS_PER_BATCH = 25;

export type Item = Record<string, AttributeValue>;

export interface WriteItemsReport {
  items: number;
  requests: number;
  /** Items sent again after DynamoDB left them unprocessed. */
  retried: number;
}

export interface WriteItemsOptions extends RetryOptions {
  /** The item's key as a string, to keep duplicates out of one batch. */
  keyOf: (item: Item) => string;
  onStored?: (count: number) => void;
  onRetry?: (pending: number) => void;
}

export async function writeItems(
  client: DynamoDBClient,
  tableName: string,
  items: AsyncIterable<Item> | Iterable<Item>,
  options: WriteItemsOptions,
): Promise<WriteItemsReport> {
  const report: WriteItemsReport = { items: 0, requests: 0, retried: 0 };
  let batch: Item[] = [];
  let keys = new Set<string>();
  for await (const item of items) {
    const key = options.keyOf(item);
    if (batch.length >= MAX_ITEMS_PER_BATCH || keys.has(key)) {
      await sendBatch(client, tableName, batch, report, options);
      batch = [];
      keys = new Set();
    }
    batch.push(item);
    keys.add(key);
  }
  if (batch.length > 0) await sendBatch(client, tableName, batch, report, options);
  return report;
}

async function sendBatch(
  client: DynamoDBClient,
  tableName: string,
  batch: readonly Item[],
  report: WriteItemsReport,
  options: WriteItemsOptions,
): Promise<void> {
  const maxAttempts = options.maxAttempts ?? 10;
  const sleep = options.sleep ?? defaultSleep;
  let pending: WriteRequest[] = batch.map((item) => ({ PutRequest: { Item: item } }));
  for (let attempt = 1; ; attempt++) {
    if (attempt > 1) {
      report.retried += pending.length;
      await sleep(
        backoffDelay(attempt - 1, { baseDelayMs: options.baseDelayMs ?? 50, maxDelayMs: options.maxDelayMs ?? 5000 }),
      );
    }
    const response = await client.send(new BatchWriteItemCommand({ RequestItems: { [tableName]: pending } }));
    report.requests++;
    const unprocessed = response.UnprocessedItems?.[tableName] ?? [];
    const stored = pending.length - unprocessed.length;
    report.items += stored;
    if (stored > 0) options.onStored?.(stored);
    if (unprocessed.length === 0) {
      if (attempt > 1) options.onRetry?.(0);
      return;
    }
    if (attempt >= maxAttempts) {
      throw new PushFailed(
        `${unprocessed.length} items were left unprocessed by ${tableName} after ${maxAttempts} attempts; ` +
          `${report.items} items were written before that.`,
      );
    }
    options.onRetry?.(unprocessed.length);
    pending = unprocessed;
  }
}
