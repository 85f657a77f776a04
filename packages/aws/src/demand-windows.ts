/**
 * The `DemandWindowStore` port on the `DemandWindows` table (key `pk`, `sk`):
 * - `pk = "window#<productId>#<window start>"`, `sk = "shard#<shardId>"`: one shard's counts for one window and
 *   the last sequence number counted (zero-padded, so DynamoDB compares it as a number);
 * - `pk = "shard#<shardId>"`, `sk = "state"`: the shard's watermark;
 * - `pk = "shard#<shardId>"`, `sk = "open#<window start>#<productId>"`: one item per open window, so the windows
 *   a watermark closes are one `Query` by start time, however many are open.
 * Counting is conditional on the last counted sequence number still being the one read, so a retried batch
 * never counts an event twice; a count whose condition fails because the item already holds this very count (its
 * answer was lost and the SDK retried it) is done, not an error. Window items carry `expiresAt`, the table's time to live: a day after their window
 * starts or after the write, whichever is later, so that a replay of events older than a day (a stream read from its
 * trim horizon, a backfill) is not deleted as soon as it is counted.
 */
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  QueryCommand,
  type QueryCommandOutput,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import { type DemandCounts, type DemandWindowStore, parseWindowKey, sumCounts } from "@sluice/pricing";
import { batchGetAll, batchWriteAll } from "./dynamodb-batch.ts";

const SEQUENCE_DIGITS = 64;
const TTL_SECONDS = 24 * 3600;

const pad = (sequence: string) => sequence.padStart(SEQUENCE_DIGITS, "0");
const unpad = (sequence: string) => sequence.replace(/^0+(?=\d)/, "");
const windowPk = (key: string) => `window#${key}`;
const shardSk = (shardId: string) => `shard#${shardId}`;
/** Open windows sort by start time, then product. */
const openSk = (key: string) => {
  const { productId, windowStartMs } = parseWindowKey(key);
  return `open#${new Date(windowStartMs).toISOString()}#${productId}`;
};

/** `now`: the clock the expiry times are computed from (tests give their own). */
export function createDynamoWindowStore(
  client: DynamoDBClient,
  table: string,
  now: () => number = Date.now,
): DemandWindowStore {
  /** Epoch seconds: a day after the window starts, or after now if that is later. */
  const expiresAt = (windowStartMs: number) => String(Math.floor(Math.max(windowStartMs, now()) / 1000) + TTL_SECONDS);
  return {
    async watermark(shardId) {
      const out = await client.send(
        new GetItemCommand({
          TableName: table,
          Key: { pk: { S: `shard#${shardId}` }, sk: { S: "state" } },
          ConsistentRead: true,
        }),
      );
      const item = out.Item ? unmarshall(out.Item) : {};
      return typeof item.watermarkMs === "number" ? item.watermarkMs : 0;
    },

    async countedSequences(shardId, keys) {
      const items = await batchGetAll(
        client,
        table,
        keys.map((key) => ({ pk: { S: windowPk(key) }, sk: { S: shardSk(shardId) } })),
        { projection: "pk, lastSequence" },
      );
      const found = new Map<string, string>();
      for (const raw of items) {
        const item = unmarshall(raw);
        found.set(String(item.pk).slice("window#".length), unpad(String(item.lastSequence)));
      }
      return found;
    },

    async addCounts(key, shardId, counts, lastSequence, expected) {
      const { windowStartMs } = parseWindowKey(key);
      const update = new UpdateItemCommand({
        TableName: table,
        Key: { pk: { S: windowPk(key) }, sk: { S: shardSk(shardId) } },
        UpdateExpression:
          "ADD #views :views, clicks :clicks, addToCart :addToCart, purchases :purchases SET lastSequence = :last, expiresAt = :ttl",
        ConditionExpression: expected === undefined ? "attribute_not_exists(lastSequence)" : "lastSequence = :expected",
        ExpressionAttributeNames: { "#views": "views" },
        ExpressionAttributeValues: {
          ":views": { N: String(counts.views) },
          ":clicks": { N: String(counts.clicks) },
          ":addToCart": { N: String(counts.addToCart) },
          ":purchases": { N: String(counts.purchases) },
          ":last": { S: pad(lastSequence) },
          ":ttl": { N: expiresAt(windowStartMs) },
          ...(expected === undefined ? {} : { ":expected": { S: pad(expected) } }),
        },
        ReturnValuesOnConditionCheckFailure: "ALL_OLD",
      });
      try {
        await client.send(update);
      } catch (error) {
        // The condition fails on this very write when an earlier attempt of it was applied and its answer lost (the
        // SDK then retries it): the item's last counted sequence is then this write's. Only this shard writes its
        // part of the window, and a sequence number is counted once, so the counts are in: done, not a conflict.
        if (!(error instanceof ConditionalCheckFailedException) || error.Item?.lastSequence?.S !== pad(lastSequence)) {
          throw error;
        }
      }
    },

    async markOpen(shardId, watermarkMs, keys) {
      await batchWriteAll(
        client,
        table,
        keys.map((key) => ({
          PutRequest: {
            Item: {
              pk: { S: `shard#${shardId}` },
              sk: { S: openSk(key) },
              windowKey: { S: key },
              expiresAt: { N: expiresAt(parseWindowKey(key).windowStartMs) },
            },
          },
        })),
      );
      try {
        // The watermark only moves forward: a replayed batch carries older events.
        await client.send(
          new UpdateItemCommand({
            TableName: table,
            Key: { pk: { S: `shard#${shardId}` }, sk: { S: "state" } },
            UpdateExpression: "SET watermarkMs = :w",
            ConditionExpression: "attribute_not_exists(watermarkMs) OR watermarkMs <= :w",
            ExpressionAttributeValues: { ":w": { N: String(watermarkMs) } },
          }),
        );
      } catch (err) {
        if (!(err instanceof ConditionalCheckFailedException)) throw err;
      }
    },

    async openWindowsUpTo(shardId, maxStartMs) {
      if (maxStartMs < 0) return [];
      const keys: string[] = [];
      let start: Record<string, AttributeValue> | undefined;
      do {
        const out: QueryCommandOutput = await client.send(
          new QueryCommand({
            TableName: table,
            KeyConditionExpression: "pk = :pk AND sk BETWEEN :from AND :to",
            ExpressionAttributeValues: {
              ":pk": { S: `shard#${shardId}` },
              ":from": { S: "open#" },
              // Every window starting at or before maxStartMs sorts before this (no window starts 1 ms later).
              ":to": { S: `open#${new Date(maxStartMs + 1).toISOString()}` },
            },
            ProjectionExpression: "windowKey",
            ConsistentRead: true,
            ExclusiveStartKey: start,
          }),
        );
        for (const item of out.Items ?? []) if (item.windowKey?.S) keys.push(item.windowKey.S);
        start = out.LastEvaluatedKey;
      } while (start);
      return keys;
    },

    async markClosed(shardId, keys) {
      await batchWriteAll(
        client,
        table,
        keys.map((key) => ({ DeleteRequest: { Key: { pk: { S: `shard#${shardId}` }, sk: { S: openSk(key) } } } })),
      );
    },

    async windowCounts(key): Promise<DemandCounts> {
      const out = await client.send(
        new QueryCommand({
          TableName: table,
          KeyConditionExpression: "pk = :pk",
          ExpressionAttributeValues: { ":pk": { S: windowPk(key) } },
          ConsistentRead: true,
        }),
      );
      return sumCounts(
        (out.Items ?? []).map((raw) => {
          const item = unmarshall(raw);
          return {
            views: Number(item.views ?? 0),
            clicks: Number(item.clicks ?? 0),
            addToCart: Number(item.addToCart ?? 0),
            purchases: Number(item.purchases ?? 0),
          };
        }),
      );
    },
  };
}
