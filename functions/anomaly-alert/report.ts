/**
 * What AnomalyAlert says about a batch: its log lines, what it refused on the Audit topic (events of sites over the
 * limit, malformed records), its metrics.
 */
import type { BatchOutcome } from "@sluice/anomaly/pipeline";
import type { AuditSink } from "@sluice/messages";
import type { Observability } from "@sluice/observability";
import { type DeadLetterFields, poisonKey } from "#kit/dead-letter";

type Skipped = BatchOutcome["skippedSites"];

const listed = (skipped: Skipped) => skipped.slice(0, 20).map((s) => ({ site: s.site, events: s.events }));
const eventsOf = (skipped: Skipped) => skipped.reduce((n, s) => n + s.events, 0);

export async function reportScoring(
  outcome: BatchOutcome,
  context: { records: number; maxSites: number; deadLetters: ReadonlyMap<string, DeadLetterFields> },
  { logger, metrics }: Observability,
  audit: AuditSink,
): Promise<void> {
  // Refused (not decodable): its producer must fix it; WARN, like its audit message.
  for (const bad of outcome.malformed) {
    logger.warn("malformed clickstream record", { ...bad, ...context.deadLetters.get(poisonKey(bad)) });
  }
  for (const failed of outcome.failedAlerts) logger.warn("alert not published, to be retried", { ...failed });
  for (const gone of outcome.evicted) logger.info("site evicted after silence, its state dropped", { ...gone });
  const overLimit = outcome.skippedSites.filter((s) => s.reason === "over-limit");
  const notAllowed = outcome.skippedSites.filter((s) => s.reason === "not-allowed");
  if (notAllowed.length > 0) {
    logger.info("events of sites outside ANOMALY_SITES not counted", {
      sites: notAllowed.length,
      events: eventsOf(notAllowed),
      first: listed(notAllowed),
    });
  }
  if (overLimit.length > 0) {
    const reason = `${context.maxSites} sites known (ANOMALY_MAX_SITES): events of ${overLimit.length} new site(s) not counted`;
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
      ...context.deadLetters.get(poisonKey(bad)),
    })),
  );
  // Late: dated in a window the stream's watermark had closed. Not an error of the record (no dead letter), but
  // events not counted (a backfill behind the watermark, a producer's clock behind): said, not only counted.
  if (outcome.lateEvents) {
    logger.warn(
      "late clickstream events not counted: their windows had closed (events older than the window's allowed lateness behind the stream's watermark are dropped)",
      {
        events: outcome.lateEvents.events,
        sites: outcome.lateEvents.sites,
        oldest: new Date(outcome.lateEvents.oldestMs).toISOString(),
        newest: new Date(outcome.lateEvents.newestMs).toISOString(),
        closedBefore: new Date(outcome.lateEvents.closedBefore).toISOString(),
      },
    );
  }
  logger.info("clickstream scored", {
    records: context.records,
    counted: outcome.counted,
    replayed: outcome.replayed,
    late: outcome.late,
    malformed: outcome.malformed.length,
    deadLettered: [...context.deadLetters.values()].filter((f) => "deadLetterMessageId" in f).length,
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
}
