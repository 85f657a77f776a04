/**
 * The anomaly state adapter against DynamoDB Local (AWS's own emulator, with its transaction, item and request
 * limits), through the real pipeline: hundreds of sites commit (their series spread over several writes, the stream
 * item written last as the commit point), a commit cut off half-way leaves nothing half-applied, and racing
 * invocations on two shards keep every series consistent with the stream state it was committed with.
 */
import { randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import { CreateTableCommand, DeleteItemCommand, DynamoDBClient, ScanCommand } from "@aws-sdk/client-dynamodb";
import {
  createMemoryStateStore,
  DEFAULT_PIPELINE,
  type PipelineConfig,
  processClickstreamBatch,
  type RawRecord,
  StateConflict,
  type StreamState,
} from "@sluice/anomaly/pipeline";
import { emptyWindowingState } from "@sluice/anomaly/windowing";
import { type DynamoDbLocal, startDynamoDbLocal } from "@sluice/local/emulators/dynamodb-local";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDynamoAnomalyStore, PAGE_BYTES } from "./anomaly.ts";

const credentials = { accessKeyId: "local", secretAccessKey: "local" };
const MIN = 60_000;
const T0 = Date.UTC(2026, 2, 1, 0, 0, 0);
const NOW = T0 + 24 * 3_600_000;
const METRICS = ["impressions", "clicks", "ctr", "add_to_cart", "purchases"];
const config: PipelineConfig = { ...DEFAULT_PIPELINE, windowing: { ...DEFAULT_PIPELINE.windowing, expectedShards: 1 } };

const siteOf = (i: number) => `site-${String(i).padStart(3, "0")}.example`;

/** Two impressions and a click per site per minute, for `minutes` minutes from `from`, then one event that closes them. */
function traffic(sites: number, from: number, minutes: number, shardId: string, firstSeq: number): RawRecord[] {
  const events: object[] = [];
  for (let m = 0; m < minutes; m++) {
    for (let s = 0; s < sites; s++) {
      for (const [k, action] of ["impression", "impression", "click"].entries()) {
        const ts = new Date(from + m * MIN + s * 10 + k).toISOString();
        events.push({
          eventId: `e-${m}-${s}-${k}`,
          ts,
          site: siteOf(s),
          page: "/",
          productId: "p",
          action,
          sessionId: "x",
        });
      }
    }
  }
  const closer = new Date(from + minutes * MIN + 45_000).toISOString();
  events.push({
    eventId: "closer",
    ts: closer,
    site: siteOf(0),
    page: "/",
    productId: "p",
    action: "impression",
    sessionId: "x",
  });
  return events.map((e, i) => ({
    shardId,
    sequenceNumber: String(firstSeq + i),
    data: Buffer.from(JSON.stringify(e)).toString("base64"),
  }));
}

describe("anomaly state on DynamoDB Local", () => {
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

  async function table(): Promise<string> {
    const name = `AnomalyState-${++tables}`;
    await client.send(
      new CreateTableCommand({
        TableName: name,
        KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
        AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
        BillingMode: "PAY_PER_REQUEST",
      }),
    );
    return name;
  }

  const deps = (tableName: string, shards = 1) => ({
    store: createDynamoAnomalyStore(client, tableName),
    alerts: { publish: async () => {} },
    config: { ...config, windowing: { ...config.windowing, expectedShards: shards } },
    now: () => NOW,
    sleep: async () => {},
  });

  /** Items in the table (the head, the series it names, its pages, and any garbage). */
  async function itemKeys(tableName: string): Promise<string[]> {
    const keys: string[] = [];
    let start: Record<string, never> | undefined;
    do {
      const out = await client.send(
        new ScanCommand({ TableName: tableName, ProjectionExpression: "pk", ExclusiveStartKey: start }),
      );
      for (const item of out.Items ?? []) keys.push(item.pk?.S ?? "");
      start = out.LastEvaluatedKey as typeof start;
    } while (start);
    return keys.sort();
  }

  /** A client whose BatchWriteItem requests fail from the `after`-th on, and every request after that: a crash. */
  function crashingClient(after: number): DynamoDBClient {
    const crashing = new DynamoDBClient({ region: "us-east-1", endpoint: dynamo.endpoint, credentials });
    let writes = 0;
    let crashed = false;
    crashing.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === "BatchWriteItemCommand" && ++writes >= after) crashed = true;
        if (crashed) throw new Error("Lambda timed out");
        return next(args);
      },
      { step: "initialize" },
    );
    return crashing;
  }

  /** Every site's series, each with the number of windows it has learnt, next to the windows its policy learnt. */
  async function learnt(tableName: string, sites: number) {
    const store = createDynamoAnomalyStore(client, tableName);
    const stream = await store.loadStream();
    if (!stream) throw new Error("no stream state");
    const keys = Array.from({ length: sites }, (_, s) => METRICS.map((m) => `${siteOf(s)}#${m}`)).flat();
    const series = await store.loadSeries(keys, stream.version);
    return { stream, series };
  }

  it("commits hundreds of sites' series and loads them back (issue 6: more than 99 series failed every batch)", async () => {
    const name = await table();
    const sites = 300;
    const first = traffic(sites, T0, 3, "shard-0", 1);
    for (let i = 0; i < first.length; i += 1000) {
      await processClickstreamBatch(first.slice(i, i + 1000), deps(name));
    }
    const second = traffic(sites, T0 + 4 * MIN, 2, "shard-0", 10_000);
    const outcome = await processClickstreamBatch(second, deps(name));
    expect(outcome.closedWindows).toBeGreaterThan(sites);

    const { stream, series } = await learnt(name, sites);
    expect(stream.windowing.counted).toBe(first.length + second.length);
    expect(Object.keys(stream.policies)).toHaveLength(sites);
    expect(series.size).toBe(sites * METRICS.length);
    for (let s = 0; s < sites; s++) {
      const site = siteOf(s);
      // One point per closed window, in the series and in the policy's baseline alike (committed together).
      const points = series.get(`${site}#impressions`)?.detector.n;
      expect(points).toBe(stream.policies[site]?.baselines.impressions?.n);
      expect(points).toBeGreaterThanOrEqual(5);
    }
    // Each series' earlier states were deleted once replaced: the head and one item per series remain.
    expect(await itemKeys(name)).toHaveLength(1 + sites * METRICS.length);
  }, 300_000);

  /** Every site's series learnt exactly the windows its policy learnt: nothing half-committed, nothing twice. */
  async function expectConsistent(name: string, sites: number, events: number) {
    const { stream, series } = await learnt(name, sites);
    expect(stream.windowing.counted + stream.windowing.late).toBe(events);
    for (let s = 0; s < sites; s++) {
      const site = siteOf(s);
      for (const metric of ["impressions", "clicks"]) {
        expect(series.get(`${site}#${metric}`)?.detector.n, `${site}#${metric}`).toBe(
          stream.policies[site]?.baselines[metric]?.n,
        );
      }
    }
  }

  it("leaves nothing half-applied when a commit is cut off between its writes, and the retry applies it once", async () => {
    const name = await table();
    const sites = 150;
    const first = traffic(sites, T0, 3, "shard-0", 1);
    await processClickstreamBatch(first, deps(name));
    const second = traffic(sites, T0 + 4 * MIN, 2, "shard-0", 10_000);
    // 750 series are 30 requests: the crash comes after 10 of them, before the head is written.
    const crashing = crashingClient(11);
    await expect(
      processClickstreamBatch(second, { ...deps(name), store: createDynamoAnomalyStore(crashing, name) }),
    ).rejects.toThrow("Lambda timed out");
    crashing.destroy();
    await expectConsistent(name, sites, first.length);
    // Lambda retries the batch on a fresh instance.
    const retried = await processClickstreamBatch(second, deps(name));
    expect(retried.counted).toBe(second.length);
    await expectConsistent(name, sites, first.length + second.length);
    // The crashed attempt's writes are unnamed garbage (never read); everything else is accounted for.
    const keys = await itemKeys(name);
    expect(keys.length).toBeGreaterThan(1 + sites * METRICS.length);
  }, 300_000);

  it("keeps a commit whose answer was lost and whose retry found the condition failed: it was its own (found by --faults)", async () => {
    const name = await table();
    const sites = 3;
    const first = traffic(sites, T0, 3, "shard-0", 1);
    await processClickstreamBatch(first, deps(name));
    // The head's PutItem is applied, but its answer is lost in the network; the SDK sends it again, and DynamoDB
    // answers the retry ConditionalCheckFailed, since the version has moved on: by this very commit.
    const lossy = new DynamoDBClient({ region: "us-east-1", endpoint: dynamo.endpoint, credentials });
    let lost = false;
    lossy.middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        const input = (args.input ?? {}) as { Item?: { pk?: { S?: string } } };
        if (!lost && context.commandName === "PutItemCommand" && input.Item?.pk?.S?.startsWith("stream#")) {
          lost = true;
          throw Object.assign(new Error("socket hang up"), { name: "TimeoutError", $metadata: {} });
        }
        return result;
      },
      { step: "deserialize" },
    );
    const second = traffic(sites, T0 + 4 * MIN, 2, "shard-0", 10_000);
    await processClickstreamBatch(second, { ...deps(name), store: createDynamoAnomalyStore(lossy, name) }).catch(
      () => undefined,
    );
    lossy.destroy();
    expect(lost).toBe(true);
    // Whatever the invocation concluded, the committed head names series that exist, and the next batch goes on.
    await expectConsistent(name, sites, first.length + second.length);
    const third = traffic(sites, T0 + 7 * MIN, 2, "shard-0", 20_000);
    expect((await processClickstreamBatch(third, deps(name))).counted).toBe(third.length);
  }, 120_000);

  it("starts a series afresh, reported, when the item its head names is gone (expired by its time to live), instead of failing every batch", async () => {
    const name = await table();
    const sites = 2;
    const first = traffic(sites, T0, 3, "shard-0", 1);
    await processClickstreamBatch(first, deps(name));
    const before = await learnt(name, sites);
    const gone = `${siteOf(1)}#clicks`;
    const itemKey = (await itemKeys(name)).find((key) => key.startsWith(`series#${gone}@`)) ?? "";
    expect(itemKey).not.toBe("");
    // What DynamoDB's time to live does to an item nobody rewrote in time (or an operator deleting it).
    await client.send(new DeleteItemCommand({ TableName: name, Key: { pk: { S: itemKey } } }));

    const expired: string[] = [];
    const store = createDynamoAnomalyStore(client, name, { onExpired: (keys) => expired.push(...keys) });
    const second = traffic(sites, T0 + 4 * MIN, 2, "shard-0", 10_000);
    const outcome = await processClickstreamBatch(second, { ...deps(name), store });
    expect(outcome.counted).toBe(second.length);
    expect(expired).toEqual([gone]);
    const after = await learnt(name, sites);
    const windows = (key: string) => after.series.get(key)?.detector.n ?? 0;
    const learntBefore = before.series.get(`${siteOf(1)}#impressions`)?.detector.n ?? 0;
    // The lost series learns from the windows after the loss; the others go on from where they were.
    expect(windows(`${siteOf(1)}#impressions`)).toBeGreaterThan(learntBefore);
    expect(windows(gone)).toBe(windows(`${siteOf(1)}#impressions`) - learntBefore);
  }, 120_000);

  it("still answers StateConflict to a reader whose head was replaced and its items deleted", async () => {
    const name = await table();
    const first = traffic(1, T0, 3, "shard-0", 1);
    await processClickstreamBatch(first, deps(name));
    const reader = createDynamoAnomalyStore(client, name);
    const old = await reader.loadStream();
    await processClickstreamBatch(traffic(1, T0 + 4 * MIN, 2, "shard-0", 10_000), deps(name));
    await expect(reader.loadSeries([`${siteOf(0)}#clicks`], old?.version ?? 0)).rejects.toBeInstanceOf(StateConflict);
  }, 120_000);

  it("keeps every series consistent with its stream state when two shards' invocations race", async () => {
    const name = await table();
    const sites = 100;
    const shards = ["shard-0", "shard-1"].map((shardId, k) =>
      [0, 1, 2].map((round) =>
        traffic(sites, T0 + round * 3 * MIN + k * 1000, 3, shardId, 100_000 * k + 10_000 * round),
      ),
    );
    let attempts = 0;
    for (let round = 0; round < 3; round++) {
      const outcomes = await Promise.all(
        shards.map((batches) => processClickstreamBatch(batches[round] as RawRecord[], deps(name, 2))),
      );
      attempts += outcomes.reduce((n, o) => n + o.attempts, 0);
    }
    expect(attempts).toBeGreaterThan(6); // they did race
    const events = shards.flat().reduce((n, batch) => n + batch.length, 0);
    await expectConsistent(name, sites, events);
    // Serializable: the state is what one order of the six batches, one after the other, gives.
    const { stream, series } = await learnt(name, sites);
    const serial = [];
    for (let order = 0; order < 8; order++) {
      const memory = createMemoryStateStore();
      for (let round = 0; round < 3; round++) {
        const first = (order >> round) & 1;
        for (const k of [first, 1 - first]) {
          await processClickstreamBatch(shards[k]?.[round] as RawRecord[], { ...deps(name, 2), store: memory });
        }
      }
      serial.push({ stream: memory.stream, series: Object.fromEntries(memory.series) });
    }
    const actual = { stream, series: Object.fromEntries(series) };
    expect(serial.some((candidate) => JSON.stringify(candidate) === JSON.stringify(actual))).toBe(true);
    // The losers deleted what they wrote: the head and one item per series remain.
    expect(await itemKeys(name)).toHaveLength(1 + sites * METRICS.length);
  }, 300_000);

  it("never lets the loser of a race overwrite what the winner committed, whatever the order of their writes", async () => {
    const name = await table();
    const sites = 40;
    const setup = traffic(sites, T0, 3, "shard-0", 1);
    await processClickstreamBatch(setup, deps(name));
    // Both load the same version and close windows; the loser writes its series after the winner has committed.
    let bLoaded!: () => void;
    let aCommitted!: () => void;
    const bHasLoaded = new Promise<void>((resolve) => (bLoaded = resolve));
    const aHasCommitted = new Promise<void>((resolve) => (aCommitted = resolve));
    const withHook = (hook: (command: string, send: () => Promise<unknown>) => Promise<unknown>) => {
      const hooked = new DynamoDBClient({ region: "us-east-1", endpoint: dynamo.endpoint, credentials });
      hooked.middlewareStack.add(
        (next, context) => (args) => hook(context.commandName ?? "", () => next(args)) as never,
        {
          step: "initialize",
        },
      );
      return hooked;
    };
    const a = withHook(async (command, send) => {
      if (command !== "PutItemCommand") return send();
      await bHasLoaded;
      const out = await send();
      aCommitted();
      return out;
    });
    const b = withHook(async (command, send) => {
      if (command === "BatchWriteItemCommand" || command === "PutItemCommand") {
        bLoaded();
        await aHasCommitted;
      }
      return send();
    });
    const batchA = traffic(sites, T0 + 4 * MIN, 2, "shard-0", 10_000);
    const batchB = traffic(sites, T0 + 7 * MIN, 2, "shard-0", 20_000);
    const [outA, outB] = await Promise.all([
      processClickstreamBatch(batchA, { ...deps(name), store: createDynamoAnomalyStore(a, name) }),
      processClickstreamBatch(batchB, { ...deps(name), store: createDynamoAnomalyStore(b, name) }),
    ]);
    a.destroy();
    b.destroy();
    expect([outA.attempts, outB.attempts]).toEqual([1, 2]);
    expect(outB.closedWindows).toBeGreaterThan(0);
    // The same as A then B, one after the other.
    const memory = createMemoryStateStore();
    for (const batch of [setup, batchA, batchB]) await processClickstreamBatch(batch, { ...deps(name), store: memory });
    const { stream, series } = await learnt(name, sites);
    expect(stream).toEqual(memory.stream);
    expect(Object.fromEntries(series)).toEqual(Object.fromEntries(memory.series));
    expect(await itemKeys(name)).toHaveLength(1 + sites * METRICS.length);
  }, 120_000);

  it("pages a stream state larger than one item, and deletes the old pages", async () => {
    const name = await table();
    const store = createDynamoAnomalyStore(client, name);
    const policies: StreamState["policies"] = {};
    // Random site names: the document is gzipped, and must stay over two pages compressed.
    for (let i = 0; i < 6000; i++) {
      policies[`${randomBytes(90).toString("base64url")}.example`] = {
        baselines: { impressions: { n: i, mean: Math.PI * i, variance: Math.E * i } },
        incident: null,
      };
    }
    const state: StreamState = { version: 1, windowing: emptyWindowingState(), policies, outbox: [] };
    expect(gzipSync(JSON.stringify({ state, series: {} })).length).toBeGreaterThan(2 * PAGE_BYTES);
    await store.commit(state, 0, new Map());
    expect(await createDynamoAnomalyStore(client, name).loadStream()).toEqual(state);
    const pages = (await itemKeys(name)).filter((key) => key.includes("@"));
    expect(pages.length).toBeGreaterThanOrEqual(3);
    await store.commit({ ...state, version: 2 }, 1, new Map());
    expect(await createDynamoAnomalyStore(client, name).loadStream()).toEqual({ ...state, version: 2 });
    const after = await itemKeys(name);
    expect(after.filter((key) => pages.includes(key))).toEqual([]);
    expect(after).toHaveLength(1 + pages.length);
  }, 120_000);
});
