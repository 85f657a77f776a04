/**
 * The audit message: every pipeline reports what it did, skipped, refused or failed to do as one JSON message on
 * the `Audit` topic, which the SnsLogger turns into a log record. Pipelines add their own fields (from, to, size,
 * sequence numbers, ...): consumers deduplicate on what identifies the file, request or record.
 */
import * as z from "zod/mini";

export const AUDIT_OUTCOMES = ["succeeded", "skipped", "refused", "failed"] as const;

export const auditMessage = z.looseObject({
  /** The pipeline or function reporting: `file-mover`, `cdc-merge`, ... */
  pipeline: z.string(),
  /** What happened: `move`, `delete-request`, `merge`, `price-change`, ... */
  action: z.string(),
  outcome: z.enum(AUDIT_OUTCOMES),
  /** Ties the message to the request or event that caused it. */
  correlationId: z.optional(z.string()),
  reason: z.optional(z.string()),
});

/** One audit message. */
export type AuditMessage = z.infer<typeof auditMessage>;

export type AuditOutcome = AuditMessage["outcome"];

/** An audit message's own fields: what a pipeline adds to its `pipeline` and `action`. */
export const auditFields = z.omit(auditMessage, { pipeline: true, action: true });

export type AuditFields = z.infer<typeof auditFields>;

/**
 * The audit port: where pipelines report. `@sluice/aws/audit` implements it on the SNS topic; tests hand in an
 * array-backed fake of the part they use.
 */
export interface AuditSink {
  publish(message: AuditMessage): Promise<void>;
  publishAll(messages: readonly AuditMessage[]): Promise<void>;
}

/** What a flow that reports one message at a time needs of the sink (the file pipelines, CDC). */
export type AuditPort = Pick<AuditSink, "publish">;

/** What a flow that reports a batch at a time needs of the sink (pricing, anomaly alerting). */
export type AuditBatchPort = Pick<AuditSink, "publishAll">;
