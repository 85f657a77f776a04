/**
 * Lambda's event-source mapping for Kinesis data streams and DynamoDB streams: one engine, two record adapters
 * (`stream-sources.ts`), following what AWS documents for stream sources:
 *
 * - one poller per shard, processing one batch at a time, so records of a shard reach the function in order;
 *   shards appearing later (resharding) are found and started once their parents are fully processed;
 * - starting position `TRIM_HORIZON` or `LATEST`; batch size; batching window (records are gathered for up to
 *   `maximumBatchingWindowInSeconds` unless the batch fills first); the 6 MB payload limit;
 * - `ReportBatchItemFailures`: the checkpoint moves to just before the lowest failed sequence number and the rest is
 *   retried; an empty, null or unknown `itemIdentifier` fails the whole batch;
 * - function errors and timeouts: retried up to `maximumRetryAttempts` (-1: until the records expire); with
 *   `bisectBatchOnFunctionError` a failed batch is split in two and each half retried, which does not count as a
 *   retry; records older than `maximumRecordAgeInSeconds` are not invoked again;
 * - discarded records go to the on-failure destination as the record AWS sends there (shard, sequence range,
 *   arrival times, condition), and processing continues past them;
 * - tumbling windows aligned on record arrival time, `state` carried from one invocation of a window to the next,
 *   and a final invocation (`isFinalInvokeForWindow`, no records) when the window ends.
 */

import { randomUUID } from "node:crypto";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBStreamsClient } from "@aws-sdk/client-dynamodb-streams";
import type { KinesisClient } from "@aws-sdk/client-kinesis";
import type { StreamBatchOptions } from "@sluice/infra/wiring";
import { createKinesisClient } from "../emulators/kinesalite.ts";
import type { DeadLetterSink, InvokeResult, Invoker } from "../runtime/types.ts";
import {
  type FailureCondition,
  type ShardRecord,
  streamFailureRecord,
  windowEvent,
  windowOf,
} from "./stream-records.ts";
import {
  dynamodbSource,
  kinesisSource,
  type ShardInfo,
  type ShardPosition,
  type StreamSource,
} from "./stream-sources.ts";

/** Lambda's synchronous invocation payload limit. */
const MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;
/** Room left in the payload for the envelope (`Records`, window fields, state). */
const ENVELOPE_BYTES = 64 * 1024;
/** A tumbling window's state may not exceed 1 MB; beyond that Lambda terminates the window early. */
const MAX_STATE_BYTES = 1024 * 1024;

export interface StreamMappingOptions {
  kind: "kinesis" | "dynamodb";
  /** Physical name of the Kinesis stream, or of the DynamoDB table whose stream is read. */
  source: string;
  /** The function to invoke (its name for the {@link Invoker}). */
  functionName: string;
  batch: StreamBatchOptions;
  invoker: Invoker;
  deadLetter: DeadLetterSink;
  /** On-failure destination (queue name for the {@link DeadLetterSink}); absent: discarded records are dropped. */
  dlqName?: string;
  region: string;
  accountId: string;
  /** Endpoints, used to build clients not given in `clients`. */
  kinesisEndpoint?: string;
  dynamodbEndpoint?: string;
  /** Default: `dynamodbEndpoint` (DynamoDB Local serves both APIs). */
  dynamodbStreamsEndpoint?: string;
  /**
   * Credentials the stream is read with: the function's, as Lambda polls with the function's role. The table lookup
   * that finds a DynamoDB stream is configuration, not polling, and uses the local cloud's own. Default: those.
   */
  pollCredentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  clients?: { kinesis?: KinesisClient; dynamodb?: DynamoDBClient; dynamodbStreams?: DynamoDBStreamsClient };
  /** `invokeIdentityArn` of Kinesis records. Default `arn:aws:iam::<account>:role/<functionName>-role`. */
  invokeIdentityArn?: string;
  timing?: StreamMappingTiming;
  /** Where problems of the mapping itself are reported. Default `console.error`. */
  onError?: (message: string) => void;
}

export interface StreamMappingTiming {
  /** Pause between reads of a caught-up shard. AWS polls Kinesis once a second and DynamoDB 4 times. Default 200. */
  pollIntervalMs?: number;
  /** How often shards are listed, to find new ones. Default 1000. */
  discoveryIntervalMs?: number;
  /** First delay before retrying a failed batch; doubles on each retry. Default 200. */
  retryDelayMs?: number;
  /** Cap of the retry delay. Default 5000. */
  maxRetryDelayMs?: number;
}

export interface StreamMapping {
  /** The stream ARN events carry. */
  eventSourceArn: string;
  /**
   * Resolves when every shard is caught up: every record written before the call has been handed to the function
   * (or discarded to the on-failure destination) and nothing is in flight. With `closeWindows`, it also waits for
   * open tumbling windows to end and for their final invocation.
   */
  idle(options?: { closeWindows?: boolean }): Promise<void>;
  /** Stops polling; waits for an invocation in flight. */
  stop(): Promise<void>;
}

interface OpenWindow {
  startMs: number;
  endMs: number;
  state: unknown;
}

interface PendingBatch {
  records: ShardRecord[];
  /** Retries so far (bisecting does not count). */
  retries: number;
  /** Invocations that included these records. */
  invokeCount: number;
  requestId?: string;
  functionError?: string;
}

type Outcome =
  | { kind: "success"; state?: unknown }
  | { kind: "partial"; index: number; state?: unknown }
  | { kind: "failed" }
  | { kind: "error"; functionError: string };

/** An interruptible pause; an interruption while awake cuts the next pause short. */
class Sleeper {
  private wake?: () => void;
  private interrupted = false;

  sleep(ms: number): Promise<void> {
    if (this.interrupted) {
      this.interrupted = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        if (this.wake === done) this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.wake = done;
    });
  }

  interrupt(): void {
    if (this.wake) this.wake();
    else this.interrupted = true;
  }
}

/**
 * Starts an event-source mapping from a Kinesis stream or a DynamoDB table's stream to a function. Resolves once the
 * shards have been listed and their iterators taken, so records written afterwards are seen even with `LATEST`.
 */
export async function startStreamMapping(options: StreamMappingOptions): Promise<StreamMapping> {
  const owned: Array<{ destroy(): void }> = [];
  const source = await openSource(options, owned);
  const mapping = new StreamMappingEngine(options, source, () => {
    for (const client of owned) client.destroy();
  });
  try {
    await mapping.start();
  } catch (err) {
    await mapping.stop();
    throw err;
  }
  return {
    eventSourceArn: source.eventSourceArn,
    idle: (idleOptions) => mapping.idle(idleOptions?.closeWindows ?? false),
    stop: () => mapping.stop(),
  };
}

async function openSource(options: StreamMappingOptions, owned: Array<{ destroy(): void }>): Promise<StreamSource> {
  const credentials = { accessKeyId: "local", secretAccessKey: "local" };
  const pollCredentials = options.pollCredentials ?? credentials;
  if (options.kind === "kinesis") {
    let client = options.clients?.kinesis;
    if (!client) {
      if (!options.kinesisEndpoint)
        throw new Error("a Kinesis stream mapping needs `clients.kinesis` or `kinesisEndpoint`");
      client = createKinesisClient(options.kinesisEndpoint, { region: options.region, credentials: pollCredentials });
      owned.push(client);
    }
    return kinesisSource({
      client,
      streamName: options.source,
      region: options.region,
      accountId: options.accountId,
      invokeIdentityArn:
        options.invokeIdentityArn ?? `arn:aws:iam::${options.accountId}:role/${options.functionName}-role`,
    });
  }
  let dynamodb = options.clients?.dynamodb;
  let streams = options.clients?.dynamodbStreams;
  const endpoint = options.dynamodbEndpoint;
  if (!dynamodb) {
    if (!endpoint) throw new Error("a DynamoDB stream mapping needs `clients.dynamodb` or `dynamodbEndpoint`");
    dynamodb = new DynamoDBClient({ region: options.region, endpoint, credentials });
    owned.push(dynamodb);
  }
  if (!streams) {
    const streamsEndpoint = options.dynamodbStreamsEndpoint ?? endpoint;
    if (!streamsEndpoint) throw new Error("a DynamoDB stream mapping needs `clients.dynamodbStreams` or an endpoint");
    streams = new DynamoDBStreamsClient({
      region: options.region,
      endpoint: streamsEndpoint,
      credentials: pollCredentials,
    });
    owned.push(streams);
  }
  return dynamodbSource({ dynamodb, streams, tableName: options.source, region: options.region });
}

class StreamMappingEngine {
  readonly pollers = new Map<string, ShardPoller>();
  private readonly known = new Map<string, ShardInfo>();
  private readonly initialShards = new Set<string>();
  private stopped = false;
  private discoveryTimer?: NodeJS.Timeout;
  private discovering?: Promise<void>;
  private rediscovery?: Promise<void>;
  readonly timing: Required<StreamMappingTiming>;

  constructor(
    readonly options: StreamMappingOptions,
    readonly source: StreamSource,
    private readonly release: () => void,
  ) {
    this.timing = {
      pollIntervalMs: options.timing?.pollIntervalMs ?? 200,
      discoveryIntervalMs: options.timing?.discoveryIntervalMs ?? 1000,
      retryDelayMs: options.timing?.retryDelayMs ?? 200,
      maxRetryDelayMs: options.timing?.maxRetryDelayMs ?? 5000,
    };
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  report(message: string): void {
    const line = `[sluice] ${this.options.functionName} <- ${this.options.kind}:${this.options.source}: ${message}`;
    (this.options.onError ?? console.error)(line);
  }

  async start(): Promise<void> {
    // A stream that is still being created answers "not found" or "in use" for a moment.
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        await this.discover(true);
        break;
      } catch (err) {
        const name = (err as Error).name;
        const transient = name === "ResourceNotFoundException" || name === "ResourceInUseException";
        if (!transient || Date.now() > deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    const tick = () => {
      this.discoveryTimer = setTimeout(() => {
        void this.discover(false).finally(() => {
          if (!this.stopped) tick();
        });
      }, this.timing.discoveryIntervalMs);
    };
    tick();
  }

  /** Lists shards and starts a poller for each new shard whose parents have been fully processed. */
  discover(initial: boolean): Promise<void> {
    // A call during a listing runs again after it: the caller may know of a shard that just finished.
    if (this.discovering) {
      this.rediscovery ??= this.discovering.then(() => {
        this.rediscovery = undefined;
        return this.discover(false);
      });
      return this.rediscovery;
    }
    this.discovering = (async () => {
      try {
        const shards = await this.source.listShards();
        for (const shard of shards) {
          if (this.known.has(shard.shardId)) continue;
          this.known.set(shard.shardId, shard);
          if (initial) this.initialShards.add(shard.shardId);
        }
        for (const shard of this.known.values()) {
          if (this.pollers.has(shard.shardId) || this.stopped) continue;
          const parents = [shard.parentShardId, shard.adjacentParentShardId].filter(
            (id): id is string => id !== undefined && this.known.has(id),
          );
          if (!parents.every((id) => this.pollers.get(id)?.finished)) continue;
          // Shards found later (children of a reshard) are read from their start, as Lambda does.
          const position: ShardPosition = this.initialShards.has(shard.shardId)
            ? { type: this.options.batch.startingPosition }
            : { type: "TRIM_HORIZON" };
          const poller = new ShardPoller(this, shard.shardId, position);
          await poller.open();
          if (this.stopped) return;
          this.pollers.set(shard.shardId, poller);
          poller.run();
        }
      } catch (err) {
        if (initial) throw err;
        if (!this.stopped) this.report(`listing shards failed: ${(err as Error).message}`);
      } finally {
        this.discovering = undefined;
      }
    })();
    return this.discovering;
  }

  async idle(closeWindows: boolean): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      await this.discover(false);
      const started = this.pollers.size;
      await Promise.all([...this.pollers.values()].map((poller) => poller.caughtUp(closeWindows)));
      await this.discover(false);
      if (this.pollers.size === started) return;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.discoveryTimer);
    await this.discovering?.catch(() => {});
    await Promise.all([...this.pollers.values()].map((poller) => poller.stop()));
    this.release();
  }

  /** The invocation's outcome as Lambda judges it for a stream batch. */
  outcome(result: InvokeResult, records: readonly ShardRecord[], windowed: boolean): Outcome {
    if (result.status !== "ok") return { kind: "error", functionError: "Unhandled" };
    const payload = result.payload as { state?: unknown; batchItemFailures?: unknown } | null | undefined;
    const hasState = typeof payload === "object" && payload !== null && "state" in payload;
    // With tumbling windows a response without `state` is a failed invocation.
    if (windowed && !hasState) return { kind: "failed" };
    const state = hasState ? payload?.state : undefined;
    if (!this.options.batch.reportBatchItemFailures) return { kind: "success", state };
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

  async discard(shardId: string, batch: PendingBatch, records: ShardRecord[], condition: FailureCondition) {
    const { options } = this;
    const failure = streamFailureRecord({
      kind: options.kind,
      records,
      shardId,
      streamArn: this.source.eventSourceArn,
      functionArn: options.invoker.functionArn(options.functionName),
      condition,
      requestId: batch.requestId ?? randomUUID(),
      approximateInvokeCount: batch.invokeCount,
      functionError: batch.functionError,
    });
    if (!options.dlqName) {
      this.report(`discarded ${records.length} record(s) of ${shardId} (${condition}); no on-failure destination`);
      return;
    }
    try {
      await options.deadLetter.send(options.dlqName, failure);
    } catch (err) {
      this.report(`could not send a failure record to ${options.dlqName}: ${(err as Error).message}`);
    }
  }

  async invoke(event: unknown): Promise<InvokeResult> {
    try {
      return await this.options.invoker.invoke(this.options.functionName, event);
    } catch (err) {
      return {
        requestId: randomUUID(),
        status: "error",
        error: { errorType: "ServiceException", errorMessage: (err as Error).message },
        durationMs: 0,
      };
    }
  }
}

interface CaughtUpWaiter {
  after: number;
  closeWindows: boolean;
  resolve: () => void;
}

/** Reads one shard and feeds its records to the function, one batch at a time. */
class ShardPoller {
  private iterator?: string;
  private readonly buffer: ShardRecord[] = [];
  /** When the records now buffered started to be gathered (batching window). */
  private gatheringSince?: number;
  private lastReadSequence?: string;
  private lastArrivalMs = 0;
  private ended = false;
  finished = false;
  private window?: OpenWindow;
  private readsStarted = 0;
  private waiters: CaughtUpWaiter[] = [];
  /** Pauses between reads: `idle()` cuts them short. */
  private readonly sleeper = new Sleeper();
  /** Pauses before retries: only `stop()` cuts them short. */
  private readonly retrySleeper = new Sleeper();
  private loop?: Promise<void>;

  constructor(
    private readonly mapping: StreamMappingEngine,
    readonly shardId: string,
    private readonly startPosition: ShardPosition,
  ) {}

  private get batch(): StreamBatchOptions {
    return this.mapping.options.batch;
  }

  private get windowSeconds(): number {
    return this.batch.tumblingWindowInSeconds ?? 0;
  }

  /** Takes the first iterator now, so `LATEST` means "after the mapping started". */
  async open(): Promise<void> {
    this.iterator = await this.mapping.source.iterator(this.shardId, this.startPosition);
  }

  run(): void {
    this.loop = this.poll().catch((err) => {
      this.mapping.report(`shard ${this.shardId} stopped: ${(err as Error).stack ?? err}`);
      this.finish();
    });
  }

  caughtUp(closeWindows: boolean): Promise<void> {
    if (this.finished || this.mapping.isStopped) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push({ after: this.readsStarted, closeWindows, resolve });
      this.sleeper.interrupt();
    });
  }

  async stop(): Promise<void> {
    this.sleeper.interrupt();
    this.retrySleeper.interrupt();
    await this.loop;
    for (const waiter of this.waiters.splice(0)) waiter.resolve();
  }

  private finish(): void {
    this.finished = true;
    for (const waiter of this.waiters.splice(0)) waiter.resolve();
    // Children of this shard may start now.
    if (!this.mapping.isStopped) void this.mapping.discover(false);
  }

  private notifyCaughtUp(readIndex: number): void {
    this.waiters = this.waiters.filter((waiter) => {
      const done = readIndex > waiter.after && (!waiter.closeWindows || this.window === undefined);
      if (done) waiter.resolve();
      return !done;
    });
  }

  private async poll(): Promise<void> {
    const { pollIntervalMs } = this.mapping.timing;
    while (!this.mapping.isStopped) {
      let readIndex = 0;
      let readFailed = false;
      if (!this.ended && this.buffer.length < this.batch.batchSize) {
        readIndex = ++this.readsStarted;
        readFailed = !(await this.read());
      }
      if (this.mapping.isStopped) return;

      if (this.buffer.length === 0) {
        if (this.window && (this.ended || Date.now() >= this.window.endMs)) {
          await this.closeWindow(false);
          continue;
        }
        if (this.ended) {
          this.finish();
          return;
        }
        if (readIndex > 0 && !readFailed) this.notifyCaughtUp(readIndex);
        const untilWindowEnd = this.window ? this.window.endMs - Date.now() : Number.POSITIVE_INFINITY;
        await this.sleeper.sleep(readFailed ? pollIntervalMs * 5 : Math.min(pollIntervalMs, untilWindowEnd));
        continue;
      }

      const first = this.buffer[0] as ShardRecord;
      if (this.windowSeconds > 0) {
        const window = windowOf(first.arrivalMs, this.windowSeconds);
        if (this.window && window.startMs !== this.window.startMs) {
          await this.closeWindow(false);
          continue;
        }
        this.window ??= { ...window, state: {} };
      }

      const eligible = this.eligibleCount();
      const full = eligible >= this.batch.batchSize || eligible < this.buffer.length;
      const waitedMs = Date.now() - (this.gatheringSince ?? Date.now());
      const windowDue = waitedMs >= this.batch.maximumBatchingWindowInSeconds * 1000;
      if (full || windowDue || this.ended) {
        const records = this.buffer.splice(0, eligible);
        this.gatheringSince = this.buffer.length > 0 ? Date.now() : undefined;
        await this.process(records);
        continue;
      }
      await this.sleeper.sleep(Math.min(pollIntervalMs, this.batch.maximumBatchingWindowInSeconds * 1000 - waitedMs));
    }
  }

  /** How many buffered records the next batch takes: batch size, payload limit, and one tumbling window. */
  private eligibleCount(): number {
    let count = 0;
    let bytes = ENVELOPE_BYTES;
    for (const record of this.buffer) {
      if (count >= this.batch.batchSize) break;
      if (count > 0 && bytes + record.size + 1 > MAX_PAYLOAD_BYTES) break;
      if (this.window && record.arrivalMs >= this.window.endMs) break;
      count++;
      bytes += record.size + 1;
    }
    return count;
  }

  /** Reads once; false when the read failed (it is retried after a pause). */
  private async read(): Promise<boolean> {
    const { source } = this.mapping;
    try {
      if (!this.iterator) {
        this.iterator = await source.iterator(
          this.shardId,
          this.lastReadSequence
            ? { type: "AFTER_SEQUENCE_NUMBER", sequenceNumber: this.lastReadSequence }
            : this.startPosition,
        );
      }
      const page = await source.read(
        this.shardId,
        this.iterator,
        this.batch.batchSize - this.buffer.length,
        this.lastArrivalMs,
      );
      this.iterator = page.nextIterator;
      if (!page.nextIterator) this.ended = true;
      if (page.records.length > 0 && this.buffer.length === 0) this.gatheringSince = Date.now();
      for (const record of page.records) {
        this.buffer.push(record);
        this.lastReadSequence = record.sequenceNumber;
        this.lastArrivalMs = Math.max(this.lastArrivalMs, record.arrivalMs);
      }
      return true;
    } catch (err) {
      if (this.mapping.isStopped) return false;
      const name = (err as Error).name;
      if (name === "ExpiredIteratorException") {
        this.iterator = undefined;
        return true;
      }
      if (name === "TrimmedDataAccessException") {
        this.iterator = await source.iterator(this.shardId, { type: "TRIM_HORIZON" }).catch(() => undefined);
        return true;
      }
      if (name === "ResourceNotFoundException") {
        this.mapping.report(`shard ${this.shardId} is gone: ${(err as Error).message}`);
        this.ended = true;
        return true;
      }
      this.mapping.report(`reading ${this.shardId} failed: ${(err as Error).message}`);
      return false;
    }
  }

  private event(records: readonly ShardRecord[]): unknown {
    const events = records.map((record) => record.event);
    if (!this.window) return { Records: events };
    return windowEvent({
      records: events,
      window: this.window,
      state: this.window.state,
      shardId: this.shardId,
      eventSourceArn: this.mapping.source.eventSourceArn,
      isFinalInvokeForWindow: false,
      isWindowTerminatedEarly: false,
    });
  }

  private retryDelay(retries: number): number {
    const { retryDelayMs, maxRetryDelayMs } = this.mapping.timing;
    return Math.min(maxRetryDelayMs, retryDelayMs * 2 ** Math.max(0, retries - 1));
  }

  private retriesExhausted(batch: PendingBatch): boolean {
    const max = this.batch.maximumRetryAttempts;
    return max >= 0 && batch.retries > max;
  }

  /** Delivers one batch: invokes, retries, bisects, checkpoints and discards until every record is settled. */
  private async process(records: ShardRecord[]): Promise<void> {
    const { mapping } = this;
    const maxAgeMs = this.batch.maximumRecordAgeInSeconds >= 0 ? this.batch.maximumRecordAgeInSeconds * 1000 : -1;
    const pending: PendingBatch[] = [{ records, retries: 0, invokeCount: 0 }];
    while (pending.length > 0 && !mapping.isStopped) {
      const batch = pending[0] as PendingBatch;

      if (maxAgeMs >= 0) {
        const now = Date.now();
        const firstLive = batch.records.findIndex((record) => now - record.arrivalMs <= maxAgeMs);
        const count = firstLive === -1 ? batch.records.length : firstLive;
        if (count > 0) {
          await mapping.discard(this.shardId, batch, batch.records.slice(0, count), "RecordAgeExceeded");
          batch.records = batch.records.slice(count);
          if (batch.records.length === 0) pending.shift();
          continue;
        }
      }

      const result = await mapping.invoke(this.event(batch.records));
      batch.invokeCount++;
      batch.requestId = result.requestId;
      if (mapping.isStopped) return;
      const outcome = mapping.outcome(result, batch.records, this.window !== undefined);

      if (outcome.kind === "success") {
        pending.shift();
        if (this.window) await this.carryState(outcome.state);
        continue;
      }
      if (outcome.kind === "partial") {
        batch.functionError = undefined;
        // Checkpoint just before the lowest failure: the records before it are done.
        batch.records = batch.records.slice(outcome.index);
        if (this.window) this.window.state = outcome.state;
        batch.retries++;
      } else if (outcome.kind === "failed") {
        batch.functionError = undefined;
        batch.retries++;
      } else {
        batch.functionError = outcome.functionError;
        if (this.batch.bisectBatchOnFunctionError && batch.records.length > 1) {
          // Splitting does not count towards the retry quota.
          const half = Math.ceil(batch.records.length / 2);
          const split = (part: ShardRecord[]): PendingBatch => ({ ...batch, records: part });
          pending.splice(0, 1, split(batch.records.slice(0, half)), split(batch.records.slice(half)));
          continue;
        }
        batch.retries++;
      }

      if (this.retriesExhausted(batch)) {
        await mapping.discard(this.shardId, batch, batch.records, "RetryAttemptsExhausted");
        pending.shift();
        continue;
      }
      await this.retrySleeper.sleep(this.retryDelay(batch.retries));
    }
  }

  /** Keeps the state a window's invocation returned; past 1 MB the window is terminated early. */
  private async carryState(state: unknown): Promise<void> {
    if (!this.window) return;
    this.window.state = state;
    if (Buffer.byteLength(JSON.stringify(state) ?? "") > MAX_STATE_BYTES) await this.closeWindow(true);
  }

  /**
   * The final invocation of a window: no records, the window's state, `isFinalInvokeForWindow`. It is retried like
   * a batch; when the window was terminated early, the same window continues with a fresh state.
   */
  private async closeWindow(terminatedEarly: boolean): Promise<void> {
    const window = this.window;
    if (!window) return;
    let retries = 0;
    while (!this.mapping.isStopped) {
      const result = await this.mapping.invoke(
        windowEvent({
          records: [],
          window,
          state: window.state,
          shardId: this.shardId,
          eventSourceArn: this.mapping.source.eventSourceArn,
          isFinalInvokeForWindow: true,
          isWindowTerminatedEarly: terminatedEarly,
        }),
      );
      if (result.status === "ok") break;
      retries++;
      const max = this.batch.maximumRetryAttempts;
      if (max >= 0 && retries > max) {
        this.mapping.report(
          `final invocation of window ${new Date(window.startMs).toISOString()} on ${this.shardId} failed ` +
            `${retries} time(s) (${result.error?.errorMessage ?? result.status}); its state is dropped`,
        );
        break;
      }
      await this.retrySleeper.sleep(this.retryDelay(retries));
    }
    if (terminatedEarly) window.state = {};
    else this.window = undefined;
  }
}
