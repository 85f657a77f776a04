/**
 * FileMover: files landing in the Inbox under `incoming/` are filed into the Lake by the routing rules
 * (`packages/files/src/rules.ts`): server-side copy, verified, then the copied version of the source is deleted.
 * Every move, skip and failure goes to the Audit topic. Triggered asynchronously by S3: a failed move (copy error,
 * failed verification) fails the invocation so that Lambda retries it and then hands the event to FileMoverDlq,
 * with the source untouched.
 */
import { S3Client } from "@aws-sdk/client-s3";
import { SNSClient } from "@aws-sdk/client-sns";
import { createSnsAuditSink } from "@sluice/aws/audit";
import { createS3MoverStore } from "@sluice/aws/files";
import { defaultRoutingRules, moveObject, objectCreatedOf, validateRoutingRules } from "@sluice/files";
import { createObservability, withObservability } from "@sluice/observability";
import type { S3Event } from "aws-lambda";
import { linksOf } from "#kit/links";
import { forEachS3Record, requestIdOf, S3_REQUEST_ID } from "#kit/s3-records";

const links = linksOf<"FileMover">();
// Checked once, at cold start: rules that could write into the Inbox (and so trigger this function) never load.
const rules = validateRoutingRules(defaultRoutingRules, { sourceBucket: "Inbox", destinations: ["Lake"] });

const observability = createObservability({ serviceName: "file-mover", correlationId: S3_REQUEST_ID });
const store = createS3MoverStore(new S3Client({}));
const audit = createSnsAuditSink(new SNSClient({}), links.Audit.arn);
const buckets = { Lake: links.Lake.name };

async function moveObjects(event: S3Event): Promise<void> {
  await forEachS3Record(event, { logger: observability.logger, done: "file-mover", failed: "move failed" }, (record) =>
    moveObject(objectCreatedOf(record), { store, audit, rules, buckets, correlationId: requestIdOf(record) }),
  );
}

export const handler = withObservability(moveObjects, observability);
