/**
 * Running a claimed step of a delete request: the deletion within the invocation's time, the report checkpointed
 * after every committed batch (each checkpoint renews the claim's lease, and a heartbeat renews it during a slow
 * batch), each batch's errors and listing written once. Part of `handleDeleteTrigger`
 * (`delete-flow.ts`).
 */

import type { ClaimedStep } from "./delete-claim.ts";
import type { DeleteFlowResult } from "./delete-flow.ts";
import { batchDetailsPrefixOf, type DeleteStepContext, type StepReport } from "./delete-report.ts";
import { type BatchDetail, type DeletionProgress, runDeletion } from "./deletion.ts";
import { InconsistentListing, PreconditionFailed } from "./errors.ts";

/**
 * Deletes until done or out of time, and returns the progress made. A lost claim (a checkpoint refused) skips; an
 * inconsistent listing fails the request for good; any other error releases the claim and is thrown, so that
 * Lambda's retry resumes from the last checkpoint.
 */
export async function runStep(
  claimed: ClaimedStep,
  stepReport: StepReport,
  context: DeleteStepContext,
): Promise<{ latest: DeletionProgress } | DeleteFlowResult> {
  const { deps, audit } = context;
  const { name, step } = stepReport;
  let latest = claimed.progress;
  stepReport.startHeartbeat(claimed.progress);
  try {
    latest = await runDeletion({
      store: deps.store,
      request: claimed.request,
      progress: claimed.progress,
      budget: deps.budget,
      ...(deps.concurrency !== undefined ? { concurrency: deps.concurrency } : {}),
      ...(deps.batchSize !== undefined ? { batchSize: deps.batchSize } : {}),
      onBatch: async (detail: BatchDetail) => {
        const prefix = batchDetailsPrefixOf(name);
        await deps.store.putText({
          bucket: deps.inbox,
          key: `${prefix}${String(detail.batch).padStart(6, "0")}.json`,
          text: JSON.stringify({ name, ...detail }),
          contentType: "application/json",
        });
        const report = stepReport.report;
        stepReport.report = { ...report, batchDetails: { prefix, count: (report.batchDetails?.count ?? 0) + 1 } };
      },
      onInFlight: (inFlight) => stepReport.setInFlight(inFlight),
      onCheckpoint: async (p) => {
        latest = p;
        await stepReport.checkpoint(p);
      },
    });
    await stepReport.stopHeartbeat();
    return { latest };
  } catch (err) {
    await stepReport.stopHeartbeat();
    if (err instanceof PreconditionFailed) {
      const reason = `lost the claim on ${name} step ${step}: another invocation took over`;
      await audit({ outcome: "skipped", reason, request: name });
      return { status: "skipped", name, reason };
    }
    if (err instanceof InconsistentListing) {
      // Permanent: no retry can help. Reported as failed, with what was done before it.
      stepReport.report = { ...stepReport.report, failure: err.message };
      const failed = await stepReport.save("failed", latest, 0);
      await audit({ outcome: "failed", reason: err.message, request: name, counts: latest.counts });
      return { status: "failed", name, report: failed };
    }
    // Release the claim so that Lambda's retry of this event resumes from the last checkpoint at once.
    await stepReport.save("interrupted", latest, 0).catch(() => {});
    await audit({ outcome: "failed", reason: `deletion interrupted: ${(err as Error).message}`, request: name });
    throw err;
  }
}
