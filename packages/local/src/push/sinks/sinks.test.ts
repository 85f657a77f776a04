/**
 * The retry and batching rules of the sinks, against scripted clients: emulators never throttle, so the partial
 * failures AWS returns under load (`ErrorCode` entries, `UnprocessedItems`) are played back here. The happy paths
 * run against real emulators in `../push.integration.test.ts`.
 */
import type { BatchWriteItemCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { KinesisClient, PutRecordsCommand, PutRecordsResultEntry } from "@aws-sdk/client-kinesis";
import { describe, expect, it } from "vitest";
import { PushFailed } from "../errors.ts";
import { type Item, writeItems } from "./dynamodb.ts";
import { type KinesisEntry, putRecords } from "./kinesis.ts";

const noSleep = async () => {};

/** A Kinesis client whose PutRecords fails the entries `fail` picks (by partition key and attempt). */
function scriptedKinesis(fail: (partitionKey: string, attempt: number) => boolean) {
  const attempts = new Map<string, number>();
  const requests: string[][] = [];
  let sequence = 0;
  const client = {
    async send(command: PutRecordsCommand) {
      const keys = (command.input.Records ?? []).map((r) => r.PartitionKey ?? "");
      requests.push(keys);
      const Records: PutRecordsResultEntry[] = keys.map((key) => {
        const attempt = (attempts.get(key) ?? 0) + 1;
        attempts.set(key, attempt);
        if (fail(key, attempt)) {
          return { ErrorCode: "ProvisionedThroughputExceededException", ErrorMessage: "Rate exceeded for shard" };
        }
        sequence++;
        return { SequenceNumber: String(sequence), ShardId: `shardId-00000000000${sequence % 2}` };
      });
      return { FailedRecordCount: Records.filter((r) => r.ErrorCode).length, Records };
    },
  } as unknown as KinesisClient;
  return { client, requests };
}

const entries = (n: number, size = 10): KinesisEntry[] =>
  Array.from({ length: n }, (_, i) => ({ data: Buffer.alloc(size, 97), partitionKey: `k${i}` }));

describe("putRecords", () => {
  it("sends batches of 500", async () => {
    const { client, requests } = scriptedKinesis(() => false);

    const report = await putRecords(client, "s", entries(1201), { sleep: noSleep });

    expect(requests.map((r) => r.length)).toEqual([500, 500, 201]);
    expect(report).toMatchObject({ records: 1201, requests: 3, retried: 0 });
    expect(Object.values(report.shards).reduce((a, b) => a + b, 0)).toBe(1201);
  });

  it("cuts a batch before it passes 5 MiB", async () => {
    const { client, requests } = scriptedKinesis(() => false);

    // Five 1 MB records fit in 5 MiB (5,242,880 bytes); a sixth would not.
    await putRecords(client, "s", entries(12, 1_000_000), { sleep: noSleep });

    expect(requests.map((r) => r.length)).toEqual([5, 5, 2]);
  });

  it("sends again only the entries a batch reported as failed, until they succeed", async () => {
    // k1 and k3 are throttled twice, then accepted.
    const { client, requests } = scriptedKinesis((key, attempt) => (key === "k1" || key === "k3") && attempt <= 2);
    const stored: number[] = [];
    const retries: number[] = [];

    const report = await putRecords(client, "s", entries(5), {
      sleep: noSleep,
      onStored: (n) => stored.push(n),
      onRetry: (pending) => retries.push(pending),
    });

    expect(requests).toEqual([
      ["k0", "k1", "k2", "k3", "k4"],
      ["k1", "k3"],
      ["k1", "k3"],
    ]);
    expect(report).toMatchObject({ records: 5, requests: 3, retried: 4 });
    expect(stored).toEqual([3, 2]);
    expect(retries).toEqual([2, 2, 0]);
  });

  it("gives up after maxAttempts with PushFailed saying how many were stored", async () => {
    const { client, requests } = scriptedKinesis((key) => key === "k2");

    const failure = await putRecords(client, "clicks", entries(3), { sleep: noSleep, maxAttempts: 4 }).catch((e) => e);

    expect(failure).toBeInstanceOf(PushFailed);
    expect(failure.message).toBe(
      "1 records were refused by clicks after 4 attempts (last error ProvisionedThroughputExceededException: Rate exceeded for shard); 2 records were stored before that.",
    );
    expect(requests).toHaveLength(4);
  });
});

/** A DynamoDB client whose BatchWriteItem leaves unprocessed the items `leave` picks. */
function scriptedDynamoDb(leave: (id: string, attempt: number) => boolean) {
  const attempts = new Map<string, number>();
  const requests: string[][] = [];
  const client = {
    async send(command: BatchWriteItemCommand) {
      const [[table, writes] = ["", []]] = Object.entries(command.input.RequestItems ?? {});
      const ids = writes.map((w) => w.PutRequest?.Item?.id?.S ?? "");
      requests.push(ids);
      const unprocessed = writes.filter((w) => {
        const id = w.PutRequest?.Item?.id?.S ?? "";
        const attempt = (attempts.get(id) ?? 0) + 1;
        attempts.set(id, attempt);
        return leave(id, attempt);
      });
      return { UnprocessedItems: unprocessed.length ? { [table]: unprocessed } : {} };
    },
  } as unknown as DynamoDBClient;
  return { client, requests };
}

const items = (ids: string[]): Item[] => ids.map((id) => ({ id: { S: id } }));
const keyOf = (item: Item) => item.id?.S ?? "";

describe("writeItems", () => {
  it("writes batches of 25", async () => {
    const { client, requests } = scriptedDynamoDb(() => false);

    const report = await writeItems(client, "t", items(Array.from({ length: 60 }, (_, i) => `i${i}`)), {
      keyOf,
      sleep: noSleep,
    });

    expect(requests.map((r) => r.length)).toEqual([25, 25, 10]);
    expect(report).toEqual({ items: 60, requests: 3, retried: 0 });
  });

  it("never puts one key twice in a batch: a repeated key starts the next batch, so the last one wins", async () => {
    const { client, requests } = scriptedDynamoDb(() => false);

    await writeItems(client, "t", items(["a", "b", "a", "c"]), { keyOf, sleep: noSleep });

    expect(requests).toEqual([
      ["a", "b"],
      ["a", "c"],
    ]);
  });

  it("sends UnprocessedItems again until they are written", async () => {
    const { client, requests } = scriptedDynamoDb((id, attempt) => id === "b" && attempt === 1);

    const report = await writeItems(client, "t", items(["a", "b", "c"]), { keyOf, sleep: noSleep });

    expect(requests).toEqual([["a", "b", "c"], ["b"]]);
    expect(report).toEqual({ items: 3, requests: 2, retried: 1 });
  });

  it("gives up after maxAttempts with PushFailed", async () => {
    const { client } = scriptedDynamoDb((id) => id === "c");

    await expect(
      writeItems(client, "Catalog", items(["a", "c"]), { keyOf, sleep: noSleep, maxAttempts: 3 }),
    ).rejects.toThrow("1 items were left unprocessed by Catalog after 3 attempts; 1 items were written before that.");
  });
});
