/**
 * Which step of a delete request an invocation runs, or why it runs none, and the claim of that step: a conditional
 * write of the report, so that two invocations never run one step together. A new request is validated here: a
 * refused one gets its report and no step. Part of `handleDeleteTrigger` (`delete-flow.ts`).
 */

import type { DeleteFlowResult, DeletionReport } from "./delete-flow.ts";
import { type LoadedTrigger, requestOf } from "./delete-load.ts";
import {
  type DeleteStepContext,
  iso,
  progressOf,
  readReport,
  requestCopyKeyOf,
  withProgress,
  writeContinuation,
  writeReport,
} from "./delete-report.ts";
import {
  type AcceptedRequest,
  MAX_REQUEST_BYTES,
  summarizeRequest,
  type ValidatedRequest,
  validateDeleteRequest,
} from "./delete-request.ts";
import { type DeletionProgress, initialProgress } from "./deletion.ts";
import { PreconditionFailed } from "./errors.ts";

/** The step an invocation is to run, before its claim. */
export interface ChosenStep {
  request: AcceptedRequest;
  step: number;
  progress: DeletionProgress;
  /** The report the claim starts from. */
  report: DeletionReport;
  /** The ETag of the report as read; absent when there is none yet. */
  reportETag?: string;
  /** When this invocation read the report: the start of its lease. */
  started: number;
}

/** A step this invocation holds: its report as claimed, and the ETag of that write. */
export interface ClaimedStep extends ChosenStep {
  report: DeletionReport;
  reportETag: string;
}

/**
 * Reads the report and chooses the step: the one a continuation names, if the report is still where that step
 * begins (or its claim expired); the step of this submission whose claim expired (a retried event or invocation);
 * or step 0 of a new request, once validated.
 */
export async function chooseStep(
  trigger: { kind: "object" | "direct" },
  loaded: LoadedTrigger,
  context: DeleteStepContext,
): Promise<ChosenStep | DeleteFlowResult> {
  const { deps, now, audit } = context;
  const { name, reportKey, continuation } = loaded;
  const existing = await readReport(deps.store, deps.inbox, reportKey);
  const started = now();
  const reportETag = existing?.eTag;
  const r = existing?.report;
  const leaseFree = (report: DeletionReport) =>
    report.status === "interrupted" || (report.status === "running" && (report.progress?.leaseUntil ?? 0) < started);

  if (continuation) {
    const resumable =
      r?.request &&
      r.progress &&
      ((r.status === "continuing" && r.progress.step === continuation.step - 1) ||
        (leaseFree(r) && r.progress.step === continuation.step));
    if (!r?.request || !r.progress || !resumable) {
      const reason = `continuation ${continuation.step} of ${name} is stale (report: ${r?.status ?? "none"}, step ${r?.progress?.step ?? "-"})`;
      await audit({ outcome: "skipped", reason, request: name });
      return { status: "skipped", name, reason };
    }
    const loadedRequest = await requestOf(deps, r);
    if (!loadedRequest.ok) return failRequest(context, r, reportKey, reportETag, name, loadedRequest.failure);
    return {
      request: loadedRequest.request,
      step: continuation.step,
      progress: progressOf(r),
      report: r,
      reportETag,
      started,
    };
  }

  const sameSubmission = r !== undefined && (trigger.kind === "direct" || r.requestETag === loaded.requestETag);
  if (r && sameSubmission) {
    if (r.status === "continuing" && r.progress && r.request) {
      // This step ended but the continuation may not have been written (a crash right after the report): write it.
      await writeContinuation(deps, name, r.progress.step + 1);
      return { status: "skipped", name, reason: `${name} is already continuing (step ${r.progress.step + 1})` };
    }
    if (!(leaseFree(r) && r.request && r.progress)) {
      const reason = `${name} was already handled (${r.status})`;
      await audit({ outcome: "skipped", reason, request: name });
      return { status: "skipped", name, reason };
    }
    const loadedRequest = await requestOf(deps, r, loaded.body);
    if (!loadedRequest.ok) return failRequest(context, r, reportKey, reportETag, name, loadedRequest.failure);
    return {
      request: loadedRequest.request,
      step: r.progress.step,
      progress: progressOf(r),
      report: r,
      reportETag,
      started,
    };
  }

  return acceptNewRequest(loaded, context, started, reportETag);
}

/** Step 0 of a new request: validated, and for a direct invocation copied for the later steps; or refused. */
async function acceptNewRequest(
  loaded: LoadedTrigger,
  context: DeleteStepContext,
  started: number,
  reportETag: string | undefined,
): Promise<ChosenStep | DeleteFlowResult> {
  const { deps, audit } = context;
  const { name, reportKey, requestKey, requestETag, tooLarge } = loaded;
  const validated: ValidatedRequest = tooLarge
    ? {
        ok: false,
        refusal: {
          code: "too-large",
          message:
            `the request object is ${tooLarge.size} bytes; the limit is 16 MiB (${MAX_REQUEST_BYTES} bytes): ` +
            "split it into several requests (it was not read)",
        },
      }
    : validateDeleteRequest(loaded.body, deps.allowList);
  const receivedAt = iso(started);
  if (!validated.ok) {
    const refused: DeletionReport = {
      name,
      ...(requestKey ? { requestKey } : {}),
      ...(requestETag ? { requestETag } : {}),
      status: "refused",
      refusal: validated.refusal,
      timings: { receivedAt, updatedAt: receivedAt, finishedAt: receivedAt, durationMs: 0, steps: [] },
    };
    await writeReport(deps, reportKey, refused, reportETag);
    await audit({
      outcome: "refused",
      reason: validated.refusal.message,
      refusal: validated.refusal.code,
      request: name,
      report: `s3://${deps.inbox}/${reportKey}`,
    });
    return { status: "refused", name, report: refused };
  }
  const request = validated.request;
  let requestCopyKey: string | undefined;
  if (!requestKey) {
    // A direct invocation: its steps after this one need the request, which is nowhere else.
    requestCopyKey = requestCopyKeyOf(name);
    await deps.store.putText({
      bucket: deps.inbox,
      key: requestCopyKey,
      text: JSON.stringify(request),
      contentType: "application/json",
    });
  }
  const report: DeletionReport = {
    name,
    ...(requestKey ? { requestKey } : {}),
    ...(requestETag ? { requestETag } : {}),
    ...(requestCopyKey ? { requestCopyKey } : {}),
    status: "running",
    request: summarizeRequest(request),
    timings: { receivedAt, updatedAt: receivedAt, durationMs: 0, steps: [] },
  };
  return { request, step: 0, progress: initialProgress(request), report, reportETag, started };
}

/**
 * Claims the step: the report says `running` with a lease for this invocation's remaining time, written only if it
 * is still the report read. Another invocation that wrote first wins; this one is skipped.
 */
export async function claimStep(
  chosen: ChosenStep,
  loaded: LoadedTrigger,
  context: DeleteStepContext,
): Promise<ClaimedStep | DeleteFlowResult> {
  const { deps, audit } = context;
  const { step, progress, started } = chosen;
  const claimed = withProgress(chosen.report, progress, "running", step, started + deps.remainingMs(), started);
  try {
    const reportETag = await writeReport(deps, loaded.reportKey, claimed, chosen.reportETag);
    return { ...chosen, report: claimed, reportETag };
  } catch (err) {
    if (!(err instanceof PreconditionFailed)) throw err;
    const reason = `another invocation claimed ${loaded.name} step ${step} first`;
    await audit({ outcome: "skipped", reason, request: loaded.name });
    return { status: "skipped", name: loaded.name, reason };
  }
}

/** A permanent failure before any deletion of this step: reported, audited, not retried. */
async function failRequest(
  context: DeleteStepContext,
  r: DeletionReport,
  key: string,
  eTag: string | undefined,
  requestName: string,
  failure: string,
): Promise<DeleteFlowResult> {
  const { deps, now, audit } = context;
  const at = iso(now());
  const failed: DeletionReport = {
    ...r,
    status: "failed",
    failure,
    ...(r.progress ? { progress: { ...r.progress, leaseUntil: 0 } } : {}),
    timings: { ...r.timings, updatedAt: at, finishedAt: at },
  };
  try {
    await writeReport(deps, key, failed, eTag);
  } catch (err) {
    if (!(err instanceof PreconditionFailed)) throw err;
    return { status: "skipped", name: requestName, reason: `another invocation updated ${requestName} first` };
  }
  await audit({ outcome: "failed", reason: failure, request: requestName });
  return { status: "failed", name: requestName, report: failed };
}
