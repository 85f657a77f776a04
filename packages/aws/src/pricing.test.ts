/**
 * The exact requests of the pricing adapters (aws-sdk-client-mock): what the local emulators accept silently is
 * asserted here (request shapes, conditions, error mapping); the flows run for real on DynamoDB Local and the
 * local SageMaker runtime in test/e2e/pricing.test.ts.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import {
  BatchGetItemCommand,
  BatchWriteItemCommand,
  ConditionalCheckFailedException,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import {
  InvokeEndpointCommand,
  ModelError,
  SageMakerRuntimeClient,
  ServiceUnavailable,
  ValidationError,
} from "@aws-sdk/client-sagemaker-runtime";
import { marshall } from "@aws-sdk/util-dynamodb";
import { ModelCallFailed, type PriceChange } from "@sluice/pricing";
import type { DynamoDBStreamEvent } from "aws-lambda";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { createDynamoWindowStore } from "./demand-windows.ts";
import { createDynamoCatalog, createDynamoRequestStore, requestRecordsOf } from "./pricing.ts";
import { createSageMakerModel } from "./pricing-model.ts";

const sagemaker = mockClient(SageMakerRuntimeClient);
const dynamo = mockClient(DynamoDBClient);
beforeEach(() => {
  sagemaker.reset();
  dynamo.reset();
});

describe("SageMaker model adapter", () => {
  const model = createSageMakerModel(new SageMakerRuntimeClient({ region: "us-east-1" }), "my-endpoint");

  it("invokes the endpoint with the body, content type and accept of the contract", async () => {
    sagemaker.on(InvokeEndpointCommand).resolves({
      Body: new TextEncoder().encode("0.1,demand-v1") as never,
      ContentType: "text/csv",
    });
    expect(await model.invoke("1,2,3,4,5", "text/csv")).toEqual({ body: "0.1,demand-v1", contentType: "text/csv" });
    const input = sagemaker.commandCalls(InvokeEndpointCommand)[0]?.args[0].input;
    expect(input).toMatchObject({ EndpointName: "my-endpoint", ContentType: "text/csv", Accept: "text/csv" });
    expect(new TextDecoder().decode(input?.Body as Uint8Array)).toBe("1,2,3,4,5");
  });

  it.each([
    [new ModelError({ message: "boom", $metadata: { httpStatusCode: 424 } }), true],
    [new ServiceUnavailable({ message: "busy", $metadata: { httpStatusCode: 503 } }), true],
    [Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" }), true],
    [Object.assign(new Error("socket hang up"), { name: "Error" }), true],
    [new ValidationError({ message: "Endpoint not found", $metadata: { httpStatusCode: 400 } }), false],
  ])("maps %s to ModelCallFailed (retryable: %s)", async (error, retryable) => {
    sagemaker.on(InvokeEndpointCommand).rejects(error);
    const failure = await model.invoke("{}", "application/json").catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(ModelCallFailed);
    expect(failure).toMatchObject({ retryable });
    expect((failure as Error).message).toContain("my-endpoint");
  });
});

const change: PriceChange = {
  productId: "p1",
  expectedVersion: 3,
  oldPrice: 100,
  newPrice: 110,
  currency: "USD",
  requestId: "r1",
  windowStart: "2026-11-23T09:50:00.000Z",
  windowEnd: "2026-11-23T09:55:00.000Z",
  modelVersion: "demand-v1",
  adjustment: 0.2,
  clampedBy: ["max-change-up"],
  reason: "model demand-v1 suggested +20.00 %; bounded by max-change-up",
  changedAt: "2026-11-23T10:00:00.000Z",
};

function cancelled(...codes: string[]) {
  return new TransactionCanceledException({
    message: "Transaction cancelled",
    $metadata: {},
    CancellationReasons: codes.map((Code) => ({ Code })),
  });
}

describe("DynamoDB catalog adapter", () => {
  const catalog = createDynamoCatalog(
    new DynamoDBClient({ region: "us-east-1" }),
    { catalog: "Catalog-t", history: "History-t" },
    async () => {},
  );

  it("applies a change as one transaction: version-conditional update and a history record that must not exist", async () => {
    dynamo.on(TransactWriteItemsCommand).resolves({});
    expect(await catalog.applyChange(change)).toBe("applied");
    const [update, put] = dynamo.commandCalls(TransactWriteItemsCommand)[0]?.args[0].input.TransactItems ?? [];
    expect(update?.Update).toMatchObject({
      TableName: "Catalog-t",
      Key: { productId: { S: "p1" } },
      ConditionExpression: "attribute_exists(productId) AND #version = :expected",
      ExpressionAttributeNames: { "#version": "version" },
    });
    expect(update?.Update?.ExpressionAttributeValues).toMatchObject({
      ":expected": { N: "3" },
      ":next": { N: "4" },
      ":price": { N: "110" },
      ":request": { S: "r1" },
    });
    expect(put?.Put).toMatchObject({
      TableName: "History-t",
      ConditionExpression: "attribute_not_exists(changeId)",
      Item: { productId: { S: "p1" }, changeId: { S: "2026-11-23T09:55:00.000Z#r1" }, oldPrice: { N: "100" } },
    });
  });

  it("accepts an item without a version as version 0", async () => {
    dynamo.on(TransactWriteItemsCommand).resolves({});
    await catalog.applyChange({ ...change, expectedVersion: 0 });
    const [update] = dynamo.commandCalls(TransactWriteItemsCommand)[0]?.args[0].input.TransactItems ?? [];
    expect(update?.Update?.ConditionExpression).toBe(
      "attribute_exists(productId) AND (attribute_not_exists(#version) OR #version = :expected)",
    );
  });

  it.each([
    [["None", "ConditionalCheckFailed"], "duplicate"],
    [["ConditionalCheckFailed", "ConditionalCheckFailed"], "duplicate"],
    [["ConditionalCheckFailed", "None"], "conflict"],
    [["TransactionConflict", "None"], "conflict"],
  ])("maps cancellation reasons %j to %s", async (codes, result) => {
    dynamo.on(TransactWriteItemsCommand).rejects(cancelled(...codes));
    expect(await catalog.applyChange(change)).toBe(result);
  });

  it("reads a change's history record by its key, strongly consistent, without its key attribute", async () => {
    dynamo.on(GetItemCommand).resolves({ Item: marshall({ changeId: "2026-11-23T09:55:00.000Z#r1", ...change }) });
    expect(await catalog.getChange({ productId: "p1", windowEnd: change.windowEnd, requestId: "r1" })).toEqual(change);
    expect(dynamo.commandCalls(GetItemCommand)[0]?.args[0].input).toEqual({
      TableName: "History-t",
      Key: { productId: { S: "p1" }, changeId: { S: "2026-11-23T09:55:00.000Z#r1" } },
      ConsistentRead: true,
    });
    dynamo.on(GetItemCommand).resolves({});
    expect(await catalog.getChange({ productId: "p1", windowEnd: change.windowEnd, requestId: "r2" })).toBeUndefined();
  });

  it("refuses a change DynamoDB does not take (ValidationError), with its reason: that request only", async () => {
    dynamo.on(TransactWriteItemsCommand).rejects(
      new TransactionCanceledException({
        message: "Transaction cancelled",
        $metadata: {},
        CancellationReasons: [{ Code: "None" }, { Code: "ValidationError", Message: "key too long" }],
      }),
    );
    expect(await catalog.applyChange(change)).toEqual({
      refused: "price history record refused by DynamoDB: ValidationError: key too long",
    });
    dynamo.on(TransactWriteItemsCommand).rejects(cancelled("ValidationError", "None"));
    expect(await catalog.applyChange(change)).toEqual({
      refused: "catalog update refused by DynamoDB: ValidationError",
    });
  });

  it("lets other failures through", async () => {
    dynamo.on(TransactWriteItemsCommand).rejects(cancelled("ThrottlingError", "None"));
    await expect(catalog.applyChange(change)).rejects.toThrow(TransactionCanceledException);
  });

  it("reads items with consistent BatchGetItem, retrying unprocessed keys", async () => {
    dynamo
      .on(BatchGetItemCommand)
      .resolvesOnce({
        Responses: { "Catalog-t": [marshall({ productId: "a", price: 1 })] },
        UnprocessedKeys: { "Catalog-t": { Keys: [{ productId: { S: "b" } }] } },
      })
      .resolvesOnce({ Responses: { "Catalog-t": [marshall({ productId: "b", price: 2 })] } });
    const items = await catalog.getItems(["a", "b", "c"]);
    expect([...items.keys()]).toEqual(["a", "b"]);
    const calls = dynamo.commandCalls(BatchGetItemCommand).map((c) => c.args[0].input.RequestItems?.["Catalog-t"]);
    expect(calls[0]).toMatchObject({
      ConsistentRead: true,
      Keys: [{ productId: { S: "a" } }, { productId: { S: "b" } }, { productId: { S: "c" } }],
    });
    expect(calls[1]?.Keys).toEqual([{ productId: { S: "b" } }]);
  });
});

describe("requestRecordsOf", () => {
  it("unmarshalls new images with their sequence numbers (AWS's captured DynamoDB stream event)", () => {
    const event = JSON.parse(
      readFileSync(path.resolve(import.meta.dirname, "../../local/src/sources/fixtures/dynamodb-base.json"), "utf8"),
    ) as DynamoDBStreamEvent;
    expect(requestRecordsOf(event)).toEqual([
      { itemIdentifier: "111", image: { Id: 101, Message: "New item!" } },
      { itemIdentifier: "222", image: { Id: 101, Message: "This item has changed" } },
    ]);
  });

  it("leaves removals out and passes an unreadable image on as undefined, with why (refused as poison)", () => {
    const event = {
      Records: [
        { eventName: "REMOVE", dynamodb: { SequenceNumber: "1", OldImage: { requestId: { S: "x" } } } },
        { eventName: "INSERT", dynamodb: { SequenceNumber: "2", NewImage: { views: { Q: "1" } } } },
      ],
    } as unknown as DynamoDBStreamEvent;
    expect(requestRecordsOf(event)).toEqual([
      { itemIdentifier: "2", image: undefined, unreadable: "Unsupported type passed: Q" },
    ]);
  });

  it("reads a number beyond 2^53 as a bigint, or as the closest number when it is no integer literal (1E+20)", () => {
    const event = {
      Records: [
        { eventName: "INSERT", dynamodb: { SequenceNumber: "1", NewImage: { views: { N: "100000000000000000001" } } } },
        { eventName: "INSERT", dynamodb: { SequenceNumber: "2", NewImage: { views: { N: "1E+20" } } } },
        { eventName: "INSERT", dynamodb: { SequenceNumber: "3", NewImage: { views: { N: "12.5" } } } },
      ],
    } as unknown as DynamoDBStreamEvent;
    expect(requestRecordsOf(event)).toEqual([
      { itemIdentifier: "1", image: { views: 100000000000000000001n } },
      { itemIdentifier: "2", image: { views: 1e20 } },
      { itemIdentifier: "3", image: { views: 12.5 } },
    ]);
  });
});

describe("request store and window store", () => {
  const client = new DynamoDBClient({ region: "us-east-1" });

  it("puts a request only if its id is new", async () => {
    const requests = createDynamoRequestStore(client, "Requests-t");
    dynamo
      .on(PutItemCommand)
      .resolvesOnce({})
      .rejectsOnce(new ConditionalCheckFailedException({ message: "exists", $metadata: {} }));
    expect(await requests.putRequest({ requestId: "demand#a#t", views: 1 })).toBe("created");
    expect(await requests.putRequest({ requestId: "demand#a#t", views: 1 })).toBe("exists");
    expect(dynamo.commandCalls(PutItemCommand)[0]?.args[0].input).toMatchObject({
      TableName: "Requests-t",
      ConditionExpression: "attribute_not_exists(requestId)",
    });
  });

  it("counts into a window only if the last counted sequence number is still the one read", async () => {
    const store = createDynamoWindowStore(client, "Windows-t");
    dynamo.on(UpdateItemCommand).resolves({});
    const counts = { views: 2, clicks: 1, addToCart: 0, purchases: 0 };
    await store.addCounts("p#2026-11-23T10:00:00.000Z", "shard-1", counts, "205", undefined);
    await store.addCounts("p#2026-11-23T10:00:00.000Z", "shard-1", counts, "310", "205");
    const [first, second] = dynamo.commandCalls(UpdateItemCommand).map((c) => c.args[0].input);
    expect(first).toMatchObject({
      Key: { pk: { S: "window#p#2026-11-23T10:00:00.000Z" }, sk: { S: "shard#shard-1" } },
      ConditionExpression: "attribute_not_exists(lastSequence)",
    });
    expect(second?.ConditionExpression).toBe("lastSequence = :expected");
    expect(second?.ExpressionAttributeValues?.[":expected"]?.S).toBe("205".padStart(64, "0"));
    expect(second?.ExpressionAttributeValues?.[":last"]?.S).toBe("310".padStart(64, "0"));
    // A failed condition answers with the item, so a retry that finds its own count applied is told apart.
    expect(second?.ReturnValuesOnConditionCheckFailure).toBe("ALL_OLD");
  });

  it("expires window items a day after their window starts, or a day after the write for an older window", async () => {
    const now = Date.parse("2026-12-05T15:00:00.000Z");
    const store = createDynamoWindowStore(client, "Windows-t", () => now);
    dynamo.on(UpdateItemCommand).resolves({});
    dynamo.on(BatchWriteItemCommand).resolves({});
    const counts = { views: 1, clicks: 0, addToCart: 0, purchases: 0 };
    const day = 24 * 3600;
    // A live window (starting after now, as the clock skews) and a replayed one from weeks ago.
    await store.addCounts("p#2026-12-05T15:05:00.000Z", "s1", counts, "1", undefined);
    await store.addCounts("p#2026-11-23T10:00:00.000Z", "s1", counts, "2", undefined);
    await store.markOpen("s1", now, ["p#2026-12-05T15:05:00.000Z", "p#2026-11-23T10:00:00.000Z"]);
    const ttls = dynamo.commandCalls(UpdateItemCommand).map((c) => c.args[0].input.ExpressionAttributeValues?.[":ttl"]);
    expect(ttls.slice(0, 2)).toEqual([
      { N: String(Date.parse("2026-12-05T15:05:00.000Z") / 1000 + day) },
      { N: String(now / 1000 + day) },
    ]);
    const puts = dynamo.commandCalls(BatchWriteItemCommand)[0]?.args[0].input.RequestItems?.["Windows-t"];
    expect(puts?.map((w) => w.PutRequest?.Item?.expiresAt)).toEqual(ttls.slice(0, 2));
  });

  it("keeps one item per open window and finds the closed ones with one Query by start time, page by page", async () => {
    const store = createDynamoWindowStore(client, "Windows-t");
    dynamo.on(BatchWriteItemCommand).resolves({});
    dynamo.on(UpdateItemCommand).rejects(new ConditionalCheckFailedException({ message: "older", $metadata: {} }));
    await store.markOpen("s1", 1000, ["p#2026-11-23T10:00:00.000Z", "q#2026-11-23T10:05:00.000Z"]);
    const puts = dynamo.commandCalls(BatchWriteItemCommand)[0]?.args[0].input.RequestItems?.["Windows-t"];
    expect(puts?.map((w) => [w.PutRequest?.Item?.sk?.S, w.PutRequest?.Item?.windowKey?.S])).toEqual([
      ["open#2026-11-23T10:00:00.000Z#p", "p#2026-11-23T10:00:00.000Z"],
      ["open#2026-11-23T10:05:00.000Z#q", "q#2026-11-23T10:05:00.000Z"],
    ]);
    // An older watermark is refused by its condition and kept: not an error.
    expect(dynamo.commandCalls(UpdateItemCommand)[0]?.args[0].input.ConditionExpression).toBe(
      "attribute_not_exists(watermarkMs) OR watermarkMs <= :w",
    );

    dynamo
      .on(QueryCommand)
      .resolvesOnce({ Items: [{ windowKey: { S: "a#t1" } }], LastEvaluatedKey: { pk: { S: "x" }, sk: { S: "y" } } })
      .resolvesOnce({ Items: [{ windowKey: { S: "b#t1" } }] });
    const max = Date.parse("2026-11-23T10:00:00.000Z");
    expect(await store.openWindowsUpTo("s1", max)).toEqual(["a#t1", "b#t1"]);
    const [first, second] = dynamo.commandCalls(QueryCommand).map((c) => c.args[0].input);
    expect(first).toMatchObject({
      KeyConditionExpression: "pk = :pk AND sk BETWEEN :from AND :to",
      ExpressionAttributeValues: {
        ":pk": { S: "shard#s1" },
        ":from": { S: "open#" },
        ":to": { S: "open#2026-11-23T10:00:00.001Z" },
      },
      ConsistentRead: true,
    });
    expect(second?.ExclusiveStartKey).toEqual({ pk: { S: "x" }, sk: { S: "y" } });
    expect(await store.openWindowsUpTo("s1", -1)).toEqual([]);
  });
});
