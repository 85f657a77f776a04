import { describe, expect, it } from "vitest";
import {
  discardExpired,
  judgeInvocation,
  onFailureRecord,
  type PendingBatch,
  retryDelay,
  type SettlementOptions,
  settleInvocation,
} from "./batch-settlement.ts";
import type { ShardRecord } from "./stream-records.ts";

/** Records `49590338271490256608559692538361571095921575989136588898` + i, one second apart from `startMs`. */
function records(count: number, startMs = Date.UTC(2024, 0, 1)): ShardRecord[] {
  return Array.from({ length: count }, (_, i) => ({
    sequenceNumber: `4959033827149025660855969253836157109592157598913658889${i}`,
    arrivalMs: startMs + i * 1000,
    event: { n: i },
    size: 100,
  }));
}

const fresh = (recs: ShardRecord[]): PendingBatch => ({ records: recs, retries: 0, invokeCount: 0 });

const options = (overrides: Partial<SettlementOptions> = {}): SettlementOptions => ({
  reportBatchItemFailures: false,
  bisectBatchOnFunctionError: false,
  maximumRetryAttempts: 2,
  maximumRecordAgeInSeconds: -1,
  ...overrides,
});

const ok = (payload?: unknown) => ({ requestId: "req-ok", status: "ok" as const, payload });
const threw = { requestId: "req-error", status: "error" as const };
const timedOut = { requestId: "req-timeout", status: "timeout" as const };
const failing = (...ids: unknown[]) => ok({ batchItemFailures: ids.map((itemIdentifier) => ({ itemIdentifier })) });

describe("judging an invocation of a stream batch", () => {
  const batch = records(4);

  it.each([
    ["no response", undefined],
    ["null batchItemFailures", { batchItemFailures: null }],
    ["an empty batchItemFailures list", { batchItemFailures: [] }],
  ])("with ReportBatchItemFailures, %s is a success", (_, payload) => {
    expect(judgeInvocation(ok(payload), batch, { windowed: false, reportBatchItemFailures: true })).toEqual({
      kind: "success",
      state: undefined,
    });
  });

  it.each<[string, unknown]>([
    ["an empty identifier", ""],
    ["a null identifier", null],
    ["an unknown sequence number", "1"],
    ["a number", 7],
  ])("with ReportBatchItemFailures, %s fails the whole batch", (_, id) => {
    const result = failing((batch[2] as ShardRecord).sequenceNumber, id);
    expect(judgeInvocation(result, batch, { windowed: false, reportBatchItemFailures: true })).toEqual({
      kind: "failed",
    });
  });

  it("with ReportBatchItemFailures, a misnamed field or a list that is not an array fails the whole batch", () => {
    const misnamed = ok({ batchItemFailures: [{ itemIdentifer: (batch[1] as ShardRecord).sequenceNumber }] });
    const notArray = ok({ batchItemFailures: { itemIdentifier: (batch[1] as ShardRecord).sequenceNumber } });
    const context = { windowed: false, reportBatchItemFailures: true };
    expect(judgeInvocation(misnamed, batch, context)).toEqual({ kind: "failed" });
    expect(judgeInvocation(notArray, batch, context)).toEqual({ kind: "failed" });
  });

  it("without ReportBatchItemFailures, batchItemFailures in the response are ignored", () => {
    const result = failing((batch[1] as ShardRecord).sequenceNumber);
    expect(judgeInvocation(result, batch, { windowed: false, reportBatchItemFailures: false }).kind).toBe("success");
  });

  it.each([
    ["threw", threw],
    ["timed out", timedOut],
  ])("a function that %s is a function error (Unhandled)", (_, result) => {
    expect(judgeInvocation(result, batch, { windowed: false, reportBatchItemFailures: true })).toEqual({
      kind: "error",
      functionError: "Unhandled",
    });
  });

  it("with a tumbling window, a response without state fails the batch; with state it carries it", () => {
    const context = { windowed: true, reportBatchItemFailures: false };
    expect(judgeInvocation(ok({}), batch, context)).toEqual({ kind: "failed" });
    expect(judgeInvocation(ok({ state: { n: 1 } }), batch, context)).toEqual({ kind: "success", state: { n: 1 } });
  });
});

describe("settling a batch after its invocation", () => {
  it("checkpoints a batch whose invocation succeeded", () => {
    const settlement = settleInvocation(fresh(records(3)), ok({ state: { total: 3 } }), {
      windowed: true,
      options: options(),
    });
    expect(settlement).toEqual({ action: "checkpoint", state: { total: 3 } });
  });

  it("ReportBatchItemFailures: checkpoints just before the lowest failure and retries from there", () => {
    // Prepare: records 1 and 3 of 5 reported, in any order.
    const recs = records(5);
    const result = failing((recs[3] as ShardRecord).sequenceNumber, (recs[1] as ShardRecord).sequenceNumber);
    // Act
    const settlement = settleInvocation(fresh(recs), result, {
      windowed: false,
      options: options({ reportBatchItemFailures: true }),
    });
    // Assess: records 0 is done; 1 to 4 are invoked again, as one retry.
    expect(settlement).toMatchObject({ action: "retry", checkpointed: 1 });
    if (settlement.action !== "retry") throw new Error("unreachable");
    expect(settlement.batch.records).toEqual(recs.slice(1));
    expect(settlement.batch).toMatchObject({ retries: 1, invokeCount: 1, requestId: "req-ok" });
    expect(settlement.batch.functionError).toBeUndefined();
    expect(settlement.windowState).toBeUndefined();
  });

  it("ReportBatchItemFailures in a tumbling window: the state of the partial response is carried to the retry", () => {
    const recs = records(3);
    const result = ok({
      state: { seen: 1 },
      batchItemFailures: [{ itemIdentifier: (recs[1] as ShardRecord).sequenceNumber }],
    });
    const settlement = settleInvocation(fresh(recs), result, {
      windowed: true,
      options: options({ reportBatchItemFailures: true }),
    });
    expect(settlement).toMatchObject({ action: "retry", checkpointed: 1, windowState: { state: { seen: 1 } } });
  });

  it("ReportBatchItemFailures: the records left after the retries are discarded from the lowest failure on", () => {
    const recs = records(4);
    const batch: PendingBatch = { records: recs, retries: 2, invokeCount: 3, requestId: "req-earlier" };
    const settlement = settleInvocation(batch, failing((recs[2] as ShardRecord).sequenceNumber), {
      windowed: false,
      options: options({ reportBatchItemFailures: true, maximumRetryAttempts: 2 }),
    });
    expect(settlement).toMatchObject({ action: "discard", condition: "RetryAttemptsExhausted", checkpointed: 2 });
    if (settlement.action !== "discard") throw new Error("unreachable");
    expect(settlement.batch.records).toEqual(recs.slice(2));
    expect(settlement.batch).toMatchObject({ retries: 3, invokeCount: 4, requestId: "req-ok" });
  });

  it("bisects a batch on a function error, without counting a retry", () => {
    const recs = records(5);
    const settlement = settleInvocation({ ...fresh(recs), retries: 1 }, threw, {
      windowed: false,
      options: options({ bisectBatchOnFunctionError: true }),
    });
    expect(settlement.action).toBe("bisect");
    if (settlement.action !== "bisect") throw new Error("unreachable");
    const [first, second] = settlement.halves;
    expect(first.records).toEqual(recs.slice(0, 3));
    expect(second.records).toEqual(recs.slice(3));
    for (const half of settlement.halves) {
      expect(half).toMatchObject({ retries: 1, invokeCount: 1, requestId: "req-error", functionError: "Unhandled" });
    }
  });

  it("does not bisect a batch whose response failed it (only function errors and timeouts are bisected)", () => {
    const settlement = settleInvocation(fresh(records(4)), failing(""), {
      windowed: false,
      options: options({ bisectBatchOnFunctionError: true, reportBatchItemFailures: true }),
    });
    expect(settlement.action).toBe("retry");
  });

  it("retries a single record that failed instead of bisecting it", () => {
    const settlement = settleInvocation(fresh(records(1)), timedOut, {
      windowed: false,
      options: options({ bisectBatchOnFunctionError: true }),
    });
    expect(settlement).toMatchObject({ action: "retry", batch: { retries: 1, functionError: "Unhandled" } });
  });

  it.each([0, 1, 2, 5])("maximumRetryAttempts %i: invoked that many times again, then discarded", (max) => {
    // Prepare: a function that always throws.
    let batch = fresh(records(2));
    let invocations = 0;
    // Act: settle until the batch leaves the shard.
    for (;;) {
      invocations++;
      const settlement = settleInvocation(batch, threw, {
        windowed: false,
        options: options({ maximumRetryAttempts: max }),
      });
      if (settlement.action === "retry") {
        batch = settlement.batch;
        continue;
      }
      // Assess: one first invocation and `max` retries, then the on-failure destination.
      expect(settlement).toMatchObject({ action: "discard", condition: "RetryAttemptsExhausted" });
      if (settlement.action !== "discard") throw new Error("unreachable");
      expect(settlement.batch).toMatchObject({ invokeCount: max + 1, retries: max + 1, functionError: "Unhandled" });
      break;
    }
    expect(invocations).toBe(max + 1);
  });

  it("maximumRetryAttempts -1: a failing batch is retried without end", () => {
    let batch = fresh(records(2));
    for (let i = 0; i < 10_000; i++) {
      const settlement = settleInvocation(batch, threw, {
        windowed: false,
        options: options({ maximumRetryAttempts: -1 }),
      });
      expect(settlement.action).toBe("retry");
      if (settlement.action === "retry") batch = settlement.batch;
    }
    expect(batch.retries).toBe(10_000);
  });

  it("bisecting isolates a poison record: the others are checkpointed, it alone is discarded", () => {
    // Prepare: 8 records; the function throws whenever record 5 is in its batch.
    const recs = records(8);
    const poison = (recs[5] as ShardRecord).sequenceNumber;
    const queue: PendingBatch[] = [fresh(recs)];
    const checkpointed: ShardRecord[] = [];
    const discarded: PendingBatch[] = [];
    // Act: what the shard poller does with each settlement, without the I/O.
    while (queue.length > 0) {
      const batch = queue[0] as PendingBatch;
      const result = batch.records.some((r) => r.sequenceNumber === poison) ? threw : ok();
      const settlement = settleInvocation(batch, result, {
        windowed: false,
        options: options({ bisectBatchOnFunctionError: true, maximumRetryAttempts: 1 }),
      });
      if (settlement.action === "checkpoint") checkpointed.push(...(queue.shift() as PendingBatch).records);
      else if (settlement.action === "bisect") queue.splice(0, 1, ...settlement.halves);
      else if (settlement.action === "retry") queue[0] = settlement.batch;
      else {
        discarded.push(settlement.batch);
        queue.shift();
      }
    }
    // Assess: the shard's order is kept, and only the poison record reaches the on-failure destination, after its
    // three bisections (8 -> 4 -> 2 -> 1), its own invocation and one retry.
    expect(checkpointed).toEqual(recs.filter((r) => r.sequenceNumber !== poison));
    expect(discarded).toHaveLength(1);
    expect(discarded[0]).toMatchObject({ records: [recs[5]], invokeCount: 5, retries: 2 });
  });
});

describe("records past maximumRecordAgeInSeconds", () => {
  const start = Date.UTC(2024, 0, 1);
  const recs = records(4, start); // arrivals at +0 s, +1 s, +2 s, +3 s

  it("-1: no record is ever too old", () => {
    expect(discardExpired(fresh(recs), start + 365 * 86_400_000, -1)).toBeUndefined();
  });

  it("discards the records at the head older than the limit, and keeps the rest for the invocation", () => {
    // Act: at +62 s with a 60 s limit, records of +0 s and +1 s are too old; the one of +2 s is exactly 60 s old.
    const expired = discardExpired({ ...fresh(recs), invokeCount: 2, requestId: "req-1" }, start + 62_000, 60);
    // Assess
    expect(expired?.discard).toEqual({
      action: "discard",
      condition: "RecordAgeExceeded",
      batch: { records: recs.slice(0, 2), retries: 0, invokeCount: 2, requestId: "req-1" },
    });
    expect(expired?.rest?.records).toEqual(recs.slice(2));
  });

  it("discards a batch whose records are all too old, leaving nothing to invoke", () => {
    const expired = discardExpired(fresh(recs), start + 3_600_000, 60);
    expect(expired?.discard.batch.records).toEqual(recs);
    expect(expired?.rest).toBeUndefined();
  });

  it("discards nothing while the first record is young enough", () => {
    expect(discardExpired(fresh(recs), start + 60_000, 60)).toBeUndefined();
  });
});

describe("the pause before a retry", () => {
  it("doubles from the first delay, up to the cap", () => {
    const timing = { retryDelayMs: 200, maxRetryDelayMs: 5000 };
    expect([1, 2, 3, 4, 5, 6, 10].map((retries) => retryDelay(retries, timing))).toEqual([
      200, 400, 800, 1600, 3200, 5000, 5000,
    ]);
  });
});

describe("the on-failure record of discarded records", () => {
  const recs = records(3, Date.UTC(2024, 0, 1, 12, 0, 0, 250));
  const context = {
    shardId: "shardId-000000000000",
    streamArn: "arn:aws:kinesis:us-east-1:000000000000:stream/clicks",
    functionArn: "arn:aws:lambda:us-east-1:000000000000:function:sluice-dev-Counter",
    requestId: "fallback-request-id",
    now: Date.UTC(2024, 0, 1, 12, 5, 0, 500),
  };

  it("names the last invocation, how many invocations included the records, the error and the condition (Kinesis)", () => {
    // Prepare: a batch that failed three times with a function error.
    const settlement = settleInvocation({ records: recs, retries: 2, invokeCount: 2 }, threw, {
      windowed: false,
      options: options({ maximumRetryAttempts: 2 }),
    });
    if (settlement.action !== "discard") throw new Error(`expected a discard, got ${settlement.action}`);
    // Act
    const record = onFailureRecord(settlement, { ...context, kind: "kinesis" });
    // Assess
    expect(record).toEqual({
      requestContext: {
        requestId: "req-error",
        functionArn: context.functionArn,
        condition: "RetryAttemptsExhausted",
        approximateInvokeCount: 3,
      },
      responseContext: { statusCode: 200, executedVersion: "$LATEST", functionError: "Unhandled" },
      version: "1.0",
      timestamp: "2024-01-01T12:05:00.500Z",
      KinesisBatchInfo: {
        shardId: context.shardId,
        startSequenceNumber: (recs[0] as ShardRecord).sequenceNumber,
        endSequenceNumber: (recs[2] as ShardRecord).sequenceNumber,
        approximateArrivalOfFirstRecord: "2024-01-01T12:00:00.250Z",
        approximateArrivalOfLastRecord: "2024-01-01T12:00:02.250Z",
        batchSize: 3,
        streamArn: context.streamArn,
      },
    });
  });

  it("for records that expired before any invocation: no function error, no invocation, a request id of its own (DynamoDB)", () => {
    const expired = discardExpired(fresh(recs), Date.UTC(2024, 0, 2), 60);
    if (!expired) throw new Error("expected the records to have expired");
    const record = onFailureRecord(expired.discard, { ...context, kind: "dynamodb" });
    expect(record.requestContext).toEqual({
      requestId: "fallback-request-id",
      functionArn: context.functionArn,
      condition: "RecordAgeExceeded",
      approximateInvokeCount: 0,
    });
    expect(record.responseContext).toEqual({ statusCode: 200, executedVersion: "$LATEST" });
    expect(record.KinesisBatchInfo).toBeUndefined();
    expect(record.DDBStreamBatchInfo).toMatchObject({
      batchSize: 3,
      approximateArrivalOfFirstRecord: "2024-01-01T12:00:00Z",
      approximateArrivalOfLastRecord: "2024-01-01T12:00:02Z",
    });
  });
});
