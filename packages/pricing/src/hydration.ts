/**
 * The DemandHydration flow for one Kinesis batch (see `demand-windows.ts` for the windowing rules): per shard,
 * count the new events into their windows exactly once, move the watermark, and write one inference request per
 * window that closed. Every step is idempotent, so a failed batch is simply retried by the stream.
 */
import { mapBounded } from "./batching.ts";
import {
  aggregateShard,
  closedBefore,
  DEFAULT_WINDOWS,
  type DemandCounts,
  parseWindowKey,
  requestOfWindow,
  type ShardRecord,
  type WindowConfig,
} from "./demand-windows.ts";
import type { InferenceRequest } from "./schemas.ts";

/**
 * Where partial counts, shard watermarks and open windows live (`DemandWindows` table). Open windows are one
 * item each, found by start time, so a shard can have any number open.
 */
export interface DemandWindowStore {
  /** The shard's watermark (0 before its first event). */
  watermark(shardId: string): Promise<number>;
  /** The last sequence number counted into each window by this shard (absent: none yet). */
  countedSequences(shardId: string, windowKeys: readonly string[]): Promise<Map<string, string>>;
  /**
   * Adds counts to the shard's part of a window, only if its last counted sequence is still `expected`; resolves too
   * when the part already holds this very count (`lastSequence`: an earlier attempt applied, its answer lost).
   */
  addCounts(
    windowKey: string,
    shardId: string,
    counts: DemandCounts,
    lastSequence: string,
    expected: string | undefined,
  ): Promise<void>;
  /** Records windows the shard counted into, and its watermark (which never moves back). */
  markOpen(shardId: string, watermarkMs: number, windowKeys: readonly string[]): Promise<void>;
  /** The shard's open windows that start at or before `maxStartMs`. */
  openWindowsUpTo(shardId: string, maxStartMs: number): Promise<string[]>;
  markClosed(shardId: string, windowKeys: readonly string[]): Promise<void>;
  /** A window's counts summed over every shard. */
  windowCounts(windowKey: string): Promise<DemandCounts>;
}

export interface HydrationDeps {
  store: DemandWindowStore;
  /** Conditional put: `exists` when the request was already written. */
  putRequest(request: InferenceRequest): Promise<"created" | "exists">;
  /** Units in stock per product (the catalog's `inventory`); unknown products are absent. */
  inventoryOf(productIds: readonly string[]): Promise<Map<string, number>>;
  config?: WindowConfig;
  /** Window items written at once (default 16). */
  parallelism?: number;
  /** The time of processing (default `Date.now`): events dated beyond it by `config.maxFutureMs` are refused. */
  now?: () => number;
}

export interface HydrationRecord extends ShardRecord {
  shardId: string;
}

export interface HydrationResult {
  eventsCounted: number;
  late: number;
  /**
   * Per shard with late events: how many, their oldest and newest event times, the shard's watermark they were judged
   * against (before the batch) and the end of the latest window closed at it (events dated before it are late).
   */
  lateEvents: LateEvents[];
  /** Records that are not clickstream events, with their shard and reason: not counted (the handler reports them). */
  invalid: Array<{ shardId: string; sequenceNumber: string; reason: string }>;
  /** Events dated too far in the future, with their shard and reason: not counted (the handler reports them). */
  refused: Array<{ shardId: string; sequenceNumber: string; reason: string }>;
  requestsCreated: string[];
  requestsExisting: string[];
}

export interface LateEvents {
  shardId: string;
  events: number;
  oldestMs: number;
  newestMs: number;
  watermarkMs: number;
  closedBeforeMs: number;
}

export async function hydrateDemand(
  records: readonly HydrationRecord[],
  deps: HydrationDeps,
): Promise<HydrationResult> {
  const config = deps.config ?? DEFAULT_WINDOWS;
  const parallelism = deps.parallelism ?? 16;
  const now = (deps.now ?? Date.now)();
  const result: HydrationResult = {
    eventsCounted: 0,
    late: 0,
    lateEvents: [],
    invalid: [],
    refused: [],
    requestsCreated: [],
    requestsExisting: [],
  };
  const byShard = new Map<string, HydrationRecord[]>();
  for (const record of records) {
    const list = byShard.get(record.shardId) ?? [];
    list.push(record);
    byShard.set(record.shardId, list);
  }
  // Count every shard's events first, then close windows: a window seen by several shards of this batch gets
  // all of their counts.
  const watermarks = new Map<string, number>();
  for (const [shardId, shardRecords] of byShard) {
    const before = await deps.store.watermark(shardId);
    // First pass finds the windows touched, to read what was already counted into them.
    const touched = aggregateShard(shardRecords, before, () => undefined, config, now);
    const counted = await deps.store.countedSequences(shardId, [...touched.partials.keys()]);
    const aggregate = aggregateShard(shardRecords, before, (key) => counted.get(key), config, now);
    // Windows are independent items: counted a few at a time.
    await mapBounded([...aggregate.partials], parallelism, async ([key, partial]) => {
      await deps.store.addCounts(key, shardId, partial.counts, partial.lastSequence, counted.get(key));
      result.eventsCounted += partial.events;
    });
    result.late += aggregate.late;
    if (aggregate.lateRange) {
      result.lateEvents.push({
        shardId,
        events: aggregate.late,
        ...aggregate.lateRange,
        watermarkMs: before,
        closedBeforeMs: closedBefore(before, config),
      });
    }
    result.invalid.push(...aggregate.invalid.map((invalid) => ({ shardId, ...invalid })));
    result.refused.push(...aggregate.refused.map((refused) => ({ shardId, ...refused })));
    await deps.store.markOpen(shardId, aggregate.watermarkMs, [...aggregate.partials.keys()]);
    watermarks.set(shardId, Math.max(before, aggregate.watermarkMs));
  }
  for (const [shardId, watermarkMs] of watermarks) {
    // The latest start of a closed window: start + window + lateness <= watermark.
    const closing = await deps.store.openWindowsUpTo(shardId, watermarkMs - config.windowMs - config.latenessMs);
    if (closing.length === 0) continue;
    const inventory = await deps.inventoryOf([...new Set(closing.map((key) => parseWindowKey(key).productId))]);
    await mapBounded(closing, parallelism, async (key) => {
      const counts = await deps.store.windowCounts(key);
      const request = requestOfWindow(key, counts, inventory.get(parseWindowKey(key).productId) ?? 0, config);
      const put = await deps.putRequest(request);
      (put === "created" ? result.requestsCreated : result.requestsExisting).push(request.requestId);
    });
    await deps.store.markClosed(shardId, closing);
  }
  return result;
}
