/** How the push sinks retry the entries a batch API left unprocessed (back-off from @sluice/retry). */
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
