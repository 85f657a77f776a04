import { describe, expect, it } from "vitest";
import { backoffDelay, type RetryPolicy, withRetry } from "./retry.ts";

const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 100, maxDelayMs: 2000 };

describe("withRetry", () => {
  it("retries retryable errors with growing back-off, then gives up with the last error", async () => {
    const delays: number[] = [];
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw new Error(`throttled ${calls}`);
        },
        () => true,
        DEFAULT_RETRY,
        { sleep: async (ms) => void delays.push(ms), random: () => 0.999 },
      ),
    ).rejects.toThrow("throttled 4");
    expect(calls).toBe(4);
    expect(delays).toEqual([99, 199, 399]);
  });

  it("starts no retry its caller says could not be seen through (a deadline), and gives up with the last error", async () => {
    const asked: number[] = [];
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw new Error(`timed out ${calls}`);
        },
        () => true,
        DEFAULT_RETRY,
        {
          sleep: async () => {},
          random: () => 0.999,
          canRetryAfter: (delayMs) => asked.push(delayMs) < 2,
        },
      ),
    ).rejects.toThrow("timed out 2");
    expect(calls).toBe(2);
    // Asked with the back-off each retry would wait first.
    expect(asked).toEqual([99, 199]);
  });

  it("does not retry what is not retryable, and returns the attempt count", async () => {
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw new Error("bad request");
        },
        () => false,
        DEFAULT_RETRY,
      ),
    ).rejects.toThrow("bad request");
    expect(calls).toBe(1);
    const ok = await withRetry(
      async (attempt) => (attempt < 3 ? Promise.reject(new Error("x")) : "done"),
      () => true,
      DEFAULT_RETRY,
      {
        sleep: async () => {},
      },
    );
    expect(ok).toEqual({ value: "done", attempts: 3 });
    expect(backoffDelay(10, DEFAULT_RETRY, () => 0.5)).toBe(1000);
  });
});
