/**
 * The shard poller of a stream event-source mapping: reads one shard and feeds its records to the function one batch
 * at a time, so records of a shard reach the function in order. It gathers batches (batch size, batching window, the
 * 6 MB payload limit, one tumbling window per batch), invokes, and carries out what `batch-settlement.ts` decides:
 * checkpoint, bisect, retry after a pause, or discard to the on-failure destination. It also keeps the tumbling
 * window's state and makes the window's final invocation.
 */
import type { StreamBatchOptions } from "@sluice/infra/wiring";
import type { InvokeResult } from "../runtime/types.ts";
import {
  type Discard,
  discardExpired,
  type PendingBatch,
  retriesExhausted,
  retryDelay,
  settleInvocation,
} from "./batch-settlement.ts";
import type { StreamMappingTiming } from "./stream-mapping.ts";
import { type ShardRecord, windowEvent, windowOf } from "./stream-records.ts";
import type { ShardPosition, StreamSource } from "./stream-sources.ts";

/** Lambda's synchronous invocation payload limit. */
const MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;
/** Room left in the payload for the envelope (`Records`, window fields, state). */
const ENVELOPE_BYTES = 64 * 1024;
/** A tumbling window's state may not exceed 1 MB; beyond that Lambda terminates the window early. */
const MAX_STATE_BYTES = 1024 * 1024;

/** What a shard poller needs of its mapping: the shared options and source, and the calls that leave the shard. */
export interface ShardPollerHost {
  readonly batch: StreamBatchOptions;
  readonly timing: Required<StreamMappingTiming>;
  readonly source: StreamSource;
  readonly isStopped: boolean;
  /** Reports a problem of the mapping itself. */
  report(message: string): void;
  /** Called when the shard is fully processed: its children may start. */
  shardFinished(shardId: string): void;
  /** Invokes the function; a failure to invoke is an error result, never a rejection. */
  invoke(event: unknown): Promise<InvokeResult>;
  /** Sends discarded records to the on-failure destination (or reports them dropped); never rejects. */
  discard(shardId: string, discard: Discard): Promise<void>;
}

interface OpenWindow {
  startMs: number;
  endMs: number;
  state: unknown;
}

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

interface CaughtUpWaiter {
  after: number;
  closeWindows: boolean;
  resolve: () => void;
}

/** Reads one shard and feeds its records to the function, one batch at a time. */
export class ShardPoller {
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
    private readonly mapping: ShardPollerHost,
    readonly shardId: string,
    private readonly startPosition: ShardPosition,
  ) {}

  private get batch(): StreamBatchOptions {
    return this.mapping.batch;
  }

  private get windowSeconds(): number {
    return this.batch.tumblingWindowInSeconds ?? 0;
  }

  /** Takes the first iterator now, so `LATEST` means "after the mapping started". */
  async open(): Promise<void> {
    this.iterator = await this.mapping.source.iterator(this.shardId, this.startPosition);
  }

  /** Starts the polling loop; a failure of the loop itself is reported and ends the shard. */
  run(): void {
    this.loop = this.poll().catch((err) => {
      this.mapping.report(`shard ${this.shardId} stopped: ${(err as Error).stack ?? err}`);
      this.finish();
    });
  }

  /**
   * Resolves once a read started after the call found nothing more and no batch is in flight (with `closeWindows`,
   * also once the open window has ended with its final invocation), or when the shard is finished.
   */
  caughtUp(closeWindows: boolean): Promise<void> {
    if (this.finished || this.mapping.isStopped) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push({ after: this.readsStarted, closeWindows, resolve });
      this.sleeper.interrupt();
    });
  }

  /** Cuts pauses short and waits for the loop to end (an invocation in flight completes). */
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
    if (!this.mapping.isStopped) this.mapping.shardFinished(this.shardId);
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

  /** Delivers one batch: invokes, retries, bisects, checkpoints and discards until every record is settled. */
  private async process(records: ShardRecord[]): Promise<void> {
    const { mapping } = this;
    const pending: PendingBatch[] = [{ records, retries: 0, invokeCount: 0 }];
    while (pending.length > 0 && !mapping.isStopped) {
      const batch = pending[0] as PendingBatch;

      const expired = discardExpired(batch, Date.now(), this.batch.maximumRecordAgeInSeconds);
      if (expired) {
        await mapping.discard(this.shardId, expired.discard);
        if (expired.rest) pending[0] = expired.rest;
        else pending.shift();
        continue;
      }

      const result = await mapping.invoke(this.event(batch.records));
      if (mapping.isStopped) return;
      const settlement = settleInvocation(batch, result, { windowed: this.window !== undefined, options: this.batch });
      switch (settlement.action) {
        case "checkpoint":
          pending.shift();
          if (this.window) await this.carryState(settlement.state);
          break;
        case "bisect":
          pending.splice(0, 1, ...settlement.halves);
          break;
        case "discard":
          if (this.window && settlement.windowState) this.window.state = settlement.windowState.state;
          await mapping.discard(this.shardId, settlement);
          pending.shift();
          break;
        case "retry":
          if (this.window && settlement.windowState) this.window.state = settlement.windowState.state;
          pending[0] = settlement.batch;
          await this.retrySleeper.sleep(retryDelay(settlement.batch.retries, mapping.timing));
          break;
      }
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
      if (retriesExhausted(retries, this.batch.maximumRetryAttempts)) {
        this.mapping.report(
          `final invocation of window ${new Date(window.startMs).toISOString()} on ${this.shardId} failed ` +
            `${retries} time(s) (${result.error?.errorMessage ?? result.status}); its state is dropped`,
        );
        break;
      }
      await this.retrySleeper.sleep(retryDelay(retries, this.mapping.timing));
    }
    if (terminatedEarly) window.state = {};
    else this.window = undefined;
  }
}
