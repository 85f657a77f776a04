/**
 * One SNS message as one structured log record: what the SNS logger prints for every message on the system's
 * topics. Building the record is pure; printing and counting take the logger and metrics as arguments.
 */

import type { Metrics } from "@aws-lambda-powertools/metrics";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import type { SNSEventRecord } from "aws-lambda";
import { MAX_JSON_DEPTH, nestedDeeperThan } from "./json-depth.ts";
import type { LogLevelName, SluiceLogger } from "./logger.ts";

/** A message attribute's value: `String` as is, `Number` as a number, `String.Array` as an array, `Binary` base64. */
export type AttributeValue = string | number | unknown[];

/** The structured record of one SNS message. */
export interface SnsLogRecord {
  level: LogLevelName;
  correlationId?: string;
  topic: string;
  topicArn: string;
  subscriptionArn?: string;
  messageId: string;
  subject?: string;
  /** When SNS accepted the message (ISO-8601), not when it was logged. */
  timestamp: string;
  attributes: Record<string, AttributeValue>;
  /** The message, parsed when it is a JSON object or array. */
  message: unknown;
  messageFormat: "json" | "text";
  /** Why a message that is JSON is logged as its text: `JSON nested deeper than 128 levels`. */
  messageNotParsed?: string;
}

/** The `message` of every SNS log line: a constant, so that Logs Insights can select them (`message = "..."`). */
export const SNS_LOG_MESSAGE = "SNS message";

/**
 * The metric counting logged messages, with dimensions `service`, `topic` and `severity` (the record's level; not
 * named `level`, so that a Logs Insights `filter level = "ERROR"` finds error records, not metric documents).
 */
export const SNS_MESSAGES_METRIC = "SnsMessagesLogged";

/** An event that is not what SNS delivers to Lambda: it cannot be logged as it is, so it must go to the DLQ. */
export class InvalidSnsEvent extends Error {
  override name = "InvalidSnsEvent";
}

const LEVELS: Readonly<Record<string, LogLevelName>> = {
  DEBUG: "DEBUG",
  INFO: "INFO",
  WARN: "WARN",
  WARNING: "WARN",
  ERROR: "ERROR",
  CRITICAL: "CRITICAL",
  FATAL: "CRITICAL",
};

/**
 * The level named by a `severity` (or `level`) value, case-insensitive: DEBUG, INFO, WARN (or WARNING), ERROR,
 * CRITICAL (or FATAL). Anything else, or nothing, is INFO: an unknown severity must not hide a message.
 */
export function levelFromSeverity(severity: unknown): LogLevelName {
  if (typeof severity !== "string") return "INFO";
  return LEVELS[severity.trim().toUpperCase()] ?? "INFO";
}

/** The topic name at the end of a topic ARN (`arn:aws:sns:eu-west-1:123456789012:Audit` -> `Audit`). */
export function topicNameOf(topicArn: string): string {
  return topicArn.slice(topicArn.lastIndexOf(":") + 1) || topicArn;
}

function attributeValue(type: string, value: string): AttributeValue {
  if (type === "Number") {
    const number = Number(value);
    // Keep the text when a number would lose digits (SNS numbers go up to 10^300 with 5 decimals).
    if (Number.isFinite(number) && (!/^[+-]?\d+$/.test(value.trim()) || Number.isSafeInteger(number))) return number;
    return value;
  }
  if (type === "String.Array") {
    try {
      const array: unknown = JSON.parse(value);
      // Nested too deep to log as a structure (see json-depth.ts): kept as text, like the message.
      if (Array.isArray(array) && !nestedDeeperThan(array)) return array;
    } catch {
      // not a JSON array after all: keep the text
    }
  }
  return value;
}

/** Message attributes flattened to their values (`{ severity: { Type, Value } }` -> `{ severity: "ERROR" }`). */
export function flattenAttributes(attributes: SNSEventRecord["Sns"]["MessageAttributes"] | undefined) {
  const out: Record<string, AttributeValue> = {};
  for (const [name, attribute] of Object.entries(attributes ?? {})) {
    if (attribute && typeof attribute.Value === "string") out[name] = attributeValue(attribute.Type, attribute.Value);
  }
  return out;
}

/** The value of the first attribute whose normalized name (`Correlation-Id` -> `correlationid`) is given. */
function attributeNamed(attributes: Record<string, AttributeValue>, ...names: string[]): AttributeValue | undefined {
  for (const [name, value] of Object.entries(attributes)) {
    if (names.includes(name.toLowerCase().replace(/[^a-z0-9]/g, ""))) return value;
  }
  return undefined;
}

function correlationIdOf(value: unknown): string | undefined {
  if (typeof value !== "string" && typeof value !== "number") return undefined;
  const id = String(value).trim();
  return id ? id.slice(0, 256) : undefined;
}

/**
 * The message parsed when it is a JSON object or array, else the text itself. JSON nested deeper than
 * {@link MAX_JSON_DEPTH} levels is kept as its text, with `messageNotParsed` saying so: as a structure it would
 * overflow the stack of the logger that prints it (a valid 10 KB message can nest 5 000 levels), and fail the batch.
 */
export function parseMessage(message: string): Pick<SnsLogRecord, "message" | "messageFormat" | "messageNotParsed"> {
  const first = /\S/.exec(message)?.[0];
  if (first === "{" || first === "[") {
    let parsed: unknown;
    try {
      parsed = JSON.parse(message);
    } catch {
      // looked like JSON, is not: log the text
      return { message, messageFormat: "text" };
    }
    if (!nestedDeeperThan(parsed)) return { message: parsed, messageFormat: "json" };
    return { message, messageFormat: "text", messageNotParsed: `JSON nested deeper than ${MAX_JSON_DEPTH} levels` };
  }
  return { message, messageFormat: "text" };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Checks that `event` has the shape SNS gives Lambda (`Records[].Sns` with a topic, an id, a timestamp and a string
 * message) and returns its records. Throws {@link InvalidSnsEvent} naming the first thing missing.
 */
export function snsRecordsOf(event: unknown): SNSEventRecord[] {
  if (!isObject(event) || !Array.isArray(event.Records)) throw new InvalidSnsEvent("event has no Records array");
  event.Records.forEach((record: unknown, index) => {
    const sns = isObject(record) ? record.Sns : undefined;
    if (!isObject(record) || record.EventSource !== "aws:sns" || !isObject(sns)) {
      throw new InvalidSnsEvent(`Records[${index}] is not an SNS record (EventSource "aws:sns" with Sns)`);
    }
    for (const field of ["TopicArn", "MessageId", "Timestamp", "Message"]) {
      if (typeof sns[field] !== "string") throw new InvalidSnsEvent(`Records[${index}].Sns.${field} is not a string`);
    }
  });
  return event.Records as SNSEventRecord[];
}

/**
 * Builds the log record of one SNS event record: topic (name and ARN), message id, subject, SNS timestamp,
 * attributes flattened to values, the message (parsed when JSON), the level from the `severity` attribute (or
 * `level`; default INFO) and the correlation id from the `correlationId` attribute, else the message's
 * `correlationId` (or `correlation_id`) field. Nothing is redacted here: the logger redacts every line it prints.
 */
export function buildSnsLogRecord(record: SNSEventRecord): SnsLogRecord {
  const sns = record.Sns;
  const attributes = flattenAttributes(sns.MessageAttributes);
  const { message, messageFormat, messageNotParsed } = parseMessage(sns.Message);
  const correlationId =
    correlationIdOf(attributeNamed(attributes, "correlationid")) ??
    (isObject(message) ? correlationIdOf(message.correlationId ?? message.correlation_id) : undefined);
  return {
    level: levelFromSeverity(attributeNamed(attributes, "severity") ?? attributeNamed(attributes, "level")),
    ...(correlationId !== undefined && { correlationId }),
    topic: topicNameOf(sns.TopicArn),
    topicArn: sns.TopicArn,
    ...(record.EventSubscriptionArn && { subscriptionArn: record.EventSubscriptionArn }),
    messageId: sns.MessageId,
    // SNS sends `Subject: null` when there is none, although the type says string.
    ...(typeof sns.Subject === "string" && sns.Subject !== "" && { subject: sns.Subject }),
    timestamp: sns.Timestamp,
    attributes,
    message,
    messageFormat,
    ...(messageNotParsed !== undefined && { messageNotParsed }),
  };
}

/**
 * Prints one record as one log line at its level, whatever the logger's level threshold (every message is logged):
 * `{ level, message: "SNS message", correlation_id, sns: { topic, topicArn, messageId, ... } }`, redacted and
 * truncated by the logger.
 */
export function logSnsRecord(logger: SluiceLogger, record: SnsLogRecord): void {
  const { level, correlationId, ...sns } = record;
  logger.emitRecord(level, { message: SNS_LOG_MESSAGE, correlation_id: correlationId, sns });
}

/**
 * Counts logged messages per topic and level ({@link SNS_MESSAGES_METRIC}). An EMF document gives every value the
 * same dimensions, so each (topic, level) pair needs its own: all pairs but the last are published at once, the last
 * is left on `metrics` for `logMetrics` to publish at the end of the invocation (which then has a metric to
 * publish, as it expects).
 */
export function countSnsMessages(metrics: Metrics, records: readonly SnsLogRecord[]): void {
  const counts = new Map<string, { topic: string; level: LogLevelName; count: number }>();
  for (const { topic, level } of records) {
    const key = `${topic}\u0000${level}`;
    const entry = counts.get(key) ?? { topic, level, count: 0 };
    entry.count++;
    counts.set(key, entry);
  }
  const groups = [...counts.values()];
  groups.forEach(({ topic, level, count }, index) => {
    const target = index === groups.length - 1 ? metrics : metrics.singleMetric();
    target.addDimension("topic", topic);
    target.addDimension("severity", level);
    target.addMetric(SNS_MESSAGES_METRIC, MetricUnit.Count, count);
  });
}
