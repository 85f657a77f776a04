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
 * Config (env, read by `pipelineConfigFromEnv` of @sluice/anomaly/config, where the defaults are):
 * `ANOMALY_WINDOW_SECONDS`, `ANOMALY_LATENESS_SECONDS`, `ANOMALY_ALERT_THRESHOLD`, `ANOMALY_STREAM_SHARDS` (the
 * shards the watermark waits for: infra/wiring.ts sets it to the Clickstream stream's `shardCount`),
 * `ANOMALY_SITE_IDLE_SECONDS`, `ANOMALY_MAX_SITES`, `ANOMALY_SITES`.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SNSClient } from "@aws-sdk/client-sns";
import { pipelineConfigFromEnv } from "@sluice/anomaly/config";
import { type PipelineConfig, processClickstreamBatch } from "@sluice/anomaly/pipeline";
import { createDynamoAnomalyStore, createSnsAlertPublisher } from "@sluice/aws/anomaly";
import { createSnsAuditSink } from "@sluice/aws/audit";
import { createObservability, withObservability } from "@sluice/observability";
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from "aws-lambda";
import { Resource } from "sst";

const links = Resource as unknown as {
  AnomalyState: { name: string };
  Alerts: { arn: string };
  Audit: { arn: string };
};

const config: PipelineConfig = pipelineConfigFromEnv(process.env);

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
  const records = event.Records.map((r) => ({
    shardId: r.eventID.split(":")[0] ?? "",
    sequenceNumber: r.kinesis.sequenceNumber,
    data: r.kinesis.data,
  }));
  const outcome = await processClickstreamBatch(records, { store, alerts, audit, config });
  const { logger, metrics } = observability;
  for (const bad of outcome.malformed) logger.error("malformed clickstream record", { ...bad });
  for (const failed of outcome.failedAlerts) logger.warn("alert not published, to be retried", { ...failed });
  for (const gone of outcome.evicted) logger.info("site evicted after silence, its state dropped", { ...gone });
  const overLimit = outcome.skippedSites.filter((s) => s.reason === "over-limit");
  const notAllowed = outcome.skippedSites.filter((s) => s.reason === "not-allowed");
  const listed = (skipped: typeof overLimit) => skipped.slice(0, 20).map((s) => ({ site: s.site, events: s.events }));
  const eventsOf = (skipped: typeof overLimit) => skipped.reduce((n, s) => n + s.events, 0);
  if (notAllowed.length > 0) {
    logger.info("events of sites outside ANOMALY_SITES not counted", {
      sites: notAllowed.length,
      events: eventsOf(notAllowed),
      first: listed(notAllowed),
    });
  }
  if (overLimit.length > 0) {
    const reason = `${config.windowing.maxSites} sites known (ANOMALY_MAX_SITES): events of ${overLimit.length} new site(s) not counted`;
    logger.warn(reason, { events: eventsOf(overLimit), first: listed(overLimit) });
    await audit.publish({
      pipeline: "anomaly-alert",
      action: "count",
      outcome: "refused",
      reason,
      sites: overLimit.length,
      events: eventsOf(overLimit),
      first: listed(overLimit),
    });
  }
  for (const given of outcome.undeliverable) {
    logger.error(given.unreported ? "alert given up, Audit refused its report" : "alert given up, reported to Audit", {
      ...given,
    });
  }
  await audit.publishAll(
    outcome.malformed.map((bad) => ({
      pipeline: "anomaly-alert",
      action: "decode",
      outcome: "refused" as const,
      reason: bad.reason,
      shardId: bad.shardId,
      sequenceNumber: bad.sequenceNumber,
      correlationId: `${bad.shardId}:${bad.sequenceNumber}`,
    })),
  );
  logger.info("clickstream scored", {
    records: records.length,
    counted: outcome.counted,
    replayed: outcome.replayed,
    late: outcome.late,
    malformed: outcome.malformed.length,
    closedWindows: outcome.closedWindows,
    alerts: outcome.published.length,
    alertFailures: outcome.failedAlerts.length,
    undeliverable: outcome.undeliverable.length,
    attempts: outcome.attempts,
  });
  metrics.addMetric("EventsCounted", "Count", outcome.counted);
  metrics.addMetric("LateEvents", "Count", outcome.late);
  metrics.addMetric("ReplayedEvents", "Count", outcome.replayed);
  metrics.addMetric("MalformedRecords", "Count", outcome.malformed.length);
  metrics.addMetric("WindowsClosed", "Count", outcome.closedWindows);
  metrics.addMetric("AlertsPublished", "Count", outcome.published.length);
  metrics.addMetric("SitesEvicted", "Count", outcome.evicted.length);
  metrics.addMetric("EventsOverSiteLimit", "Count", eventsOf(overLimit));
  metrics.addMetric("EventsNotAllowed", "Count", eventsOf(notAllowed));
  metrics.addMetric("AlertPublishFailures", "Count", outcome.failedAlerts.length);
  metrics.addMetric("AlertsUndeliverable", "Count", outcome.undeliverable.length);
  return { batchItemFailures: outcome.malformed.map((bad) => ({ itemIdentifier: bad.sequenceNumber })) };
}

export const handler = withObservability(detectAnomalies, observability);
