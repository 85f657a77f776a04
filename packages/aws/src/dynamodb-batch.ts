/**
 * DynamoDB's batch APIs, whole: `BatchWriteItem` in requests of 25 and `BatchGetItem` in requests of 100, the
 * items or keys DynamoDB leaves unprocessed (throttling, the 16 MB answer limit) sent again with back-off
 * (@sluice/retry), until none is left or the attempts run out (an error saying how many are left). The adapters'
 * one batch loop.
 */
import {
  type AttributeValue,
  BatchGetItemCommand,
  BatchWriteItemCommand,
  type DynamoDBClient,
  type WriteRequest,
} from "@aws-sdk/client-dynamodb";
import { backoffDelay, sleep as realSleep } from "@sluice/retry";

export interface BatchOptions {
  /** Requests in flight at once. Default 1. */
  parallel?: number;
  /** Requests per chunk of items, the first included. Default 10. */
  attempts?: number;
  /** Replaceable in tests. */
  sleep?: (ms: number) => Promise<void>;
}

/** Back-off between the attempts of one chunk: from 50 ms, doubling, up to 1 s, with full jitter. */
const BACKOFF = { baseDelayMs: 50, maxDelayMs: 1000 };
const DEFAULT_ATTEMPTS = 10;

type Item = Record<string, AttributeValue>;

/** Every request written (puts and deletes). */
export async function batchWriteAll(
  client: DynamoDBClient,
  table: string,
  requests: readonly WriteRequest[],
  options: BatchOptions = {},
): Promise<void> {
  await inChunks(table, requests, 25, options, async (pending) => {
    const out = await client.send(new BatchWriteItemCommand({ RequestItems: { [table]: pending } }));
    return out.UnprocessedItems?.[table] ?? [];
  });
}

/** Every item found for `keys`, read consistently (`projection`: a ProjectionExpression); absent keys are absent. */
export async function batchGetAll(
  client: DynamoDBClient,
  table: string,
  keys: readonly Item[],
  options: BatchOptions & { projection?: string } = {},
): Promise<Item[]> {
  const found: Item[] = [];
  const { projection } = options;
  await inChunks(table, keys, 100, options, async (pending) => {
    const out = await client.send(
      new BatchGetItemCommand({
        RequestItems: {
          [table]: { Keys: pending, ConsistentRead: true, ...(projection ? { ProjectionExpression: projection } : {}) },
        },
      }),
    );
    found.push(...(out.Responses?.[table] ?? []));
    return out.UnprocessedKeys?.[table]?.Keys ?? [];
  });
  return found;
}

/** Sends each chunk of `size` with `send`, which returns what is left unprocessed, until nothing is. */
async function inChunks<T>(
  table: string,
  all: readonly T[],
  size: number,
  options: BatchOptions,
  send: (pending: T[]) => Promise<T[]>,
): Promise<void> {
  const attempts = options.attempts ?? DEFAULT_ATTEMPTS;
  const pause = options.sleep ?? realSleep;
  const chunks: T[][] = [];
  for (let i = 0; i < all.length; i += size) chunks.push(all.slice(i, i + size));
  let next = 0;
  const worker = async () => {
    while (next < chunks.length) {
      let pending = chunks[next++] as T[];
      for (let attempt = 1; pending.length > 0; attempt++) {
        if (attempt > attempts)
          throw new Error(`${table}: ${pending.length} items left unprocessed after ${attempts} requests`);
        if (attempt > 1) await pause(backoffDelay(attempt - 1, BACKOFF));
        pending = await send(pending);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.parallel ?? 1, chunks.length) }, worker));
}
