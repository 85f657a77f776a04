/**
 * The S3-triggered functions' loop: every record of an S3 notification handled in turn, a failed one not stopping
 * the next, the invocation failed at the end when any did (Lambda retries the event, then hands it to the
 * function's dead-letter queue), and the correlation id Powertools reads from the event.
 */
import { search } from "@aws-lambda-powertools/logger/correlationId";
import type { SluiceLogger } from "@sluice/observability";
import type { S3Event, S3EventRecord } from "aws-lambda";
import { levelOf } from "./outcome-level.ts";

/**
 * For `createObservability`: an S3-triggered invocation's correlation id is the request id of the S3 call that
 * created its (first) object, found by Powertools' JMESPath search.
 */
export const S3_REQUEST_ID = { path: 'Records[0].responseElements."x-amz-request-id"', search };

/** The request id of the S3 call that created the record's object: what the record's outcome is correlated by. */
export function requestIdOf(record: S3EventRecord): string | undefined {
  return record.responseElements?.["x-amz-request-id"];
}

/**
 * Handles each record of `event` in turn with `handle`, logging its outcome (`log.done`, the outcome's fields, at the
 * level of its `outcome`: INFO, WARN for refused or rejected, ERROR for failed) — or each of its outcomes, one line
 * each, when it decided on several files (CdcMerge: every file its pass committed) — or its error (ERROR `log.failed`);
 * then, if any record failed, throws an `AggregateError` of every failure. S3's `s3:TestEvent` (sent when a
 * notification is configured) has no records: nothing is done.
 */
export async function forEachS3Record(
  event: S3Event,
  log: { logger: SluiceLogger; done: string; failed: string },
  handle: (record: S3EventRecord) => Promise<{ outcome: string } | readonly { outcome: string }[]>,
): Promise<void> {
  const failures: Error[] = [];
  for (const record of event.Records ?? []) {
    try {
      const outcomes = await handle(record);
      for (const outcome of Array.isArray(outcomes) ? outcomes : [outcomes])
        log.logger[levelOf(outcome.outcome)](log.done, { ...outcome });
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      log.logger.error(log.failed, error);
      failures.push(error);
    }
  }
  if (failures.length > 0) throw new AggregateError(failures, failures.map((f) => f.message).join("; "));
}
