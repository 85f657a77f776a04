/**
 * The demand window store on DynamoDB Local: what a conditional count does when its answer was lost. The SDK retries
 * a call whose connection dropped; if the first attempt was applied, the retry's condition (the last counted sequence
 * is still the one read) fails on the store's own write. That is the write being done, not a conflict.
 */
import { ConditionalCheckFailedException, CreateTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { type DynamoDbLocal, startDynamoDbLocal } from "@sluice/local/emulators/dynamodb-local";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDynamoWindowStore } from "./demand-windows.ts";

const credentials = { accessKeyId: "local", secretAccessKey: "local" };
const KEY = "p-1#2026-12-06T10:00:00.000Z";

describe("demand window store on DynamoDB Local", () => {
  let dynamo: DynamoDbLocal;
  let client: DynamoDBClient;
  let tables = 0;

  beforeAll(async () => {
    dynamo = await startDynamoDbLocal();
    client = new DynamoDBClient({ region: "us-east-1", endpoint: dynamo.endpoint, credentials });
  });
  afterAll(async () => {
    client?.destroy();
    await dynamo?.stop();
  });

  async function store() {
    const name = `DemandWindows-${++tables}`;
    await client.send(
      new CreateTableCommand({
        TableName: name,
        KeySchema: [
          { AttributeName: "pk", KeyType: "HASH" },
          { AttributeName: "sk", KeyType: "RANGE" },
        ],
        AttributeDefinitions: [
          { AttributeName: "pk", AttributeType: "S" },
          { AttributeName: "sk", AttributeType: "S" },
        ],
        BillingMode: "PAY_PER_REQUEST",
      }),
    );
    return createDynamoWindowStore(client, name);
  }

  const counts = { views: 3, clicks: 1, addToCart: 1, purchases: 0 };

  it("takes a count whose answer was lost as done when the retry finds its own write, and counts it once", async () => {
    const windows = await store();
    await windows.addCounts(KEY, "shard-1", counts, "205", undefined);
    // The SDK's retry of that very request (same counts, same sequences), after the first attempt was applied.
    await expect(windows.addCounts(KEY, "shard-1", counts, "205", undefined)).resolves.toBeUndefined();
    await windows.addCounts(KEY, "shard-1", counts, "310", "205");
    await expect(windows.addCounts(KEY, "shard-1", counts, "310", "205")).resolves.toBeUndefined();
    expect(await windows.windowCounts(KEY)).toEqual({ views: 6, clicks: 2, addToCart: 2, purchases: 0 });
    expect((await windows.countedSequences("shard-1", [KEY])).get(KEY)).toBe("310");
  });

  it("still refuses a count read against a sequence that is no longer the last, and one another write moved past", async () => {
    const windows = await store();
    await windows.addCounts(KEY, "shard-1", counts, "205", undefined);
    await windows.addCounts(KEY, "shard-1", counts, "310", "205");
    // Read before 310 was counted: expects 205, brings events up to 290.
    await expect(windows.addCounts(KEY, "shard-1", counts, "290", "205")).rejects.toBeInstanceOf(
      ConditionalCheckFailedException,
    );
    // A first count for a window the shard already counted into.
    await expect(windows.addCounts(KEY, "shard-1", counts, "400", undefined)).rejects.toBeInstanceOf(
      ConditionalCheckFailedException,
    );
    expect(await windows.windowCounts(KEY)).toEqual({ views: 6, clicks: 2, addToCart: 2, purchases: 0 });
  });
});
