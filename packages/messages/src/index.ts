/**
 * `@sluice/messages`: the messages that cross pipeline boundaries, each defined once (zod/mini), and what decodes
 * them where they arrive. Domain packages, adapters, handlers and the local cloud import them from here.
 *
 * Side-effect free (`"sideEffects": false`): a bundle carries only the modules whose exports it uses, so none
 * carries the JSON Schema generator.
 */
export {
  type AlertMessage,
  type AlertWindow,
  alertMessage,
  alertSummary,
  alertWindow,
  averageBand,
  bandDistance,
  bandPosition,
  type ExpectedBand,
  expectedBand,
  type MovedMetric,
  movedMetric,
} from "./alert.ts";
export {
  AUDIT_OUTCOMES,
  type AuditBatchPort,
  type AuditFields,
  type AuditMessage,
  type AuditOutcome,
  type AuditPort,
  type AuditSink,
  auditFields,
  auditMessage,
} from "./audit.ts";
export {
  CLICKSTREAM_ACTIONS,
  type ClickstreamAction,
  type ClickstreamEvent,
  clickstreamEvent,
  clickstreamEventIssues,
  InvalidClickstreamEvent,
  isClickstreamEvent,
  isIsoUtcTimestamp,
  MAX_KEY_BYTES,
  maxUtf8Bytes,
  parseClickstreamEvent,
} from "./clickstream.ts";
export { type ClickstreamEventJsonSchema, clickstreamEventJsonSchema } from "./clickstream-json-schema.ts";
export { issuePhrases } from "./issues.ts";
export { decodeClickstreamRecord, decodeKinesisJson, UndecodableRecord } from "./kinesis.ts";
export { decodeS3EventKey, InvalidEventKey } from "./s3-event-key.ts";
