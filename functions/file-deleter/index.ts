/**
 * FileDeleter: deletes objects or whole prefixes on request, every version and delete marker included when asked.
 * Requests arrive as JSON objects under `requests/delete/` in the Inbox, or as the payload of a direct invocation;
 * each gets a report at `reports/delete/<name>.json` in the Inbox and a summary on the Audit topic. A deletion
 * too large for one invocation stops in time, saves its cursor in the report, and continues in the next invocation
 * (see packages/files/README.md, "Continuation").
 */
import { S3Client } from "@aws-sdk/client-s3";
import { SNSClient } from "@aws-sdk/client-sns";
import { createSnsAuditSink } from "@sluice/aws/audit";
import { createS3DeleterStore } from "@sluice/aws/files";
import { bareETag, type DeleteFlowResult, type DeleteTrigger, handleDeleteTrigger, outcomeOf } from "@sluice/files";
import { decodeS3EventKey } from "@sluice/messages";
import { createObservability, withObservability } from "@sluice/observability";
import type { Context, S3Event } from "aws-lambda";
import { linksOf } from "#kit/links";
import { levelOf } from "#kit/outcome-level";

const links = linksOf<"FileDeleter">();
/** Stop starting batches this long before the timeout: one batch and the report write must still fit. */
const SAFETY_MS = 20_000;

const observability = createObservability({ serviceName: "file-deleter" });
const store = createS3DeleterStore(new S3Client({}));
const audit = createSnsAuditSink(new SNSClient({}), links.Audit.arn);
/** The system's own data buckets, from the links: nothing else can be targeted. */
const allowList = {
  Inbox: links.Inbox.name,
  Lake: links.Lake.name,
  CdcRaw: links.CdcRaw.name,
  Curated: links.Curated.name,
};

function isS3Event(event: unknown): event is S3Event {
  return Array.isArray((event as S3Event)?.Records) && (event as S3Event).Records[0]?.eventSource === "aws:s3";
}

async function deleteOnRequest(event: unknown, context: Context): Promise<DeleteFlowResult[]> {
  // Sent by S3 when a notification is configured: not a request.
  if ((event as { Event?: string } | null)?.Event === "s3:TestEvent") return [];
  const triggers: DeleteTrigger[] = isS3Event(event)
    ? event.Records.map((record) => ({
        kind: "object",
        key: decodeS3EventKey(record.s3.object.key),
        ...(record.s3.object.eTag ? { eTag: bareETag(record.s3.object.eTag) } : {}),
      }))
    : [{ kind: "direct", body: event, invocationId: context.awsRequestId }];
  const results: DeleteFlowResult[] = [];
  for (const trigger of triggers) {
    const result = await handleDeleteTrigger(trigger, {
      store,
      audit,
      inbox: links.Inbox.name,
      allowList,
      budget: () => context.getRemainingTimeInMillis() > SAFETY_MS,
      remainingMs: () => context.getRemainingTimeInMillis(),
      correlationId: context.awsRequestId,
    });
    const outcome = outcomeOf(result);
    observability.logger[levelOf(outcome)]("file-deleter", {
      outcome,
      status: result.status,
      name: result.name,
      ...("reason" in result ? { reason: result.reason } : { counts: result.report.counts }),
    });
    results.push(
      result.status === "skipped" || !("report" in result)
        ? result
        : { ...result, report: { ...result.report, request: undefined, listing: undefined } },
    );
  }
  return results;
}

export const handler = withObservability(deleteOnRequest, observability);
