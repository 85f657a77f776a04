/**
 * Event-time windowing of clickstream events per site, with a watermark, late-event accounting and replay
 * protection. Pure: the state is plain JSON that the caller persists between invocations.
 *
 * - Windows are tumbling, `windowMs` long, aligned on the epoch, per site.
 * - Each shard's event time is the highest it has delivered; the watermark is the lowest of the active shards'
 *   (those heard from in the last `idleShardMs` of processing time) minus `latenessMs`, so a shard whose Lambda
 *   runs behind the other's (a backfill) does not see its events declared late. Until `expectedShards` shards have
 *   been heard from (or `idleShardMs` has passed since the first record) the watermark holds. A window closes when
 *   the watermark reaches its end; every known site gets every window closed, empty ones included (a site that
 *   goes quiet is a traffic drop, not a gap).
 * - An event whose window has already closed is late: counted in `late` (a metric), not in any window.
 * - Sites: a site is known from its first event. With an allow-list (`allowedSites`), events of other sites are
 *   counted as `notAllowed`, in no window. At most `maxSites` sites are known at once: an event of a new site beyond
 *   that is counted as `overLimit`, in no window. A site with no event for `siteIdleMs` of event time (measured at the
 *   closed horizon) is evicted once its windows up to then are closed (as is a known site the allow-list no longer
 *   names): forgotten, so that it closes no more windows; it is new again if it comes back.
 * - A Kinesis shard delivers its records in sequence order; the state keeps the last sequence number counted per
 *   shard, so a replayed record (a retried batch, a redelivery) is recognised and not counted twice.
 */
import type { ClickstreamAction } from "@sluice/messages";

/** What the windowing needs from a clickstream event. */
export interface WindowedEvent {
  /** Event time, epoch milliseconds. */
  time: number;
  site: string;
  action: ClickstreamAction;
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
  /** Shards of the stream: the watermark waits to hear from this many. */
  expectedShards: number;
  /** A shard silent for this long (processing time) no longer holds the watermark back. */
  idleShardMs: number;
  /** Most empty windows closed for a site in one go (a site silent for days does not flood the detector). */
  maxGapWindows: number;
  /** A site without events for this long (event time) is evicted. */
  siteIdleMs: number;
  /** Most sites known at once; events of further new sites are counted as `overLimit`. */
  maxSites: number;
  /** When set, only these sites are counted; events of others are counted as `notAllowed`. */
  allowedSites: readonly string[] | null;
}

export const DEFAULT_WINDOWING: Readonly<WindowingConfig> = Object.freeze({
  windowMs: 60_000,
  latenessMs: 30_000,
  expectedShards: 1,
  idleShardMs: 60_000,
  maxGapWindows: 1440,
  siteIdleMs: 24 * 3_600_000,
  maxSites: 1000,
  allowedSites: null,
});

export interface WindowingState {
  /** Highest event time seen, or null before the first event. */
  maxEventTime: number | null;
  /** Processing time of the first record, or null before it. */
  firstSeenAt: number | null;
  /** Windows ending at or before this instant are closed (epoch ms), or null before the first close. */
  closedUntil: number | null;
  /** Open windows: site -> window start (as a string key) -> counts. */
  open: Record<string, Record<string, WindowCounts>>;
  /** Sites seen, with the start of the next window to close for each (the closed horizon once one closed). */
  sites: Record<string, number>;
  /** Per shard: last sequence number counted, highest event time, last processing time it was heard from. */
  shards: Record<string, ShardProgress>;
  /** Late events since the beginning (a counter). */
  late: number;
  /** Events counted since the beginning. */
  counted: number;
  /** Per site, the time of its latest event counted (absent in state from before eviction: set at the next close). */
  lastEventAt?: Record<string, number>;
  /** Events of sites outside the allow-list, since the beginning. */
  notAllowed?: number;
  /** Events of new sites refused because `maxSites` sites were known, since the beginning. */
  overLimit?: number;
}

export interface ShardProgress {
  seq: string;
  maxEventTime: number | null;
  seenAt: number;
}

export function emptyWindowingState(): WindowingState {
  return {
    maxEventTime: null,
    firstSeenAt: null,
    closedUntil: null,
    open: {},
    sites: {},
    shards: {},
    late: 0,
    counted: 0,
  };
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
  /** Events of this batch in no window because of their site: outside the allow-list, or beyond `maxSites`. */
  skipped: Array<{ site: string; reason: "not-allowed" | "over-limit"; events: number }>;
  /** Sites evicted by this batch (silent for `siteIdleMs`, or no longer allowed), in name order. */
  evicted: string[];
}

const FIELD: Record<ClickstreamAction, keyof WindowCounts> = {
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
  now: number = Date.now(),
): WindowingResult {
  const state: WindowingState = structuredClone(previous);
  if (records.length > 0) state.firstSeenAt ??= now;
  const late: WindowingResult["late"] = [];
  const skipped = new Map<string, WindowingResult["skipped"][number]>();
  const allowed = config.allowedSites === null ? null : new Set(config.allowedSites);
  state.lastEventAt ??= {};
  const lastEventAt = state.lastEventAt;
  let known = Object.keys(state.sites).length;
  let counted = 0;
  let replayed = 0;
  for (const record of records) {
    const shard = state.shards[record.shardId];
    if (shard !== undefined && !sequenceAfter(record.sequenceNumber, shard.seq)) {
      replayed++;
      continue;
    }
    const { time, site, action } = record.event;
    const progress = shard ?? { seq: record.sequenceNumber, maxEventTime: null, seenAt: now };
    progress.seq = record.sequenceNumber;
    progress.seenAt = now;
    if (progress.maxEventTime === null || time > progress.maxEventTime) progress.maxEventTime = time;
    state.shards[record.shardId] = progress;
    const start = Math.floor(time / config.windowMs) * config.windowMs;
    const first = state.sites[site];
    const reason =
      allowed !== null && !allowed.has(site)
        ? "not-allowed"
        : first === undefined && known >= config.maxSites
          ? "over-limit"
          : null;
    if (reason !== null) {
      const entry = skipped.get(`${reason}#${site}`) ?? { site, reason, events: 0 };
      entry.events++;
      skipped.set(`${reason}#${site}`, entry);
      if (reason === "not-allowed") state.notAllowed = (state.notAllowed ?? 0) + 1;
      else state.overLimit = (state.overLimit ?? 0) + 1;
      continue;
    }
    if (state.closedUntil !== null && start < state.closedUntil) {
      state.late++;
      late.push({ site, time });
      continue;
    }
    if (first === undefined) known++;
    if (first === undefined || start < first) state.sites[site] = start;
    if ((lastEventAt[site] ?? Number.NEGATIVE_INFINITY) < time) lastEventAt[site] = time;
    const windows = state.open[site] ?? {};
    state.open[site] = windows;
    const counts = windows[start] ?? zeroCounts();
    windows[start] = counts;
    counts[FIELD[action]]++;
    state.counted++;
    counted++;
    if (state.maxEventTime === null || time > state.maxEventTime) state.maxEventTime = time;
  }
  const closed = closeWindows(state, config, watermarkOf(state, config, now));
  const evicted = evictSites(state, config, allowed);
  return { state, closed, counted, replayed, late, skipped: [...skipped.values()], evicted };
}

/**
 * Forgets the sites silent for `siteIdleMs` at the closed horizon (their windows up to it are closed by then), and
 * the sites the allow-list no longer names. A site from state written before eviction existed starts its silence at
 * the first close that sees it.
 */
function evictSites(state: WindowingState, config: WindowingConfig, allowed: ReadonlySet<string> | null): string[] {
  const horizon = state.closedUntil;
  if (horizon === null) return [];
  state.lastEventAt ??= {};
  const lastEventAt = state.lastEventAt;
  const evicted: string[] = [];
  for (const site of Object.keys(state.sites).sort()) {
    lastEventAt[site] ??= horizon;
    const last = lastEventAt[site];
    const open = Object.keys(state.open[site] ?? {}).length > 0;
    if ((allowed !== null && !allowed.has(site)) || (!open && horizon - last >= config.siteIdleMs)) {
      delete state.sites[site];
      delete state.open[site];
      delete lastEventAt[site];
      evicted.push(site);
    }
  }
  return evicted;
}

/** The lowest event time of the active shards minus the lateness, or null while it must hold. */
export function watermarkOf(state: WindowingState, config: WindowingConfig, now: number): number | null {
  const shards = Object.values(state.shards);
  const warmingUp = state.firstSeenAt !== null && now - state.firstSeenAt < config.idleShardMs;
  if (shards.length < config.expectedShards && warmingUp) return null;
  let low: number | null = null;
  for (const shard of shards) {
    if (shard.maxEventTime === null || now - shard.seenAt > config.idleShardMs) continue;
    if (low === null || shard.maxEventTime < low) low = shard.maxEventTime;
  }
  // Every shard idle: the last word of the stream stands.
  low ??= state.maxEventTime;
  return low === null ? null : low - config.latenessMs;
}

/** Closes, for every site, every window whose end the watermark has reached; returns them in time order. */
function closeWindows(state: WindowingState, config: WindowingConfig, watermark: number | null): ClosedWindow[] {
  if (watermark === null) return [];
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
