/**
 * Retry with exponential back-off and full jitter (AWS's recommended form: "Exponential Backoff And Jitter", AWS
 * Architecture Blog), the one retry helper of the repo: model calls that are throttled or fail transiently (pricing),
 * entries a batch API left unprocessed (the push sinks). Whether an error is worth retrying is the caller's call
 * (`retryable`).
 */

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export interface RetryDeps {
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /**
   * Whether a retry that would start after waiting `delayMs` may still start (a deadline it must end before); when it
   * answers false, no retry starts and the last error is thrown. Default: always.
   */
  canRetryAfter?: (delayMs: number) => boolean;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The delay before attempt `attempt + 1` (attempt counts from 1): random in [0, min(max, base * 2^(attempt-1))). */
export function backoffDelay(
  attempt: number,
  policy: Pick<RetryPolicy, "baseDelayMs" | "maxDelayMs">,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.floor(random() * ceiling);
}

/**
 * Calls `fn` until it succeeds, a non-retryable error is thrown, or attempts (or the time `canRetryAfter` allows) run
 * out: then the last error is thrown.
 */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  retryable: (err: unknown) => boolean,
  policy: RetryPolicy,
  deps: RetryDeps = {},
): Promise<{ value: T; attempts: number }> {
  const pause = deps.sleep ?? sleep;
  for (let attempt = 1; ; attempt++) {
    try {
      return { value: await fn(attempt), attempts: attempt };
    } catch (err) {
      if (attempt >= policy.attempts || !retryable(err)) throw err;
      const delay = backoffDelay(attempt, policy, deps.random);
      if (deps.canRetryAfter && !deps.canRetryAfter(delay)) throw err;
      await pause(delay);
    }
  }
}
