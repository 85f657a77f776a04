/**
 * The file mover's domain: what to do with one object that landed in the Inbox (the move decision), and doing it
 * through the `MoverStore` port: server-side copy, verification, deletion of exactly the version copied, and one
 * audit message per outcome.
 */
import { type AuditFields, type AuditPort, decodeS3EventKey } from "@sluice/messages";
import { CopyOutOfTime, PreconditionFailed, VerificationFailed } from "./errors.ts";
import { bareETag } from "./keys.ts";
import {
  MAX_OBJECT_BYTES,
  MAX_SINGLE_COPY_BYTES,
  type MultipartPlan,
  type MultipartPlanOptions,
  planMultipartCopy,
} from "./multipart.ts";
import type { ChecksumAlgorithm, CopiedPart, CopyReceipt, MoverStore, ObjectHead } from "./ports.ts";
import { type Route, type RoutedObject, type RoutingRules, routeObject, whyUnrouted } from "./routing.ts";
import { type Verification, verifyCopy } from "./verify.ts";

export const MOVER_PIPELINE = "file-mover";

/** One ObjectCreated record, decoded. */
export interface ObjectCreated {
  bucket: string;
  /** Decoded key. */
  key: string;
  size?: number;
  /** Without quotes. */
  eTag?: string;
  versionId?: string;
  eventTime: Date;
  eventName?: string;
  sequencer?: string;
}

/** Reads one S3 event record (`Records[i]`) into an {@link ObjectCreated}, decoding the key. */
export function objectCreatedOf(record: {
  eventTime: string;
  eventName?: string;
  s3: {
    bucket: { name: string };
    object: { key: string; size?: number; eTag?: string; versionId?: string; sequencer?: string };
  };
}): ObjectCreated {
  const o = record.s3.object;
  return {
    bucket: record.s3.bucket.name,
    key: decodeS3EventKey(o.key),
    ...(o.size !== undefined ? { size: o.size } : {}),
    ...(o.eTag ? { eTag: bareETag(o.eTag) } : {}),
    ...(o.versionId && o.versionId !== "null" ? { versionId: o.versionId } : {}),
    eventTime: new Date(record.eventTime),
    ...(record.eventName ? { eventName: record.eventName } : {}),
    ...(o.sequencer ? { sequencer: o.sequencer } : {}),
  };
}

export type SkipReason =
  /** A key ending in `/`: a console "folder", not a file. */
  | "folder-marker"
  /** No routing rule applies (refused: the file stays in the Inbox). */
  | "no-route"
  /** The source is not the object the event announced any more (replaced since): its own event moves it. */
  | "superseded"
  /** The source is gone and the destination does not hold it: someone else removed it. */
  | "source-gone"
  /** Over S3's 5 TiB (refused: the file stays in the Inbox). */
  | "too-large";

/**
 * Skips that leave the file in the Inbox for good, until its sender renames or splits it: audited and logged as
 * `refused` (WARN), not as `skipped` (INFO), so that a search for what to act on finds them.
 */
const REFUSED: ReadonlySet<SkipReason> = new Set(["no-route", "too-large"]);

export type MoveDecision =
  | { kind: "skip"; reason: SkipReason; detail: string; route?: Route }
  | { kind: "already-done"; route: Route }
  | { kind: "copy"; route: Route; source: ObjectHead }
  | { kind: "multipart"; route: Route; source: ObjectHead; plan: MultipartPlan };

export interface DecideInput {
  event: ObjectCreated;
  /** HeadObject of the source now; undefined when it is gone. */
  source: ObjectHead | undefined;
  /** HeadObject of the routed destination; only needed (and read) when the source is gone. */
  destination?: ObjectHead | undefined;
  rules: RoutingRules;
  /** Destination bucket component name -> physical name. */
  buckets: Readonly<Record<string, string>>;
  multipartThresholdBytes?: number;
  multipart?: MultipartPlanOptions;
}

/** What the routing rules see of an object. */
function routedObject(event: ObjectCreated, head: ObjectHead | undefined): RoutedObject {
  return {
    key: event.key,
    size: head?.size ?? event.size ?? 0,
    ...(head?.contentType ? { contentType: head.contentType } : {}),
    eventTime: event.eventTime,
  };
}

/** Routes by the rules, then resolves the rule's bucket (a component name) to the physical bucket. */
export function routeOf(
  event: ObjectCreated,
  head: ObjectHead | undefined,
  rules: RoutingRules,
  buckets: Readonly<Record<string, string>>,
): Route | undefined {
  const route = routeObject(rules, routedObject(event, head));
  if (!route) return undefined;
  const physical = buckets[route.bucket];
  if (!physical) throw new Error(`routing rule ${route.rule} names bucket ${route.bucket}, which is not linked`);
  return { ...route, bucket: physical };
}

/**
 * The move decision, pure: skip (folder marker, no route, superseded, gone), already done (source gone, the
 * destination holds it: a duplicate or late event), or copy in one `CopyObject` (up to 5 GiB) or a multipart copy.
 */
export function decideMove(input: DecideInput): MoveDecision {
  const { event, source } = input;
  if (event.key.endsWith("/")) {
    return { kind: "skip", reason: "folder-marker", detail: "keys ending in / are folder markers" };
  }
  const route = routeOf(event, source, input.rules, input.buckets);
  if (!source) {
    const dest = input.destination;
    if (route && dest && sameObject(event, dest)) return { kind: "already-done", route };
    return {
      kind: "skip",
      reason: "source-gone",
      detail: "the source no longer exists and the destination does not hold it",
      ...(route ? { route } : {}),
    };
  }
  if (
    (event.eTag !== undefined && bareETag(source.eTag) !== event.eTag) ||
    (event.versionId !== undefined && source.versionId !== undefined && source.versionId !== event.versionId)
  ) {
    return {
      kind: "skip",
      reason: "superseded",
      detail: `the source was replaced after this event (ETag ${source.eTag}, event ${event.eTag})`,
    };
  }
  if (!route)
    return { kind: "skip", reason: "no-route", detail: whyUnrouted(input.rules, routedObject(event, source)) };
  if (source.size > MAX_OBJECT_BYTES) {
    return { kind: "skip", reason: "too-large", detail: `${source.size} bytes is above 5 TiB`, route };
  }
  const threshold = input.multipartThresholdBytes ?? MAX_SINGLE_COPY_BYTES;
  if (source.size > threshold) {
    return { kind: "multipart", route, source, plan: planMultipartCopy(source.size, input.multipart) };
  }
  return { kind: "copy", route, source };
}

/** Whether a destination holds the object an event announced (a duplicate event after a finished move). */
function sameObject(event: ObjectCreated, dest: ObjectHead): boolean {
  if (event.size !== undefined && event.size !== dest.size) return false;
  // A single-part source copied in one CopyObject keeps its MD5 ETag; a multipart one does not, and then the size
  // is all an event can be compared on.
  if (event.eTag && !event.eTag.includes("-") && !dest.eTag.includes("-")) return event.eTag === bareETag(dest.eTag);
  return event.size !== undefined;
}

export interface MoveDependencies {
  store: MoverStore;
  audit: AuditPort;
  rules: RoutingRules;
  buckets: Readonly<Record<string, string>>;
  multipartThresholdBytes?: number;
  multipart?: MultipartPlanOptions;
  /** The clock of `deadline` and `durationMs` (ms). Default `Date.now`. */
  now?: () => number;
  /**
   * When the move must be over, on the `now` clock (ms); default none. No copy starts after it, and a multipart copy
   * stops starting parts once the rest cannot be copied by then (at the rate of its parts so far) or its slowest part
   * so far would end after it: the upload is aborted and the move fails with `CopyOutOfTime`. The FileMover passes
   * its invocation's time left less a margin, so that this happens before Lambda stops the function (which would
   * leave the upload's parts behind).
   */
  deadline?: number;
  correlationId?: string;
}

export type MoveOutcome =
  | {
      outcome: "moved";
      from: string;
      to: string;
      size: number;
      eTag: string;
      verifiedBy: string;
      method: "copy" | "multipart";
      parts?: number;
      sourceDeleted: "deleted" | "already-gone" | "changed";
    }
  | { outcome: "already-done"; from: string; to: string }
  | { outcome: "skipped" | "refused"; from: string; reason: SkipReason; detail: string; to?: string }
  | { outcome: "failed"; from: string; to?: string; reason: string };

const s3Url = (bucket: string, key: string) => `s3://${bucket}/${key}`;

/**
 * Moves one object: HEAD the source, decide, copy server-side (never through the function), verify, delete the
 * version that was copied, audit. Requests for a normal move of a file up to 5 GiB: HeadObject, CopyObject,
 * DeleteObject and one audit Publish (plus one HeadObject of the destination when neither checksums nor ETags can
 * be compared).
 *
 * A failed verification leaves the source in place, is audited as `failed`, and throws `VerificationFailed` so
 * that the invocation fails and the event ends in the dead-letter queue after Lambda's retries.
 */
export async function moveObject(event: ObjectCreated, deps: MoveDependencies): Promise<MoveOutcome> {
  const now = deps.now ?? Date.now;
  const started = now();
  const from = s3Url(event.bucket, event.key);
  const audit = (entry: AuditFields) =>
    deps.audit.publish({
      pipeline: MOVER_PIPELINE,
      action: "move",
      ...(deps.correlationId ? { correlationId: deps.correlationId } : {}),
      from,
      size: event.size,
      eTag: event.eTag,
      ...(event.versionId ? { versionId: event.versionId } : {}),
      durationMs: now() - started,
      ...entry,
    });

  if (event.key.endsWith("/")) {
    const decision = decideMove({ event, source: undefined, rules: deps.rules, buckets: deps.buckets });
    if (decision.kind === "skip") {
      await audit({ outcome: "skipped", reason: decision.reason, detail: decision.detail });
      return { outcome: "skipped", from, reason: decision.reason, detail: decision.detail };
    }
  }

  const source = await deps.store.head({ bucket: event.bucket, key: event.key });
  let destination: ObjectHead | undefined;
  if (!source) {
    const route = routeOf(event, undefined, deps.rules, deps.buckets);
    if (route) destination = await deps.store.head({ bucket: route.bucket, key: route.key });
  }
  const decision = decideMove({
    event,
    source,
    destination,
    rules: deps.rules,
    buckets: deps.buckets,
    ...(deps.multipartThresholdBytes !== undefined ? { multipartThresholdBytes: deps.multipartThresholdBytes } : {}),
    ...(deps.multipart ? { multipart: deps.multipart } : {}),
  });

  switch (decision.kind) {
    case "skip": {
      const to = decision.route ? s3Url(decision.route.bucket, decision.route.key) : undefined;
      const outcome = REFUSED.has(decision.reason) ? "refused" : "skipped";
      await audit({ outcome, reason: decision.reason, detail: decision.detail, ...(to ? { to } : {}) });
      return { outcome, from, reason: decision.reason, detail: decision.detail, ...(to ? { to } : {}) };
    }
    case "already-done": {
      const to = s3Url(decision.route.bucket, decision.route.key);
      await audit({
        outcome: "skipped",
        reason: "already-done",
        detail: "the source is gone and the destination holds it",
        to,
      });
      return { outcome: "already-done", from, to };
    }
    default:
      return copyVerifyDelete(event, decision, deps, audit, from);
  }
}

async function copyVerifyDelete(
  event: ObjectCreated,
  decision: Extract<MoveDecision, { kind: "copy" | "multipart" }>,
  deps: MoveDependencies,
  audit: (entry: AuditFields) => Promise<void>,
  from: string,
): Promise<MoveOutcome> {
  const { route, source } = decision;
  const to = s3Url(route.bucket, route.key);
  const sourceRef = {
    bucket: event.bucket,
    key: event.key,
    ...(source.versionId ? { versionId: source.versionId } : {}),
  };
  const destination = { bucket: route.bucket, key: route.key };
  const storageClass = route.storageClass ?? source.storageClass;
  const checksumAlgorithm: ChecksumAlgorithm | undefined = source.checksum?.algorithm;
  const base = { to, rule: route.rule, rulesVersion: route.rulesVersion, method: decision.kind };

  const now = deps.now ?? Date.now;
  let receipt: CopyReceipt;
  try {
    if (deps.deadline !== undefined && now() >= deps.deadline) {
      throw new CopyOutOfTime(
        `out of time: no time left before the deadline: not started (the ${decision.kind === "multipart" ? "multipart copy" : "copy"} of ${from} to ${to}); the source is kept`,
        from,
        to,
      );
    }
    receipt =
      decision.kind === "copy"
        ? await deps.store.copyObject({
            source: sourceRef,
            sourceETag: source.eTag,
            destination,
            ...(storageClass ? { storageClass } : {}),
            ...(checksumAlgorithm ? { checksumAlgorithm } : {}),
          })
        : await multipartCopy(deps.store, {
            source: sourceRef,
            head: source,
            destination,
            plan: decision.plan,
            ...(storageClass ? { storageClass } : {}),
            ...(checksumAlgorithm ? { checksumAlgorithm } : {}),
            ...(deps.deadline !== undefined ? { time: { now, deadline: deps.deadline } } : {}),
          });
  } catch (err) {
    if (err instanceof PreconditionFailed) {
      const detail = "the source changed during the copy: its own event moves the new content";
      await audit({ outcome: "skipped", reason: "superseded", detail, ...base });
      return { outcome: "skipped", from, reason: "superseded", detail, to };
    }
    await audit({ outcome: "failed", reason: `copy failed: ${(err as Error).message}`, ...base });
    throw err;
  }

  let verification: Verification = verifyCopy(source, { receipt });
  if (verification.verdict === "inconclusive") {
    const dest = await deps.store.head(destination);
    verification = dest
      ? verifyCopy(source, { receipt, destination: dest })
      : { verdict: "mismatch", reason: "the destination is missing after the copy" };
  }
  if (verification.verdict !== "verified") {
    const reason = verification.verdict === "mismatch" ? verification.reason : "could not be verified";
    // The copy is not trusted: remove it, so that a retry (or the DLQ) never leaves a second, unverified copy.
    const copyRemoved = await removeCopy(deps.store, destination, receipt);
    const removal =
      copyRemoved === "deleted"
        ? "the copy was removed"
        : copyRemoved === "not-found"
          ? "there was no copy to remove"
          : `the copy could not be removed (${copyRemoved})`;
    await audit({
      outcome: "failed",
      reason: `verification failed, source kept, ${removal}: ${reason}`,
      copyRemoved,
      ...base,
    });
    throw new VerificationFailed(
      `copy of ${from} to ${to} not verified (${reason}); the source is kept and ${removal}`,
      from,
      to,
    );
  }

  // Only the version copied: by version id in a versioned bucket, by ETag otherwise (a newer object is left alone).
  let sourceDeleted: "deleted" | "already-gone" | "changed";
  try {
    const result = await deps.store.deleteObject(
      source.versionId
        ? { bucket: event.bucket, key: event.key, versionId: source.versionId }
        : { bucket: event.bucket, key: event.key, ifMatch: source.eTag },
    );
    sourceDeleted = result === "deleted" ? "deleted" : "already-gone";
  } catch (err) {
    if (!(err instanceof PreconditionFailed)) {
      await audit({
        outcome: "failed",
        reason: `copied and verified, but deleting the source failed: ${(err as Error).message}`,
        ...base,
      });
      throw err;
    }
    sourceDeleted = "changed";
  }
  const parts = decision.kind === "multipart" ? decision.plan.parts.length : undefined;
  await audit({
    outcome: "succeeded",
    verifiedBy: verification.by,
    sourceDeleted,
    destinationETag: receipt.eTag,
    ...(receipt.versionId ? { destinationVersionId: receipt.versionId } : {}),
    ...(parts ? { parts, parallelism: decision.kind === "multipart" ? decision.plan.parallelism : undefined } : {}),
    ...(sourceDeleted === "changed"
      ? { reason: "the source was replaced after the copy: the new object stays for its own event" }
      : {}),
    ...base,
  });
  return {
    outcome: "moved",
    from,
    to,
    size: source.size,
    eTag: source.eTag,
    verifiedBy: verification.by,
    method: decision.kind,
    ...(parts ? { parts } : {}),
    sourceDeleted,
  };
}

/**
 * Deletes exactly the object a copy wrote: its version in a versioned destination (an earlier version becomes current
 * again), else the current object only if it still has the copy's ETag (an object written since is left alone).
 * Returns `deleted`, `not-found`, `changed` (another object is there now) or the error's message.
 */
async function removeCopy(
  store: MoverStore,
  destination: { bucket: string; key: string },
  receipt: CopyReceipt,
): Promise<string> {
  try {
    return await store.deleteObject(
      receipt.versionId
        ? { ...destination, versionId: receipt.versionId }
        : { ...destination, ifMatch: bareETag(receipt.eTag) },
    );
  } catch (err) {
    return err instanceof PreconditionFailed ? "changed" : `${(err as Error).name}: ${(err as Error).message}`;
  }
}

/** Tags as a `Tagging` header value (`k=v&k2=v2`, URL-encoded). */
export function taggingHeader(tags: Readonly<Record<string, string>>): string | undefined {
  const entries = Object.entries(tags);
  if (entries.length === 0) return undefined;
  return entries.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&");
}

/** Seconds, rounded, for messages. */
const seconds = (ms: number) => Math.round(ms / 1000);

/**
 * Copies an object in parts, at most `plan.parallelism` at once, every part pinned to the source's ETag. Tags are
 * read from the source and given to the new upload (UploadPartCopy copies bytes only). Any failure aborts the
 * upload, so no orphaned parts are left to pay for.
 *
 * With `time`, nothing starts once its deadline has passed, and no part starts when the parts not started yet
 * cannot be copied by the deadline at the rate so far (rounds of `parallelism` parts of the mean duration), or when
 * a part as slow as the slowest so far would end after it: the parts in flight finish, the upload is aborted, and
 * `CopyOutOfTime` says how far the copy got and why it stopped. Lambda stopping the function at its timeout would
 * run no abort at all.
 */
export async function multipartCopy(
  store: MoverStore,
  input: {
    source: { bucket: string; key: string; versionId?: string };
    head: ObjectHead;
    destination: { bucket: string; key: string };
    plan: MultipartPlan;
    storageClass?: string;
    checksumAlgorithm?: ChecksumAlgorithm;
    time?: { now: () => number; deadline: number };
  },
): Promise<CopyReceipt> {
  const from = s3Url(input.source.bucket, input.source.key);
  const to = s3Url(input.destination.bucket, input.destination.key);
  const { time } = input;
  const total = input.plan.parts.length;
  if (time && time.now() >= time.deadline) {
    throw new CopyOutOfTime(
      `out of time: no time left before the deadline: not started (the multipart copy of ${from} to ${to}); the source is kept`,
      from,
      to,
    );
  }
  const tagging = taggingHeader(await store.getTagging(input.source));
  const uploadId = await store.startMultipartCopy({
    destination: input.destination,
    head: input.head,
    ...(tagging ? { tagging } : {}),
    ...(input.storageClass ? { storageClass: input.storageClass } : {}),
    ...(input.checksumAlgorithm ? { checksumAlgorithm: input.checksumAlgorithm } : {}),
  });
  const copyStarted = time?.now() ?? 0;
  let done = 0;
  let spentMs = 0;
  let slowestMs = 0;
  /** Why no further part may start (the deadline), or undefined. */
  const outOfTime = (next: number): string | undefined => {
    if (!time) return undefined;
    const left = time.deadline - time.now();
    if (left <= 0) return "no time left before the deadline";
    if (done === 0) return undefined;
    const rest = total - next;
    const needs = Math.ceil(rest / input.plan.parallelism) * (spentMs / done);
    if (needs > left) {
      return `at that rate the other ${rest} need about ${seconds(needs)} s, and ${seconds(left)} s are left before the deadline`;
    }
    if (slowestMs > left) {
      return `the slowest part took ${seconds(slowestMs)} s, and only ${seconds(left)} s are left before the deadline`;
    }
    return undefined;
  };
  let stopped: string | undefined;
  try {
    const copied: CopiedPart[] = new Array(total);
    let next = 0;
    let failed = false;
    const lane = async () => {
      while (!failed && stopped === undefined && next < total) {
        stopped = outOfTime(next);
        if (stopped !== undefined) break;
        const index = next++;
        const part = input.plan.parts[index];
        if (!part) break;
        const partStarted = time?.now() ?? 0;
        try {
          copied[index] = await store.copyPart({
            destination: input.destination,
            uploadId,
            partNumber: part.partNumber,
            source: input.source,
            sourceETag: input.head.eTag,
            start: part.start,
            end: part.end,
          });
        } catch (err) {
          failed = true;
          throw err;
        }
        if (time) {
          const ms = time.now() - partStarted;
          done++;
          spentMs += ms;
          slowestMs = Math.max(slowestMs, ms);
        }
      }
    };
    const settled = await Promise.allSettled(Array.from({ length: input.plan.parallelism }, lane));
    const rejected = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (rejected) throw rejected.reason;
    if (stopped !== undefined) throw new OutOfTimeSignal();
    return await store.completeMultipartCopy({
      destination: input.destination,
      uploadId,
      parts: copied,
      ...(input.checksumAlgorithm ? { checksumAlgorithm: input.checksumAlgorithm } : {}),
    });
  } catch (err) {
    const aborted = await store.abortMultipartCopy({ destination: input.destination, uploadId }).then(
      () => "the upload was aborted (its copied parts deleted)",
      (abortErr: Error) =>
        `aborting the upload (${uploadId}) failed (${abortErr.name}: ${abortErr.message}): its parts remain until it is aborted`,
    );
    if (!(err instanceof OutOfTimeSignal)) throw err;
    const elapsed = seconds((time?.now() ?? 0) - copyStarted);
    throw new CopyOutOfTime(
      `out of time: the multipart copy of ${from} to ${to} stopped, ${done} of ${total} parts copied in ${elapsed} s; ` +
        `${stopped}. ${aborted[0]?.toUpperCase()}${aborted.slice(1)}, and the source is kept`,
      from,
      to,
    );
  }
}

/** Internal: the lanes stopped for the deadline (turned into `CopyOutOfTime` once the upload is aborted). */
class OutOfTimeSignal extends Error {}
