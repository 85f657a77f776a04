/**
 * AnomalyAlert's domain: a batch of Kinesis clickstream records in, alerts out.
 *
 * 1. Decode each record (base64 JSON, the clickstream event schema, whose site is at most 200 bytes, not dated in
 *    the future); a malformed one is reported with its reason and does not stop the others.
 * 2. Count the events into event-time windows per site (`windowing.ts`); replays are skipped, late events counted,
 *    events of sites outside the allow-list or beyond the site limit counted apart; quiet sites are evicted.
 * 3. Score every closed window of every metric of the site with the series' streaming detector, and run the alert
 *    policy (`alert-policy.ts`); an evicted site's policy and series are dropped.
 * 4. Commit the new state (windowing + the touched series, minus the dropped ones) atomically, on condition of the
 *    stream state's version (the store decides how: one conditional write is the commit point): two shards'
 *    invocations racing each other cannot both win, the loser reloads and redoes its batch (its records then count
 *    exactly once). Alerts decided by a commit go in its outbox with a lease held by that invocation, are published
 *    after it, each on its own, and are removed from the outbox by a second conditional write (retried on conflict);
 *    one that fails waits for a back-off, and is given up (reported to Audit) after `maxPublishAttempts` or at once
 *    when refused as invalid. Another invocation carries a leased alert along but never publishes it; it takes over
 *    only an alert whose lease has expired (its publisher crashed). So an alert survives a crash between commit and
 *    publish, and racing shards do not publish it twice; a duplicate needs a publisher that outlives its lease after
 *    a crash-free publish.
 */
import {
  type AlertMessage,
  type AuditBatchPort,
  type ClickstreamEvent,
  decodeClickstreamRecord,
  MAX_KEY_BYTES,
  UndecodableRecord,
} from "@sluice/messages";
import { type RecentWindow, rememberWindow, withContext } from "./alert-context.ts";
import {
  applySitePolicy,
  DEFAULT_POLICY,
  emptySitePolicy,
  type MetricPoint,
  type PolicyConfig,
  type SitePolicyState,
} from "./alert-policy.ts";
import { type DetectorBand, type DetectorConfig, type DetectorState, StreamingDetector } from "./detector.ts";
import {
  applyRecords,
  type ClosedWindow,
  DEFAULT_WINDOWING,
  emptyWindowingState,
  type ShardRecord,
  type WindowCounts,
  type WindowingConfig,
  type WindowingResult,
  type WindowingState,
} from "./windowing.ts";

export const METRICS = ["impressions", "clicks", "ctr", "add_to_cart", "purchases"] as const;
export type MetricName = (typeof METRICS)[number];

/** A metric's value in a closed window, or undefined when it has none (CTR without impressions). */
export function metricValue(metric: MetricName, counts: WindowCounts): number | undefined {
  switch (metric) {
    case "impressions":
      return counts.impressions;
    case "clicks":
      return counts.clicks;
    case "ctr":
      return counts.impressions > 0 ? counts.clicks / counts.impressions : undefined;
    case "add_to_cart":
      return counts.addToCart;
    case "purchases":
      return counts.purchases;
  }
}

/** How a metric's detector sees the metric (`METRIC_SCALES`). */
export interface MetricScale {
  /** The window's value on the scale, from its counts; undefined without one (CTR without impressions). */
  to(counts: WindowCounts): number | undefined;
  /** A value on the scale in the metric's own units (the band an alert reports). */
  from(scaled: number): number;
}

/**
 * The scale each metric's detector works on: counts on Anscombe's square-root scale, `2·sqrt(x + 3/8)`, the
 * click-through rate on Anscombe's arcsine scale, `asin(sqrt((clicks + 3/8) / (impressions + 3/4)))`. Both are
 * variance-stabilizing transforms: a Poisson count's or a binomial proportion's noise is about equally wide at every
 * level on them and close to normal, where on the raw scale a small count's upper tail is far heavier than a normal
 * band allows (19 purchases in a minute against 6 expected: 5.3 sigma, a 1-in-20-million normal event, but 1 in
 * 57 000 for a Poisson count) and a rate near 0 has almost no lower tail (no click in 250 impressions at a CTR of 8 %
 * is a 1-in-a-billion event, which a normal band puts at 4.6 sigma). The 3/8 and 3/4 keep a window without clicks
 * from looking further out than it is (no click in 84 impressions at 9 % happens once in 2 800 windows: 5.7 sigma on
 * `asin(sqrt(p))`, 4.4 on Anscombe's). The band an alert reports is mapped back to the metric's own units (so it is not
 * symmetric around its mean; a CTR band's edges as `(clicks + 3/8) / (impressions + 3/4)`, which is the CTR but for
 * the few windows of small volume).
 */
export const METRIC_SCALES: Readonly<Record<MetricName, MetricScale>> = (() => {
  // To 4 decimals, far below any window's noise on these scales (at least 0.02 for a count of a million a minute):
  // the detector's state holds recent values and ranges in JSON, and 17-digit doubles made a series item 60 % larger
  // (about 1 570 bytes against 960: 2 write units instead of 1 for most).
  const round = (y: number) => Math.round(y * 1e4) / 1e4;
  const count = (of: (c: WindowCounts) => number): MetricScale => ({
    to: (c) => round(2 * Math.sqrt(Math.max(0, of(c)) + 0.375)),
    from: (y) => Math.max(0, (Math.max(0, y) / 2) ** 2 - 0.375),
  });
  const ctr: MetricScale = {
    to: (c) =>
      c.impressions > 0 ? round(Math.asin(Math.sqrt((c.clicks + 0.375) / (c.impressions + 0.75)))) : undefined,
    from: (y) => Math.sin(Math.min(Math.PI / 2, Math.max(0, y))) ** 2,
  };
  return Object.freeze({
    impressions: count((c) => c.impressions),
    clicks: count((c) => c.clicks),
    ctr,
    add_to_cart: count((c) => c.addToCart),
    purchases: count((c) => c.purchases),
  });
})();

/** What `SeriesState.scale` records: the detector learnt the metric on `METRIC_SCALES`. */
export const SERIES_SCALE = "sqrt";

/**
 * Scores a window's metric with its detector, on the metric's scale (`METRIC_SCALES`); `values` are the metric's own
 * values of the last windows, this one last. Returns the score and the detector's band in the metric's own units,
 * with the value it judged: the window's value, or the plain mean of the last `points` windows' values (what an
 * on-call engineer can check against the windows an alert lists; the detector judged the mean on its scale, which lies
 * a little lower, so a mean that the plain one would put back inside the band is not alerted on: `applySitePolicy`).
 * Undefined when the window has no value for the metric.
 */
export function scoreMetric(
  detector: StreamingDetector,
  metric: MetricName,
  counts: WindowCounts,
  values: readonly number[],
): { score: number; band: DetectorBand | null } | undefined {
  const scale = METRIC_SCALES[metric];
  const scaled = scale.to(counts);
  if (scaled === undefined) return undefined;
  const score = detector.update(scaled);
  const band = detector.expected();
  if (!band) return { score, band };
  const judged = values.slice(-band.points);
  return {
    score,
    band: {
      value:
        judged.length === band.points ? judged.reduce((sum, v) => sum + v, 0) / judged.length : scale.from(band.value),
      mean: scale.from(band.mean),
      low: scale.from(band.low),
      high: scale.from(band.high),
      points: band.points,
    },
  };
}

/** A Kinesis record as the handler hands it over. */
export interface RawRecord {
  shardId: string;
  sequenceNumber: string;
  /** base64 of the record's bytes. */
  data: string;
}

export interface MalformedRecord {
  shardId: string;
  sequenceNumber: string;
  reason: string;
}

export class PoisonRecord extends Error {
  override name = "PoisonRecord";
}

/**
 * Longest site name, in UTF-8 bytes: the site is part of item keys (DynamoDB: 2 048 bytes) and of the state. The
 * clickstream contract bounds it (`MAX_KEY_BYTES` of @sluice/messages): a longer one is not a clickstream event.
 */
export const MAX_SITE_BYTES = MAX_KEY_BYTES;

/** Decodes one record into an event the windowing understands, or throws {@link PoisonRecord} with the reason. */
export function decodeRecord(record: RawRecord, now: number, maxFutureMs: number): ShardRecord {
  let event: ClickstreamEvent;
  try {
    event = decodeClickstreamRecord(record.data);
  } catch (error) {
    if (error instanceof UndecodableRecord) throw new PoisonRecord(error.message);
    throw error;
  }
  const time = Date.parse(event.ts);
  if (time > now + maxFutureMs) {
    throw new PoisonRecord(
      `ts ${event.ts} is more than ${maxFutureMs / 1000} s after the time of processing (${new Date(now).toISOString()})`,
    );
  }
  return {
    shardId: record.shardId,
    sequenceNumber: record.sequenceNumber,
    event: { time, site: event.site, action: event.action },
  };
}

/** The state of the whole stream (one item): windowing, alert policies per site, alerts not yet published. */
export interface StreamState {
  version: number;
  windowing: WindowingState;
  policies: Record<string, SitePolicyState>;
  outbox: PendingAlert[];
}

/** An alert decided and committed but not yet known to be published. */
export interface PendingAlert {
  alert: AlertMessage;
  /**
   * Until then (epoch ms) nobody else may publish it: the invocation that committed or took it over is publishing it,
   * or, after a failed attempt, it waits for its back-off.
   */
  leaseUntil: number;
  /** Failed publications so far (absent: none). */
  attempts?: number;
  /** Why the last one failed. */
  lastError?: string;
  /** Given up (the reason): the entry only waits for its report to `Audit`. */
  undeliverable?: string;
  /** Failed reports to `Audit` so far. */
  reportAttempts?: number;
}

/** The state of one series (`<site>#<metric>`): its detector (at most 64 KB serialised). */
export interface SeriesState {
  detector: DetectorState;
  /**
   * `SERIES_SCALE` when the detector learnt the metric on its scale (`METRIC_SCALES`); absent in states written
   * before, which learnt raw values: such a detector is not carried on (it starts learning again, its warm-up anew).
   */
  scale?: typeof SERIES_SCALE;
  /** The series' last `contextWindows` windows, oldest first, for the alerts (absent: written before they were kept). */
  recent?: RecentWindow[];
}

export class StateConflict extends Error {
  override name = "StateConflict";
}

/**
 * Where the state lives between invocations (DynamoDB on AWS, a Map in tests). Any method may throw
 * {@link StateConflict} when another invocation committed meanwhile: the caller reloads and redoes its work.
 */
export interface AnomalyStateStore {
  loadStream(): Promise<StreamState | undefined>;
  /** The series of `keys` as committed with stream state version `streamVersion` (absent: never written). */
  loadSeries(keys: readonly string[], streamVersion: number): Promise<Map<string, SeriesState>>;
  /**
   * Writes `stream` (whose version is `expectedVersion + 1`) and `series`, and deletes the series `dropped`,
   * atomically, if the stored stream state is still at `expectedVersion` (0: absent); throws {@link StateConflict}
   * otherwise. Readers see the state before or after, never a mix, however many series it holds.
   */
  commit(
    stream: StreamState,
    expectedVersion: number,
    series: ReadonlyMap<string, SeriesState>,
    dropped?: readonly string[],
  ): Promise<void>;
}

export interface AlertPublisher {
  /** Publishes one alert; throws {@link AlertRefused} when the service refuses the alert itself. */
  publish(alert: AlertMessage): Promise<void>;
}

/** The alert service refused this alert as invalid: publishing it again cannot succeed. */
export class AlertRefused extends Error {
  override name = "AlertRefused";
}

/** An alert that could not be published this time (`failedAlerts`), or for good (`undeliverable`). */
export interface AlertFailure {
  alert: AlertMessage;
  attempts: number;
  reason: string;
  /** Set when the alert was given up without reaching Audit either (`maxPublishAttempts` reports failed): why. */
  unreported?: string;
}

export interface PipelineConfig {
  windowing: WindowingConfig;
  detector: Partial<DetectorConfig>;
  policy: PolicyConfig;
  metrics: readonly MetricName[];
  /** Events dated further than this in the future are malformed (they would close every window). */
  maxFutureMs: number;
  /** Attempts when racing another invocation for the state. */
  maxAttempts: number;
  /** How long an invocation owns the alerts it committed (longer than the function's timeout). */
  outboxLeaseMs: number;
  /** Attempts to publish one alert (one per invocation at most) before it is reported to Audit and dropped. */
  maxPublishAttempts: number;
  /** Wait before the second attempt; doubled after each failure, up to `maxPublishBackoffMs`. */
  publishBackoffMs: number;
  maxPublishBackoffMs: number;
  /** A count metric alerts only once its baseline mean per window reaches this (sparse counts are noise). */
  minMeanCount: number;
  /** CTR alerts only in windows with at least this many impressions. */
  minImpressionsForCtr: number;
  /** Windows of the alert's metric an alert shows (against its band), and so each series keeps. */
  contextWindows: number;
}

/**
 * The clickstream detector: the NAB-tuned detector looking at 5- and 15-minute averages of the 1-minute windows
 * (minute counts are Poisson noise at small volumes; NAB's series are 5-minute aggregates), with its spatial check on
 * those averages too (a range 40% wider than anything seen), a short rest (the alert policy, not the
 * detector, keeps an incident to one alert), and the band gate on the mean of the last 5 windows (± 3 deviations,
 * learnt over about 20 windows; a mean 8 deviations out scores as a spatial anomaly): nothing scores while that mean (or the latest window, against the band of one
 * window) is inside its band, so an averaged scale draining an
 * incident that is over raises no echo alert, and the band is what an open alert reports. The pipeline feeds it each
 * metric on its square-root scale (`METRIC_SCALES`), where a spatial anomaly also has to be 5 deviations out.
 * Warm-up: 120 windows (2
 * hours of a site's traffic). Chosen on simulated traffic (see README).
 */
export const CLICKSTREAM_DETECTOR: Readonly<Partial<DetectorConfig>> = Object.freeze({
  scales: [5, 15],
  ensemble: [],
  spreadCap: 0,
  spatialTolerance: 0.4,
  spatialAllScales: true,
  restPoints: 10,
  warmupPoints: 120,
  bandSigmas: 3,
  gateWindow: 5,
  bandAlpha: 0.05,
  levelSigmas: 8,
  // A value beyond the range seen scores only 5 deviations out (on the metric's scale, `METRIC_SCALES`): in a site's
  // first hours the range has not seen a whole day, and each new high of the morning, a few deviations out, was an
  // alert. 5 is what about 7 200 points a site-day (5 metrics, a window a minute) need for well under one false
  // alert a site-month if the noise were normal (two-sided 5.7e-7 a point), not a figure fitted to the simulation.
  spatialSigmas: 5,
  // A 5-window mean 5 deviations out for 3 windows in a row scores as `levelSigmas` would at once: a lasting
  // departure, such as a CTR collapse at a few clicks a minute, whose 5-window mean stays 5 to 6 deviations out.
  persistSigmas: 5,
  persistPoints: 3,
  // No cycle context: minute windows have a daily cycle of 1 440 points, beyond the lags it looks for, and its ring
  // of values would add 8 KB to every series' state.
  seasonLags: [],
});

export const DEFAULT_PIPELINE: Readonly<PipelineConfig> = Object.freeze({
  windowing: DEFAULT_WINDOWING,
  detector: CLICKSTREAM_DETECTOR,
  policy: DEFAULT_POLICY,
  metrics: METRICS,
  maxFutureMs: 5 * 60_000,
  maxAttempts: 8,
  outboxLeaseMs: 120_000,
  maxPublishAttempts: 8,
  publishBackoffMs: 5_000,
  maxPublishBackoffMs: 300_000,
  minMeanCount: 5,
  minImpressionsForCtr: 30,
  contextWindows: 6,
});

export interface PipelineDeps {
  store: AnomalyStateStore;
  alerts: AlertPublisher;
  /** Where alerts given up are reported (with their reason) before they leave the outbox. */
  audit?: AuditBatchPort;
  config?: PipelineConfig;
  now?: () => number;
  /** Waits between attempts (tests pass a no-op). */
  sleep?: (ms: number) => Promise<void>;
}

export interface BatchOutcome {
  malformed: MalformedRecord[];
  counted: number;
  replayed: number;
  late: number;
  /**
   * The late events of this batch (dated in a window the stream's watermark had closed, `closedBefore`): how many,
   * of how many sites, their oldest and newest event times; null when none.
   */
  lateEvents: { events: number; sites: number; oldestMs: number; newestMs: number; closedBefore: number } | null;
  closedWindows: number;
  published: AlertMessage[];
  /** Sites forgotten by this batch (silent for `siteIdleMs`, or no longer allowed), their state dropped. */
  evicted: Array<{ site: string; openIncident: boolean }>;
  /** Events in no window because of their site (outside the allow-list, or beyond the site limit). */
  skippedSites: WindowingResult["skipped"];
  /** Alerts whose publication failed this time: they stay in the outbox for a later attempt. */
  failedAlerts: AlertFailure[];
  /** Alerts given up (refused by the service, or out of attempts), reported to Audit and out of the outbox. */
  undeliverable: AlertFailure[];
  attempts: number;
}

export function seriesKey(site: string, metric: string): string {
  return `${site}#${metric}`;
}

/** Processes one batch of records (see the module comment). */
export async function processClickstreamBatch(
  records: readonly RawRecord[],
  deps: PipelineDeps,
): Promise<BatchOutcome> {
  const config = deps.config ?? DEFAULT_PIPELINE;
  const now = (deps.now ?? Date.now)();
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const malformed: MalformedRecord[] = [];
  const valid: ShardRecord[] = [];
  for (const record of records) {
    try {
      valid.push(decodeRecord(record, now, config.maxFutureMs));
    } catch (error) {
      if (!(error instanceof PoisonRecord)) throw error;
      malformed.push({ shardId: record.shardId, sequenceNumber: record.sequenceNumber, reason: error.message });
    }
  }

  for (let attempt = 1; ; attempt++) {
    let committed: { windowed: WindowingResult; mine: PendingAlert[]; evicted: BatchOutcome["evicted"] };
    try {
      committed = await commitBatch(valid, deps.store, config, now);
    } catch (error) {
      if (!(error instanceof StateConflict) || attempt >= config.maxAttempts) throw error;
      await sleep(Math.random() * 50 * attempt);
      continue;
    }
    const { windowed, mine, evicted } = committed;
    const delivery = await deliver(mine, deps, config, now);
    if (mine.length > 0) await settleOutbox(deps.store, delivery.settled, config, sleep);
    return {
      malformed,
      counted: windowed.counted,
      replayed: windowed.replayed,
      late: windowed.late.length,
      lateEvents: lateEventsOf(windowed),
      closedWindows: windowed.closed.length,
      evicted,
      skippedSites: windowed.skipped,
      published: delivery.published,
      failedAlerts: delivery.failed,
      undeliverable: delivery.undeliverable,
      attempts: attempt,
    };
  }
}

/**
 * One attempt: load the state, count the batch, score the closed windows, forget the evicted sites, and commit (on
 * the version loaded: throws {@link StateConflict} when another invocation committed first).
 */
async function commitBatch(
  valid: readonly ShardRecord[],
  store: AnomalyStateStore,
  config: PipelineConfig,
  now: number,
): Promise<{ windowed: WindowingResult; mine: PendingAlert[]; evicted: BatchOutcome["evicted"] }> {
  const stored = await store.loadStream();
  const previous: StreamState = stored ?? {
    version: 0,
    windowing: emptyWindowingState(),
    policies: {},
    outbox: [],
  };
  const windowed = applyRecords(previous.windowing, valid, config.windowing, now);
  const policies = structuredClone(previous.policies);
  const { series, alerts } = await scoreWindows(windowed.closed, policies, store, previous.version, config);
  // An evicted site's windows are all closed (and scored above): its policy and series go.
  const evicted = windowed.evicted.map((site) => ({ site, openIncident: (policies[site]?.incident ?? null) !== null }));
  const dropped: string[] = [];
  for (const site of windowed.evicted) {
    delete policies[site];
    for (const metric of config.metrics) {
      const key = seriesKey(site, metric);
      series.delete(key);
      dropped.push(key);
    }
  }
  // Alerts another invocation is publishing stay leased to it (as do alerts waiting for their back-off); those
  // whose lease has passed are taken over.
  const leaseUntil = now + config.outboxLeaseMs;
  const mine: PendingAlert[] = [
    ...previous.outbox.filter((p) => p.leaseUntil <= now).map((p) => ({ ...p, leaseUntil })),
    ...alerts.map((alert) => ({ alert, leaseUntil })),
  ];
  const next: StreamState = {
    version: previous.version + 1,
    windowing: windowed.state,
    policies,
    outbox: [...previous.outbox.filter((p) => p.leaseUntil > now), ...mine],
  };
  await store.commit(next, previous.version, series, dropped);
  return { windowed, mine, evicted };
}

const alertId = (alert: AlertMessage) => JSON.stringify(alert);

function describeError(error: unknown): string {
  if (error instanceof AlertRefused) return error.message;
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/**
 * Publishes each alert of `mine` on its own (one that fails does not hold back the others). A failure leaves the
 * alert in the outbox, leased to nobody until its back-off has passed; an alert the service refused, or that has
 * failed `maxPublishAttempts` times, is given up: reported to Audit, then dropped from the outbox (kept, waiting for
 * its report, while Audit cannot take it, at most `maxPublishAttempts` reports: then dropped, listed with the reason
 * in the outcome for the function's log). `settled` is the outbox entry each alert of `mine` becomes (null: gone).
 */
async function deliver(
  mine: readonly PendingAlert[],
  deps: PipelineDeps,
  config: PipelineConfig,
  now: number,
): Promise<{
  published: AlertMessage[];
  failed: AlertFailure[];
  undeliverable: AlertFailure[];
  settled: Map<string, PendingAlert | null>;
}> {
  const published: AlertMessage[] = [];
  const failed: AlertFailure[] = [];
  const settled = new Map<string, PendingAlert | null>();
  const backoff = (attempts: number) =>
    now + Math.min(config.maxPublishBackoffMs, config.publishBackoffMs * 2 ** Math.max(0, attempts - 1));
  const givenUp: PendingAlert[] = [];
  for (const pending of mine) {
    if (pending.undeliverable !== undefined) {
      givenUp.push(pending);
      continue;
    }
    try {
      await deps.alerts.publish(pending.alert);
      published.push(pending.alert);
      settled.set(alertId(pending.alert), null);
    } catch (error) {
      const attempts = (pending.attempts ?? 0) + 1;
      const reason = describeError(error);
      if (error instanceof AlertRefused) {
        givenUp.push({ ...pending, attempts, undeliverable: `refused: ${reason}` });
      } else if (attempts >= config.maxPublishAttempts) {
        givenUp.push({ ...pending, attempts, undeliverable: `gave up after ${attempts} attempts: ${reason}` });
      } else {
        failed.push({ alert: pending.alert, attempts, reason });
        settled.set(alertId(pending.alert), { ...pending, attempts, lastError: reason, leaseUntil: backoff(attempts) });
      }
    }
  }
  // Each report on its own: one Audit refuses does not hold back (or duplicate) the others.
  const undeliverable: AlertFailure[] = [];
  for (const p of givenUp) {
    const given = { alert: p.alert, attempts: p.attempts ?? 0, reason: p.undeliverable ?? "" };
    try {
      await deps.audit?.publishAll([
        {
          pipeline: "anomaly-alert",
          action: "publish-alert",
          outcome: "failed" as const,
          reason: given.reason,
          attempts: given.attempts,
          alert: given.alert,
          correlationId: `${given.alert.site}#${given.alert.openedAt ?? given.alert.windowStart}`,
        },
      ]);
      undeliverable.push(given);
      settled.set(alertId(p.alert), null);
    } catch (error) {
      const reportAttempts = (p.reportAttempts ?? 0) + 1;
      if (reportAttempts >= config.maxPublishAttempts) {
        // The last resort: the outcome (and so the function's error log) carries the whole alert.
        undeliverable.push({ ...given, unreported: describeError(error) });
        settled.set(alertId(p.alert), null);
      } else {
        // Kept until Audit has it: reported on a later invocation, after a back-off.
        settled.set(alertId(p.alert), { ...p, reportAttempts, leaseUntil: backoff(reportAttempts) });
      }
    }
  }
  return { published, failed, undeliverable, settled };
}

/**
 * Applies `settled` (each alert of this invocation: its new outbox entry, or null when it is done) to the latest
 * state (retried when another invocation committed in between: a stale entry would be published again after its
 * lease).
 */
async function settleOutbox(
  store: AnomalyStateStore,
  settled: ReadonlyMap<string, PendingAlert | null>,
  config: PipelineConfig,
  sleep: (ms: number) => Promise<void>,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      const current = await store.loadStream();
      if (!current) return;
      const outbox = current.outbox.flatMap((p) => {
        const id = alertId(p.alert);
        if (!settled.has(id)) return [p];
        const entry = settled.get(id);
        return entry ? [entry] : [];
      });
      await store.commit({ ...current, version: current.version + 1, outbox }, current.version, new Map());
      return;
    } catch (error) {
      if (!(error instanceof StateConflict) || attempt >= config.maxAttempts) throw error;
      await sleep(Math.random() * 50 * attempt);
    }
  }
}

/** Scores every metric of every closed window, in time order, and applies each site's alert policy. */
async function scoreWindows(
  closed: readonly ClosedWindow[],
  policies: Record<string, SitePolicyState>,
  store: AnomalyStateStore,
  streamVersion: number,
  config: PipelineConfig,
): Promise<{ series: Map<string, SeriesState>; alerts: AlertMessage[] }> {
  const keys = [...new Set(closed.flatMap((w) => config.metrics.map((m) => seriesKey(w.site, m))))];
  const loaded = keys.length > 0 ? await store.loadSeries(keys, streamVersion) : new Map<string, SeriesState>();
  const detectors = new Map<string, StreamingDetector>();
  const recent = new Map<string, RecentWindow[]>();
  const alerts: AlertMessage[] = [];
  for (const window of closed) {
    const points: MetricPoint[] = [];
    /** The points with enough volume to mean something: those an alert may show as moved. */
    const meaningful: MetricPoint[] = [];
    for (const metric of config.metrics) {
      const value = metricValue(metric, window.counts);
      if (value === undefined) continue;
      const key = seriesKey(window.site, metric);
      let detector = detectors.get(key);
      if (!detector) {
        const before = loaded.get(key);
        detector = new StreamingDetector(config.detector, before?.scale === SERIES_SCALE ? before.detector : undefined);
        detectors.set(key, detector);
        recent.set(key, before?.recent ?? []);
      }
      const history = rememberWindow(recent.get(key), window.windowStart, value, config.contextWindows);
      recent.set(key, history);
      const scored = scoreMetric(
        detector,
        metric,
        window.counts,
        history.map(([, v]) => v),
      );
      if (!scored) continue; // never: a metric with a value has one on its scale
      const { score, band } = scored;
      // Too little volume for one window's value to mean anything: learnt and scored, never alerted on.
      const volume = metric === "ctr" ? window.counts.impressions : policies[window.site]?.baselines[metric]?.mean;
      const eligible =
        metric === "ctr" ? (volume ?? 0) >= config.minImpressionsForCtr : (volume ?? 0) >= config.minMeanCount;
      points.push({
        metric,
        value,
        score: eligible ? score : 0,
        ...(band ? { band: { ...band, windows: band.points } } : {}),
      });
      if (eligible) meaningful.push({ metric, value, score });
    }
    const before = policies[window.site] ?? emptySitePolicy();
    const { state, message } = applySitePolicy(
      before,
      { site: window.site, windowStart: window.windowStart, windowEnd: window.windowEnd, points },
      config.policy,
    );
    policies[window.site] = state;
    if (message) {
      // The bands of the incident (frozen when it opened): the one opening now, or the one resolving.
      const incident = state.incident ?? before.incident;
      alerts.push(
        withContext(message, {
          points: meaningful,
          bands: incident?.expected ?? {},
          recent: Object.fromEntries(points.map((p) => [p.metric, recent.get(seriesKey(window.site, p.metric)) ?? []])),
          threshold: config.policy.threshold,
        }),
      );
    }
  }
  const series = new Map<string, SeriesState>();
  for (const [key, detector] of detectors) {
    series.set(key, { detector: detector.snapshot(), scale: SERIES_SCALE, recent: recent.get(key) ?? [] });
  }
  return { series, alerts };
}

/** An in-memory store with the same conditional semantics (tests, local experiments). */
export function createMemoryStateStore(): AnomalyStateStore & {
  stream: StreamState | undefined;
  series: Map<string, SeriesState>;
} {
  const store = {
    stream: undefined as StreamState | undefined,
    series: new Map<string, SeriesState>(),
    async loadStream() {
      return store.stream ? structuredClone(store.stream) : undefined;
    },
    async loadSeries(keys: readonly string[]) {
      const out = new Map<string, SeriesState>();
      for (const key of keys) {
        const s = store.series.get(key);
        if (s) out.set(key, structuredClone(s));
      }
      return out;
    },
    async commit(
      stream: StreamState,
      expectedVersion: number,
      series: ReadonlyMap<string, SeriesState>,
      dropped: readonly string[] = [],
    ) {
      if ((store.stream?.version ?? 0) !== expectedVersion) throw new StateConflict("stream state changed");
      store.stream = structuredClone(stream);
      for (const [key, s] of series) store.series.set(key, structuredClone(s));
      for (const key of dropped) store.series.delete(key);
    },
  };
  return store;
}

/** {@link BatchOutcome.lateEvents} of a windowing result. */
function lateEventsOf({ late, state }: WindowingResult): BatchOutcome["lateEvents"] {
  if (late.length === 0 || state.closedUntil === null) return null;
  let oldestMs = Number.POSITIVE_INFINITY;
  let newestMs = Number.NEGATIVE_INFINITY;
  for (const { time } of late) {
    oldestMs = Math.min(oldestMs, time);
    newestMs = Math.max(newestMs, time);
  }
  return {
    events: late.length,
    sites: new Set(late.map((l) => l.site)).size,
    oldestMs,
    newestMs,
    closedBefore: state.closedUntil,
  };
}
