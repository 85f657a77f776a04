/**
 * Lambda's asynchronous invocation (what S3 notifications and SNS subscriptions use): the event is queued,
 * the function is invoked, and on error it is retried `maximumRetryAttempts` times (AWS waits about one then two
 * minutes; locally the delays are short and configurable), then the event goes to the on-failure destination
 * as the record AWS sends there. Events older than `maximumEventAgeInSeconds` are not invoked again.
 */
import type { AsyncInvokeOptions } from "@sluice/infra/wiring";
import type { DeadLetterSink, InvokeResult, Invoker } from "./types.ts";

export interface AsyncInvokeConfig extends AsyncInvokeOptions {
  /** On-failure destination (SQS queue name as the sink knows it). */
  onFailure: string;
}

export interface AsyncInvokerOptions {
  invoker: Invoker;
  deadLetter: DeadLetterSink;
  /** Delay before retry 1 and retry 2, in ms. AWS uses about 60 s and 120 s. */
  retryDelaysMs?: readonly number[];
}

/** The record AWS sends to an on-failure destination of an asynchronous invocation. */
export interface AsyncFailureRecord {
  version: "1.0";
  timestamp: string;
  requestContext: {
    requestId: string;
    functionArn: string;
    condition: "RetriesExhausted" | "EventAgeExceeded";
    approximateInvokeCount: number;
  };
  requestPayload: unknown;
  responseContext: { statusCode: number; executedVersion: string; functionError?: string };
  responsePayload?: unknown;
}

export interface AsyncInvoker {
  /** Queues one asynchronous invocation; resolves once the event is accepted (like `InvocationType: Event`). */
  invokeAsync(functionName: string, event: unknown, config: AsyncInvokeConfig): void;
  /** Resolves when no asynchronous invocation is queued, running or waiting to retry. */
  idle(): Promise<void>;
  /** Stops retrying; queued work is abandoned. */
  stop(): void;
}

export function createAsyncInvoker(options: AsyncInvokerOptions): AsyncInvoker {
  const delays = options.retryDelaysMs ?? [1000, 2000];
  let inFlight = 0;
  let stopped = false;
  let idleWaiters: Array<() => void> = [];
  const sleepers = new Map<NodeJS.Timeout, () => void>();

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        sleepers.delete(timer);
        resolve();
      }, ms);
      sleepers.set(timer, resolve);
    });

  async function run(functionName: string, event: unknown, config: AsyncInvokeConfig): Promise<void> {
    const acceptedAt = Date.now();
    let last: InvokeResult | undefined;
    let attempts = 0;
    for (let attempt = 0; attempt <= config.maximumRetryAttempts; attempt++) {
      if (stopped) return;
      if (attempt > 0) {
        await sleep(delays[Math.min(attempt - 1, delays.length - 1)] ?? 0);
        if (stopped) return;
        if (Date.now() - acceptedAt > config.maximumEventAgeInSeconds * 1000) {
          await fail(functionName, event, config, last, attempts, "EventAgeExceeded");
          return;
        }
      }
      attempts++;
      last = await options.invoker.invoke(functionName, event);
      if (last.status === "ok") return;
    }
    // A last attempt cut short by the stop is abandoned with the rest (the destination is stopping too).
    if (stopped) return;
    await fail(functionName, event, config, last, attempts, "RetriesExhausted");
  }

  async function fail(
    functionName: string,
    event: unknown,
    config: AsyncInvokeConfig,
    last: InvokeResult | undefined,
    attempts: number,
    condition: AsyncFailureRecord["requestContext"]["condition"],
  ): Promise<void> {
    const record: AsyncFailureRecord = {
      version: "1.0",
      timestamp: new Date().toISOString(),
      requestContext: {
        requestId: last?.requestId ?? "",
        functionArn: `${options.invoker.functionArn(functionName)}:$LATEST`,
        condition,
        approximateInvokeCount: attempts,
      },
      requestPayload: event,
      responseContext: {
        statusCode: 200,
        executedVersion: "$LATEST",
        functionError: "Unhandled",
      },
      responsePayload: last?.error,
    };
    await options.deadLetter.send(config.onFailure, record);
  }

  function done(): void {
    inFlight--;
    if (inFlight === 0) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const waiter of waiters) waiter();
    }
  }

  return {
    invokeAsync(functionName, event, config) {
      inFlight++;
      run(functionName, event, config)
        .catch((err) => {
          // A destination that cannot be reached must not crash the local cloud; say so loudly instead.
          console.error(`[sluice] async invoke of ${functionName} failed to complete: ${(err as Error).message}`);
        })
        .finally(done);
    },
    idle() {
      if (inFlight === 0) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
    stop() {
      stopped = true;
      for (const [timer, wake] of sleepers) {
        clearTimeout(timer);
        wake();
      }
      sleepers.clear();
    },
  };
}
