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

import type { AuditFields, AuditOutcome, AuditPort } from "@sluice/messages";
import { chooseStep, claimStep } from "./delete-claim.ts";
import { loadTrigger } from "./delete-load.ts";
import { type DeleteStepContext, reportStep, StepReport } from "./delete-report.ts";
import type { Refusal, RequestSummary } from "./delete-request.ts";
import { runStep } from "./delete-run.ts";
import type { DeletionProgress } from "./deletion.ts";
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
    /**
     * Epoch ms until which the claiming invocation holds the step: `leaseMs` (60 s) after its last write of the
     * report, renewed at every checkpoint and by a heartbeat. 0 once the step ended.
     */
    leaseUntil: number;
    /** The invocation that claimed the step (a random id of its claim). */
    owner?: string;
    /** While a step runs: batches sent to DeleteObjects (and their entries) whose answer is not yet committed. */
    inFlight?: { batches: number; entries: number };
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

/** A claim's lease without renewal: a minute, about when AWS Lambda's first retry of a failed invocation comes. */
export const DEFAULT_LEASE_MS = 60_000;

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
  /** Milliseconds this invocation may still run (its lease never outlasts it). */
  remainingMs: () => number;
  /**
   * How long a claim on a step holds without renewal (default {@link DEFAULT_LEASE_MS}): the holder renews it at
   * every checkpoint and by a heartbeat every third of it; an invocation killed mid-step frees its step this long
   * after its last write, and Lambda's retry (about a minute later) waits out what is left of it.
   */
  leaseMs?: number;
  /** Waits `ms` (tests: a virtual clock that `now` reads). */
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  concurrency?: number;
  batchSize?: number;
  correlationId?: string;
}

export type DeleteFlowResult =
  | { status: "skipped"; name?: string; reason: string }
  | { status: ReportStatus; name: string; report: DeletionReport };

/**
 * What a trigger's handling came to, as its audit message says: `skipped`, `refused`, `failed` (a deletion that
 * completed with keys it could not delete failed too: see the report's errors), else `succeeded` (a step done).
 */
export function outcomeOf(result: DeleteFlowResult): AuditOutcome {
  switch (result.status) {
    case "skipped":
    case "refused":
      return result.status;
    case "failed":
    case "interrupted":
      return "failed";
    case "completed":
      return (result.report.counts?.failed ?? 0) > 0 ? "failed" : "succeeded";
    default:
      return "succeeded";
  }
}

/**
 * Handles one delete trigger; see the module comment. Four steps, each in a module of its own: load what arrived
 * (`delete-load.ts`), choose and claim the step to run (`delete-claim.ts`), run it (`delete-run.ts`), and report its
 * end (`delete-report.ts`). Each step may end the handling with a result (skipped, refused, failed).
 */
export async function handleDeleteTrigger(
  trigger: DeleteTrigger,
  deps: DeleteFlowDependencies,
): Promise<DeleteFlowResult> {
  const context: DeleteStepContext = {
    deps,
    now: deps.now ?? Date.now,
    leaseMs: deps.leaseMs ?? DEFAULT_LEASE_MS,
    sleep: deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
    audit: (entry: AuditFields) =>
      deps.audit.publish({
        pipeline: DELETER_PIPELINE,
        action: "delete-request",
        ...(deps.correlationId ? { correlationId: deps.correlationId } : {}),
        ...entry,
      }),
  };
  const loaded = await loadTrigger(trigger, context);
  if ("status" in loaded) return loaded;
  const chosen = await chooseStep(trigger, loaded, context);
  if ("status" in chosen) return chosen;
  const claimed = await claimStep(chosen, loaded, context);
  if ("status" in claimed) return claimed;

  const stepReport = new StepReport(
    context,
    loaded.name,
    loaded.reportKey,
    claimed.step,
    claimed.report,
    claimed.reportETag,
  );
  const batchesBefore = claimed.progress.counts.batches;
  const ran = await runStep(claimed, stepReport, context);
  if ("status" in ran) return ran;
  return reportStep(context, stepReport, {
    request: claimed.request,
    latest: ran.latest,
    batchesBefore,
    ...(loaded.continuation ? { continuation: loaded.continuation } : {}),
  });
}

export { batchDetailsPrefixOf, requestCopyKeyOf } from "./delete-report.ts";
