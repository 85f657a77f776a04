/**
 * Invocation planning: as few `InvokeEndpoint` calls as a batch allows. Records are packed in order into calls
 * of at most `maxRecordsPerCall` records whose encoded body stays under `maxPayloadBytes` (SageMaker takes 6 MB,
 * serverless endpoints 4 MB: the default keeps under both).
 */
import { encodedRecordBytes, type ModelContentType, requestEnvelopeBytes } from "./model-contract.ts";
import type { DemandFeatures } from "./schemas.ts";

/** Payload limit of serverless endpoints (real-time endpoints take 6 MB). */
export const DEFAULT_MAX_PAYLOAD_BYTES = 4 * 1024 * 1024;
export const DEFAULT_MAX_RECORDS_PER_CALL = 100;

export interface BatchingLimits {
  maxPayloadBytes: number;
  maxRecordsPerCall: number;
}

export const DEFAULT_BATCHING: Readonly<BatchingLimits> = Object.freeze({
  maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES,
  maxRecordsPerCall: DEFAULT_MAX_RECORDS_PER_CALL,
});

/** One record larger than the payload limit on its own: it can never be sent. */
export class RecordTooLarge extends Error {
  override readonly name = "RecordTooLarge";
}

/**
 * Groups `records` (in order) into calls. Returns the indexes of each call's records; a record that alone exceeds
 * the limit is returned in `tooLarge` instead.
 */
export function planInvocations(
  records: readonly DemandFeatures[],
  contentType: ModelContentType,
  limits: BatchingLimits = DEFAULT_BATCHING,
): { calls: number[][]; tooLarge: number[] } {
  const envelope = requestEnvelopeBytes(contentType);
  const calls: number[][] = [];
  const tooLarge: number[] = [];
  let current: number[] = [];
  let bytes = envelope;
  records.forEach((record, index) => {
    const size = encodedRecordBytes(record, contentType);
    if (envelope + size > limits.maxPayloadBytes) {
      tooLarge.push(index);
      return;
    }
    if (current.length >= limits.maxRecordsPerCall || bytes + size > limits.maxPayloadBytes) {
      calls.push(current);
      current = [];
      bytes = envelope;
    }
    current.push(index);
    bytes += size;
  });
  if (current.length > 0) calls.push(current);
  return { calls, tooLarge };
}

/** Runs `worker` over `items` with at most `limit` in flight; results in input order. Never rejects on its own. */
export async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  worker: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await worker(items[index] as T, index);
    }
  });
  await Promise.all(lanes);
  return results;
}
