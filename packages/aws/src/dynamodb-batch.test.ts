/** The exact requests of the batch loop (aws-sdk-client-mock): chunk sizes, unprocessed items sent again, the limit. */
import {
  BatchGetItemCommand,
  BatchWriteItemCommand,
  DynamoDBClient,
  type WriteRequest,
} from "@aws-sdk/client-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { batchGetAll, batchWriteAll } from "./dynamodb-batch.ts";

const dynamo = mockClient(DynamoDBClient);
const client = new DynamoDBClient({ region: "us-east-1" });
const put = (n: number): WriteRequest => ({ PutRequest: { Item: { pk: { S: `k${n}` } } } });
const sleeps: number[] = [];
const sleep = async (ms: number) => void sleeps.push(ms);

beforeEach(() => {
  dynamo.reset();
  sleeps.length = 0;
  // The back-off's jitter, fixed: each pause half its ceiling (50 ms, doubling, up to 1 s).
  vi.spyOn(Math, "random").mockReturnValue(0.5);
});
afterEach(() => {
  vi.restoreAllMocks();
});

describe("batchWriteAll", () => {
  it("writes in requests of 25 and sends the unprocessed items again after a back-off", async () => {
    const requests = Array.from({ length: 30 }, (_, i) => put(i));
    dynamo
      .on(BatchWriteItemCommand)
      .resolvesOnce({ UnprocessedItems: { T: [put(3), put(7)] } })
      .resolves({});
    await batchWriteAll(client, "T", requests, { sleep });
    const sent = dynamo.commandCalls(BatchWriteItemCommand).map((call) => call.args[0].input.RequestItems?.T);
    expect(sent.map((items) => items?.length)).toEqual([25, 2, 5]);
    expect(sent[1]).toEqual([put(3), put(7)]);
    expect(sleeps).toEqual([25]);
  });

  it("fails naming the table and how many are left once the attempts run out", async () => {
    dynamo.on(BatchWriteItemCommand).resolves({ UnprocessedItems: { T: [put(1)] } });
    await expect(batchWriteAll(client, "T", [put(1), put(2)], { sleep, attempts: 3 })).rejects.toThrow(
      "T: 1 items left unprocessed after 3 requests",
    );
    expect(dynamo.commandCalls(BatchWriteItemCommand)).toHaveLength(3);
    expect(sleeps).toEqual([25, 50]);
  });
});

describe("batchGetAll", () => {
  it("reads consistently in requests of 100, with the projection, and asks again for unprocessed keys", async () => {
    const keys = Array.from({ length: 150 }, (_, i) => ({ pk: { S: `k${i}` } }));
    dynamo
      .on(BatchGetItemCommand)
      .resolvesOnce({
        Responses: { T: [{ pk: { S: "k0" } }] },
        UnprocessedKeys: { T: { Keys: [{ pk: { S: "k1" } }] } },
      })
      .resolves({ Responses: { T: [{ pk: { S: "k1" } }] } });
    const items = await batchGetAll(client, "T", keys, { sleep, projection: "pk" });
    const inputs = dynamo.commandCalls(BatchGetItemCommand).map((call) => call.args[0].input.RequestItems?.T);
    expect(inputs.map((input) => input?.Keys?.length)).toEqual([100, 1, 50]);
    expect(inputs.every((input) => input?.ConsistentRead === true && input.ProjectionExpression === "pk")).toBe(true);
    expect(items.map((item) => item.pk?.S)).toEqual(["k0", "k1", "k1"]);
    expect(sleeps).toEqual([25]);
  });
});
