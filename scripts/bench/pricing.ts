/**
 * `pnpm bench pricing`: figures for the pricing pipeline, printed, never asserted.
 *
 * - PriceInference: records per second through `priceRequests` for a 100-record batch, with the real adapters
 *   (SageMaker runtime client -> the local SageMaker-runtime endpoint -> the reference model container with
 *   20 ms added latency per invocation; DynamoDB Local for Catalog and PriceHistory), batched (the default: as
 *   few calls as the payload allows, 4 in flight) vs one InvokeEndpoint call per record (sequential, the seed's
 *   design, and 4 in flight); InvokeEndpoint calls per batch.
 * - DemandHydration: clickstream events per second through `hydrateDemand` with the DynamoDB window store
 *   (Kinesis-sized batches of 100 events, 2 shards, 100 products), and with the in-memory store (domain only).
 *
 * Env: BENCH_MODEL_LATENCY_MS (20), BENCH_ROUNDS (5), BENCH_EVENTS (10000), BENCH_CATALOG_PARALLELISM (8).
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { BatchWriteItemCommand, CreateTableCommand, DynamoDBClient, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { SageMakerRuntimeClient } from "@aws-sdk/client-sagemaker-runtime";
import { marshall } from "@aws-sdk/util-dynamodb";
import { createDynamoWindowStore } from "@sluice/aws/demand-windows";
import { createDynamoCatalog } from "@sluice/aws/pricing";
import { createSageMakerModel } from "@sluice/aws/pricing-model";
import { startDynamoDbLocal } from "@sluice/local/emulators/dynamodb-local";
import { startSageMakerRuntime } from "@sluice/local/emulators/sagemaker-runtime";
import { repoRoot } from "@sluice/local/paths";
import {
  type HydrationDeps,
  type HydrationRecord,
  hydrateDemand,
  type InferenceRequest,
  type PricingConfig,
  priceRequests,
} from "@sluice/pricing";
import { createMemoryCatalog, createMemoryWindowStore } from "@sluice/pricing/fixtures";
import { catalogItem } from "@sluice/testing";

const LATENCY_MS = Number(process.env.BENCH_MODEL_LATENCY_MS ?? 20);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 10_000);
const BATCH = 100;
const CATALOG_PARALLELISM = Number(process.env.BENCH_CATALOG_PARALLELISM ?? 8);
const credentials = { accessKeyId: "local", secretAccessKey: "local" };

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

async function createTable(client: DynamoDBClient, name: string, hash: string, range?: string) {
  await client.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: "PAY_PER_REQUEST",
      KeySchema: [
        { AttributeName: hash, KeyType: "HASH" },
        ...(range ? [{ AttributeName: range, KeyType: "RANGE" as const }] : []),
      ],
      AttributeDefinitions: [
        { AttributeName: hash, AttributeType: "S" },
        ...(range ? [{ AttributeName: range, AttributeType: "S" as const }] : []),
      ],
    }),
  );
}

async function seedCatalog(client: DynamoDBClient, ids: string[]) {
  for (let i = 0; i < ids.length; i += 25) {
    await client.send(
      new BatchWriteItemCommand({
        RequestItems: {
          Catalog: ids.slice(i, i + 25).map((productId) => ({
            PutRequest: {
              Item: marshall(catalogItem(productId)),
            },
          })),
        },
      }),
    );
  }
}

function batchOf(prefix: string): Array<{ itemIdentifier: string; image: InferenceRequest }> {
  return Array.from({ length: BATCH }, (_, i) => ({
    itemIdentifier: String(1000 + i),
    image: {
      requestId: `${prefix}-r${i}`,
      productId: `${prefix}-p${i}`,
      windowStart: "2026-11-23T09:50:00.000Z",
      windowEnd: "2026-11-23T09:55:00.000Z",
      ...(i % 2 === 0
        ? { views: 5000, clicks: 1500, addToCart: 600, purchases: 300, inventory: 12 }
        : { views: 5000, clicks: 50, addToCart: 5, purchases: 1, inventory: 5000 }),
    },
  }));
}

async function main() {
  const stateDir = mkdtempSync(path.join(tmpdir(), "sluice-bench-pricing-"));
  void stateDir;
  process.env.MODEL_LATENCY_MS = String(LATENCY_MS);
  const [dynamoLocal, runtime] = await Promise.all([
    startDynamoDbLocal({ port: 0 }),
    startSageMakerRuntime({
      containers: [{ endpointName: "sluice-pricing", entry: path.join(repoRoot, "packages/pricing/model/server.ts") }],
      cwd: repoRoot,
      accountId: "000000000000",
      region: "us-east-1",
    }),
  ]);
  const dynamo = new DynamoDBClient({ region: "us-east-1", endpoint: dynamoLocal.endpoint, credentials });
  const sagemaker = new SageMakerRuntimeClient({
    region: "us-east-1",
    endpoint: runtime.endpoint,
    credentials,
    maxAttempts: 1,
  });
  try {
    await createTable(dynamo, "Catalog", "productId");
    await createTable(dynamo, "PriceHistory", "productId", "changeId");
    await createTable(dynamo, "DemandWindows", "pk", "sk");
    await createTable(dynamo, "InferenceRequests", "requestId");
    const catalog = createDynamoCatalog(dynamo, { catalog: "Catalog", history: "PriceHistory" });
    const model = createSageMakerModel(sagemaker, "sluice-pricing");

    console.log(`PriceInference: ${BATCH}-record batches, model latency +${LATENCY_MS} ms, median of ${ROUNDS} rounds`);
    const variants: Array<{ name: string; config: Partial<PricingConfig> }> = [
      { name: "batched (default: <=100 records/call, 4 in flight)", config: {} },
      {
        name: "one call per record, sequential (seed design)",
        config: { batching: { maxPayloadBytes: 4 * 1024 * 1024, maxRecordsPerCall: 1 }, modelParallelism: 1 },
      },
      {
        name: "one call per record, 4 in flight",
        config: { batching: { maxPayloadBytes: 4 * 1024 * 1024, maxRecordsPerCall: 1 }, modelParallelism: 4 },
      },
    ];
    // Warm-up: connections, JIT, DynamoDB Local's first requests.
    await seedCatalog(
      dynamo,
      batchOf("warm").map((r) => r.image.productId),
    );
    await priceRequests(batchOf("warm"), { model, catalog, audit: { publishAll: async () => {} } });

    const memoryCatalogFor = (ids: string[]) =>
      createMemoryCatalog(
        ids.map((productId) => ({
          productId,
          price: 100,
          currency: "USD",
          cost: 60,
          minPrice: 80,
          maxPrice: 130,
          version: 1,
        })),
      );
    // The ceiling of the catalog stage here: DynamoDB Local's own write rate on this machine.
    {
      const writes = 200;
      let next = 0;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: CATALOG_PARALLELISM }, async () => {
          while (next < writes) {
            const i = next++;
            await dynamo.send(
              new UpdateItemCommand({
                TableName: "Catalog",
                Key: { productId: { S: `ceiling-${i}` } },
                UpdateExpression: "SET price = :p",
                ExpressionAttributeValues: { ":p": { N: "1" } },
              }),
            );
          }
        }),
      );
      const rate = (writes / (performance.now() - started)) * 1000;
      console.log(
        `  DynamoDB Local ceiling: ${rate.toFixed(0)} plain UpdateItem/s with ${CATALOG_PARALLELISM} in flight`,
      );
    }
    for (const store of ["DynamoDB Local catalog", "in-memory catalog (model path only)"] as const) {
      console.log(`  with the ${store}:`);
      const rates: number[] = [];
      for (const [v, variant] of variants.entries()) {
        const perSecond: number[] = [];
        const calls: number[] = [];
        const applied: number[] = [];
        for (let round = 0; round < ROUNDS; round++) {
          const batch = batchOf(`${store.slice(0, 2)}v${v}r${round}`);
          const ids = batch.map((r) => r.image.productId);
          let target = catalog;
          if (store === "DynamoDB Local catalog") await seedCatalog(dynamo, ids);
          else target = memoryCatalogFor(ids);
          const started = performance.now();
          const result = await priceRequests(batch, {
            model,
            catalog: target,
            audit: { publishAll: async () => {} },
            config: { catalogParallelism: CATALOG_PARALLELISM, ...variant.config },
          });
          const ms = performance.now() - started;
          perSecond.push((BATCH / ms) * 1000);
          calls.push(result.modelCalls);
          applied.push(result.outcomes.filter((o) => o.kind === "applied").length);
        }
        rates.push(median(perSecond));
        console.log(
          `    ${variant.name.padEnd(52)} ${median(perSecond).toFixed(0).padStart(6)} records/s  ` +
            `${median(calls)} InvokeEndpoint calls/batch  ${median(applied)} changes applied/batch`,
        );
      }
      const [batched, sequential, parallel] = rates as [number, number, number];
      console.log(
        `    speed-up, batched vs one call per record: ${(batched / sequential).toFixed(1)}x (sequential), ` +
          `${(batched / parallel).toFixed(1)}x (4 in flight)`,
      );
    }

    console.log(`\nDemandHydration: ${EVENTS} clickstream events, batches of ${BATCH}, 2 shards, 100 products`);
    const start = Date.parse("2026-11-23T08:00:00.000Z");
    const actions = ["impression", "impression", "impression", "click", "add_to_cart", "purchase"];
    const records: HydrationRecord[] = Array.from({ length: EVENTS }, (_, i) => ({
      shardId: `shard-${i % 2}`,
      sequenceNumber: String(10_000_000 + i),
      value: {
        productId: `h-p${i % 100}`,
        action: actions[i % actions.length],
        // 30 minutes of events: six windows close along the way.
        ts: new Date(start + Math.floor((i / EVENTS) * 30 * 60_000)).toISOString(),
      },
    }));
    const putRequest: HydrationDeps["putRequest"] = async () => "created";
    const inventoryOf: HydrationDeps["inventoryOf"] = async (ids) => new Map(ids.map((id) => [id, 10]));
    for (const [name, store] of [
      ["DynamoDB window store (DynamoDB Local)", createDynamoWindowStore(dynamo, "DemandWindows")],
      ["in-memory window store (domain only)", createMemoryWindowStore()],
    ] as const) {
      let created = 0;
      const started = performance.now();
      for (let i = 0; i < records.length; i += BATCH) {
        const result = await hydrateDemand(records.slice(i, i + BATCH), { store, putRequest, inventoryOf });
        created += result.requestsCreated.length;
      }
      const ms = performance.now() - started;
      console.log(
        `  ${name.padEnd(40)} ${((EVENTS / ms) * 1000).toFixed(0).padStart(7)} events/s  ${created} requests written`,
      );
    }
  } finally {
    dynamo.destroy();
    sagemaker.destroy();
    await runtime.stop();
    await dynamoLocal.stop();
  }
}

await main();
