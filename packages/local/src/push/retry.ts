/** Back-off between retries of the entries a batch API left unprocessed (AWS's "exponential back-off and jitter"). */

export interface RetryOptions {
  /** Attempts per entry, the first one included. Default 10. */
  maxAttempts?: number;
  /** First back-off; doubles each attempt, up to `maxDelayMs`, with full jitter. Default 50 ms. */
  baseDelayMs?: number;
  /** Default 5 s. */
  maxDelayMs?: number;
  /** Replaceable in tests. */
  sleep?: (ms: number) => Promise<void>;
}

export const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The delay before attempt `attempt` (2 = the first retry). */
export function backoffMs(attempt: number, options: RetryOptions = {}): number {
  const base = options.baseDelayMs ?? 50;
  const cap = options.maxDelayMs ?? 5000;
  return Math.round(Math.random() * Math.min(cap, base * 2 ** (attempt - 2)));
}
