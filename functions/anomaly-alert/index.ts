/**
 * AnomalyAlert: clickstream events (the `Clickstream` Kinesis stream) are counted per site into event-time
 * windows, every closed window of every metric is scored by its streaming detector, and incidents are published to
 * `Alerts` once when they open and once when they resolve (see `processClickstreamBatch` in @sluice/anomaly).
 *
 * A malformed record (not a clickstream event, or dated more than `ANOMALY_MAX_FUTURE_SECONDS` ahead) is sent to AnomalyAlertDlq with its data and
 * reason (#kit/dead-letter), logged and reported to `Audit` with the message's id, and is done: the rest of the batch
 * goes on, nothing is retried. Only if the queue does not take it is it returned as a batch item failure (Lambda
 * retries from it, then hands the batch's range to AnomalyAlertDlq); the records around it are counted anyway, and
 * their replays are recognised.
 *
 * Sites: a site is known from its first event; one silent for `ANOMALY_SITE_IDLE_SECONDS` is evicted (its state
 * dropped, logged); at most `ANOMALY_MAX_SITES` are known at once (events of further new sites are counted in no
 * window, logged and reported to `Audit`); `ANOMALY_SITES`, when set, is the comma-separated list of the only sites
 * counted (events of others are counted as not allowed).
 *
 * Config (env): see config.ts.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SNSClient } from "@aws-sdk/client-sns";
import { processClickstreamBatch } from "@sluice/anomaly/pipeline";
import { createDynamoAnomalyStore, createSnsAlertPublisher } from "@sluice/aws/anomaly";
import { createSnsAuditSink } from "@sluice/aws/audit";
import { createObservability, withObservability } from "@sluice/observability";
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from "aws-lambda";
import { deadLettersOf, kinesisPoisonOf } from "#kit/dead-letter";
import { failingRecords, kinesisRecordsOf } from "#kit/kinesis-records";
import { linksOf } from "#kit/links";
import { pipelineConfigOf, stateStoreOptionsOf } from "./config.ts";
import { reportScoring } from "./report.ts";

const links = linksOf<"AnomalyAlert">();
const config = pipelineConfigOf();

const observability = createObservability({ serviceName: "anomaly-alert" });
const sns = new SNSClient({});
const store = createDynamoAnomalyStore(new DynamoDBClient({}), links.AnomalyState.name, {
  ...stateStoreOptionsOf(),
  // Items whose deletion failed (what a commit replaced or, losing a race or cut off, wrote): never read again, only
  // space until they expire (pages never do).
  onGarbage: (keys, error) =>
    observability.logger.warn("state items left behind", { items: keys.length, first: keys[0], error: String(error) }),
  // Series whose state expired (the stream silent for longer than the retention) or was deleted: they learn again.
  onExpired: (keys) =>
    observability.logger.warn("series state gone: learning again", { series: keys.length, first: keys[0] }),
});
const alerts = createSnsAlertPublisher(sns, links.Alerts.arn);
const audit = createSnsAuditSink(sns, links.Audit.arn);
const deadLetters = deadLettersOf("AnomalyAlert");

async function detectAnomalies(event: KinesisStreamEvent): Promise<KinesisStreamBatchResponse> {
  const records = kinesisRecordsOf(event);
  const outcome = await processClickstreamBatch(records, { store, alerts, audit, config });
  const poison = kinesisPoisonOf(records, outcome.malformed);
  const dead = await deadLetters.send(poison, observability);
  await reportScoring(
    outcome,
    { records: records.length, maxSites: config.windowing.maxSites, deadLetters: dead.fields },
    observability,
    audit,
  );
  return failingRecords(dead.unsent);
}

export const handler = withObservability(detectAnomalies, observability);
