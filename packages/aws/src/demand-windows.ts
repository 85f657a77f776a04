/**
 * The `DemandWindowStore` port on the `DemandWindows` table (key `pk`, `sk`):
 * - `pk = "window#<productId>#<window start>"`, `sk = "shard#<shardId>"`: one shard's counts for one window and
 *   the last sequence number counted (zero-padded, so DynamoDB compares it as a number);
 * - `pk = "shard#<shardId>"`, `sk = "state"`: the shard's watermark and its open windows (a string set).
 * Counting is conditional on the last counted sequence number still being the one read, so a retried batch
 * never counts an event twice. Items expire (`expiresAt`, TTL) a day after their window.
 */
import {
  type AttributeValue,
  BatchGetItemCommand,
  type BatchGetItemCommandOutput,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import { type DemandCounts, type DemandWindowStore, parseWindowKey, type ShardState, sumCounts } from "@sluice/pricing";

const SEQUENCE_DIGITS = 64;
const TTL_SECONDS = 24 * 3600;

const pad = (sequence: string) => sequence.padStart(SEQUENCE_DIGITS, "0");
const unpad = (sequence: string) => sequence.replace(/^0+(?=\d)/, "");
const windowPk = (key: string) => `window#${key}`;
const shardSk = (shardId: string) => `shard#${shardId}`;

export function createDynamoWindowStore(client: DynamoDBClient, table: string): DemandWindowStore {
  return {
    async shardState(shardId): Promise<ShardState> {
      const out = await client.send(
        new GetItemCommand({
          TableName: table,
          Key: { pk: { S: `shard#${shardId}` }, sk: { S: "state" } },
          ConsistentRead: true,
        }),
      );
      const item = out.Item ? unmarshall(out.Item) : {};
      return {
        watermarkMs: typeof item.watermarkMs === "number" ? item.watermarkMs : 0,
        openWindows: item.openWindows instanceof Set ? [...item.openWindows].map(String) : [],
      };
    },

    async countedSequences(shardId, keys) {
      const found = new Map<string, string>();
      for (let i = 0; i < keys.length; i += 100) {
        let pending: Record<string, AttributeValue>[] | undefined = keys
          .slice(i, i + 100)
          .map((key) => ({ pk: { S: windowPk(key) }, sk: { S: shardSk(shardId) } }));
        for (let attempt = 0; pending && pending.length > 0; attempt++) {
          if (attempt > 8) throw new Error(`DemandWindows: ${pending.length} keys left unprocessed`);
          if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** attempt));
          const out: BatchGetItemCommandOutput = await client.send(
            new BatchGetItemCommand({
              RequestItems: {
                [table]: { Keys: pending, ConsistentRead: true, ProjectionExpression: "pk, lastSequence" },
              },
            }),
          );
          for (const raw of out.Responses?.[table] ?? []) {
            const item = unmarshall(raw);
            found.set(String(item.pk).slice("window#".length), unpad(String(item.lastSequence)));
          }
          pending = out.UnprocessedKeys?.[table]?.Keys;
        }
      }
      return found;
    },

    async addCounts(key, shardId, counts, lastSequence, expected) {
      const { windowStartMs } = parseWindowKey(key);
      await client.send(
        new UpdateItemCommand({
          TableName: table,
          Key: { pk: { S: windowPk(key) }, sk: { S: shardSk(shardId) } },
          UpdateExpression:
            "ADD #views :views, clicks :clicks, addToCart :addToCart, purchases :purchases SET lastSequence = :last, expiresAt = :ttl",
          ConditionExpression:
            expected === undefined ? "attribute_not_exists(lastSequence)" : "lastSequence = :expected",
          ExpressionAttributeNames: { "#views": "views" },
          ExpressionAttributeValues: {
            ":views": { N: String(counts.views) },
            ":clicks": { N: String(counts.clicks) },
            ":addToCart": { N: String(counts.addToCart) },
            ":purchases": { N: String(counts.purchases) },
            ":last": { S: pad(lastSequence) },
            ":ttl": { N: String(Math.floor(windowStartMs / 1000) + TTL_SECONDS) },
            ...(expected === undefined ? {} : { ":expected": { S: pad(expected) } }),
          },
        }),
      );
    },

    async saveShardState(shardId, watermarkMs, open, closed) {
      const Key = { pk: { S: `shard#${shardId}` }, sk: { S: "state" } };
      // One attribute cannot be added to and deleted from in one update: one update per set change.
      const changes: Array<{ clause: string; values: Record<string, AttributeValue> }> = [];
      if (open.length > 0)
        changes.push({ clause: "ADD openWindows :windows", values: { ":windows": { SS: [...new Set(open)] } } });
      if (closed.length > 0) {
        changes.push({ clause: "DELETE openWindows :windows", values: { ":windows": { SS: [...new Set(closed)] } } });
      }
      if (changes.length === 0) changes.push({ clause: "", values: {} });
      for (const change of changes) {
        try {
          // The watermark only moves forward: a replayed batch carries older events.
          await client.send(
            new UpdateItemCommand({
              TableName: table,
              Key,
              UpdateExpression: `SET watermarkMs = :w ${change.clause}`.trim(),
              ConditionExpression: "attribute_not_exists(watermarkMs) OR watermarkMs <= :w",
              ExpressionAttributeValues: { ":w": { N: String(watermarkMs) }, ...change.values },
            }),
          );
        } catch (err) {
          if (!(err instanceof ConditionalCheckFailedException)) throw err;
          if (change.clause === "") continue;
          await client.send(
            new UpdateItemCommand({
              TableName: table,
              Key,
              UpdateExpression: change.clause,
              ExpressionAttributeValues: change.values,
            }),
          );
        }
      }
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
