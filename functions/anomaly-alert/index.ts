/**
 * AnomalyAlert: clickstream events (the `Clickstream` Kinesis stream) are counted per site into event-time
 * windows, every closed window of every metric is scored by its streaming detector, and incidents are published to
 * `Alerts` once when they open and once when they resolve (see `processClickstreamBatch` in @sluice/anomaly).
 *
 * A malformed record is reported as a batch item failure (Lambda retries from it, then hands the batch's range to
 * AnomalyAlertDlq) with its reason logged and sent to `Audit`; the records around it are counted anyway, and their
 * replays are recognised, so it does not hold the shard beyond the retries.
 *
 * Sites: a site is known from its first event; one silent for `ANOMALY_SITE_IDLE_SECONDS` is evicted (its state
 * dropped, logged); at most `ANOMALY_MAX_SITES` are known at once (events of further new sites are counted in no
 * window, logged and reported to `Audit`); `ANOMALY_SITES`, when set, is the comma-separated list of the only sites
 * counted (events of others are counted as not allowed).
 *
 * Config (env): `ANOMALY_WINDOW_SECONDS` (60), `ANOMALY_LATENESS_SECONDS` (30), `ANOMALY_ALERT_THRESHOLD` (0.5),
 * `ANOMALY_STREAM_SHARDS` (1: the shards the watermark waits for), `ANOMALY_SITE_IDLE_SECONDS` (86400),
 * `ANOMALY_MAX_SITES` (1000), `ANOMALY_SITES` (unset: every site).
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SNSClient } from "@aws-sdk/client-sns";
import { DEFAULT_PIPELINE, type PipelineConfig, processClickstreamBatch } from "@sluice/anomaly/pipeline";
import { createDynamoAnomalyStore, createSnsAlertPublisher } from "@sluice/aws/anomaly";
import { createSnsAuditSink } from "@sluice/aws/audit";
import { createObservability, withObservability } from "@sluice/observability";
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from "aws-lambda";
import * as z from "zod/mini";
import { configOf, decimal, list, wholeNumber } from "#kit/config";
import { failingRecords, kinesisRecordsOf } from "#kit/kinesis-records";
import { linksOf } from "#kit/links";
import { reportScoring } from "./report.ts";

const links = linksOf<"AnomalyAlert">();
const { windowing, policy } = DEFAULT_PIPELINE;
const env = configOf(
  "AnomalyAlert",
  z.object({
    ANOMALY_WINDOW_SECONDS: wholeNumber(windowing.windowMs / 1000, { min: 1 }),
    ANOMALY_LATENESS_SECONDS: wholeNumber(windowing.latenessMs / 1000),
    ANOMALY_ALERT_THRESHOLD: decimal(policy.threshold, { above: 0, max: 1 }),
    ANOMALY_STREAM_SHARDS: wholeNumber(1, { min: 1 }),
    ANOMALY_SITE_IDLE_SECONDS: wholeNumber(windowing.siteIdleMs / 1000, { min: 1 }),
    ANOMALY_MAX_SITES: wholeNumber(windowing.maxSites, { min: 1 }),
    ANOMALY_SITES: list(),
  }),
);
const config: PipelineConfig = {
  ...DEFAULT_PIPELINE,
  windowing: {
    ...windowing,
    expectedShards: env.ANOMALY_STREAM_SHARDS,
    windowMs: env.ANOMALY_WINDOW_SECONDS * 1000,
    latenessMs: env.ANOMALY_LATENESS_SECONDS * 1000,
    siteIdleMs: env.ANOMALY_SITE_IDLE_SECONDS * 1000,
    maxSites: env.ANOMALY_MAX_SITES,
    allowedSites: env.ANOMALY_SITES,
  },
  policy: { ...policy, threshold: env.ANOMALY_ALERT_THRESHOLD },
};

const observability = createObservability({ serviceName: "anomaly-alert" });
const sns = new SNSClient({});
const store = createDynamoAnomalyStore(new DynamoDBClient({}), links.AnomalyState.name, {
  // Items a commit no longer names whose deletion failed: never read again, only space.
  onGarbage: (keys, error) =>
    observability.logger.warn("state items left behind", { items: keys.length, first: keys[0], error: String(error) }),
});
const alerts = createSnsAlertPublisher(sns, links.Alerts.arn);
const audit = createSnsAuditSink(sns, links.Audit.arn);

async function detectAnomalies(event: KinesisStreamEvent): Promise<KinesisStreamBatchResponse> {
  const records = kinesisRecordsOf(event);
  const outcome = await processClickstreamBatch(records, { store, alerts, audit, config });
  await reportScoring(outcome, { records: records.length, maxSites: config.windowing.maxSites }, observability, audit);
  return failingRecords(outcome.malformed);
}

export const handler = withObservability(detectAnomalies, observability);
