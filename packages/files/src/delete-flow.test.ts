import type { AuditMessage as AuditEntry } from "@sluice/messages";
import { describe, expect, it } from "vitest";
import { type DeleteFlowDependencies, type DeletionReport, handleDeleteTrigger, outcomeOf } from "./delete-flow.ts";
import { continuationKeyOf } from "./delete-request.ts";
import { LeaseHeld, PreconditionFailed } from "./errors.ts";
import { MemoryS3 } from "./fixtures/memory-store.ts";
import type { DeleterStore } from "./ports.ts";

function setup(budgetBatches = Number.POSITIVE_INFINITY) {
  const store = new MemoryS3({ inbox: {}, lake: {} });
  const audited: AuditEntry[] = [];
  let clock = Date.parse("2026-11-23T10:00:00Z");
  let left = budgetBatches;
  const deps: DeleteFlowDependencies = {
    store,
    audit: { publish: async (m) => void audited.push(m) },
    inbox: "inbox",
    allowList: { Lake: "lake", Inbox: "inbox" },
    budget: () => left-- > 0,
    remainingMs: () => 60_000,
    now: () => (clock += 10),
    batchSize: 10,
  };
  const refill = (batches: number) => {
    left = batches;
  };
  const advance = (ms: number) => {
    clock += ms;
  };
  return { store, audited, deps, refill, advance };
}

function seed(store: MemoryS3, prefix: string, count: number) {
  for (let i = 0; i < count; i++) store.put("lake", `${prefix}${String(i).padStart(4, "0")}`, { body: "x" });
}

function submit(store: MemoryS3, name: string, body: unknown) {
  const key = `requests/delete/${name}.json`;
  const v = store.put("inbox", key, { body: typeof body === "string" ? body : JSON.stringify(body) });
  return { kind: "object" as const, key, eTag: v.eTag };
}

function report(store: MemoryS3, name: string): DeletionReport {
  return JSON.parse(store.current("inbox", `reports/delete/${name}.json`)?.body.toString() ?? "null");
}

/**
 * The store as an invocation killed at once (kill -9, out of memory) sees it: once `killAt` says so (the n-th call
 * of an operation), that call and every later one never answers, so nothing the invocation does afterwards (a
 * checkpoint, a lease renewal, a report) reaches S3.
 */
function killable(store: MemoryS3, killAt: (op: string, n: number) => boolean): DeleterStore {
  let dead = false;
  const counts = new Map<string, number>();
  const never = new Promise<never>(() => {});
  const wrap =
    <A extends unknown[], R>(op: string, f: (...args: A) => Promise<R>) =>
    (...args: A): Promise<R> => {
      const n = (counts.get(op) ?? 0) + 1;
      counts.set(op, n);
      if (dead || killAt(op, n)) {
        dead = true;
        return never;
      }
      return f.apply(store, args);
    };
  return {
    listObjects: wrap("listObjects", store.listObjects),
    listVersions: wrap("listVersions", store.listVersions),
    deleteBatch: wrap("deleteBatch", store.deleteBatch),
    getText: wrap("getText", store.getText),
    putText: wrap("putText", store.putText),
    deleteObject: wrap("deleteObject", store.deleteObject),
  };
}

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The keys of a bucket each DeleteObjects call was given, in order. */
function deletedKeysOf(store: MemoryS3, bucket: string): string[] {
  return store.calls
    .filter((c) => c.op === "deleteBatch" && (c.input as { bucket: string }).bucket === bucket)
    .flatMap((c) => (c.input as { entries: Array<{ key: string }> }).entries.map((e) => e.key));
}

describe("handleDeleteTrigger", () => {
  it("deletes a prefix, writes the report and audits a summary", async () => {
    const { store, audited, deps } = setup();
    seed(store, "raw/x/", 25);
    seed(store, "raw/y/", 2);
    const result = await handleDeleteTrigger(
      submit(store, "gdpr-1", { bucket: "Lake", prefixes: ["raw/x/"], reason: "GDPR" }),
      deps,
    );
    expect(result.status).toBe("completed");
    expect(store.keys("lake")).toEqual(["raw/y/0000", "raw/y/0001"]);
    const r = report(store, "gdpr-1");
    expect(r).toMatchObject({
      name: "gdpr-1",
      requestKey: "requests/delete/gdpr-1.json",
      status: "completed",
      counts: { deleted: 25, failed: 0, listed: 25, batches: 3 },
      progress: { step: 0, cursor: { phase: "done" } },
    });
    expect(r.timings.finishedAt).toBeDefined();
    expect(r.timings.steps).toHaveLength(1);
    expect(audited).toEqual([
      expect.objectContaining({
        pipeline: "file-deleter",
        outcome: "succeeded",
        status: "completed",
        request: "gdpr-1",
        requestReason: "GDPR",
        counts: expect.objectContaining({ deleted: 25 }),
      }),
    ]);
  });

  it.each([
    ["malformed JSON", "{not json", "malformed"],
    ["a malformed request", { bucket: "Lake", prefixes: ["raw/"] }, "malformed"],
    ["a foreign bucket", { bucket: "someone-else", prefixes: ["raw/"], reason: "r" }, "bucket-not-allowed"],
    ["an empty prefix without confirm", { bucket: "Lake", prefixes: [""], reason: "r" }, "confirm-required"],
  ])("refuses %s: deletes nothing, reports why", async (_, body, code) => {
    const { store, audited, deps } = setup();
    seed(store, "raw/x/", 3);
    const result = await handleDeleteTrigger(submit(store, "bad", body), deps);
    expect(result.status).toBe("refused");
    expect(store.keys("lake")).toHaveLength(3);
    expect(store.count("deleteBatch")).toBe(0);
    expect(report(store, "bad")).toMatchObject({ status: "refused", refusal: { code } });
    expect(audited).toEqual([expect.objectContaining({ outcome: "refused", refusal: code })]);
  });

  /** What this Node's JSON.parse says about `text` (V8's wording differs between Node versions). */
  const parseError = (text: string) => {
    try {
      JSON.parse(text);
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error(`${text} is JSON`);
  };

  it.each([
    [
      "truncated JSON",
      '{"bucket": "Lake", "prefixes": ["raw/x/"], "rea',
      `not JSON: ${parseError('{"bucket": "Lake", "prefixes": ["raw/x/"], "rea')}`,
    ],
    ["not JSON at all", "{not json", `not JSON: ${parseError("{not json")}`],
    ["an empty object", "", "not JSON: empty"],
    ["a blank object", " \n", "not JSON: empty"],
  ])("refuses %s, saying it is not JSON and why, in the report and the audit", async (_, body, issue) => {
    const { store, audited, deps } = setup();
    seed(store, "raw/x/", 3);
    const result = await handleDeleteTrigger(submit(store, "bad", body), deps);
    expect(result.status).toBe("refused");
    expect(store.keys("lake")).toHaveLength(3);
    const message = `malformed request: ${issue}`;
    expect(report(store, "bad").refusal).toEqual({ code: "malformed", message, issues: [issue] });
    expect(audited).toEqual([expect.objectContaining({ outcome: "refused", refusal: "malformed", reason: message })]);
  });

  it("refuses a direct invocation whose payload is a string that is not JSON, saying why", async () => {
    const { deps } = setup();
    const result = await handleDeleteTrigger({ kind: "direct", body: '{"bucket": ', invocationId: "i-1" }, deps);
    expect(result).toMatchObject({
      status: "refused",
      report: { refusal: { code: "malformed", message: `malformed request: not JSON: ${parseError('{"bucket": ')}` } },
    });
  });

  it("names the field a request object gets wrong, in the report and the audit", async () => {
    const { store, audited, deps } = setup();
    seed(store, "raw/x/", 3);
    await handleDeleteTrigger(
      submit(store, "bad", { bucket: "Lake", keys: "raw/x/0000", reason: "r", force: true }),
      deps,
    );
    const message = 'malformed request: keys: expected array, received string; Unrecognized key: "force"';
    expect(report(store, "bad").refusal).toMatchObject({ code: "malformed", message });
    expect(audited).toEqual([expect.objectContaining({ outcome: "refused", reason: message })]);
  });

  it("accepts a request object saved with a UTF-8 byte order mark, in its first step and the next", async () => {
    // Windows editors (Notepad, PowerShell 5's `-Encoding UTF8`) start a file with one; RFC 8259 §8.1 lets a parser
    // ignore it. Each step reads the request object again, so each must.
    const { store, deps, refill } = setup(2);
    seed(store, "raw/x/", 25);
    const body = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from(JSON.stringify({ bucket: "Lake", prefixes: ["raw/x/"], reason: "r" })),
    ]);
    const key = "requests/delete/bom.json";
    const trigger = { kind: "object" as const, key, eTag: store.put("inbox", key, { body }).eTag };
    expect((await handleDeleteTrigger(trigger, deps)).status).toBe("continuing");
    refill(2);
    const last = await handleDeleteTrigger({ kind: "object", key: continuationKeyOf("bom", 1) }, deps);
    expect(last.status).toBe("completed");
    expect(store.keys("lake")).toEqual([]);
  });

  it("continues a deletion too large for one invocation through continuation objects, each step once", async () => {
    const { store, audited, deps, refill } = setup(2);
    seed(store, "raw/x/", 45);
    const first = await handleDeleteTrigger(
      submit(store, "big", { bucket: "Lake", prefixes: ["raw/x/"], reason: "r" }),
      deps,
    );
    expect(first.status).toBe("continuing");
    expect(report(store, "big")).toMatchObject({
      status: "continuing",
      counts: { deleted: 20 },
      progress: { step: 0 },
    });
    expect(store.keys("inbox")).toContain(continuationKeyOf("big", 1));

    // The continuation's event (delivered twice: the duplicate finds the step already done).
    const step1 = { kind: "object" as const, key: continuationKeyOf("big", 1) };
    refill(2);
    expect((await handleDeleteTrigger(step1, deps)).status).toBe("continuing");
    expect((await handleDeleteTrigger(step1, deps)).status).toBe("skipped");
    refill(2);
    const last = await handleDeleteTrigger({ kind: "object", key: continuationKeyOf("big", 2) }, deps);
    expect(last.status).toBe("completed");
    expect(store.keys("lake")).toEqual([]);
    const r = report(store, "big");
    expect(r).toMatchObject({ status: "completed", counts: { deleted: 45, batches: 5 }, progress: { step: 2 } });
    expect(r.timings.steps.map((s) => s.step)).toEqual([0, 1, 2]);
    // Consumed continuations are removed; the request stays as the record of what was asked.
    expect(store.keys("inbox").filter((k) => k.includes(".continue/"))).toEqual([]);
    expect(store.keys("inbox")).toContain("requests/delete/big.json");
    const deletedKeys = store.calls
      .filter((c) => c.op === "deleteBatch" && (c.input as { bucket: string }).bucket === "lake")
      .flatMap((c) => (c.input as { entries: Array<{ key: string }> }).entries.map((e) => e.key));
    expect(deletedKeys).toHaveLength(45);
    expect(new Set(deletedKeys).size).toBe(45);
    expect(audited.at(-1)).toMatchObject({ outcome: "succeeded", status: "completed", step: 2 });
  });

  it("recognizes a report write whose answer was lost and whose SDK retry failed its condition as its own", async () => {
    // Under faults S3 applies the conditional put but the answer is lost; the SDK retries the same request, which
    // now fails its condition (the object changed: it is this write). The flow must not take that for a rival.
    const { store, audited, deps } = setup();
    seed(store, "raw/x/", 25);
    const putText = store.putText.bind(store);
    let lost = 0;
    store.putText = async (input) => {
      const eTag = await putText(input);
      if (input.key.startsWith("reports/delete/") && lost < 3) {
        lost++;
        throw new PreconditionFailed(`${input.key}: the object changed`);
      }
      return eTag;
    };
    const result = await handleDeleteTrigger(
      submit(store, "gdpr-lost", { bucket: "Lake", prefixes: ["raw/x/"], reason: "GDPR" }),
      deps,
    );
    expect(lost).toBe(3);
    expect(result.status).toBe("completed");
    expect(store.keys("lake")).toEqual([]);
    expect(report(store, "gdpr-lost")).toMatchObject({ status: "completed" });
    expect(audited.some((m) => m.outcome === "skipped")).toBe(false);
  });

  it("ignores a duplicate of a request already handled", async () => {
    const { store, deps } = setup();
    seed(store, "raw/x/", 3);
    const trigger = submit(store, "once", { bucket: "Lake", prefixes: ["raw/x/"], reason: "r" });
    await handleDeleteTrigger(trigger, deps);
    seed(store, "raw/x/", 3);
    expect(await handleDeleteTrigger(trigger, deps)).toMatchObject({ status: "skipped" });
    expect(store.keys("lake")).toHaveLength(3);
  });

  it("resumes from the last checkpoint when Lambda retries an interrupted step", async () => {
    const { store, deps } = setup();
    seed(store, "raw/x/", 30);
    store.faults.push({
      op: "deleteBatch",
      error: new Error("SlowDown"),
      when: (i) => (i as { entries: Array<{ key: string }> }).entries[0]?.key === "raw/x/0020",
    });
    const trigger = submit(store, "flaky", { bucket: "Lake", prefixes: ["raw/x/"], reason: "r" });
    await expect(handleDeleteTrigger(trigger, { ...deps, concurrency: 1 })).rejects.toThrow("SlowDown");
    expect(report(store, "flaky")).toMatchObject({ status: "interrupted", counts: { deleted: 20 } });
    const retried = await handleDeleteTrigger(trigger, deps);
    expect(retried.status).toBe("completed");
    expect(report(store, "flaky").counts).toMatchObject({ deleted: 30 });
    expect(store.keys("lake")).toEqual([]);
  });

  it("fails (for Lambda to retry) rather than skip a step whose lease is longer than a live invocation keeps", async () => {
    const { store, deps, audited } = setup();
    seed(store, "raw/x/", 3);
    const trigger = submit(store, "leased", { bucket: "Lake", prefixes: ["raw/x/"], reason: "r" });
    // A report written before leases were short: its claim lasts a whole invocation (15 minutes).
    await handleDeleteTrigger(trigger, { ...deps, budget: () => false });
    const claimed = report(store, "leased");
    store.put("inbox", "reports/delete/leased.json", {
      body: JSON.stringify({
        ...claimed,
        status: "running",
        progress: { ...claimed.progress, step: 0, leaseUntil: Date.parse("2026-11-23T10:15:00Z") },
      }),
    });
    await expect(handleDeleteTrigger(trigger, deps)).rejects.toThrow(LeaseHeld);
    expect(audited.at(-1)).toMatchObject({ outcome: "failed", reason: expect.stringMatching(/lease/) });
    expect(store.keys("lake")).toHaveLength(3);
  });

  it("keeps the lease short: it ends at most leaseMs after the report's last write", async () => {
    const { store, deps } = setup();
    seed(store, "raw/x/", 30);
    const trigger = submit(store, "short", { bucket: "Lake", prefixes: ["raw/x/"], reason: "r" });
    const killed = killable(store, (op, n) => op === "deleteBatch" && n === 2);
    void handleDeleteTrigger(trigger, { ...deps, store: killed, remainingMs: () => 900_000, concurrency: 1 });
    await until(() => report(store, "short")?.counts?.deleted === 10);
    const r = report(store, "short");
    expect(r.status).toBe("running");
    expect((r.progress?.leaseUntil ?? 0) - Date.parse(r.timings.updatedAt)).toBeLessThanOrEqual(60_000);
  });

  it("takes a direct invocation's JSON, reports under its name, and lists only in a dry run", async () => {
    const { store, deps } = setup();
    seed(store, "raw/x/", 3);
    const result = await handleDeleteTrigger(
      {
        kind: "direct",
        body: { bucket: "Lake", prefixes: ["raw/x/"], reason: "check", dryRun: true, name: "dry-1" },
        invocationId: "abc",
      },
      deps,
    );
    expect(result.status).toBe("completed");
    expect(store.keys("lake")).toHaveLength(3);
    expect(report(store, "dry-1")).toMatchObject({
      listing: ["raw/x/0000", "raw/x/0001", "raw/x/0002"],
      counts: { listed: 3, deleted: 0 },
    });
  });

  it("skips an event whose request object was replaced since", async () => {
    const { store, deps } = setup();
    const trigger = submit(store, "r", { bucket: "Lake", prefixes: ["raw/"], reason: "r" });
    submit(store, "r", { bucket: "Lake", prefixes: ["other/"], reason: "r" });
    expect(await handleDeleteTrigger(trigger, deps)).toMatchObject({ status: "skipped" });
  });

  it("fails an allVersions request for good when versions cannot be listed, deleting nothing", async () => {
    const { store, audited, deps } = setup();
    seed(store, "raw/x/", 3);
    store.listVersions = async () => ({ entries: [], isTruncated: false });
    const result = await handleDeleteTrigger(
      submit(store, "versions", { bucket: "Lake", prefixes: ["raw/x/"], allVersions: true, reason: "r" }),
      deps,
    );
    expect(result.status).toBe("failed");
    expect(report(store, "versions")).toMatchObject({
      status: "failed",
      failure: expect.stringMatching(/does not support versions/),
    });
    expect(store.keys("lake")).toHaveLength(3);
    expect(audited.at(-1)).toMatchObject({ outcome: "failed" });
  });

  it("says each result's outcome as its audit message does (a deletion with keys it could not delete failed)", async () => {
    const { store, audited, deps } = setup();
    seed(store, "raw/x/", 3);
    store.failingKeys.add("raw/x/0001");
    const results = [
      await handleDeleteTrigger(submit(store, "partly", { bucket: "Lake", prefixes: ["raw/x/"], reason: "r" }), deps),
      await handleDeleteTrigger(submit(store, "refused", { bucket: "Elsewhere", keys: ["a"], reason: "r" }), deps),
      await handleDeleteTrigger(submit(store, "done", { bucket: "Lake", keys: ["raw/x/0002"], reason: "r" }), deps),
    ];
    expect(results.map((r) => [r.status, outcomeOf(r)])).toEqual([
      ["completed", "failed"],
      ["refused", "refused"],
      ["completed", "succeeded"],
    ]);
    expect(audited.map((a) => a.outcome)).toEqual(["failed", "refused", "succeeded"]);
  });

  it("skips a stale continuation", async () => {
    const { store, deps } = setup();
    store.put("inbox", continuationKeyOf("ghost", 4), {
      body: JSON.stringify({ continuation: { name: "ghost", step: 4 } }),
    });
    expect(await handleDeleteTrigger({ kind: "object", key: continuationKeyOf("ghost", 4) }, deps)).toMatchObject({
      status: "skipped",
    });
  });
});

describe("an invocation killed mid-step (kill -9, out of memory)", () => {
  /** Lambda's async retries of a failed invocation come about 1 and 3 minutes after it (infra/wiring.ts). */
  it.each([
    ["1.2 s", 1_200],
    ["1 minute", 60_000],
  ])("is finished by Lambda's retry arriving %s later, while its lease may still be live", async (_, retryAfterMs) => {
    const { store, deps, advance, audited } = setup();
    seed(store, "raw/x/", 30);
    const trigger = submit(store, "killed", { bucket: "Lake", prefixes: ["raw/x/"], reason: "GDPR" });
    // The first invocation (15 minutes to run) is killed during its second DeleteObjects.
    const killed = killable(store, (op, n) => op === "deleteBatch" && n === 2);
    void handleDeleteTrigger(trigger, { ...deps, store: killed, remainingMs: () => 900_000, concurrency: 1 });
    await until(() => report(store, "killed")?.counts?.deleted === 10);
    expect(report(store, "killed").status).toBe("running");

    advance(retryAfterMs);
    const slept: number[] = [];
    const retried = await handleDeleteTrigger(trigger, {
      ...deps,
      remainingMs: () => 900_000,
      sleep: async (ms) => {
        slept.push(ms);
        advance(ms);
      },
    });
    expect(retried.status).toBe("completed");
    expect(report(store, "killed")).toMatchObject({ status: "completed", counts: { deleted: 30 } });
    expect(store.keys("lake")).toEqual([]);
    // It waited for the lease (at most about a minute), not a whole invocation's time.
    expect(slept.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(62_000);
    expect(audited.some((m) => m.outcome === "skipped")).toBe(false);
  });

  it("is finished when the step was started by a continuation, by the continuation's retry", async () => {
    const { store, deps, advance, refill } = setup(1);
    seed(store, "raw/x/", 30);
    const trigger = submit(store, "cont", { bucket: "Lake", prefixes: ["raw/x/"], reason: "r" });
    expect((await handleDeleteTrigger(trigger, deps)).status).toBe("continuing");
    const step1 = { kind: "object" as const, key: continuationKeyOf("cont", 1) };
    refill(Number.POSITIVE_INFINITY);
    const killed = killable(store, (op, n) => op === "deleteBatch" && n === 2);
    void handleDeleteTrigger(step1, { ...deps, store: killed, remainingMs: () => 900_000, concurrency: 1 });
    await until(() => report(store, "cont")?.counts?.deleted === 20);
    advance(1_200);
    const retried = await handleDeleteTrigger(step1, {
      ...deps,
      remainingMs: () => 900_000,
      sleep: async (ms) => advance(ms),
    });
    expect(retried.status).toBe("completed");
    expect(report(store, "cont")).toMatchObject({
      status: "completed",
      counts: { deleted: 30 },
      progress: { step: 1 },
    });
    expect(store.keys("lake")).toEqual([]);
  });

  /** Dependencies on the real clock (no `now`), batches of 10, a short lease of the test's. */
  const realTimeDeps = (store: MemoryS3, over: Partial<DeleteFlowDependencies>): DeleteFlowDependencies => ({
    store,
    audit: { publish: async () => {} },
    inbox: "inbox",
    allowList: { Lake: "lake" },
    budget: () => true,
    remainingMs: () => 900_000,
    batchSize: 10,
    ...over,
  });

  it("duplicates delivered at once, or while a live invocation runs, do not delete twice or touch the report", async () => {
    // Real time: the holder renews its 450 ms lease while each DeleteObjects takes longer than the lease.
    const store = new MemoryS3({ inbox: {}, lake: {} });
    seed(store, "raw/x/", 40);
    const deleteBatch = store.deleteBatch.bind(store);
    store.deleteBatch = async (input) => {
      await new Promise((resolve) => setTimeout(resolve, 600));
      return deleteBatch(input);
    };
    const deps = realTimeDeps(store, { concurrency: 1, leaseMs: 450 });
    const trigger = submit(store, "dup", { bucket: "Lake", prefixes: ["raw/x/"], reason: "r" });
    const [first, second] = [handleDeleteTrigger(trigger, deps), handleDeleteTrigger(trigger, deps)];
    await new Promise((resolve) => setTimeout(resolve, 100));
    const late = await handleDeleteTrigger(trigger, deps);
    expect(late).toMatchObject({ status: "skipped", reason: expect.stringMatching(/live invocation/) });
    const statuses = [(await first).status, (await second).status].sort();
    expect(statuses).toEqual(["completed", "skipped"]);
    const deleted = deletedKeysOf(store, "lake");
    expect(deleted).toHaveLength(40);
    expect(new Set(deleted).size).toBe(40);
    expect(report(store, "dup")).toMatchObject({
      status: "completed",
      counts: { deleted: 40, listed: 40, batches: 4 },
    });
  });

  it("two deliveries claiming in the same millisecond: one runs, the other does not take its claim for its own", async () => {
    const { store, deps } = setup();
    seed(store, "raw/x/", 30);
    const trigger = submit(store, "same-ms", { bucket: "Lake", prefixes: ["raw/x/"], reason: "r" });
    const at = { ...deps, now: () => Date.parse("2026-11-23T10:00:00Z") };
    const results = await Promise.all([handleDeleteTrigger(trigger, at), handleDeleteTrigger(trigger, at)]);
    expect(results.map((r) => r.status).sort()).toEqual(["completed", "skipped"]);
    const deleted = deletedKeysOf(store, "lake");
    expect(deleted).toHaveLength(30);
    expect(report(store, "same-ms")).toMatchObject({ status: "completed", counts: { deleted: 30, batches: 3 } });
  });

  it("shows a live step's progress while a batch is slow: its lease and update time move", async () => {
    const store = new MemoryS3({ inbox: {}, lake: {} });
    seed(store, "raw/x/", 10);
    let release: () => void = () => {};
    const deleteBatch = store.deleteBatch.bind(store);
    store.deleteBatch = async (input) => {
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      return deleteBatch(input);
    };
    const deps = realTimeDeps(store, { leaseMs: 150 });
    const run = handleDeleteTrigger(submit(store, "slow", { bucket: "Lake", prefixes: ["raw/x/"], reason: "r" }), deps);
    await until(() => report(store, "slow")?.status === "running");
    const claimed = report(store, "slow");
    await new Promise((resolve) => setTimeout(resolve, 300));
    const later = report(store, "slow");
    expect(later.status).toBe("running");
    expect(later.progress?.leaseUntil).toBeGreaterThan(claimed.progress?.leaseUntil ?? 0);
    expect(Date.parse(later.timings.updatedAt)).toBeGreaterThan(Date.parse(claimed.timings.updatedAt));
    expect(later.progress?.inFlight).toEqual({ batches: 1, entries: 10 });
    release();
    expect((await run).status).toBe("completed");
    expect(report(store, "slow").progress?.inFlight).toBeUndefined();
  });
});

describe("large and ambiguous requests", () => {
  /** Bytes of every object the flow wrote (reports, continuations), per key prefix. */
  function bytesPut(store: MemoryS3): { total: number; largest: number; puts: number } {
    const sizes = store.calls
      .filter((c) => c.op === "putText")
      .map((c) => Buffer.byteLength((c.input as { text: string }).text));
    return { total: sizes.reduce((a, b) => a + b, 0), largest: Math.max(0, ...sizes), puts: sizes.length };
  }

  it("a valid 100 000-key request writes reports whose size does not grow with the batches done", async () => {
    const { store, deps } = setup();
    const keys = Array.from(
      { length: 100_000 },
      (_, i) => `raw/customers/dt=2026-11-01/c-${String(i).padStart(6, "0")}.json`,
    );
    const trigger = submit(store, "huge", { bucket: "Lake", keys, reason: "GDPR erasure, 100k keys" });
    const requestBytes = store.current("inbox", trigger.key)?.body.length ?? 0;
    expect(requestBytes).toBeGreaterThan(4_000_000);

    const result = await handleDeleteTrigger(trigger, { ...deps, batchSize: 1000 });

    expect(result.status).toBe("completed");
    expect(report(store, "huge")).toMatchObject({ status: "completed", counts: { deleted: 100_000, batches: 100 } });
    const written = bytesPut(store);
    // One claim, 100 checkpoints, the final report: each a few KB, never the request again.
    expect(written.largest).toBeLessThan(16 * 1024);
    expect(written.total).toBeLessThan(102 * 16 * 1024);
  });

  it("refuses a request object over the size limit without reading it, and says why", async () => {
    const { store, audited, deps } = setup();
    seed(store, "raw/x/", 3);
    const keys = Array.from({ length: 17_000 }, (_, i) => `raw/x/${String(i).padStart(6, "0")}-${"k".repeat(1000)}`);
    const trigger = submit(store, "too-big", { bucket: "Lake", keys, reason: "r" });

    const result = await handleDeleteTrigger(trigger, deps);

    expect(result.status).toBe("refused");
    expect(store.count("deleteBatch")).toBe(0);
    expect(store.keys("lake")).toHaveLength(3);
    expect(report(store, "too-big")).toMatchObject({
      status: "refused",
      refusal: { code: "too-large", message: expect.stringMatching(/17\d{6} bytes.*16 MiB \(16777216 bytes\)/) },
    });
    expect(audited).toEqual([expect.objectContaining({ outcome: "refused", refusal: "too-large" })]);
  });

  it("refuses a prefix that does not end in / (c-42 would also delete c-420...)", async () => {
    const { store, deps } = setup();
    seed(store, "raw/customers/c-42/", 2);
    seed(store, "raw/customers/c-420/", 2);

    const result = await handleDeleteTrigger(
      submit(store, "c-42", { bucket: "Lake", prefixes: ["raw/customers/c-42"], reason: "GDPR #42" }),
      deps,
    );

    expect(result.status).toBe("refused");
    expect(store.keys("lake")).toHaveLength(4);
    expect(report(store, "c-42")).toMatchObject({
      refusal: { code: "prefix-not-folder", message: expect.stringContaining('"raw/customers/c-42"') },
    });
  });

  it("matches a raw prefix only when the request says so", async () => {
    const { store, deps } = setup();
    seed(store, "logs/2026-08-0", 3);
    seed(store, "logs/2026-08-1", 3);

    const result = await handleDeleteTrigger(
      submit(store, "raw", { bucket: "Lake", prefixes: ["logs/2026-08-0"], rawPrefixes: true, reason: "retention" }),
      deps,
    );

    expect(result.status).toBe("completed");
    expect(store.keys("lake")).toEqual(["logs/2026-08-10000", "logs/2026-08-10001", "logs/2026-08-10002"]);
  });
});

describe("requests resumed without a copy in the report", () => {
  it("a direct invocation that continues reads its request from the copy it wrote once", async () => {
    const { store, deps, refill } = setup(1);
    seed(store, "raw/x/", 25);
    const first = await handleDeleteTrigger(
      { kind: "direct", body: { bucket: "Lake", prefixes: ["raw/x/"], reason: "r", name: "d-1" }, invocationId: "i" },
      deps,
    );
    expect(first.status).toBe("continuing");
    expect(report(store, "d-1")).toMatchObject({
      requestCopyKey: "reports/delete/d-1.request.json",
      request: { prefixes: ["raw/x/"], prefixCount: 1, keyCount: 0 },
    });
    refill(10);

    const next = await handleDeleteTrigger({ kind: "object", key: continuationKeyOf("d-1", 1) }, deps);

    expect(next.status).toBe("completed");
    expect(store.keys("lake")).toEqual([]);
    expect(
      store.calls.filter((c) => c.op === "putText" && (c.input as { key: string }).key.endsWith(".request.json")),
    ).toHaveLength(1);
  });

  it("fails for good, saying why, when the request object is deleted before its next step", async () => {
    const { store, audited, deps, refill } = setup(1);
    seed(store, "raw/x/", 25);
    const trigger = submit(store, "gone", { bucket: "Lake", prefixes: ["raw/x/"], reason: "r" });
    expect((await handleDeleteTrigger(trigger, deps)).status).toBe("continuing");
    await store.deleteObject({ bucket: "inbox", key: trigger.key });
    refill(10);

    const next = await handleDeleteTrigger({ kind: "object", key: continuationKeyOf("gone", 1) }, deps);

    expect(next.status).toBe("failed");
    expect(store.keys("lake")).toHaveLength(15);
    expect(report(store, "gone")).toMatchObject({
      status: "failed",
      failure: "s3://inbox/requests/delete/gone.json was deleted or replaced while the deletion ran",
    });
    expect(audited.at(-1)).toMatchObject({ outcome: "failed" });
  });

  it("writes every failed key and dry-run entry once, per batch, beside a report that keeps the first ones", async () => {
    const { store, deps } = setup();
    seed(store, "raw/x/", 250);
    const trigger = submit(store, "dry", { bucket: "Lake", prefixes: ["raw/x/"], reason: "r", dryRun: true });

    await handleDeleteTrigger(trigger, deps);

    const r = report(store, "dry");
    expect(r).toMatchObject({
      counts: { listed: 250 },
      listingTruncated: true,
      batchDetails: { prefix: "reports/delete/dry.batches/", count: 25 },
    });
    expect(r.listing).toHaveLength(100);
    const details = store.keys("inbox").filter((k) => k.startsWith("reports/delete/dry.batches/"));
    expect(details).toHaveLength(25);
    const listed = details.flatMap((k) => JSON.parse(store.current("inbox", k)?.body.toString() ?? "{}").listing);
    expect(listed).toEqual(store.keys("lake"));
  });
});
