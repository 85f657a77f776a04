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
import { createS3MoverStore } from "@sluice/aws/s3-files";
import { defaultRoutingRules, moveObject, objectCreatedOf, validateRoutingRules } from "@sluice/files";
import { createObservability, withObservability } from "@sluice/observability";
import type { S3Event } from "aws-lambda";
import { Resource } from "sst";

const links = Resource as unknown as { Inbox: { name: string }; Lake: { name: string }; Audit: { arn: string } };

const observability = createObservability({ serviceName: "file-mover" });
const store = createS3MoverStore(new S3Client({}));
const audit = createSnsAuditSink(new SNSClient({}), links.Audit.arn);
// Checked once, at cold start: rules that could write into the Inbox (and so trigger this function) never load.
const rules = validateRoutingRules(defaultRoutingRules, { sourceBucket: "Inbox", destinations: ["Lake"] });
const buckets = { Lake: links.Lake.name };

async function moveObjects(event: S3Event): Promise<void> {
  const failures: Error[] = [];
  // `?? []`: S3's `s3:TestEvent` (sent when a notification is configured) has no records.
  for (const record of event.Records ?? []) {
    const created = objectCreatedOf(record);
    try {
      const outcome = await moveObject(created, {
        store,
        audit,
        rules,
        buckets,
        correlationId: record.responseElements?.["x-amz-request-id"],
      });
      observability.logger.info("file-mover", { ...outcome });
    } catch (err) {
      observability.logger.error("move failed", err as Error);
      failures.push(err as Error);
    }
  }
  if (failures.length > 0) throw new AggregateError(failures, failures.map((f) => f.message).join("; "));
}

export const handler = withObservability(moveObjects, observability, {
  correlationId: (event) => event.Records?.[0]?.responseElements?.["x-amz-request-id"],
});
