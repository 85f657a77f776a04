/** What DemandHydration says about a batch: its log lines, the refused events on the Audit topic, its metrics. */
import type { AuditSink } from "@sluice/messages";
import type { Observability } from "@sluice/observability";
import type { HydrationResult } from "@sluice/pricing";

export async function reportHydration(
  result: HydrationResult,
  { logger, metrics }: Observability,
  audit: AuditSink,
): Promise<void> {
  for (const invalid of result.invalid) logger.warn("invalid clickstream event skipped", { ...invalid });
  // Refused (dated too far ahead): its producer's clock must be fixed; WARN, like its audit message.
  for (const refused of result.refused) logger.warn("clickstream event refused", { ...refused });
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
}
