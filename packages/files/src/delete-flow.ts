/**
 * One delete request from arrival to report: load it (an object under `requests/delete/`, a continuation, or the
 * JSON of a direct invocation), validate it, claim it, run the deletion within the invocation's time, and write
 * the report (`reports/delete/<name>.json`, in the Inbox) and the audit summary.
 *
 * The report is also the request's state: its `progress` holds the step, the cursor and the lease of the
 * invocation working on it. Claims and checkpoints are conditional writes of the report (`If-None-Match` /
 * `If-Match` on its ETag), so a duplicate event or a stale continuation can never run a step twice at once.
 * When time runs out the report says `continuing` and a continuation object
 * (`requests/delete/.continue/<name>/<step>.json`) is written: its ObjectCreated event starts the next step, on AWS
 * and on the local cloud alike.
 *
 * The report's size does not depend on the work done: it summarises the request (the request object, or for a
 * direct invocation a copy written once, `reports/delete/<name>.request.json`, holds every key and is read again by
 * each step) and keeps the first errors and dry-run entries; every batch's errors and listing are written once, to
 * `reports/delete/<name>.batches/<batch>.json`.
 */
import type { AuditFields, AuditPort } from "@sluice/messages";
import * as z from "zod/mini";
import {
  type AcceptedRequest,
  CONTINUATIONS_PREFIX,
  type Continuation,
  continuationKeyOf,
  continuationSchema,
  DELETE_REPORTS_PREFIX,
  MAX_REQUEST_BYTES,
  type Refusal,
  type RequestSummary,
  reportKeyOf,
  requestNameOf,
  summarizeRequest,
  validateDeleteRequest,
} from "./delete-request.ts";
import { type BatchDetail, type DeletionProgress, initialProgress, runDeletion } from "./deletion.ts";
import { InconsistentListing, ObjectTooLarge, PreconditionFailed } from "./errors.ts";
import type { DeleterStore } from "./ports.ts";

export const DELETER_PIPELINE = "file-deleter";

export type ReportStatus = "refused" | "running" | "continuing" | "completed" | "interrupted" | "failed";

export interface StepTiming {
  step: number;
  startedAt: string;
  durationMs: number;
  batches: number;
}

/** `reports/delete/<name>.json` */
export interface DeletionReport {
  name: string;
  /** The request object, for S3-triggered requests. */
  requestKey?: string;
  /** ETag of the request object the report is about (a new object under the same name starts afresh). */
  requestETag?: string;
  status: ReportStatus;
  refusal?: Refusal;
  /** Why a request failed for good (status `failed`). */
  failure?: string;
  /** The request without its full lists of keys and prefixes (see {@link RequestSummary}). */
  request?: RequestSummary;
  /** Direct invocations: the accepted request, written once (`reports/delete/<name>.request.json`). */
  requestCopyKey?: string;
  counts?: DeletionProgress["counts"];
  /** The first 100 per-key errors; all of them are in the batch details. */
  errors?: DeletionProgress["errors"];
  errorsTruncated?: boolean;
  /** Dry run: the first 100 entries that would be deleted; all of them are in the batch details. */
  listing?: string[];
  listingTruncated?: boolean;
  /**
   * Batches with errors or (dry run) a listing each wrote `<batchDetails.prefix><batch, 6 digits>.json`
   * (`{ batch, errors, listing }`); `count` of them so far.
   */
  batchDetails?: { prefix: string; count: number };
  progress?: {
    step: number;
    cursor: DeletionProgress["cursor"];
    /** Epoch ms until which the claiming invocation may still be running. */
    leaseUntil: number;
  };
  timings: {
    receivedAt: string;
    updatedAt: string;
    finishedAt?: string;
    /** Time spent deleting, all steps together. */
    durationMs: number;
    steps: StepTiming[];
  };
}

export type DeleteTrigger =
  /** An object created under `requests/delete/` in the Inbox (a request, or a continuation). */
  | { kind: "object"; key: string; eTag?: string }
  /** A direct invocation with the request JSON. */
  | { kind: "direct"; body: unknown; invocationId: string };

export interface DeleteFlowDependencies {
  store: DeleterStore;
  audit: AuditPort;
  /** Physical name of the Inbox: requests, continuations and reports live there. */
  inbox: string;
  /** Bucket component name -> physical name: the buckets a request may target. */
  allowList: Readonly<Record<string, string>>;
  /** Whether there is time left for another batch. */
  budget: () => boolean;
  /** Milliseconds this invocation may still run (its lease on the request). */
  remainingMs: () => number;
  now?: () => number;
  concurrency?: number;
  batchSize?: number;
  correlationId?: string;
}

export type DeleteFlowResult =
  | { status: "skipped"; name?: string; reason: string }
  | { status: ReportStatus; name: string; report: DeletionReport };

const iso = (ms: number) => new Date(ms).toISOString();

/** Handles one delete trigger; see the module comment. */
export async function handleDeleteTrigger(
  trigger: DeleteTrigger,
  deps: DeleteFlowDependencies,
): Promise<DeleteFlowResult> {
  const now = deps.now ?? Date.now;
  const audit = (entry: AuditFields) =>
    deps.audit.publish({
      pipeline: DELETER_PIPELINE,
      action: "delete-request",
      ...(deps.correlationId ? { correlationId: deps.correlationId } : {}),
      ...entry,
    });
  /** A permanent failure before any deletion of this step: reported, audited, not retried. */
  const fail = async (
    r: DeletionReport,
    key: string,
    eTag: string | undefined,
    requestName: string,
    failure: string,
  ): Promise<DeleteFlowResult> => {
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
  };

  // 1. What arrived.
  let body: unknown;
  let name: string;
  let requestETag: string | undefined;
  let continuation: Continuation | undefined;
  let tooLarge: ObjectTooLarge | undefined;
  if (trigger.kind === "object") {
    const isContinuation = trigger.key.startsWith(CONTINUATIONS_PREFIX);
    let loaded: { text: string; eTag: string } | undefined;
    try {
      loaded = await deps.store.getText({
        bucket: deps.inbox,
        key: trigger.key,
        ...(trigger.eTag ? { ifMatch: trigger.eTag } : {}),
        maxBytes: isContinuation ? CONTINUATION_MAX_BYTES : MAX_REQUEST_BYTES,
      });
    } catch (err) {
      if (err instanceof ObjectTooLarge && !isContinuation) {
        // Refused below, unread: its body could exhaust the function's memory.
        tooLarge = err;
        loaded = { text: "", eTag: trigger.eTag ?? "" };
      } else if (!(err instanceof PreconditionFailed)) {
        throw err;
      }
    }
    if (!loaded) {
      const reason = `${trigger.key} is gone or was replaced since this event`;
      await audit({ outcome: "skipped", reason, requestKey: trigger.key });
      return { status: "skipped", reason };
    }
    if (isContinuation) {
      const parsed = continuationSchema.safeParse(safeJson(loaded.text));
      if (!parsed.success) {
        const reason = `${trigger.key} is not a continuation (${z.prettifyError(parsed.error)})`;
        await audit({ outcome: "skipped", reason, requestKey: trigger.key });
        return { status: "skipped", reason };
      }
      continuation = parsed.data.continuation;
      name = continuation.name;
    } else {
      name = requestNameOf(trigger.key);
      requestETag = loaded.eTag;
    }
    body = isContinuation || tooLarge ? undefined : safeJson(loaded.text);
  } else {
    body = typeof trigger.body === "string" ? safeJson(trigger.body) : trigger.body;
    const given = (body as { name?: unknown } | null)?.name;
    name =
      typeof given === "string" && /^[A-Za-z0-9][A-Za-z0-9._\-/]{0,199}$/.test(given)
        ? given
        : `direct-${trigger.invocationId}`;
  }
  const reportKey = reportKeyOf(name);
  const requestKey = trigger.kind === "object" && !continuation ? trigger.key : undefined;

  // 2. The report so far: the request's state.
  const existing = await readReport(deps.store, deps.inbox, reportKey);
  const started = now();

  // 3. Which step this invocation runs, or why it runs none.
  let request: AcceptedRequest;
  let step: number;
  let progress: DeletionProgress;
  let report: DeletionReport;
  let reportETag: string | undefined = existing?.eTag;
  const leaseFree = (r: DeletionReport) =>
    r.status === "interrupted" || (r.status === "running" && (r.progress?.leaseUntil ?? 0) < started);

  if (continuation) {
    const r = existing?.report;
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
    if (!loadedRequest.ok) return fail(r, reportKey, reportETag, name, loadedRequest.failure);
    request = loadedRequest.request;
    step = continuation.step;
    progress = progressOf(r);
    report = r;
  } else {
    const r = existing?.report;
    const sameSubmission = r !== undefined && (trigger.kind === "direct" || r.requestETag === requestETag);
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
      const loadedRequest = await requestOf(deps, r, body);
      if (!loadedRequest.ok) return fail(r, reportKey, reportETag, name, loadedRequest.failure);
      request = loadedRequest.request;
      step = r.progress.step;
      progress = progressOf(r);
      report = r;
    } else {
      const validated: ReturnType<typeof validateDeleteRequest> = tooLarge
        ? {
            ok: false,
            refusal: {
              code: "too-large",
              message:
                `the request object is ${tooLarge.size} bytes; the limit is 16 MiB (${MAX_REQUEST_BYTES} bytes): ` +
                "split it into several requests (it was not read)",
            },
          }
        : validateDeleteRequest(body, deps.allowList);
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
      request = validated.request;
      step = 0;
      progress = initialProgress(request);
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
      report = {
        name,
        ...(requestKey ? { requestKey } : {}),
        ...(requestETag ? { requestETag } : {}),
        ...(requestCopyKey ? { requestCopyKey } : {}),
        status: "running",
        request: summarizeRequest(request),
        timings: { receivedAt, updatedAt: receivedAt, durationMs: 0, steps: [] },
      };
    }
  }

  // 4. Claim the step: a conditional write of the report, so that two invocations never run one step together.
  const claimed = withProgress(report, progress, "running", step, started + deps.remainingMs(), started);
  try {
    reportETag = await writeReport(deps, reportKey, claimed, reportETag);
  } catch (err) {
    if (!(err instanceof PreconditionFailed)) throw err;
    const reason = `another invocation claimed ${name} step ${step} first`;
    await audit({ outcome: "skipped", reason, request: name });
    return { status: "skipped", name, reason };
  }
  report = claimed;

  // 5. Delete, checkpointing the report after every committed batch.
  const stepStart = now();
  const stepBatches = progress.counts.batches;
  let latest = progress;
  const save = async (status: ReportStatus, p: DeletionProgress, leaseUntil: number) => {
    const next = withProgress(report, p, status, step, leaseUntil, now());
    next.timings = {
      ...next.timings,
      durationMs: report.timings.durationMs + (now() - stepStart),
    };
    reportETag = await writeReport(deps, reportKey, next, reportETag);
    return next;
  };
  try {
    latest = await runDeletion({
      store: deps.store,
      request,
      progress,
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
        report = { ...report, batchDetails: { prefix, count: (report.batchDetails?.count ?? 0) + 1 } };
      },
      onCheckpoint: async (p) => {
        latest = p;
        await save("running", p, claimed.progress?.leaseUntil ?? 0);
      },
    });
  } catch (err) {
    if (err instanceof PreconditionFailed) {
      const reason = `lost the claim on ${name} step ${step}: another invocation took over`;
      await audit({ outcome: "skipped", reason, request: name });
      return { status: "skipped", name, reason };
    }
    if (err instanceof InconsistentListing) {
      // Permanent: no retry can help. Reported as failed, with what was done before it.
      report = { ...report, failure: err.message };
      const failed = await save("failed", latest, 0);
      await audit({ outcome: "failed", reason: err.message, request: name, counts: latest.counts });
      return { status: "failed", name, report: failed };
    }
    // Release the claim so that Lambda's retry of this event resumes from the last checkpoint at once.
    await save("interrupted", latest, 0).catch(() => {});
    await audit({ outcome: "failed", reason: `deletion interrupted: ${(err as Error).message}`, request: name });
    throw err;
  }

  // 6. Done, or continue in a new invocation.
  const done = latest.cursor.phase === "done";
  const timing: StepTiming = {
    step,
    startedAt: iso(stepStart),
    durationMs: now() - stepStart,
    batches: latest.counts.batches - stepBatches,
  };
  report = { ...report, timings: { ...report.timings, steps: [...report.timings.steps, timing] } };
  const final = await save(done ? "completed" : "continuing", latest, 0);
  if (!done) await writeContinuation(deps, name, step + 1);
  if (continuation) {
    await deps.store
      .deleteObject({ bucket: deps.inbox, key: continuationKeyOf(name, continuation.step) })
      .catch(() => "not-found");
  }
  await audit({
    outcome: done ? (latest.counts.failed > 0 ? "failed" : "succeeded") : "succeeded",
    ...(latest.counts.failed > 0 ? { reason: `${latest.counts.failed} deletion(s) failed, see the report` } : {}),
    status: final.status,
    request: name,
    bucket: request.physicalBucket,
    dryRun: request.dryRun,
    allVersions: request.allVersions,
    requestReason: request.reason,
    step,
    counts: latest.counts,
    report: `s3://${deps.inbox}/${reportKey}`,
    durationMs: final.timings.durationMs,
  });
  return { status: final.status, name, report: final };
}

/** Continuation objects are a few dozen bytes: anything much larger is not one. */
const CONTINUATION_MAX_BYTES = 64 * 1024;

/** Where a direct invocation's accepted request is kept for its later steps. */
export function requestCopyKeyOf(name: string): string {
  return `${DELETE_REPORTS_PREFIX}${name}.request.json`;
}

/** Where the errors and dry-run listing of each batch are written, once per batch. */
export function batchDetailsPrefixOf(name: string): string {
  return `${DELETE_REPORTS_PREFIX}${name}.batches/`;
}

/**
 * The accepted request a resumed step works on: validated again from the body in hand (a retried event or
 * invocation), else from the request object the report names (pinned to its ETag), else from the copy a direct
 * invocation wrote. Failure is permanent: the request is gone or was replaced.
 */
async function requestOf(
  deps: DeleteFlowDependencies,
  report: DeletionReport,
  body?: unknown,
): Promise<{ ok: true; request: AcceptedRequest } | { ok: false; failure: string }> {
  let source = body;
  let where = "the request";
  if (source === undefined) {
    const key = report.requestKey ?? report.requestCopyKey;
    if (!key) return { ok: false, failure: "the report names no request object to resume from" };
    where = `s3://${deps.inbox}/${key}`;
    let found: { text: string; eTag: string } | undefined;
    try {
      found = await deps.store.getText({
        bucket: deps.inbox,
        key,
        ...(report.requestKey && report.requestETag ? { ifMatch: report.requestETag } : {}),
        maxBytes: MAX_REQUEST_BYTES,
      });
    } catch (err) {
      if (!(err instanceof PreconditionFailed)) throw err;
    }
    if (!found) return { ok: false, failure: `${where} was deleted or replaced while the deletion ran` };
    source = safeJson(found.text);
    if (!report.requestKey) return { ok: true, request: source as AcceptedRequest };
  }
  const validated = validateDeleteRequest(source, deps.allowList);
  if (!validated.ok) return { ok: false, failure: `${where} no longer validates: ${validated.refusal.message}` };
  return { ok: true, request: validated.request };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    return { __notJson: (err as Error).message };
  }
}

function progressOf(report: DeletionReport): DeletionProgress {
  return {
    cursor: report.progress?.cursor ?? { phase: "done" },
    counts: report.counts ?? { listed: 0, deleted: 0, deleteMarkers: 0, failed: 0, skipped: 0, batches: 0 },
    errors: report.errors ?? [],
    listing: report.listing ?? [],
  };
}

function withProgress(
  report: DeletionReport,
  progress: DeletionProgress,
  status: ReportStatus,
  step: number,
  leaseUntil: number,
  at: number,
): DeletionReport {
  const dryRun = report.request?.dryRun === true;
  const done = status === "completed";
  return {
    ...report,
    status,
    counts: progress.counts,
    errors: progress.errors,
    errorsTruncated: progress.errors.length < progress.counts.failed,
    ...(dryRun
      ? { listing: progress.listing, listingTruncated: progress.listing.length < progress.counts.listed }
      : {}),
    progress: { step, cursor: progress.cursor, leaseUntil },
    timings: { ...report.timings, updatedAt: iso(at), ...(done ? { finishedAt: iso(at) } : {}) },
  };
}

async function readReport(
  store: DeleterStore,
  bucket: string,
  key: string,
): Promise<{ report: DeletionReport; eTag: string } | undefined> {
  const found = await store.getText({ bucket, key, maxBytes: MAX_REQUEST_BYTES });
  if (!found) return undefined;
  const report = safeJson(found.text) as DeletionReport;
  if (typeof report !== "object" || report === null || typeof report.status !== "string") return undefined;
  return { report, eTag: found.eTag };
}

async function writeReport(
  deps: DeleteFlowDependencies,
  key: string,
  report: DeletionReport,
  previousETag: string | undefined,
): Promise<string> {
  return deps.store.putText({
    bucket: deps.inbox,
    key,
    text: `${JSON.stringify(report, null, 2)}\n`,
    contentType: "application/json",
    ...(previousETag ? { ifMatch: previousETag } : { ifNoneMatch: true }),
  });
}

async function writeContinuation(deps: DeleteFlowDependencies, name: string, step: number): Promise<void> {
  await deps.store.putText({
    bucket: deps.inbox,
    key: continuationKeyOf(name, step),
    text: JSON.stringify({ continuation: { name, step } }),
    contentType: "application/json",
  });
}
