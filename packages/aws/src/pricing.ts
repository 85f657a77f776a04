/**
 * The pricing pipeline's DynamoDB adapters:
 * - `createDynamoCatalog`: the `CatalogRepository` port on the `Catalog` table, with the price history in the
 *   `PriceHistory` table. A change is ONE `TransactWriteItems`: the catalog update, conditional on the `version`
 *   the change was decided on, and the history record, conditional on not existing (its key is derived from the
 *   request), so a change is recorded exactly when it is applied, and a replayed request is refused by DynamoDB;
 *   `getChange` (`getHistoryChange`) reads that record back, for a replay to be audited as the change it made.
 *   A number is read as `requestRecordsOf` reads it (`numberOf`): one the SDK cannot read exactly (not whole and beyond
 *   2^53) is the closest number, which the catalog schema refuses for that request only, not the whole batch.
 *   A change DynamoDB refuses as invalid (`ValidationError`) is `refused` with its reason: that request only.
 * - `requestRecordsOf`: the inference requests of a DynamoDB stream event (`NEW_IMAGE`), unmarshalled.
 * - `createDynamoRequestStore`: idempotent writes of inference requests (hydration): a conditional put on the
 *   deterministic `requestId`, so one demand window never yields two requests.
 */
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
} from "@aws-sdk/client-dynamodb";
import { marshall, unmarshall } from "@aws-sdk/util-dynamodb";
import type { ApplyResult, CatalogRepository, PriceChange, RequestRecord } from "@sluice/pricing";
import type { DynamoDBStreamEvent } from "aws-lambda";
import { batchGetAll } from "./dynamodb-batch.ts";

/** The sort key of a history record: its window end then its request, so a product's history reads in order. */
export function historyChangeId(change: Pick<PriceChange, "windowEnd" | "requestId">): string {
  return `${change.windowEnd}#${change.requestId}`;
}

export function createDynamoCatalog(
  client: DynamoDBClient,
  tables: { catalog: string; history: string },
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
): CatalogRepository {
  return {
    async getItems(productIds) {
      const items = await batchGetAll(
        client,
        tables.catalog,
        productIds.map((productId) => ({ productId: { S: productId } })),
        { sleep },
      );
      const found = new Map<string, unknown>();
      for (const item of items) {
        const value = unmarshall(item, { wrapNumbers: numberOf });
        found.set(String(value.productId), value);
      }
      return found;
    },

    async getItem(productId) {
      const out = await client.send(
        new GetItemCommand({ TableName: tables.catalog, Key: { productId: { S: productId } }, ConsistentRead: true }),
      );
      return out.Item ? unmarshall(out.Item, { wrapNumbers: numberOf }) : undefined;
    },

    async applyChange(change): Promise<ApplyResult> {
      const versionCondition =
        change.expectedVersion === 0
          ? "(attribute_not_exists(#version) OR #version = :expected)"
          : "#version = :expected";
      try {
        await client.send(
          new TransactWriteItemsCommand({
            TransactItems: [
              {
                Update: {
                  TableName: tables.catalog,
                  Key: { productId: { S: change.productId } },
                  ConditionExpression: `attribute_exists(productId) AND ${versionCondition}`,
                  UpdateExpression:
                    "SET price = :price, #version = :next, updatedAt = :at, lastRequestId = :request, " +
                    "lastChangedAt = :at, lastWindowEnd = :windowEnd, modelVersion = :model",
                  ExpressionAttributeNames: { "#version": "version" },
                  ExpressionAttributeValues: marshall({
                    ":price": change.newPrice,
                    ":expected": change.expectedVersion,
                    ":next": change.expectedVersion + 1,
                    ":at": change.changedAt,
                    ":request": change.requestId,
                    ":windowEnd": change.windowEnd,
                    ":model": change.modelVersion,
                  }),
                },
              },
              {
                Put: {
                  TableName: tables.history,
                  Item: marshall({ changeId: historyChangeId(change), ...change }, { removeUndefinedValues: true }),
                  ConditionExpression: "attribute_not_exists(changeId)",
                },
              },
            ],
          }),
        );
        return "applied";
      } catch (err) {
        if (!(err instanceof TransactionCanceledException)) throw err;
        const reasons = err.CancellationReasons ?? [];
        const [catalog, history] = reasons.map((r) => r.Code);
        if (history === "ConditionalCheckFailed") return "duplicate";
        if (
          catalog === "ConditionalCheckFailed" ||
          catalog === "TransactionConflict" ||
          history === "TransactionConflict"
        ) {
          return "conflict";
        }
        // DynamoDB does not take this change (a key too long, a value it cannot store): no retry will change that,
        // so it is this request's refusal, with DynamoDB's reason, not the batch's failure.
        const invalid = reasons.findIndex((r) => r.Code === "ValidationError");
        if (invalid >= 0) {
          const what = invalid === 0 ? "catalog update" : "price history record";
          const reason = reasons[invalid];
          return {
            refused: `${what} refused by DynamoDB: ValidationError${reason?.Message ? `: ${reason.Message}` : ""}`,
          };
        }
        throw err;
      }
    },

    getChange: (request) => getHistoryChange(client, tables.history, request),
  };
}

/**
 * The `PriceHistory` record of the change a request applied (strongly consistent, so a change applied just before
 * is found), without its key attribute: the change as `applyChange` was given it; `undefined` if there is none.
 */
export async function getHistoryChange(
  client: DynamoDBClient,
  table: string,
  request: Pick<PriceChange, "productId" | "windowEnd" | "requestId">,
): Promise<PriceChange | undefined> {
  const out = await client.send(
    new GetItemCommand({
      TableName: table,
      Key: { productId: { S: request.productId }, changeId: { S: historyChangeId(request) } },
      ConsistentRead: true,
    }),
  );
  if (!out.Item) return undefined;
  const { changeId: _key, ...change } = unmarshall(out.Item);
  return change as PriceChange;
}

/**
 * A DynamoDB number as the SDK reads it (a bigint beyond 2^53), except that one which is no integer literal
 * (`1E+20`, which the SDK fails to read) is the closest number: either way the schema refuses it as a count that
 * is not a safe integer, saying so, instead of the whole image being unreadable.
 */
function numberOf(text: string): number | bigint {
  const value = Number(text);
  if (Math.abs(value) <= Number.MAX_SAFE_INTEGER) return value;
  try {
    return BigInt(text);
  } catch {
    return value;
  }
}

/**
 * The inference requests of a stream batch: inserted or modified items' new images (a re-put request is a
 * replay and goes through the same idempotent path); removals carry no request and are left out. An image that
 * cannot be unmarshalled is passed on as `undefined` with the error's message (`unreadable`), which the flow
 * refuses as poison with that reason.
 */
export function requestRecordsOf(event: DynamoDBStreamEvent): RequestRecord[] {
  return (event.Records ?? [])
    .filter((record) => record.eventName !== "REMOVE")
    .map((record) => {
      const itemIdentifier = record.dynamodb?.SequenceNumber ?? "";
      try {
        const raw = record.dynamodb?.NewImage;
        const image = raw ? unmarshall(raw as Record<string, AttributeValue>, { wrapNumbers: numberOf }) : undefined;
        return { itemIdentifier, image };
      } catch (err) {
        return { itemIdentifier, image: undefined, unreadable: (err as Error).message };
      }
    });
}

/** Idempotent puts of inference requests: `created` the first time, `exists` for the same request again. */
export function createDynamoRequestStore(client: DynamoDBClient, table: string) {
  return {
    async putRequest(request: Record<string, unknown> & { requestId: string }): Promise<"created" | "exists"> {
      try {
        await client.send(
          new PutItemCommand({
            TableName: table,
            Item: marshall(request, { removeUndefinedValues: true }),
            ConditionExpression: "attribute_not_exists(requestId)",
          }),
        );
        return "created";
      } catch (err) {
        if (err instanceof ConditionalCheckFailedException) return "exists";
        throw err;
      }
    },
  };
}

/**
 * Units in stock per product, from the catalog items' `inventory` attribute (absent products are left out). An
 * inventory that is no count of units (absent, negative, not a number, or beyond 2^53, which the SDK cannot read
 * exactly) is 0: the request is still made, as for a product whose inventory is absent.
 */
export function createDynamoInventory(client: DynamoDBClient, catalogTable: string) {
  const catalog = createDynamoCatalog(client, { catalog: catalogTable, history: "" });
  return {
    async inventoryOf(productIds: readonly string[]): Promise<Map<string, number>> {
      const items = await catalog.getItems(productIds);
      return new Map(
        [...items].map(([id, item]) => {
          const inventory = Math.floor(Number((item as { inventory?: unknown }).inventory));
          return [id, Number.isSafeInteger(inventory) && inventory >= 0 ? inventory : 0];
        }),
      );
    },
  };
}
