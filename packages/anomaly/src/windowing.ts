/**
 * Event-time windowing of clickstream events per site, with a watermark, late-event accounting and replay
 * protection. Pure: the state is plain JSON that the caller persists between invocations.
 *
 * - Windows are tumbling, `windowMs` long, aligned on the epoch, per site.
 * - The watermark is the highest event time seen (over every shard) minus `latenessMs`. A window closes when the
 *   watermark reaches its end; every known site gets every window closed, empty ones included (a site that goes
 *   quiet is a traffic drop, not a gap).
 * - An event whose window has already closed is late: counted in `late` (a metric), not in any window.
 * - A Kinesis shard delivers its records in sequence order; the state keeps the last sequence number counted per
 *   shard, so a replayed record (a retried batch, a redelivery) is recognised and not counted twice.
 */

export const CLICK_ACTIONS = ["impression", "click", "add_to_cart", "purchase"] as const;
export type ClickAction = (typeof CLICK_ACTIONS)[number];

/** What the windowing needs from a clickstream event. */
export interface WindowedEvent {
  /** Event time, epoch milliseconds. */
  time: number;
  site: string;
  action: ClickAction;
}

/** A record of a shard: its position and its event. */
export interface ShardRecord {
  shardId: string;
  sequenceNumber: string;
  event: WindowedEvent;
}

export interface WindowCounts {
  impressions: number;
  clicks: number;
  addToCart: number;
  purchases: number;
}

export interface ClosedWindow {
  site: string;
  /** Epoch milliseconds, inclusive. */
  windowStart: number;
  /** Epoch milliseconds, exclusive. */
  windowEnd: number;
  counts: WindowCounts;
}

export interface WindowingConfig {
  windowMs: number;
  latenessMs: number;
  /** Most empty windows closed for a site in one go (a site silent for days does not flood the detector). */
  maxGapWindows: number;
}

export const DEFAULT_WINDOWING: Readonly<WindowingConfig> = Object.freeze({
  windowMs: 60_000,
  latenessMs: 30_000,
  maxGapWindows: 1440,
});

export interface WindowingState {
  /** Highest event time seen, or null before the first event. */
  maxEventTime: number | null;
  /** Windows ending at or before this instant are closed (epoch ms), or null before the first close. */
  closedUntil: number | null;
  /** Open windows: site -> window start (as a string key) -> counts. */
  open: Record<string, Record<string, WindowCounts>>;
  /** Sites seen, with the start of the next window to close for each (the closed horizon once one closed). */
  sites: Record<string, number>;
  /** Last sequence number counted, per shard. */
  shards: Record<string, string>;
  /** Late events since the beginning (a counter). */
  late: number;
  /** Events counted since the beginning. */
  counted: number;
}

export function emptyWindowingState(): WindowingState {
  return { maxEventTime: null, closedUntil: null, open: {}, sites: {}, shards: {}, late: 0, counted: 0 };
}

export interface WindowingResult {
  state: WindowingState;
  closed: ClosedWindow[];
  /** Records of this batch counted now. */
  counted: number;
  /** Records of this batch already counted before (replays), skipped. */
  replayed: number;
  /** Records of this batch that were late, with their site. */
  late: Array<{ site: string; time: number }>;
}

const FIELD: Record<ClickAction, keyof WindowCounts> = {
  impression: "impressions",
  click: "clicks",
  add_to_cart: "addToCart",
  purchase: "purchases",
};

function zeroCounts(): WindowCounts {
  return { impressions: 0, clicks: 0, addToCart: 0, purchases: 0 };
}

/** Whether Kinesis sequence number `a` comes after `b` (decimal strings of up to 128 bits). */
export function sequenceAfter(a: string, b: string): boolean {
  return a.length !== b.length ? a.length > b.length : a > b;
}

/** Counts a batch of records into the windows, then closes the windows the watermark has passed. */
export function applyRecords(
  previous: WindowingState,
  records: readonly ShardRecord[],
  config: WindowingConfig = DEFAULT_WINDOWING,
): WindowingResult {
  const state: WindowingState = structuredClone(previous);
  const late: WindowingResult["late"] = [];
  let counted = 0;
  let replayed = 0;
  for (const record of records) {
    const last = state.shards[record.shardId];
    if (last !== undefined && !sequenceAfter(record.sequenceNumber, last)) {
      replayed++;
      continue;
    }
    state.shards[record.shardId] = record.sequenceNumber;
    const { time, site, action } = record.event;
    const start = Math.floor(time / config.windowMs) * config.windowMs;
    if (state.closedUntil !== null && start < state.closedUntil) {
      state.late++;
      late.push({ site, time });
      continue;
    }
    const first = state.sites[site];
    if (first === undefined || start < first) state.sites[site] = start;
    const windows = state.open[site] ?? {};
    state.open[site] = windows;
    const counts = windows[start] ?? zeroCounts();
    windows[start] = counts;
    counts[FIELD[action]]++;
    state.counted++;
    counted++;
    if (state.maxEventTime === null || time > state.maxEventTime) state.maxEventTime = time;
  }
  const closed = closeWindows(state, config);
  return { state, closed, counted, replayed, late };
}

/** Closes, for every site, every window whose end the watermark has reached; returns them in time order. */
function closeWindows(state: WindowingState, config: WindowingConfig): ClosedWindow[] {
  if (state.maxEventTime === null) return [];
  const watermark = state.maxEventTime - config.latenessMs;
  const closedUntil = Math.floor(watermark / config.windowMs) * config.windowMs;
  if (state.closedUntil !== null && closedUntil <= state.closedUntil) return [];
  state.closedUntil = closedUntil;
  const closed: ClosedWindow[] = [];
  for (const site of Object.keys(state.sites).sort()) {
    let next = state.sites[site] as number;
    const open = state.open[site] ?? {};
    // A long silence: skip to the most recent windows rather than closing days of empty ones.
    const earliest = closedUntil - config.maxGapWindows * config.windowMs;
    if (next < earliest) {
      for (const key of Object.keys(open)) if (Number(key) < earliest) delete open[key];
      next = earliest;
    }
    for (; next + config.windowMs <= closedUntil; next += config.windowMs) {
      closed.push({
        site,
        windowStart: next,
        windowEnd: next + config.windowMs,
        counts: open[next] ?? zeroCounts(),
      });
      delete open[next];
    }
    state.sites[site] = next;
    if (Object.keys(open).length === 0) delete state.open[site];
  }
  closed.sort((a, b) => a.windowStart - b.windowStart || a.site.localeCompare(b.site));
  return closed;
}
