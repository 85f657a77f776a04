/**
 * Which step of a delete request an invocation runs, or why it runs none, and the claim of that step: a conditional
 * write of the report, so that two invocations never run one step together. A new request is validated here: a
 * refused one gets its report and no step. Part of `handleDeleteTrigger` (`delete-flow.ts`).
 */

import { randomBytes } from "node:crypto";
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
import { LeaseHeld, PreconditionFailed } from "./errors.ts";

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
 *
 * A step this trigger would resume that is still claimed (its lease live) belongs either to an invocation that is
 * running or to one that was killed (timeout, out of memory, crash) and left its claim: this invocation waits for
 * the lease (at most `leaseMs`: the holder renews it while it lives) and reads the report again. Renewed meanwhile:
 * its holder is alive and will end the step or, if killed in turn, be retried by Lambda: skipped. Expired: the step
 * is this invocation's to resume. A lease further away than a lease lasts (a report from when a claim held a whole
 * invocation) fails the invocation (`LeaseHeld`): Lambda retries it, then the event is in the dead-letter queue.
 */
export async function chooseStep(
  trigger: { kind: "object" | "direct" },
  loaded: LoadedTrigger,
  context: DeleteStepContext,
): Promise<ChosenStep | DeleteFlowResult> {
  const { deps, now, audit, leaseMs, sleep } = context;
  const { name, reportKey, continuation } = loaded;
  /** Clocks of two Lambda hosts may differ: a lease may look this much longer than it is... */
  const skewMs = Math.min(5_000, leaseMs / 10);
  /** ...and is waited out this much longer. */
  const marginMs = Math.min(1_000, leaseMs / 10);
  /** The ETag of the report whose live lease this invocation waited out, once it has waited. */
  let waitedOn: string | undefined;
  for (;;) {
    const existing = await readReport(deps.store, deps.inbox, reportKey);
    const started = now();
    const r = existing?.report;
    const held =
      r?.status === "running" &&
      r.request &&
      r.progress &&
      r.progress.leaseUntil >= started &&
      (continuation ? r.progress.step === continuation.step : isSameSubmission(trigger, loaded, r))
        ? r.progress
        : undefined;
    if (!held) return chooseFromReport(trigger, loaded, context, existing, started);

    if (waitedOn !== undefined && waitedOn !== existing?.eTag) {
      const reason = `${name} step ${held.step} is running in a live invocation (its claim was renewed while this one waited)`;
      await audit({ outcome: "skipped", reason, request: name });
      return { status: "skipped", name, reason };
    }
    const left = held.leaseUntil - started;
    if (left > leaseMs + skewMs || left + marginMs >= deps.remainingMs()) {
      const reason =
        `${name} step ${held.step} is claimed until ${iso(held.leaseUntil)}, longer than this invocation can wait ` +
        `(a lease lasts ${leaseMs} ms): failing so that Lambda retries the event later (then its dead-letter queue)`;
      await audit({ outcome: "failed", reason, request: name });
      throw new LeaseHeld(reason);
    }
    await sleep(left + marginMs);
    waitedOn = existing?.eTag;
  }
}

/** Whether the report is about the request this trigger brings (a new object under the same name starts afresh). */
function isSameSubmission(trigger: { kind: "object" | "direct" }, loaded: LoadedTrigger, r: DeletionReport): boolean {
  return trigger.kind === "direct" || r.requestETag === loaded.requestETag;
}

/** `chooseStep` once no live claim of another invocation is in the way. */
async function chooseFromReport(
  trigger: { kind: "object" | "direct" },
  loaded: LoadedTrigger,
  context: DeleteStepContext,
  existing: { report: DeletionReport; eTag: string } | undefined,
  started: number,
): Promise<ChosenStep | DeleteFlowResult> {
  const { deps, audit } = context;
  const { name, reportKey, continuation } = loaded;
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

  if (r && isSameSubmission(trigger, loaded, r)) {
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
 * Claims the step: the report says `running` with a lease of `leaseMs` (never past this invocation's end), written
 * only if it is still the report read. Another invocation that wrote first wins; this one is skipped.
 */
export async function claimStep(
  chosen: ChosenStep,
  loaded: LoadedTrigger,
  context: DeleteStepContext,
): Promise<ClaimedStep | DeleteFlowResult> {
  const { deps, audit, leaseMs } = context;
  const { step, progress, started } = chosen;
  const leaseUntil = started + Math.min(leaseMs, deps.remainingMs());
  // The owner makes this claim's text its own: two invocations claiming in the same millisecond would otherwise
  // write the same text, and each take the other's write for its own (see `writeReport`).
  const owner = randomBytes(8).toString("hex");
  const claimed = withProgress(chosen.report, progress, "running", step, leaseUntil, started, owner);
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
