/**
 * The catalog adapter's history on DynamoDB Local: a change applied by one transaction is read back by its request
 * (how a replay is audited as the change it made), and a request never applied reads as none.
 */
import { CreateTableCommand, DynamoDBClient, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { marshall } from "@aws-sdk/util-dynamodb";
import { type DynamoDbLocal, startDynamoDbLocal } from "@sluice/local/emulators/dynamodb-local";
import type { PriceChange } from "@sluice/pricing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDynamoCatalog } from "./pricing.ts";

const credentials = { accessKeyId: "local", secretAccessKey: "local" };

const change: PriceChange = {
  productId: "p1",
  expectedVersion: 0,
  oldPrice: 100,
  newPrice: 110,
  currency: "USD",
  requestId: "demand#p1#2026-11-23T09:50:00.000Z",
  windowStart: "2026-11-23T09:50:00.000Z",
  windowEnd: "2026-11-23T09:55:00.000Z",
  modelVersion: "demand-v1",
  adjustment: 0.2,
  clampedBy: ["max-change-up"],
  reason: "model demand-v1 suggested +20.00 %; bounded by max-change-up",
  changedAt: "2026-11-23T10:00:00.000Z",
};

describe("catalog history on DynamoDB Local", () => {
  let dynamo: DynamoDbLocal;
  let client: DynamoDBClient;

  beforeAll(async () => {
    dynamo = await startDynamoDbLocal();
    client = new DynamoDBClient({ region: "us-east-1", endpoint: dynamo.endpoint, credentials });
    for (const [TableName, hash, range] of [
      ["Catalog", "productId", undefined],
      ["PriceHistory", "productId", "changeId"],
    ] as const) {
      await client.send(
        new CreateTableCommand({
          TableName,
          KeySchema: [
            { AttributeName: hash, KeyType: "HASH" },
            ...(range ? [{ AttributeName: range, KeyType: "RANGE" as const }] : []),
          ],
          AttributeDefinitions: [
            { AttributeName: hash, AttributeType: "S" },
            ...(range ? [{ AttributeName: range, AttributeType: "S" as const }] : []),
          ],
          BillingMode: "PAY_PER_REQUEST",
        }),
      );
    }
  });
  afterAll(async () => {
    client?.destroy();
    await dynamo?.stop();
  });

  it("reads back the change a request applied, as applied; a replay of it is a duplicate and reads the same", async () => {
    const catalog = createDynamoCatalog(client, { catalog: "Catalog", history: "PriceHistory" });
    await client.send(
      new PutItemCommand({
        TableName: "Catalog",
        Item: marshall({ productId: "p1", price: 100, currency: "USD", cost: 50, minPrice: 60, maxPrice: 200 }),
      }),
    );
    const key = { productId: "p1", windowEnd: change.windowEnd, requestId: change.requestId };
    expect(await catalog.getChange(key)).toBeUndefined();

    expect(await catalog.applyChange(change)).toBe("applied");
    expect(await catalog.getChange(key)).toEqual(change);

    expect(await catalog.applyChange({ ...change, expectedVersion: 1, oldPrice: 110, newPrice: 121 })).toBe(
      "duplicate",
    );
    expect(await catalog.getChange(key)).toEqual(change);
    expect(await catalog.getChange({ ...key, requestId: "demand#p1#other" })).toBeUndefined();
    expect(await catalog.getChange({ ...key, productId: "p2" })).toBeUndefined();
  });
});
