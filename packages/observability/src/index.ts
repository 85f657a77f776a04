/**
 * `@sluice/observability`: the logger and metrics every Sluice function uses, redaction and truncation of what
 * they print, and the SNS log record.
 */

export { InvalidObservabilityConfig } from "./errors.ts";
export { type LogLevelName, SluiceLogger, type SluiceLoggerOptions } from "./logger.ts";
export {
  createObservability,
  DEFAULT_METRICS_NAMESPACE,
  maxLogBytesFromEnv,
  type Observability,
  type ObservabilityOptions,
  type WithObservabilityOptions,
  withObservability,
} from "./observability.ts";
export {
  compilePattern,
  createRedactingReplacer,
  createRedactionPolicy,
  DEFAULT_PATTERNS,
  DEFAULT_SENSITIVE_KEYS,
  defaultRedactionPolicy,
  isCardNumber,
  isSpanishId,
  isValidIban,
  looksLikeAwsSecretKey,
  normalizeKeyName,
  passesLuhn,
  type RedactionPattern,
  type RedactionPolicy,
  type RedactionPolicyOptions,
  redact,
  redactionMarker,
  redactionPolicyFromEnv,
  sensitiveKeyName,
} from "./redaction.ts";
export {
  type AttributeValue,
  buildSnsLogRecord,
  countSnsMessages,
  flattenAttributes,
  InvalidSnsEvent,
  levelFromSeverity,
  logSnsRecord,
  parseMessage,
  SNS_LOG_MESSAGE,
  SNS_MESSAGES_METRIC,
  type SnsLogRecord,
  snsRecordsOf,
  topicNameOf,
} from "./sns-log-record.ts";
export {
  byteLength,
  CLOUDWATCH_LOGS_EVENT_MAX_BYTES,
  CLOUDWATCH_LOGS_EVENT_OVERHEAD_BYTES,
  DEFAULT_MAX_LOG_BYTES,
  fitLogLine,
  LAMBDA_LOG_EVENT_MAX_BYTES,
  MIN_MAX_LOG_BYTES,
  prefixWithinBytes,
  type TruncationMarker,
  truncateRecord,
} from "./truncation.ts";
