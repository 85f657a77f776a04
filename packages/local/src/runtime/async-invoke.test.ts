import { describe, expect, it } from "vitest";
import { createAsyncInvoker } from "./async-invoke.ts";

describe("async invoker", () => {
  it("does not dead-letter an event whose last attempt failed because the local cloud was stopping", async () => {
    // Prepare: the invocation is cut short by the stop (the function host fails it), on its last attempt.
    const sent: unknown[] = [];
    let stop = () => {};
    const asyncInvoker = createAsyncInvoker({
      invoker: {
        functionArn: (name) => `arn:aws:lambda:us-east-1:000000000000:function:${name}`,
        async invoke() {
          stop();
          return {
            requestId: "r",
            status: "error",
            error: { errorType: "Sluice.Stopping", errorMessage: "stopping" },
            durationMs: 0,
          };
        },
      },
      deadLetter: { send: async (_queue, body) => void sent.push(body) },
      retryDelaysMs: [1, 1],
    });
    stop = () => asyncInvoker.stop();
    // Act
    asyncInvoker.invokeAsync("Fn", {}, { maximumRetryAttempts: 0, maximumEventAgeInSeconds: 60, onFailure: "FnDlq" });
    await asyncInvoker.idle();
    // Assess: the destination (stopped with the rest of the local cloud) is not called.
    expect(sent).toEqual([]);
  });
});
