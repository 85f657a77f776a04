/**
 * DemandHydration: clickstream events (the `Clickstream` Kinesis stream) become per-product demand features per
 * event-time window, and one inference request per product per closed window in `InferenceRequests` (see
 * `hydrateDemand` in @sluice/pricing). Counting and closing are idempotent, so a failed batch is retried by the
 * stream.
 *
 * A record that is not a clickstream event (not JSON, a field missing, a `productId` longer than the contract's 200
 * bytes...) and an event dated more than `DEMAND_MAX_FUTURE_SECONDS` after the time of processing (counted, it would
 * close every window of its shard) are not counted: each is sent to DemandHydrationDlq with its data and reason
 * (#kit/dead-letter), logged (WARN) and reported to `Audit` with the message's id, and is done; the rest of the batch
 * goes on. Only a record the queue does not take is returned as a batch item failure (Lambda retries from it, the
 * events after it, counted in this invocation, recognised as counted, then hands the batch's range to
 * DemandHydrationDlq).
 *
 * An event dated before the end of the latest window its shard has closed (the shard's watermark minus the window's
 * allowed lateness, `DEMAND_LATENESS_SECONDS`) is late: not counted, and said in a WARN line per shard (how many,
 * their oldest and newest times, the watermark), the usual sign of a backfill pushed behind newer events.
 *
 * Config (env): `DEMAND_WINDOW_SECONDS` (default 300), `DEMAND_LATENESS_SECONDS` (default 60),
 * `DEMAND_MAX_FUTURE_SECONDS` (default 300).
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SNSClient } from "@aws-sdk/client-sns";
import { createSnsAuditSink } from "@sluice/aws/audit";
import { createDynamoWindowStore } from "@sluice/aws/demand-windows";
import { createDynamoInventory, createDynamoRequestStore } from "@sluice/aws/pricing";
import { decodeKinesisJson, UndecodableRecord } from "@sluice/messages";
import { createObservability, withObservability } from "@sluice/observability";
import { DEFAULT_WINDOWS, hydrateDemand } from "@sluice/pricing";
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from "aws-lambda";
import * as z from "zod/mini";
import { configOf, wholeNumber } from "#kit/config";
import { deadLettersOf, kinesisPoisonOf } from "#kit/dead-letter";
import { failingRecords, kinesisRecordsOf } from "#kit/kinesis-records";
import { linksOf } from "#kit/links";
import { reportHydration } from "./report.ts";

const links = linksOf<"DemandHydration">();
const env = configOf(
  "DemandHydration",
  z.object({
    DEMAND_WINDOW_SECONDS: wholeNumber(DEFAULT_WINDOWS.windowMs / 1000, { min: 1 }),
    DEMAND_LATENESS_SECONDS: wholeNumber(DEFAULT_WINDOWS.latenessMs / 1000),
    DEMAND_MAX_FUTURE_SECONDS: wholeNumber(DEFAULT_WINDOWS.maxFutureMs / 1000),
  }),
);
const config = {
  windowMs: env.DEMAND_WINDOW_SECONDS * 1000,
  latenessMs: env.DEMAND_LATENESS_SECONDS * 1000,
  maxFutureMs: env.DEMAND_MAX_FUTURE_SECONDS * 1000,
};

const observability = createObservability({ serviceName: "demand-hydration" });
const dynamo = new DynamoDBClient({});
const store = createDynamoWindowStore(dynamo, links.DemandWindows.name);
const requests = createDynamoRequestStore(dynamo, links.InferenceRequests.name);
const inventory = createDynamoInventory(dynamo, links.Catalog.name);
const audit = createSnsAuditSink(new SNSClient({}), links.Audit.arn);
const deadLetters = deadLettersOf("DemandHydration");

/** The JSON a record holds, or why it holds none (`not JSON: "..."`, as AnomalyAlert says): counted as invalid. */
function eventOf(data: string): { value: unknown; unreadable?: string } {
  try {
    return { value: decodeKinesisJson(data) };
  } catch (error) {
    if (error instanceof UndecodableRecord) return { value: undefined, unreadable: error.message };
    throw error;
  }
}

async function hydrate(event: KinesisStreamEvent): Promise<KinesisStreamBatchResponse> {
  const received = kinesisRecordsOf(event);
  const records = received.map(({ data, ...record }) => ({ ...record, ...eventOf(data) }));
  const result = await hydrateDemand(records, {
    store,
    putRequest: (request) => requests.putRequest(request),
    inventoryOf: (ids) => inventory.inventoryOf(ids),
    config,
  });
  const poison = kinesisPoisonOf(received, [...result.invalid, ...result.refused]);
  const dead = await deadLetters.send(poison, observability);
  await reportHydration(result, dead.fields, observability, audit, config);
  return failingRecords(dead.unsent);
}

export const handler = withObservability(hydrate, observability);
