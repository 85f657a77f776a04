/**
 * Batch settlement of a stream event-source mapping: what Lambda does with a batch of a shard once it knows how the
 * invocation ended. Pure functions, no I/O and no clock of their own (the caller passes `now`): the shard poller
 * (`shard-poller.ts`) invokes, sleeps and sends; this module only decides, following what AWS documents:
 *
 * - `ReportBatchItemFailures`: the checkpoint moves to just before the lowest failed sequence number and the records
 *   from there are retried; an empty, null or unknown `itemIdentifier` fails the whole batch;
 * - a function error or timeout is retried up to `maximumRetryAttempts` (-1: until the records expire); with
 *   `bisectBatchOnFunctionError` the batch is split in two instead, which does not count as a retry;
 * - records older than `maximumRecordAgeInSeconds` (-1: never) are discarded before an invocation;
 * - discarded records go to the on-failure destination as one record naming the shard, the sequence range, the
 *   arrival times, the condition, the last request id and how many invocations included them;
 * - with a tumbling window, a response without `state` fails the batch, and the `state` returned with a success or
 *   a partial failure is carried on.
 */
import type { StreamBatchOptions } from "@sluice/infra/wiring";
import type { InvokeResult } from "../runtime/types.ts";
import {
  type FailureCondition,
  type ShardRecord,
  type StreamFailureRecord,
  streamFailureRecord,
} from "./stream-records.ts";

/** Records of a shard on their way to the function, with what their invocations so far have left. */
export interface PendingBatch {
  records: ShardRecord[];
  /** Retries so far (bisecting does not count). */
  retries: number;
  /** Invocations that included these records. */
  invokeCount: number;
  /** The request id of the last invocation that included them. */
  requestId?: string;
  /** Set when the last invocation ended in a function error or timeout (`Unhandled`). */
  functionError?: string;
}

/** How Lambda judges one invocation of a stream batch. */
export type InvocationOutcome =
  | { kind: "success"; state?: unknown }
  /** `index`: the position in the batch of the lowest failed record. */
  | { kind: "partial"; index: number; state?: unknown }
  /** The function returned, but its response fails the whole batch. */
  | { kind: "failed" }
  /** The function threw or timed out. */
  | { kind: "error"; functionError: string };

/** The batch options settlement follows. */
export type SettlementOptions = Pick<
  StreamBatchOptions,
  "reportBatchItemFailures" | "bisectBatchOnFunctionError" | "maximumRetryAttempts" | "maximumRecordAgeInSeconds"
>;

/** Records given up on: they go to the on-failure destination, and processing continues past them. */
export interface Discard {
  action: "discard";
  /** The discarded records, with the invocation history the on-failure record reports. */
  batch: PendingBatch;
  condition: FailureCondition;
}

/** What the poller does after an invocation of the batch at the head of its queue. */
export type Settlement =
  /** Every record is done: the checkpoint moves past the batch; `state` is the window's state from now on. */
  | { action: "checkpoint"; state?: unknown }
  /** Replace the batch by its two halves, each invoked on its own. */
  | { action: "bisect"; halves: [PendingBatch, PendingBatch] }
  /** Invoke `batch` (what is left of it) again, after `retryDelay(batch.retries)`. */
  | ({ action: "retry"; batch: PendingBatch } & PartialProgress)
  | (Discard & PartialProgress);

/**
 * After a partial batch failure: how many records were checkpointed (those before the lowest failure), and the
 * window state the response carried, which the retry starts from.
 */
interface PartialProgress {
  checkpointed?: number;
  windowState?: { state: unknown };
}

/** The invocation's outcome as Lambda judges it for a stream batch. */
export function judgeInvocation(
  result: Pick<InvokeResult, "status" | "payload">,
  records: readonly ShardRecord[],
  context: { windowed: boolean; reportBatchItemFailures: boolean },
): InvocationOutcome {
  if (result.status !== "ok") return { kind: "error", functionError: "Unhandled" };
  const payload = result.payload as { state?: unknown; batchItemFailures?: unknown } | null | undefined;
  const hasState = typeof payload === "object" && payload !== null && "state" in payload;
  // With tumbling windows a response without `state` is a failed invocation.
  if (context.windowed && !hasState) return { kind: "failed" };
  const state = hasState ? payload?.state : undefined;
  if (!context.reportBatchItemFailures) return { kind: "success", state };
  const failures = payload?.batchItemFailures;
  if (failures === undefined || failures === null) return { kind: "success", state };
  if (!Array.isArray(failures)) return { kind: "failed" };
  if (failures.length === 0) return { kind: "success", state };
  let lowest = records.length;
  for (const failure of failures) {
    const id = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    const index = typeof id === "string" && id !== "" ? records.findIndex((r) => r.sequenceNumber === id) : -1;
    // An empty, null, misnamed or unknown identifier fails the whole batch.
    if (index < 0) return { kind: "failed" };
    lowest = Math.min(lowest, index);
  }
  return { kind: "partial", index: lowest, state };
}

/**
 * What follows an invocation of `batch` (as it was before the invocation) that ended with `result`: checkpoint,
 * bisect, retry, or discard once the retries are exhausted.
 */
export function settleInvocation(
  batch: PendingBatch,
  result: Pick<InvokeResult, "requestId" | "status" | "payload">,
  context: { windowed: boolean; options: SettlementOptions },
): Settlement {
  const { options } = context;
  const invoked: PendingBatch = { ...batch, invokeCount: batch.invokeCount + 1, requestId: result.requestId };
  const outcome = judgeInvocation(result, invoked.records, {
    windowed: context.windowed,
    reportBatchItemFailures: options.reportBatchItemFailures,
  });
  if (outcome.kind === "success") return { action: "checkpoint", state: outcome.state };

  let next: PendingBatch;
  let partial: PartialProgress = {};
  if (outcome.kind === "partial") {
    // Checkpoint just before the lowest failure: the records before it are done.
    next = { ...invoked, records: invoked.records.slice(outcome.index), functionError: undefined };
    partial = { checkpointed: outcome.index, ...(context.windowed ? { windowState: { state: outcome.state } } : {}) };
  } else if (outcome.kind === "failed") {
    next = { ...invoked, functionError: undefined };
  } else {
    next = { ...invoked, functionError: outcome.functionError };
    if (options.bisectBatchOnFunctionError && next.records.length > 1) {
      // Splitting does not count towards the retry quota.
      const half = Math.ceil(next.records.length / 2);
      return {
        action: "bisect",
        halves: [
          { ...next, records: next.records.slice(0, half) },
          { ...next, records: next.records.slice(half) },
        ],
      };
    }
  }
  next.retries++;
  if (retriesExhausted(next.retries, options.maximumRetryAttempts)) {
    return { action: "discard", batch: next, condition: "RetryAttemptsExhausted", ...partial };
  }
  return { action: "retry", batch: next, ...partial };
}

/**
 * Before an invocation: the records at the head of `batch` older than `maximumRecordAgeInSeconds` (-1: none ever
 * are) at `now`, as a discard, and what is left to invoke (`undefined` when nothing is). Only the run before the
 * first record still young enough is discarded: a shard's records arrive in order.
 */
export function discardExpired(
  batch: PendingBatch,
  now: number,
  maximumRecordAgeInSeconds: number,
): { discard: Discard; rest?: PendingBatch } | undefined {
  if (maximumRecordAgeInSeconds < 0) return undefined;
  const maxAgeMs = maximumRecordAgeInSeconds * 1000;
  const firstLive = batch.records.findIndex((record) => now - record.arrivalMs <= maxAgeMs);
  const count = firstLive === -1 ? batch.records.length : firstLive;
  if (count === 0) return undefined;
  const discard: Discard = {
    action: "discard",
    batch: { ...batch, records: batch.records.slice(0, count) },
    condition: "RecordAgeExceeded",
  };
  return count < batch.records.length
    ? { discard, rest: { ...batch, records: batch.records.slice(count) } }
    : { discard };
}

/** Whether `retries` retries exceed `maximumRetryAttempts` (-1: retries are never exhausted). */
export function retriesExhausted(retries: number, maximumRetryAttempts: number): boolean {
  return maximumRetryAttempts >= 0 && retries > maximumRetryAttempts;
}

/** The pause before retry number `retries` (1 for the first): `firstMs`, doubling each time, at most `maxMs`. */
export function retryDelay(retries: number, timing: { retryDelayMs: number; maxRetryDelayMs: number }): number {
  return Math.min(timing.maxRetryDelayMs, timing.retryDelayMs * 2 ** Math.max(0, retries - 1));
}

/**
 * The record AWS sends to the on-failure destination for discarded records. `requestId` stands in for a batch no
 * invocation included (records that expired before their first invocation).
 */
export function onFailureRecord(
  discard: Discard,
  context: {
    kind: "kinesis" | "dynamodb";
    shardId: string;
    streamArn: string;
    functionArn: string;
    requestId: string;
    now?: number;
  },
): StreamFailureRecord {
  return streamFailureRecord({
    kind: context.kind,
    records: discard.batch.records,
    shardId: context.shardId,
    streamArn: context.streamArn,
    functionArn: context.functionArn,
    condition: discard.condition,
    requestId: discard.batch.requestId ?? context.requestId,
    approximateInvokeCount: discard.batch.invokeCount,
    functionError: discard.batch.functionError,
    ...(context.now !== undefined ? { now: context.now } : {}),
  });
}
