/**
 * The alert message AnomalyAlert publishes to the `Alerts` topic: once when an incident opens, once when it
 * resolves. Consumers deduplicate on site, metric, window and status (SNS delivers at least once).
 */
import * as z from "zod/mini";

/** A metric's expected band: its baseline mean and the band around it. */
export const expectedBand = z.object({
  mean: z.number(),
  low: z.number(),
  high: z.number(),
});

export type ExpectedBand = z.infer<typeof expectedBand>;

export const alertMessage = z.object({
  type: z.literal("anomaly"),
  status: z.enum(["open", "resolved"]),
  site: z.string(),
  metric: z.string(),
  /** ISO-8601 UTC. */
  windowStart: z.string(),
  windowEnd: z.string(),
  value: z.number(),
  expected: expectedBand,
  score: z.number(),
  severity: z.enum(["warning", "critical"]),
  /** Every metric anomalous when the incident opened (the `metric` first). */
  metrics: z.array(z.string()),
  /** On a resolved message: when its incident opened (the window start of the open message). */
  openedAt: z.optional(z.string()),
});

export type AlertMessage = z.infer<typeof alertMessage>;
