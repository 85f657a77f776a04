/**
 * SnsLogger: every message on the system's topics (Audit, Alerts) becomes one structured, redacted JSON log record.
 * Triggered asynchronously by SNS: a message that cannot be logged fails the invocation, so that Lambda retries it
 * and then hands it to the on-failure destination (the SnsLoggerDlq queue) instead of losing it.
 */

import {
  buildSnsLogRecord,
  countSnsMessages,
  createObservability,
  logSnsRecord,
  snsRecordsOf,
  withObservability,
} from "@sluice/observability";
import type { SNSEvent } from "aws-lambda";

const observability = createObservability({ serviceName: "sns-logger" });

async function logSnsMessages(event: SNSEvent): Promise<void> {
  // Build every record before printing any: a malformed record fails the invocation with nothing half logged.
  const records = snsRecordsOf(event).map(buildSnsLogRecord);
  for (const record of records) logSnsRecord(observability.logger, record);
  countSnsMessages(observability.metrics, records);
}

export const handler = withObservability(logSnsMessages, observability);
