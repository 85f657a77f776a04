/**
 * The report of a delete request (`reports/delete/<name>.json`), which is also the request's state: reading it,
 * writing it conditionally on the ETag last seen, the checkpoints of a step, and the report of a step that ended
 * (completed, or continuing in a new invocation). Part of `handleDeleteTrigger` (`delete-flow.ts`).
 */

import type { AuditFields } from "@sluice/messages";
import type {
  DeleteFlowDependencies,
  DeleteFlowResult,
  DeletionReport,
  ReportStatus,
  StepTiming,
} from "./delete-flow.ts";
import type { AcceptedRequest } from "./delete-request.ts";
import {
  type Continuation,
  continuationKeyOf,
  DELETE_REPORTS_PREFIX,
  MAX_REQUEST_BYTES,
  parseJsonText,
} from "./delete-request.ts";
import type { DeletionProgress } from "./deletion.ts";
import { PreconditionFailed } from "./errors.ts";
import type { DeleterStore } from "./ports.ts";

/** What every step of one trigger's handling shares. */
export interface DeleteStepContext {
  deps: DeleteFlowDependencies;
  now: () => number;
  /** How long a claim holds without renewal. */
  leaseMs: number;
  sleep: (ms: number) => Promise<void>;
  /** Publishes an audit message of the deleter (pipeline, action and correlation id filled in). */
  audit: (entry: AuditFields) => Promise<void>;
}

export const iso = (ms: number) => new Date(ms).toISOString();

/** Where a direct invocation's accepted request is kept for its later steps. */
export function requestCopyKeyOf(name: string): string {
  return `${DELETE_REPORTS_PREFIX}${name}.request.json`;
}

/** Where the errors and dry-run listing of each batch are written, once per batch. */
export function batchDetailsPrefixOf(name: string): string {
  return `${DELETE_REPORTS_PREFIX}${name}.batches/`;
}

/** The progress a report records (nothing done yet when it records none). */
export function progressOf(report: DeletionReport): DeletionProgress {
  return {
    cursor: report.progress?.cursor ?? { phase: "done" },
    counts: report.counts ?? { listed: 0, deleted: 0, deleteMarkers: 0, failed: 0, skipped: 0, batches: 0 },
    errors: report.errors ?? [],
    listing: report.listing ?? [],
  };
}

/** The report with a step's progress, status and lease (held by `owner`, by default the report's). */
export function withProgress(
  report: DeletionReport,
  progress: DeletionProgress,
  status: ReportStatus,
  step: number,
  leaseUntil: number,
  at: number,
  owner = report.progress?.owner,
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
    progress: { step, cursor: progress.cursor, leaseUntil, ...(owner ? { owner } : {}) },
    timings: { ...report.timings, updatedAt: iso(at), ...(done ? { finishedAt: iso(at) } : {}) },
  };
}

/** The report at `key` and its ETag, or `undefined` when there is none (or it is not a report). */
export async function readReport(
  store: DeleterStore,
  bucket: string,
  key: string,
): Promise<{ report: DeletionReport; eTag: string } | undefined> {
  const found = await store.getText({ bucket, key, maxBytes: MAX_REQUEST_BYTES });
  if (!found) return undefined;
  const report = parseJsonText(found.text) as DeletionReport;
  if (typeof report !== "object" || report === null || typeof report.status !== "string") return undefined;
  return { report, eTag: found.eTag };
}

/**
 * Writes the report if it is still the one with `previousETag` (or, without one, if there is none yet): throws
 * `PreconditionFailed` otherwise. Returns the new ETag.
 */
export async function writeReport(
  deps: DeleteFlowDependencies,
  key: string,
  report: DeletionReport,
  previousETag: string | undefined,
): Promise<string> {
  const text = `${JSON.stringify(report, null, 2)}\n`;
  try {
    return await deps.store.putText({
      bucket: deps.inbox,
      key,
      text,
      contentType: "application/json",
      ...(previousETag ? { ifMatch: previousETag } : { ifNoneMatch: true }),
    });
  } catch (err) {
    if (!(err instanceof PreconditionFailed)) throw err;
    // A write S3 applied whose answer was lost fails its condition when the SDK retries it: the report is then this
    // very text (a rival's would differ: its own times, lease and progress), and the write is this invocation's.
    const current = await deps.store.getText({ bucket: deps.inbox, key });
    if (current?.text === text) return current.eTag;
    throw err;
  }
}

/** Writes the continuation object whose ObjectCreated event starts `step`. */
export async function writeContinuation(deps: DeleteFlowDependencies, name: string, step: number): Promise<void> {
  await deps.store.putText({
    bucket: deps.inbox,
    key: continuationKeyOf(name, step),
    text: JSON.stringify({ continuation: { name, step } }),
    contentType: "application/json",
  });
}

/**
 * The report while one claimed step runs. Every write starts from the claimed report (plus what the step adds:
 * batch details, a failure, its timing) with the latest progress, and is conditional on the ETag of the previous
 * write, so that an invocation that lost its claim stops at its next write. Writes go one at a time.
 *
 * The claim's lease is renewed by every checkpoint and, while the step runs, by a heartbeat every third of
 * `leaseMs` (when no checkpoint did it meanwhile), so that a slow batch does not lose it and the report shows that
 * the step is alive (`timings.updatedAt`, `progress.leaseUntil`, `progress.inFlight`). An invocation that is killed
 * stops renewing: its step is free `leaseMs` after its last write.
 */
export class StepReport {
  /** When the step started deleting. */
  readonly startedAt: number;
  /** This invocation's end: its lease never goes past it. */
  private readonly deadline: number;
  /** The progress last written, which the heartbeat writes again. */
  private latest: DeletionProgress | undefined;
  private inFlight = { batches: 0, entries: 0 };
  private lastWriteAt: number;
  /** Writes in order: the one under way, then the next. */
  private writes: Promise<unknown> = Promise.resolve();
  private pending = 0;
  private heartbeat: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly context: DeleteStepContext,
    readonly name: string,
    readonly key: string,
    readonly step: number,
    /** The claimed report, with what the step adds. */
    public report: DeletionReport,
    private eTag: string,
  ) {
    this.startedAt = context.now();
    this.lastWriteAt = this.startedAt;
    this.deadline = this.startedAt + context.deps.remainingMs();
  }

  /** The lease a write made now gives: `leaseMs` from now, never past this invocation's end. */
  renewedLease(): number {
    return Math.min(this.context.now() + this.context.leaseMs, this.deadline);
  }

  /** Batches sent to DeleteObjects and not yet committed, shown by the next write. */
  setInFlight(inFlight: { batches: number; entries: number }): void {
    this.inFlight = inFlight;
  }

  /** A checkpoint: the report with `progress`, its lease renewed. */
  checkpoint(progress: DeletionProgress): Promise<DeletionReport> {
    return this.save("running", progress, this.renewedLease());
  }

  /** Writes the report with `progress`; its time spent deleting counts this step so far. */
  save(status: ReportStatus, progress: DeletionProgress, leaseUntil: number): Promise<DeletionReport> {
    this.pending++;
    const write = this.writes.then(() => this.write(status, progress, leaseUntil));
    this.writes = write.then(
      () => this.pending--,
      () => this.pending--,
    );
    return write;
  }

  private async write(status: ReportStatus, progress: DeletionProgress, leaseUntil: number): Promise<DeletionReport> {
    const { now, deps } = this.context;
    const next = withProgress(this.report, progress, status, this.step, leaseUntil, now());
    if (status === "running" && this.inFlight.batches > 0 && next.progress) {
      next.progress = { ...next.progress, inFlight: { ...this.inFlight } };
    }
    next.timings = {
      ...next.timings,
      durationMs: this.report.timings.durationMs + (now() - this.startedAt),
    };
    this.eTag = await writeReport(deps, this.key, next, this.eTag);
    this.latest = progress;
    this.lastWriteAt = now();
    return next;
  }

  /** Renews the lease every third of it while the step runs, from `progress` (the claimed progress). */
  startHeartbeat(progress: DeletionProgress): void {
    this.latest = progress;
    const every = this.context.leaseMs / 3;
    this.heartbeat = setInterval(() => {
      // A write under way (or just done) renews the lease itself.
      if (this.pending > 0 || this.context.now() - this.lastWriteAt < every || !this.latest) return;
      // A failed renewal is tried again at the next beat; one refused (another invocation took the step over after
      // this one's lease expired) makes the next checkpoint fail likewise, which stops the step.
      this.save("running", this.latest, this.renewedLease()).catch(() => {});
    }, every);
    this.heartbeat.unref?.();
  }

  /** Stops the heartbeat, once any renewal under way is written. */
  async stopHeartbeat(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    await this.writes;
  }
}

/**
 * The end of a step that ran to its end or out of time: the report says `completed` or `continuing` (then the next
 * step's continuation is written), the continuation that started this step is removed, and the step is audited.
 */
export async function reportStep(
  context: DeleteStepContext,
  stepReport: StepReport,
  outcome: {
    request: AcceptedRequest;
    latest: DeletionProgress;
    /** Batches done before this step. */
    batchesBefore: number;
    /** The continuation that started this step, if one did. */
    continuation?: Continuation;
  },
): Promise<DeleteFlowResult> {
  const { deps, now } = context;
  const { name, step, key } = stepReport;
  const { request, latest, continuation } = outcome;
  const done = latest.cursor.phase === "done";
  const timing: StepTiming = {
    step,
    startedAt: iso(stepReport.startedAt),
    durationMs: now() - stepReport.startedAt,
    batches: latest.counts.batches - outcome.batchesBefore,
  };
  const report = stepReport.report;
  stepReport.report = { ...report, timings: { ...report.timings, steps: [...report.timings.steps, timing] } };
  const final = await stepReport.save(done ? "completed" : "continuing", latest, 0);
  if (!done) await writeContinuation(deps, name, step + 1);
  if (continuation) {
    await deps.store
      .deleteObject({ bucket: deps.inbox, key: continuationKeyOf(name, continuation.step) })
      .catch(() => "not-found");
  }
  await context.audit({
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
    report: `s3://${deps.inbox}/${key}`,
    durationMs: final.timings.durationMs,
  });
  return { status: final.status, name, report: final };
}
