/**
 * `pnpm bench anomaly-alert`: AnomalyAlert's domain in this process, on generated clickstream (3 sites, a CTR
 * collapse), with the in-memory state store. Prints, asserts nothing:
 * - decode + aggregate throughput (base64 JSON -> validated events -> event-time windows), records/s, and the time
 *   for one 10 000-record batch;
 * - the whole batch path (decode, aggregate, score closed windows, alert policy, commit), records/s;
 * - state bytes: the stream item and the largest series item (JSON).
 * Then AnomalyAlert at platform scale (1 000 sites x 5 metrics, Zipf-sized: most sites small, on the wiring's 2-shard
 * stream with its configuration and batching window): hours of traffic learnt in memory, then minutes through the real
 * DynamoDB adapter on DynamoDB Local, every request counted in the units DynamoDB bills on demand. Prints the state
 * size (per site and in total), DynamoDB requests, items and units per minute, and the cost per month at AWS on-demand
 * prices (packages/anomaly/README.md, "Cost at 1 000 sites"). `BENCH_SITES`, `BENCH_RATE` (events/s), `BENCH_ZIPF`,
 * `BENCH_WARM_HOURS`, `BENCH_MEASURE_MINUTES`, `BENCH_BATCH_SECONDS`, `BENCH_BATCH_SIZE` change the scenario.
 */
import {
  type AttributeValue,
  CreateTableCommand,
  DynamoDBClient,
  GetItemCommand,
  type WriteRequest,
} from "@aws-sdk/client-dynamodb";
import {
  createMemoryStateStore,
  DEFAULT_PIPELINE,
  decodeRecord,
  processClickstreamBatch,
  type RawRecord,
  type StreamState,
} from "@sluice/anomaly/pipeline";
import { applyRecords, emptyWindowingState } from "@sluice/anomaly/windowing";
import { createDynamoAnomalyStore } from "@sluice/aws/anomaly";
import * as wiring from "@sluice/infra/wiring";
import { startDynamoDbLocal } from "@sluice/local/emulators/dynamodb-local";
import type { AlertMessage, ClickstreamEvent } from "@sluice/messages";
import { generateClickstream, parseIncident } from "@sluice/testing/clickstream";
import { pipelineConfigOf, stateStoreOptionsOf } from "../../functions/anomaly-alert/config.ts";

const start = Date.UTC(2026, 2, 1);
const events = [
  ...generateClickstream({
    sites: 3,
    rate: 20,
    start,
    durationMs: 7 * 3_600_000,
    incidents: [parseIncident("ctr-collapse@+6h", start)],
    seed: 1,
  }),
];
const records: RawRecord[] = events.map((e, i) => ({
  shardId: i % 2 === 0 ? "shardId-000000000000" : "shardId-000000000001",
  sequenceNumber: String(49_000_000_000_000 + i),
  data: Buffer.from(JSON.stringify(e)).toString("base64"),
}));
const now = Date.now();

function decodeAndAggregate(batch: readonly RawRecord[], state = emptyWindowingState()) {
  const decoded = batch.map((r) => decodeRecord(r, now, DEFAULT_PIPELINE.maxFutureMs));
  return applyRecords(state, decoded, DEFAULT_PIPELINE.windowing, now).state;
}

// Warm up the JIT, then measure.
decodeAndAggregate(records.slice(0, 20_000));
let t = performance.now();
let state = emptyWindowingState();
for (let i = 0; i < records.length; i += 10_000) state = decodeAndAggregate(records.slice(i, i + 10_000), state);
const decodeMs = performance.now() - t;
t = performance.now();
decodeAndAggregate(records.slice(0, 10_000));
const batchMs = performance.now() - t;
console.log(`clickstream: ${records.length} records (7 h, 3 sites, 20 events/s)`);
console.log(
  `  decode + aggregate: ${Math.round(records.length / (decodeMs / 1000))} records/s; one 10 000-record batch: ${batchMs.toFixed(1)} ms`,
);

const store = createMemoryStateStore();
const alerts: unknown[] = [];
t = performance.now();
for (let i = 0; i < records.length; i += 1000) {
  await processClickstreamBatch(records.slice(i, i + 1000), {
    store,
    alerts: { publish: async (a) => void alerts.push(a) },
    now: () => now,
  });
}
const fullMs = performance.now() - t;
console.log(
  `  whole batch path (1 000-record batches, in-memory store): ${Math.round(records.length / (fullMs / 1000))} records/s, ${alerts.length} alerts`,
);
const seriesBytes = [...store.series.values()].map((s) => Buffer.byteLength(JSON.stringify(s)));
console.log(
  `  state: stream item ${Buffer.byteLength(JSON.stringify(store.stream))} bytes; ${seriesBytes.length} series, largest ${Math.max(...seriesBytes)} bytes`,
);

// ---------------------------------------------------------------------------------------------------------------
// 1 000 sites x 5 metrics on the 2-shard stream: state size, DynamoDB writes per minute, cost per month.

/** Settings (environment of the bench, for other sizes): sites, events/s over all sites, Zipf exponent, hours of
 * traffic learnt in memory first, then minutes measured through the real DynamoDB adapter on DynamoDB Local. */
const SCALE = {
  sites: Number(process.env.BENCH_SITES ?? 1000),
  rate: Number(process.env.BENCH_RATE ?? 100),
  zipf: Number(process.env.BENCH_ZIPF ?? 1),
  warmHours: Number(process.env.BENCH_WARM_HOURS ?? 2),
  measureMinutes: Number(process.env.BENCH_MEASURE_MINUTES ?? 10),
  /** Lambda's batching window and batch size on the stream (the wiring's: 5 s, 1 000 records). */
  batchSeconds: Number(process.env.BENCH_BATCH_SECONDS ?? trigger().maximumBatchingWindowInSeconds),
  batchSize: Number(process.env.BENCH_BATCH_SIZE ?? trigger().batchSize),
};

function trigger(): { maximumBatchingWindowInSeconds: number; batchSize: number } {
  const [first] = wiring.functions.AnomalyAlert.triggers;
  return first.batch;
}

/**
 * AWS prices, us-east-1, on-demand, without the free tier (see packages/anomaly/README.md, "Cost at 1 000 sites",
 * for the sources and the date they were read).
 */
const PRICE = {
  dynamoWriteUnit: 0.625 / 1e6,
  dynamoReadUnit: 0.125 / 1e6,
  dynamoGbMonth: 0.25,
  lambdaArmGbSecond: 0.0000133334,
  lambdaRequest: 0.2 / 1e6,
  kinesisShardHour: 0.015,
  kinesisPutUnit: 0.014 / 1e6,
  snsPublish: 0.5 / 1e6,
};
const MINUTES_PER_MONTH = 730 * 60;

/** DynamoDB's item size: attribute names and values in bytes (numbers: about a byte per two digits, plus one). */
function attributeSize(v: AttributeValue): number {
  if (v.S !== undefined) return Buffer.byteLength(v.S);
  if (v.N !== undefined) return Math.ceil(v.N.replace(/[-.]/g, "").length / 2) + 1;
  if (v.B !== undefined) return v.B.length;
  if (v.L !== undefined) return 3 + v.L.reduce((n, e) => n + 1 + attributeSize(e), 0);
  if (v.M !== undefined)
    return 3 + Object.entries(v.M).reduce((n, [k, e]) => n + Buffer.byteLength(k) + 1 + attributeSize(e), 0);
  return 1;
}
const itemSize = (item: Record<string, AttributeValue>) =>
  Object.entries(item).reduce((n, [k, v]) => n + Buffer.byteLength(k) + attributeSize(v), 0);

/**
 * Counts what the adapter asks of DynamoDB, as DynamoDB bills it on demand: a write unit per KB (rounded up) of each
 * item put (of the larger of the old and new item for a put that replaces one) or deleted (failed conditional writes
 * too); a strongly consistent read unit per 4 KB of each item read. Item sizes are kept per key to price deletions
 * and reads.
 */
function countUnits(client: DynamoDBClient) {
  const sizes = new Map<string, number>();
  const totals = {
    requests: {} as Record<string, number>,
    itemsWritten: 0,
    writeUnits: 0,
    readUnits: 0,
    seriesBytesWritten: 0,
  };
  const wu = (bytes: number) => Math.max(1, Math.ceil(bytes / 1024));
  const ru = (bytes: number) => Math.max(1, Math.ceil(bytes / 4096));
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const name = context.commandName as string;
      totals.requests[name] = (totals.requests[name] ?? 0) + 1;
      const input = args.input as {
        RequestItems?: Record<string, WriteRequest[] | { Keys: Array<Record<string, AttributeValue>> }>;
        Item?: Record<string, AttributeValue>;
        Key?: Record<string, AttributeValue>;
      };
      if (name === "BatchWriteItemCommand") {
        for (const requests of Object.values((input.RequestItems ?? {}) as Record<string, WriteRequest[]>)) {
          for (const r of requests) {
            totals.itemsWritten++;
            if (r.PutRequest?.Item) {
              const pk = r.PutRequest.Item.pk?.S ?? "";
              const size = itemSize(r.PutRequest.Item);
              if (pk.startsWith("series#")) totals.seriesBytesWritten += size;
              totals.writeUnits += wu(Math.max(size, sizes.get(pk) ?? 0));
              sizes.set(pk, size);
            } else if (r.DeleteRequest?.Key) {
              const pk = r.DeleteRequest.Key.pk?.S ?? "";
              totals.writeUnits += wu(sizes.get(pk) ?? 0);
              sizes.delete(pk);
            }
          }
        }
      } else if (name === "PutItemCommand") {
        const pk = input.Item?.pk?.S ?? "";
        const size = itemSize(input.Item ?? {});
        totals.itemsWritten++;
        totals.writeUnits += wu(Math.max(size, sizes.get(pk) ?? 0));
        const out = await next(args);
        sizes.set(pk, size);
        return out;
      } else if (name === "GetItemCommand") {
        totals.readUnits += ru(sizes.get(input.Key?.pk?.S ?? "") ?? 0);
      } else if (name === "BatchGetItemCommand") {
        for (const { Keys } of Object.values(
          input.RequestItems as Record<string, { Keys: Array<Record<string, AttributeValue>> }>,
        )) {
          for (const key of Keys) totals.readUnits += ru(sizes.get(key.pk?.S ?? "") ?? 0);
        }
      }
      return next(args);
    },
    { step: "initialize", name: "countBilledUnits" },
  );
  return { totals, sizes };
}

/** Kinesis records as Lambda hands them over: per shard, batches of up to `batchSize` records or `batchSeconds` of traffic. */
function* lambdaBatches(
  events: Iterable<ClickstreamEvent>,
  batchSeconds: number,
  batchSize: number,
): Generator<{ records: RawRecord[]; at: number }> {
  const SLOT = batchSeconds * 1000;
  let slot = -1;
  const shards: RawRecord[][] = [[], []];
  let seq = 0;
  const flush = function* (at: number) {
    for (const records of shards) {
      for (let i = 0; i < records.length; i += batchSize) yield { records: records.slice(i, i + batchSize), at };
      records.length = 0;
    }
  };
  for (const e of events) {
    const s = Math.floor(Date.parse(e.ts) / SLOT);
    if (s !== slot) {
      yield* flush(slot * SLOT + SLOT);
      slot = s;
    }
    // The partition key is the eventId: a site's events spread over both shards.
    const shard = (e.eventId.charCodeAt(0) + e.eventId.charCodeAt(1)) % 2;
    (shards[shard] as RawRecord[]).push({
      shardId: `shardId-00000000000${shard}`,
      sequenceNumber: String(49_000_000_000_000 + seq++),
      data: Buffer.from(JSON.stringify(e)).toString("base64"),
    });
  }
  yield* flush(slot * SLOT + SLOT);
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
const usd = (x: number) => `$${x < 10 ? x.toFixed(2) : x.toFixed(0)}`;

async function scale(): Promise<void> {
  const config = pipelineConfigOf(wiring.functions.AnomalyAlert.environment);
  const { sites, rate, zipf, warmHours, measureMinutes, batchSeconds, batchSize } = SCALE;
  console.log(
    `\n${sites} sites x ${config.metrics.length} metrics, ${config.windowing.expectedShards} shards (the wiring's), ${rate} events/s over all sites (Zipf s=${zipf}, daily shape), batches of up to ${batchSize} records or ${batchSeconds} s, ${warmHours} h learnt in memory, then ${measureMinutes} min through the DynamoDB adapter on DynamoDB Local`,
  );
  const from = Date.UTC(2026, 2, 2, 8); // a morning: traffic climbing towards the evening peak
  const warmEnd = from + warmHours * 3_600_000;
  const events = generateClickstream({
    sites,
    rate,
    zipf,
    start: from,
    durationMs: warmHours * 3_600_000 + measureMinutes * 60_000 + 60_000,
    seed: 7,
  });
  const memory = createMemoryStateStore();
  const published: AlertMessage[] = [];
  const alerts = { publish: async (a: AlertMessage) => void published.push(a) };
  const batches = lambdaBatches(events, SCALE.batchSeconds, SCALE.batchSize);
  let t = performance.now();
  let warmBatches = 0;
  let next = batches.next();
  for (; !next.done && next.value.at <= warmEnd; next = batches.next()) {
    const { records, at } = next.value;
    await processClickstreamBatch(records, { store: memory, alerts, config, now: () => at + 1000 });
    warmBatches++;
  }
  console.log(
    `  learning ${warmHours} h in memory: ${warmBatches} batches in ${((performance.now() - t) / 1000).toFixed(0)} s, ${published.length} alerts, ${Object.keys(memory.stream?.policies ?? {}).length} sites known`,
  );

  const dynamo = await startDynamoDbLocal();
  try {
    const client = new DynamoDBClient({
      region: "us-east-1",
      endpoint: dynamo.endpoint,
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
    await client.send(
      new CreateTableCommand({
        TableName: "AnomalyState",
        KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
        AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
        BillingMode: "PAY_PER_REQUEST",
      }),
    );
    const counter = countUnits(client);
    // The wiring's retention: replaced series items are left to the table's time to live, not deleted.
    const storeOptions = stateStoreOptionsOf(wiring.functions.AnomalyAlert.environment);
    const store = createDynamoAnomalyStore(client, "AnomalyState", { ...storeOptions, now: () => warmEnd });
    const stream = memory.stream as StreamState;
    await store.commit(stream, 0, memory.series);
    const seeded = { ...counter.totals, requests: { ...counter.totals.requests } };
    Object.assign(counter.totals, {
      requests: {},
      itemsWritten: 0,
      writeUnits: 0,
      readUnits: 0,
      seriesBytesWritten: 0,
    });

    const measureEnd = warmEnd + measureMinutes * 60_000;
    let measured = 0;
    let records = 0;
    let wallMs = 0;
    const alertsBefore = published.length;
    const cpu = process.cpuUsage();
    t = performance.now();
    for (; !next.done && next.value.at <= measureEnd; next = batches.next()) {
      const { records: batch, at } = next.value;
      const t0 = performance.now();
      await processClickstreamBatch(batch, { store, alerts, config, now: () => at + 1000 });
      wallMs += performance.now() - t0;
      measured++;
      records += batch.length;
    }
    const cpuMs = (process.cpuUsage(cpu).user + process.cpuUsage(cpu).system) / 1000 / 2;
    const alertsMeasured = published.length - alertsBefore;

    // State: the head's document (windowing, policies, outbox, the series' tags) and the series items, per site.
    const head = await client.send(
      new GetItemCommand({ TableName: "AnomalyState", Key: { pk: { S: "stream#Clickstream" } } }),
    );
    const headBytes = [...counter.sizes.entries()]
      .filter(([pk]) => pk.startsWith("stream#"))
      .reduce((n, [, size]) => n + size, 0);
    // The current state: each series' latest item (the replaced ones wait for their time to live, priced below).
    const latest = new Map<string, [string, number]>();
    for (const [pk, size] of counter.sizes) {
      if (pk.startsWith("series#")) latest.set(pk.slice(0, pk.lastIndexOf("@")), [pk, size]);
    }
    const seriesSizes = [...latest.values()];
    const seriesBytes = seriesSizes.reduce((n, [, size]) => n + size, 0);
    const perSite = new Map<string, number>();
    for (const [pk, size] of seriesSizes) {
      const site = pk.slice("series#".length).split("#")[0] as string;
      perSite.set(site, (perSite.get(site) ?? 0) + size);
    }
    const known = perSite.size;
    const siteSeries = [...perSite.values()].sort((a, b) => a - b);
    const totalBytes = headBytes + seriesBytes;
    const items = 1 + seriesSizes.length;
    console.log(
      `  state: ${kb(totalBytes)} in ${items} items (${known} sites): head ${kb(headBytes)} (${(headBytes / known).toFixed(0)} B a site, ${head.Item?.pages ? `${head.Item.pages.L?.length} pages` : "inline"}), series ${kb(seriesBytes)} (${seriesSizes.length} items, mean ${(seriesBytes / seriesSizes.length).toFixed(0)} B, largest ${Math.max(...seriesSizes.map(([, s]) => s))} B)`,
    );
    console.log(
      `  per site: ${((headBytes + seriesBytes) / known / 1024).toFixed(2)} KB mean (head share + 5 series); series of a site: smallest ${kb(siteSeries[0] ?? 0)}, median ${kb(siteSeries[Math.floor(known / 2)] ?? 0)}, largest ${kb(siteSeries.at(-1) ?? 0)}`,
    );
    console.log(
      `  seeding the table (one commit of every series): ${seeded.itemsWritten} items, ${seeded.writeUnits} write units`,
    );

    const perMinute = (x: number) => x / measureMinutes;
    const { totals } = counter;
    const requests = Object.entries(totals.requests)
      .map(([name, n]) => `${name.replace("Command", "")} ${perMinute(n).toFixed(0)}`)
      .join(", ");
    console.log(
      `  ${measured} invocations (${perMinute(measured).toFixed(1)}/min, ${(records / measured).toFixed(0)} records each), ${alertsMeasured} alerts`,
    );
    console.log(
      `  DynamoDB per minute: ${perMinute(totals.itemsWritten).toFixed(0)} items written (puts and deletes), ${perMinute(totals.writeUnits).toFixed(0)} write units, ${perMinute(totals.readUnits).toFixed(0)} read units; requests/min: ${requests}`,
    );
    console.log(
      `  invocation: ${(wallMs / measured).toFixed(0)} ms mean wall time here on DynamoDB Local, ${(cpuMs / measured).toFixed(0)} ms of this process's CPU`,
    );

    const month = {
      writes: perMinute(totals.writeUnits) * MINUTES_PER_MONTH,
      reads: perMinute(totals.readUnits) * MINUTES_PER_MONTH,
      invocations: perMinute(measured) * MINUTES_PER_MONTH,
      events: rate * 3600 * 730,
    };
    // Stored: the current state, and the replaced series items until they expire (written per minute x retention).
    const retentionMinutes = (storeOptions.retentionSeconds ?? 0) / 60;
    const storedBytes = totalBytes + perMinute(totals.seriesBytesWritten) * retentionMinutes;
    const gbSeconds = month.invocations * (wallMs / measured / 1000) * (wiring.functions.AnomalyAlert.memory / 1024);
    const shards = wiring.streams.Clickstream.shardCount;
    const costs: Array<[string, string, number]> = [
      ["DynamoDB writes", `${(month.writes / 1e6).toFixed(0)} M write units`, month.writes * PRICE.dynamoWriteUnit],
      ["DynamoDB reads", `${(month.reads / 1e6).toFixed(0)} M read units`, month.reads * PRICE.dynamoReadUnit],
      [
        "DynamoDB storage",
        `${(storedBytes / 1024 ** 3).toFixed(1)} GB (the state, and replaced series items for their ${retentionMinutes / 60} h to live)`,
        (storedBytes / 1024 ** 3) * PRICE.dynamoGbMonth,
      ],
      [
        "Lambda",
        `${(month.invocations / 1e6).toFixed(2)} M requests, ${(gbSeconds / 1e3).toFixed(0)} k GB-s (arm64, ${wiring.functions.AnomalyAlert.memory} MB, wall time here)`,
        month.invocations * PRICE.lambdaRequest + gbSeconds * PRICE.lambdaArmGbSecond,
      ],
      [
        "Kinesis",
        `${shards} shards x 730 h, ${(month.events / 1e6).toFixed(0)} M PUT units`,
        shards * 730 * PRICE.kinesisShardHour + month.events * PRICE.kinesisPutUnit,
      ],
      [
        "SNS",
        `${((alertsMeasured / measureMinutes) * MINUTES_PER_MONTH).toFixed(0)} alerts (rate of the measured minutes)`,
        (alertsMeasured / measureMinutes) * MINUTES_PER_MONTH * PRICE.snsPublish,
      ],
    ];
    console.log("  cost per month (us-east-1, on demand):");
    for (const [what, usage, cost] of costs) console.log(`    ${what.padEnd(17)} ${usd(cost).padStart(7)}  ${usage}`);
    console.log(`    ${"total".padEnd(17)} ${usd(costs.reduce((n, [, , c]) => n + c, 0)).padStart(7)}`);
  } finally {
    await dynamo.stop();
  }
}

await scale();
