import { describe, expect, it } from "vitest";
import { type DeleteFlowDependencies, type DeletionReport, handleDeleteTrigger } from "./delete-flow.ts";
import { continuationKeyOf } from "./delete-request.ts";
import type { AuditEntry } from "./ports.ts";
import { MemoryS3 } from "./testing/memory-store.ts";

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

  it("does not run a step another invocation holds, until its lease expires", async () => {
    const { store, deps, advance } = setup();
    seed(store, "raw/x/", 3);
    const trigger = submit(store, "leased", { bucket: "Lake", prefixes: ["raw/x/"], reason: "r" });
    // A first invocation claimed the step and died without a trace but the claim.
    await handleDeleteTrigger(trigger, { ...deps, budget: () => false });
    const claimed = report(store, "leased");
    store.put("inbox", "reports/delete/leased.json", {
      body: JSON.stringify({
        ...claimed,
        status: "running",
        progress: { ...claimed.progress, step: 0, leaseUntil: Date.parse("2026-11-23T10:05:00Z") },
      }),
    });
    expect(await handleDeleteTrigger(trigger, deps)).toMatchObject({ status: "skipped" });
    advance(10 * 60_000);
    expect(await handleDeleteTrigger(trigger, deps)).toMatchObject({ status: "completed" });
    expect(store.keys("lake")).toEqual([]);
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
