/**
 * FileMover: files landing in the Inbox under `incoming/` are filed into the Lake by the routing rules
 * (`packages/files/src/rules.ts`): server-side copy, verified, then the copied version of the source is deleted.
 * Every move, skip, refusal (a file no rule routes, or over 5 TiB: it stays in the Inbox) and failure goes to the
 * Audit topic. Triggered asynchronously by S3: a failed move (copy error,
 * failed verification) fails the invocation so that Lambda retries it and then hands the event to FileMoverDlq,
 * with the source untouched. A move that cannot be done before the invocation's timeout (less MOVE_MARGIN_MS) is
 * not started or, for a multipart copy, stopped and its upload aborted, and fails the same way.
 */
import { S3Client } from "@aws-sdk/client-s3";
import { SNSClient } from "@aws-sdk/client-sns";
import { createSnsAuditSink } from "@sluice/aws/audit";
import { createS3MoverStore } from "@sluice/aws/files";
import { defaultRoutingRules, moveObject, objectCreatedOf, validateRoutingRules } from "@sluice/files";
import { createObservability, withObservability } from "@sluice/observability";
import type { Context, S3Event } from "aws-lambda";
import { linksOf } from "#kit/links";
import { forEachS3Record, requestIdOf, S3_REQUEST_ID } from "#kit/s3-records";

const links = linksOf<"FileMover">();
/**
 * A move must be over this long before the function's timeout: a multipart copy stops starting parts in time to
 * abort its upload (Lambda stopping the function at the timeout would leave the parts behind), and what follows the
 * last part (CompleteMultipartUpload or the abort, the verification, the source's deletion, the audit, each with
 * the SDK's retries) must still fit.
 */
const MOVE_MARGIN_MS = 60_000;
// Checked once, at cold start: rules that could write into the Inbox (and so trigger this function) never load.
const rules = validateRoutingRules(defaultRoutingRules, { sourceBucket: "Inbox", destinations: ["Lake"] });

const observability = createObservability({ serviceName: "file-mover", correlationId: S3_REQUEST_ID });
const store = createS3MoverStore(new S3Client({}));
const audit = createSnsAuditSink(new SNSClient({}), links.Audit.arn);
const buckets = { Lake: links.Lake.name };

async function moveObjects(event: S3Event, context: Context): Promise<void> {
  const deadline = Date.now() + context.getRemainingTimeInMillis() - MOVE_MARGIN_MS;
  await forEachS3Record(event, { logger: observability.logger, done: "file-mover", failed: "move failed" }, (record) =>
    moveObject(objectCreatedOf(record), {
      store,
      audit,
      rules,
      buckets,
      deadline,
      correlationId: requestIdOf(record),
    }),
  );
}

export const handler = withObservability(moveObjects, observability);
