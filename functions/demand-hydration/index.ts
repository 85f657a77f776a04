/**
 * DemandHydration: clickstream events (the `Clickstream` Kinesis stream) become per-product demand features per
 * event-time window, and one inference request per product per closed window in `InferenceRequests` (see
 * `hydrateDemand` in @sluice/pricing). Counting and closing are idempotent, so a failed batch is retried by the
 * stream; invalid events are logged and skipped (they must not block the shard).
 *
 * An event dated more than `DEMAND_MAX_FUTURE_SECONDS` after the time of processing is refused, as AnomalyAlert
 * refuses it: not counted (it would close every window of its shard), logged and sent to `Audit` with its reason,
 * and returned as a batch item failure, so Lambda retries from it (the events after it, counted in this invocation,
 * are recognised as counted) and then hands the batch's range to DemandHydrationDlq.
 *
 * Config (env): `DEMAND_WINDOW_SECONDS` (default 300), `DEMAND_LATENESS_SECONDS` (default 60),
 * `DEMAND_MAX_FUTURE_SECONDS` (default 300).
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SNSClient } from "@aws-sdk/client-sns";
import { createSnsAuditSink } from "@sluice/aws/audit";
import { createDynamoWindowStore } from "@sluice/aws/demand-windows";
import { createDynamoInventory, createDynamoRequestStore } from "@sluice/aws/pricing-catalog";
import { decodeKinesisJson, UndecodableRecord } from "@sluice/messages";
import { createObservability, withObservability } from "@sluice/observability";
import { DEFAULT_WINDOWS, type HydrationRecord, hydrateDemand } from "@sluice/pricing";
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from "aws-lambda";
import { Resource } from "sst";

const links = Resource as unknown as {
  Catalog: { name: string };
  InferenceRequests: { name: string };
  DemandWindows: { name: string };
  Audit: { arn: string };
};

function seconds(name: string, fallbackMs: number): number {
  const text = process.env[name];
  if (text === undefined || text === "") return fallbackMs;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name}=${text}: expected a whole number of seconds`);
  return value * 1000;
}

const config = {
  windowMs: seconds("DEMAND_WINDOW_SECONDS", DEFAULT_WINDOWS.windowMs),
  latenessMs: seconds("DEMAND_LATENESS_SECONDS", DEFAULT_WINDOWS.latenessMs),
  maxFutureMs: seconds("DEMAND_MAX_FUTURE_SECONDS", DEFAULT_WINDOWS.maxFutureMs),
};
if (config.windowMs <= 0) throw new Error("DEMAND_WINDOW_SECONDS must be > 0");

const observability = createObservability({ serviceName: "demand-hydration" });
const dynamo = new DynamoDBClient({});
const store = createDynamoWindowStore(dynamo, links.DemandWindows.name);
const requests = createDynamoRequestStore(dynamo, links.InferenceRequests.name);
const inventory = createDynamoInventory(dynamo, links.Catalog.name);
const audit = createSnsAuditSink(new SNSClient({}), links.Audit.arn);

function recordOf(record: KinesisStreamEvent["Records"][number]): HydrationRecord {
  let value: unknown;
  try {
    value = decodeKinesisJson(record.kinesis.data);
  } catch (error) {
    // Not JSON: counted as an invalid event, as anything that is not a clickstream event.
    if (!(error instanceof UndecodableRecord)) throw error;
    value = undefined;
  }
  return { shardId: record.eventID.split(":")[0] ?? "", sequenceNumber: record.kinesis.sequenceNumber, value };
}

async function hydrate(event: KinesisStreamEvent): Promise<KinesisStreamBatchResponse> {
  const result = await hydrateDemand(event.Records.map(recordOf), {
    store,
    putRequest: (request) => requests.putRequest(request),
    inventoryOf: (ids) => inventory.inventoryOf(ids),
    config,
  });
  const { logger, metrics } = observability;
  for (const invalid of result.invalid) logger.warn("invalid clickstream event skipped", { ...invalid });
  for (const refused of result.refused) logger.error("clickstream event refused", { ...refused });
  await audit.publishAll(
    result.refused.map((refused) => ({
      pipeline: "demand-hydration",
      action: "count",
      outcome: "refused" as const,
      reason: refused.reason,
      shardId: refused.shardId,
      sequenceNumber: refused.sequenceNumber,
      correlationId: `${refused.shardId}:${refused.sequenceNumber}`,
    })),
  );
  logger.info("demand hydrated", {
    eventsCounted: result.eventsCounted,
    late: result.late,
    invalid: result.invalid.length,
    refused: result.refused.length,
    requestsCreated: result.requestsCreated,
    requestsExisting: result.requestsExisting.length,
  });
  metrics.addMetric("EventsCounted", "Count", result.eventsCounted);
  metrics.addMetric("LateEvents", "Count", result.late);
  metrics.addMetric("InvalidEvents", "Count", result.invalid.length);
  metrics.addMetric("FutureEvents", "Count", result.refused.length);
  metrics.addMetric("InferenceRequests", "Count", result.requestsCreated.length);
  return { batchItemFailures: result.refused.map((refused) => ({ itemIdentifier: refused.sequenceNumber })) };
}

export const handler = withObservability(hydrate, observability);
