/**
 * What DemandHydration says about a batch: its log lines, the records it did not count (invalid, dated too far ahead)
 * on the Audit topic with where their dead letters are, the events it dropped as late, its metrics.
 */
import type { AuditSink } from "@sluice/messages";
import type { Observability } from "@sluice/observability";
import type { HydrationResult, WindowConfig } from "@sluice/pricing";
import { type DeadLetterFields, poisonKey } from "#kit/dead-letter";

export async function reportHydration(
  result: HydrationResult,
  deadLetters: ReadonlyMap<string, DeadLetterFields>,
  { logger, metrics }: Observability,
  audit: AuditSink,
  windows: WindowConfig,
): Promise<void> {
  // Late: dated before the end of the latest window its shard has closed. Not an error of the record (no dead letter),
  // but demand that is never counted, the usual sign of a backfill behind the shard's watermark: WARN, once per shard.
  for (const late of result.lateEvents) {
    logger.warn(
      "late clickstream events not counted: their windows had closed (events older than the window's allowed lateness behind the shard's watermark are dropped)",
      {
        shardId: late.shardId,
        events: late.events,
        oldest: new Date(late.oldestMs).toISOString(),
        newest: new Date(late.newestMs).toISOString(),
        watermark: new Date(late.watermarkMs).toISOString(),
        closedBefore: new Date(late.closedBeforeMs).toISOString(),
        windowSeconds: windows.windowMs / 1000,
        latenessSeconds: windows.latenessMs / 1000,
      },
    );
  }
  // Refused (not a clickstream event, or dated too far ahead): its producer must fix it; WARN, like its audit message.
  for (const invalid of result.invalid) {
    logger.warn("invalid clickstream event refused", { ...invalid, ...deadLetters.get(poisonKey(invalid)) });
  }
  for (const refused of result.refused) {
    logger.warn("clickstream event refused", { ...refused, ...deadLetters.get(poisonKey(refused)) });
  }
  await audit.publishAll(
    [
      ...result.invalid.map((invalid) => ({ ...invalid, action: "decode" })),
      ...result.refused.map((refused) => ({ ...refused, action: "count" })),
    ].map((bad) => ({
      pipeline: "demand-hydration",
      action: bad.action,
      outcome: "refused" as const,
      reason: bad.reason,
      shardId: bad.shardId,
      sequenceNumber: bad.sequenceNumber,
      correlationId: `${bad.shardId}:${bad.sequenceNumber}`,
      ...deadLetters.get(poisonKey(bad)),
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
}
