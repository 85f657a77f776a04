/**
 * Hydration's domain: clickstream events (the `@sluice/messages` contract) become
 * per-product demand features per event-time window, and one inference request per product per closed window.
 *
 * - Windows are tumbling, on event time (`ts`), `windowMs` long (default 5 minutes), aligned on the epoch.
 * - Each Kinesis shard has a watermark: the latest event time it has seen. A window closes for a shard when the
 *   watermark passes its end plus the allowed lateness (default 1 minute): events up to then still count; an
 *   event for a window already closed on its shard is late, dropped and counted.
 * - Counts are kept per (window, shard) with the sequence number of the last event counted, so a retried batch
 *   never counts an event twice (a shard's records arrive in order; anything at or below that number was counted).
 * - A closed window yields ONE request, whose id is derived from the product and the window: writing it is a
 *   conditional put, so closing the same window again (a retry, or the other shard closing it too) is a no-op.
 * - An event dated more than `maxFutureMs` (default 5 minutes) after the time of processing is refused, with its
 *   reason: counted, it would move its shard's watermark to its date and close every window of the shard at once,
 *   making every real event after it late.
 */
import { type ClickstreamAction, clickstreamEvent, issuePhrases } from "@sluice/messages";
import * as z from "zod/mini";
import type { InferenceRequest } from "./schemas.ts";

export interface WindowConfig {
  windowMs: number;
  latenessMs: number;
  /** Events dated more than this after the time of processing are refused (they would close every window). */
  maxFutureMs: number;
}

export const DEFAULT_WINDOWS: Readonly<WindowConfig> = Object.freeze({
  windowMs: 5 * 60_000,
  latenessMs: 60_000,
  maxFutureMs: 5 * 60_000,
});

export interface DemandCounts {
  views: number;
  clicks: number;
  addToCart: number;
  purchases: number;
}

const ACTION_FIELD = {
  impression: "views",
  click: "clicks",
  add_to_cart: "addToCart",
  purchase: "purchases",
} as const satisfies Record<ClickstreamAction, keyof DemandCounts>;

/**
 * What hydration reads of a clickstream event, checked by the contract's own rules; the other fields are not its
 * business, so an event without them still counts.
 */
const clickEventSchema = z.pick(clickstreamEvent, { productId: true, action: true, ts: true });

export type ClickEvent = z.infer<typeof clickEventSchema>;

/** A clickstream event, or why it is not one. */
export function parseClickEvent(value: unknown): { ok: true; event: ClickEvent } | { ok: false; reason: string } {
  const parsed = clickEventSchema.safeParse(value);
  if (parsed.success) return { ok: true, event: parsed.data };
  return { ok: false, reason: issuePhrases(parsed.error).join("; ") };
}

export function windowStartOf(tsMs: number, config: WindowConfig = DEFAULT_WINDOWS): number {
  return Math.floor(tsMs / config.windowMs) * config.windowMs;
}

/** `<productId>#<window start ISO>`: the window's identity (and the request id it yields). */
export function windowKeyOf(productId: string, windowStartMs: number): string {
  return `${productId}#${new Date(windowStartMs).toISOString()}`;
}

export function parseWindowKey(key: string): { productId: string; windowStartMs: number } {
  const at = key.lastIndexOf("#");
  return { productId: key.slice(0, at), windowStartMs: Date.parse(key.slice(at + 1)) };
}

/** The deterministic id of the request a window yields. */
export function demandRequestId(windowKey: string): string {
  return `demand#${windowKey}`;
}

/**
 * The end of the latest window closed at `watermarkMs`: an event dated before it is late (its window is closed),
 * one dated at or after it still counts.
 */
export function closedBefore(watermarkMs: number, config: WindowConfig = DEFAULT_WINDOWS): number {
  return windowStartOf(watermarkMs - config.windowMs - config.latenessMs, config) + config.windowMs;
}

export function isClosed(windowStartMs: number, watermarkMs: number, config: WindowConfig = DEFAULT_WINDOWS): boolean {
  return windowStartMs + config.windowMs + config.latenessMs <= watermarkMs;
}

/** One shard's records, in sequence order: the parsed event or why it is not one. */
export interface ShardRecord {
  sequenceNumber: string;
  value: unknown;
  /** Why the record's data could not be read (not JSON, as the decoder says): invalid, with this reason. */
  unreadable?: string;
}

export interface ShardAggregate {
  /** Counts per window key, with the highest sequence number counted into each. */
  partials: Map<string, { counts: DemandCounts; lastSequence: string; events: number }>;
  /** The shard's watermark after this batch. */
  watermarkMs: number;
  late: number;
  /** The event times of the late events (absent when none was late). */
  lateRange?: { oldestMs: number; newestMs: number };
  invalid: Array<{ sequenceNumber: string; reason: string }>;
  /** Valid events dated beyond `maxFutureMs`: not counted, and the watermark not moved by them. */
  refused: Array<{ sequenceNumber: string; reason: string }>;
}

const emptyCounts = (): DemandCounts => ({ views: 0, clicks: 0, addToCart: 0, purchases: 0 });

/**
 * Aggregates one shard's records. `counted(key)` is the sequence number already counted into a window for this
 * shard (from an earlier, possibly failed, attempt): records at or below it are skipped. `nowMs` is the time of
 * processing, against which `config.maxFutureMs` bounds event times.
 */
export function aggregateShard(
  records: readonly ShardRecord[],
  watermarkBeforeMs: number,
  counted: (windowKey: string) => string | undefined,
  config: WindowConfig = DEFAULT_WINDOWS,
  nowMs: number = Date.now(),
): ShardAggregate {
  const partials: ShardAggregate["partials"] = new Map();
  const invalid: ShardAggregate["invalid"] = [];
  const refused: ShardAggregate["refused"] = [];
  let late = 0;
  let lateRange: ShardAggregate["lateRange"];
  let watermarkMs = watermarkBeforeMs;
  for (const record of records) {
    const parsed: ReturnType<typeof parseClickEvent> =
      record.unreadable === undefined ? parseClickEvent(record.value) : { ok: false, reason: record.unreadable };
    if (!parsed.ok) {
      invalid.push({ sequenceNumber: record.sequenceNumber, reason: parsed.reason });
      continue;
    }
    const ts = Date.parse(parsed.event.ts);
    if (ts > nowMs + config.maxFutureMs) {
      refused.push({ sequenceNumber: record.sequenceNumber, reason: futureReason(parsed.event.ts, nowMs, config) });
      continue;
    }
    const start = windowStartOf(ts, config);
    // Lateness is judged against the watermark before the batch, so a retry judges every record the same way.
    if (isClosed(start, watermarkBeforeMs, config)) {
      late++;
      lateRange = {
        oldestMs: Math.min(lateRange?.oldestMs ?? ts, ts),
        newestMs: Math.max(lateRange?.newestMs ?? ts, ts),
      };
      continue;
    }
    watermarkMs = Math.max(watermarkMs, ts);
    const key = windowKeyOf(parsed.event.productId, start);
    const already = counted(key);
    if (already !== undefined && BigInt(record.sequenceNumber) <= BigInt(already)) continue;
    const partial = partials.get(key) ?? { counts: emptyCounts(), lastSequence: record.sequenceNumber, events: 0 };
    partial.counts[ACTION_FIELD[parsed.event.action]]++;
    partial.lastSequence = record.sequenceNumber;
    partial.events++;
    partials.set(key, partial);
  }
  return { partials, watermarkMs, late, ...(lateRange && { lateRange }), invalid, refused };
}

function futureReason(ts: string, nowMs: number, config: WindowConfig): string {
  const limit = `${config.maxFutureMs / 1000} s`;
  return `ts ${ts} is more than ${limit} after the time of processing (${new Date(nowMs).toISOString()})`;
}

/** The inference request of a closed window. */
export function requestOfWindow(
  windowKey: string,
  counts: DemandCounts,
  inventory: number,
  config: WindowConfig = DEFAULT_WINDOWS,
): InferenceRequest {
  const { productId, windowStartMs } = parseWindowKey(windowKey);
  return {
    requestId: demandRequestId(windowKey),
    productId,
    windowStart: new Date(windowStartMs).toISOString(),
    windowEnd: new Date(windowStartMs + config.windowMs).toISOString(),
    ...counts,
    inventory,
  };
}

/** Sums per-shard counts of one window. */
export function sumCounts(parts: readonly DemandCounts[]): DemandCounts {
  return parts.reduce(
    (sum, p) => ({
      views: sum.views + p.views,
      clicks: sum.clicks + p.clicks,
      addToCart: sum.addToCart + p.addToCart,
      purchases: sum.purchases + p.purchases,
    }),
    emptyCounts(),
  );
}
