/**
 * The pricing adapters on DynamoDB Local, at the edges of what DynamoDB stores: a catalog number the SDK cannot read
 * exactly (not whole and beyond 2^53) and a request whose price history key is longer than DynamoDB takes. Each is
 * one record's problem: its request is refused with the reason (and dead-lettered by the handler), the rest of the
 * batch goes on, and DemandHydration closes its windows.
 */
import { CreateTableCommand, DynamoDBClient, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { type DynamoDbLocal, startDynamoDbLocal } from "@sluice/local/emulators/dynamodb-local";
import type { AuditMessage } from "@sluice/messages";
import {
  catalogItemSchema,
  describeIssues,
  hydrateDemand,
  type InferenceRequest,
  priceRequests,
  type RequestRecord,
} from "@sluice/pricing";
import { createInProcessModel, createMemoryWindowStore } from "@sluice/pricing/fixtures";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDynamoCatalog, createDynamoInventory, createDynamoRequestStore, historyChangeId } from "./pricing.ts";

const credentials = { accessKeyId: "local", secretAccessKey: "local" };
const UNREADABLE = "12345678901234567.5";
const product = { price: { N: "100" }, currency: { S: "USD" }, cost: { N: "60" }, minPrice: { N: "80" } };
const item = (productId: string, extra: Record<string, { N: string } | { S: string }> = {}) => ({
  productId: { S: productId },
  ...product,
  maxPrice: { N: "130" },
  version: { N: "1" },
  ...extra,
});
const window = { windowStart: "2026-12-05T09:50:00.000Z", windowEnd: "2026-12-05T09:55:00.000Z" };
const demand = { views: 5000, clicks: 1500, addToCart: 600, purchases: 300, inventory: 12 };

describe("pricing adapters on DynamoDB Local", () => {
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

  async function createTables(items: ReadonlyArray<Record<string, { N: string } | { S: string }>>) {
    const n = ++tables;
    const names = { catalog: `Catalog-${n}`, history: `PriceHistory-${n}` };
    await client.send(
      new CreateTableCommand({
        TableName: names.catalog,
        KeySchema: [{ AttributeName: "productId", KeyType: "HASH" }],
        AttributeDefinitions: [{ AttributeName: "productId", AttributeType: "S" }],
        BillingMode: "PAY_PER_REQUEST",
      }),
    );
    await client.send(
      new CreateTableCommand({
        TableName: names.history,
        KeySchema: [
          { AttributeName: "productId", KeyType: "HASH" },
          { AttributeName: "changeId", KeyType: "RANGE" },
        ],
        AttributeDefinitions: [
          { AttributeName: "productId", AttributeType: "S" },
          { AttributeName: "changeId", AttributeType: "S" },
        ],
        BillingMode: "PAY_PER_REQUEST",
      }),
    );
    for (const Item of items) await client.send(new PutItemCommand({ TableName: names.catalog, Item }));
    return names;
  }

  function flowDeps(names: { catalog: string; history: string }) {
    const audit: AuditMessage[] = [];
    return {
      audit,
      deps: {
        model: createInProcessModel(),
        catalog: createDynamoCatalog(client, names, async () => {}),
        audit: { publishAll: async (messages: AuditMessage[]) => void audit.push(...messages) },
      },
    };
  }

  const record = (itemIdentifier: string, image: Record<string, unknown>): RequestRecord => ({
    itemIdentifier,
    image: { ...window, ...demand, ...image },
  });

  it("reads a catalog number that is not whole and beyond 2^53 as the closest number, not failing the others", async () => {
    const names = await createTables([
      item("ok"),
      item("big-inventory", { inventory: { N: UNREADABLE } }),
      item("big-price", { price: { N: UNREADABLE } }),
    ]);
    const catalog = createDynamoCatalog(client, names, async () => {});
    const items = await catalog.getItems(["ok", "big-inventory", "big-price"]);
    expect(items.get("big-inventory")).toMatchObject({ productId: "big-inventory", inventory: 12345678901234568 });
    expect(await catalog.getItem("big-price")).toMatchObject({ price: 12345678901234568 });
    // The item is refused by the schema, with why: a price is no exact amount beyond 2^53.
    const parsed = catalogItemSchema.safeParse(items.get("big-price"));
    expect(parsed.success).toBe(false);
    expect(parsed.error && describeIssues(parsed.error)).toBe(
      "price: 12345678901234568 is more than 9007199254740991 (2^53 - 1): not an exact amount",
    );
  });

  it("takes an inventory it cannot count exactly as 0, as an absent one, for that product only", async () => {
    const names = await createTables([
      item("ok", { inventory: { N: "7" } }),
      item("unreadable", { inventory: { N: UNREADABLE } }),
      item("too-large", { inventory: { N: "12345678901234567" } }),
    ]);
    const inventory = createDynamoInventory(client, names.catalog);
    expect(await inventory.inventoryOf(["ok", "unreadable", "too-large", "absent"])).toEqual(
      new Map([
        ["ok", 7],
        ["unreadable", 0],
        ["too-large", 0],
      ]),
    );
  });

  it("closes the windows of a shard whose products' inventories it cannot all read (DemandHydration)", async () => {
    const names = await createTables([
      item("ok", { inventory: { N: "7" } }),
      item("bad", { inventory: { N: UNREADABLE } }),
    ]);
    const requests = `InferenceRequests-${tables}`;
    await client.send(
      new CreateTableCommand({
        TableName: requests,
        KeySchema: [{ AttributeName: "requestId", KeyType: "HASH" }],
        AttributeDefinitions: [{ AttributeName: "requestId", AttributeType: "S" }],
        BillingMode: "PAY_PER_REQUEST",
      }),
    );
    const store = createDynamoRequestStore(client, requests);
    const inventory = createDynamoInventory(client, names.catalog);
    const written: InferenceRequest[] = [];
    const T0 = Date.parse("2026-12-05T10:00:00.000Z");
    const event = (sequenceNumber: string, productId: string, atMs: number) => ({
      shardId: "shard-0",
      sequenceNumber,
      value: { eventId: `e${sequenceNumber}`, productId, action: "click", ts: new Date(atMs).toISOString() },
    });
    const result = await hydrateDemand(
      [event("1", "ok", T0), event("2", "bad", T0 + 1000), event("3", "ok", T0 + 7 * 60_000)],
      {
        store: createMemoryWindowStore(),
        putRequest: async (request) => {
          written.push(request);
          return store.putRequest(request);
        },
        inventoryOf: (ids) => inventory.inventoryOf(ids),
        now: () => T0 + 3_600_000,
      },
    );
    expect(result.requestsCreated.sort()).toEqual([
      "demand#bad#2026-12-05T10:00:00.000Z",
      "demand#ok#2026-12-05T10:00:00.000Z",
    ]);
    expect(written.map((r) => [r.productId, r.inventory]).sort()).toEqual([
      ["bad", 0],
      ["ok", 7],
    ]);
  });

  it("refuses the request whose catalog item has an unreadable number, with the reason; the rest of the batch goes on", async () => {
    const names = await createTables([item("ok"), item("big-price", { price: { N: UNREADABLE } })]);
    const { deps, audit } = flowDeps(names);
    const result = await priceRequests(
      [record("1", { requestId: "r-1", productId: "big-price" }), record("2", { requestId: "r-2", productId: "ok" })],
      {
        ...deps,
        keepRefused: async (refused) => new Map(refused.map((r) => [r.itemIdentifier, { kept: true, fields: {} }])),
      },
    );
    expect(result.failures).toEqual([]);
    expect(result.outcomes.map((o) => [o.itemIdentifier, o.kind])).toEqual([
      ["1", "refused"],
      ["2", "applied"],
    ]);
    expect(audit.find((m) => m.sequenceNumber === "1")?.reason).toBe(
      "invalid catalog item: price: 12345678901234568 is more than 9007199254740991 (2^53 - 1): not an exact amount",
    );
  });

  it("refuses, with DynamoDB's reason, a change whose history key DynamoDB does not take; its record only", async () => {
    const names = await createTables([item("p-1")]);
    const catalog = createDynamoCatalog(client, names, async () => {});
    // Past the schema (a caller that does not validate), straight to the adapter: a sort key of 1 025 bytes.
    const longId = "r".repeat(1025 - historyChangeId({ ...window, requestId: "" }).length);
    const change = {
      productId: "p-1",
      expectedVersion: 1,
      oldPrice: 100,
      newPrice: 105,
      currency: "USD",
      requestId: longId,
      ...window,
      modelVersion: "demand-v1",
      adjustment: 0.05,
      clampedBy: [],
      reason: "model demand-v1 suggested +5.00 %",
      changedAt: "2026-12-05T10:00:00.000Z",
    };
    const refused = await catalog.applyChange(change);
    expect(refused).toEqual({
      refused:
        "price history record refused by DynamoDB: ValidationError: Hash primary key values must be under 2048 bytes, " +
        "and range primary key values must be under 1024 bytes",
    });
    expect(await catalog.getItem("p-1")).toMatchObject({ price: 100, version: 1 });
    // One byte less is taken.
    expect(await catalog.applyChange({ ...change, requestId: longId.slice(1) })).toBe("applied");
  });
});
