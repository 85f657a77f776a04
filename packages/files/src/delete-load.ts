/**
 * Loading what a delete trigger brings: the request object, a continuation, or the JSON of a direct invocation; and,
 * for a step that resumes, the accepted request again. Part of `handleDeleteTrigger` (`delete-flow.ts`).
 */
import * as z from "zod/mini";
import type { DeleteFlowDependencies, DeleteFlowResult, DeleteTrigger, DeletionReport } from "./delete-flow.ts";
import type { DeleteStepContext } from "./delete-report.ts";
import {
  type AcceptedRequest,
  CONTINUATIONS_PREFIX,
  type Continuation,
  continuationSchema,
  MAX_REQUEST_BYTES,
  NotJson,
  parseJsonText,
  reportKeyOf,
  requestNameOf,
  validateDeleteRequest,
} from "./delete-request.ts";
import { ObjectTooLarge, PreconditionFailed } from "./errors.ts";

/** Continuation objects are a few dozen bytes: anything much larger is not one. */
const CONTINUATION_MAX_BYTES = 64 * 1024;

/** What arrived, and the names it goes by. */
export interface LoadedTrigger {
  /** The request's name: its report is `reportKey`. */
  name: string;
  reportKey: string;
  /**
   * The request as sent (parsed JSON, or `NotJson`, which validation refuses saying why); absent for continuations
   * and unread objects.
   */
  body: unknown;
  /** The request object, for S3-triggered requests (not continuations). */
  requestKey?: string;
  requestETag?: string;
  continuation?: Continuation;
  /** Set when the request object was over the size limit: it is refused unread. */
  tooLarge?: ObjectTooLarge;
}

/**
 * Reads what the trigger names. An object gone or replaced since its event, or a continuation object that is not
 * one, is skipped (and audited).
 */
export async function loadTrigger(
  trigger: DeleteTrigger,
  context: DeleteStepContext,
): Promise<LoadedTrigger | Extract<DeleteFlowResult, { status: "skipped" }>> {
  const { deps, audit } = context;
  if (trigger.kind === "direct") {
    const body = typeof trigger.body === "string" ? parseJsonText(trigger.body) : trigger.body;
    const given = (body as { name?: unknown } | null)?.name;
    const name =
      typeof given === "string" && /^[A-Za-z0-9][A-Za-z0-9._\-/]{0,199}$/.test(given)
        ? given
        : `direct-${trigger.invocationId}`;
    return { name, reportKey: reportKeyOf(name), body };
  }

  const isContinuation = trigger.key.startsWith(CONTINUATIONS_PREFIX);
  let loaded: { text: string; eTag: string } | undefined;
  let tooLarge: ObjectTooLarge | undefined;
  try {
    loaded = await deps.store.getText({
      bucket: deps.inbox,
      key: trigger.key,
      ...(trigger.eTag ? { ifMatch: trigger.eTag } : {}),
      maxBytes: isContinuation ? CONTINUATION_MAX_BYTES : MAX_REQUEST_BYTES,
    });
  } catch (err) {
    if (err instanceof ObjectTooLarge && !isContinuation) {
      // Refused when validated, unread: its body could exhaust the function's memory.
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
    const json = parseJsonText(loaded.text);
    const parsed = continuationSchema.safeParse(json);
    if (!parsed.success) {
      const why = json instanceof NotJson ? `not JSON: ${json.reason}` : z.prettifyError(parsed.error);
      const reason = `${trigger.key} is not a continuation (${why})`;
      await audit({ outcome: "skipped", reason, requestKey: trigger.key });
      return { status: "skipped", reason };
    }
    const continuation = parsed.data.continuation;
    return { name: continuation.name, reportKey: reportKeyOf(continuation.name), body: undefined, continuation };
  }
  const name = requestNameOf(trigger.key);
  return {
    name,
    reportKey: reportKeyOf(name),
    body: tooLarge ? undefined : parseJsonText(loaded.text),
    requestKey: trigger.key,
    requestETag: loaded.eTag,
    ...(tooLarge ? { tooLarge } : {}),
  };
}

/**
 * The accepted request a resumed step works on: validated again from the body in hand (a retried event or
 * invocation), else from the request object the report names (pinned to its ETag), else from the copy a direct
 * invocation wrote. Failure is permanent: the request is gone or was replaced.
 */
export async function requestOf(
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
    source = parseJsonText(found.text);
    if (!report.requestKey) return { ok: true, request: source as AcceptedRequest };
  }
  const validated = validateDeleteRequest(source, deps.allowList);
  if (!validated.ok) return { ok: false, failure: `${where} no longer validates: ${validated.refusal.message}` };
  return { ok: true, request: validated.request };
}
