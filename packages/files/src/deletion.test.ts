import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type AcceptedRequest, validateDeleteRequest } from "./delete-request.ts";
import { type BatchDetail, type DeletionProgress, initialProgress, runDeletion } from "./deletion.ts";
import { InconsistentListing } from "./errors.ts";
import { MemoryS3 } from "./fixtures/memory-store.ts";
import type { ListedEntry } from "./ports.ts";

function accepted(input: object): AcceptedRequest {
  const result = validateDeleteRequest({ reason: "test", ...input }, { Lake: "lake" });
  if (!result.ok) throw new Error(result.refusal.message);
  return result.request;
}

function seed(store: MemoryS3, prefix: string, count: number): string[] {
  const keys = Array.from({ length: count }, (_, i) => `${prefix}${String(i).padStart(5, "0")}.csv`);
  for (const key of keys) store.put("lake", key, { body: "x" });
  return keys;
}

/** Every key (or key?version) DeleteObjects was asked to delete, in order. */
function deletedEntries(store: MemoryS3): string[] {
  return store.calls
    .filter((c) => c.op === "deleteBatch")
    .flatMap((c) =>
      (c.input as { entries: ListedEntry[] }).entries.map((e) => (e.versionId ? `${e.key}?${e.versionId}` : e.key)),
    );
}

describe("runDeletion", () => {
  it("deletes a 2,500-object prefix in batches of at most 1000, and nothing outside it", async () => {
    const store = new MemoryS3({ lake: {} });
    const keys = seed(store, "raw/x/", 2500);
    seed(store, "raw/y/", 3);
    const progress = await runDeletion({
      store,
      request: accepted({ bucket: "Lake", prefixes: ["raw/x/"] }),
      progress: initialProgress(accepted({ bucket: "Lake", prefixes: ["raw/x/"] })),
      budget: () => true,
    });
    expect(progress.cursor).toEqual({ phase: "done" });
    expect(progress.counts).toMatchObject({ listed: 2500, deleted: 2500, failed: 0, batches: 3 });
    const sizes = store.calls
      .filter((c) => c.op === "deleteBatch")
      .map((c) => (c.input as { entries: unknown[] }).entries.length);
    expect(sizes).toEqual([1000, 1000, 500]);
    expect(deletedEntries(store).sort()).toEqual(keys);
    expect(store.keys("lake")).toEqual(["raw/y/00000.csv", "raw/y/00001.csv", "raw/y/00002.csv"]);
  });

  it("keeps at most `concurrency` DeleteObjects in flight", async () => {
    const store = new MemoryS3({ lake: {} });
    seed(store, "p/", 50);
    let inFlight = 0;
    let peak = 0;
    const original = store.deleteBatch.bind(store);
    store.deleteBatch = async (input) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
      return original(input);
    };
    const request = accepted({ bucket: "Lake", prefixes: ["p/"] });
    await runDeletion({
      store,
      request,
      progress: initialProgress(request),
      budget: () => true,
      batchSize: 5,
      concurrency: 3,
    });
    expect(peak).toBe(3);
    expect(store.keys("lake")).toEqual([]);
  });

  it("collects per-key errors and goes on", async () => {
    const store = new MemoryS3({ lake: {} });
    seed(store, "p/", 10);
    store.failingKeys.add("p/00003.csv");
    const request = accepted({ bucket: "Lake", prefixes: ["p/"] });
    const progress = await runDeletion({ store, request, progress: initialProgress(request), budget: () => true });
    expect(progress.counts).toMatchObject({ deleted: 9, failed: 1 });
    expect(progress.errors).toEqual([{ key: "p/00003.csv", code: "AccessDenied", message: "Access Denied" }]);
  });

  it("deletes every version and delete marker with allVersions", async () => {
    const store = new MemoryS3({ lake: { versioned: true } });
    store.put("lake", "p/a", { body: "1" });
    store.put("lake", "p/a", { body: "2" });
    await store.deleteBatch({ bucket: "lake", entries: [{ key: "p/a" }] }); // a delete marker on top
    store.put("lake", "p/b", { body: "1" });
    store.put("lake", "q/c", { body: "1" });
    const request = accepted({ bucket: "Lake", prefixes: ["p/"], allVersions: true });
    const progress = await runDeletion({
      store,
      request,
      progress: initialProgress(request),
      budget: () => true,
      batchSize: 2,
    });
    expect(progress.counts).toMatchObject({ listed: 4, deleted: 4, deleteMarkers: 1 });
    expect(store.versions("lake", "p/a")).toEqual([]);
    expect(store.versions("lake", "p/b")).toEqual([]);
    expect(store.versions("lake", "q/c")).toHaveLength(1);
  });

  it("deletes every version of explicit keys, not of keys that merely share their prefix", async () => {
    const store = new MemoryS3({ lake: { versioned: true } });
    store.put("lake", "k", { body: "1" });
    store.put("lake", "k", { body: "2" });
    store.put("lake", "k2", { body: "1" });
    const request = accepted({ bucket: "Lake", keys: ["k", "absent"], allVersions: true });
    const progress = await runDeletion({ store, request, progress: initialProgress(request), budget: () => true });
    expect(progress.counts).toMatchObject({ deleted: 2, skipped: 1 });
    expect(store.versions("lake", "k")).toEqual([]);
    expect(store.versions("lake", "k2")).toHaveLength(1);
  });

  it("refuses to report a silent zero when the endpoint cannot list versions", async () => {
    for (const input of [{ prefixes: ["p/"] }, { keys: ["p/00001.csv"] }]) {
      const store = new MemoryS3({ lake: {} });
      seed(store, "p/", 3);
      // What an S3 emulator without versioning answers: an empty, complete listing.
      store.listVersions = async () => ({ entries: [], isTruncated: false });
      const request = accepted({ bucket: "Lake", allVersions: true, ...input });
      await expect(
        runDeletion({ store, request, progress: initialProgress(request), budget: () => true }),
      ).rejects.toThrow(InconsistentListing);
      expect(store.keys("lake")).toHaveLength(3);
    }
    // An empty prefix that is really empty is fine.
    const store = new MemoryS3({ lake: { versioned: true } });
    const request = accepted({ bucket: "Lake", prefixes: ["nothing/"], allVersions: true });
    const progress = await runDeletion({ store, request, progress: initialProgress(request), budget: () => true });
    expect(progress.counts.deleted).toBe(0);
  });

  it("lists without deleting in a dry run", async () => {
    const store = new MemoryS3({ lake: {} });
    seed(store, "p/", 3);
    const request = accepted({ bucket: "Lake", prefixes: ["p/"], dryRun: true });
    const progress = await runDeletion({ store, request, progress: initialProgress(request), budget: () => true });
    expect(progress.listing).toEqual(["p/00000.csv", "p/00001.csv", "p/00002.csv"]);
    expect(progress.counts).toMatchObject({ listed: 3, deleted: 0 });
    expect(store.count("deleteBatch")).toBe(0);
    expect(store.keys("lake")).toHaveLength(3);
  });

  it("continues from the saved cursor across invocations: every object handled exactly once (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 120 }),
        fc.integer({ min: 1, max: 25 }),
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 40 }),
        fc.boolean(),
        fc.boolean(),
        fc.constantFrom("delete", "dry-run", "some-keys-fail"),
        async (count, batchSize, concurrency, budgets, versioned, withKeys, mode) => {
          const store = new MemoryS3({ lake: { versioned } });
          const keys = seed(store, "p/", count);
          seed(store, "q/", 2);
          // Keys that S3 refuses to delete stay listed: a cursor that re-lists them would count them twice.
          const failing = mode === "some-keys-fail" ? keys.filter((_, i) => i % 7 === 3) : [];
          for (const key of failing) store.failingKeys.add(key);
          const explicit = withKeys ? ["q/00000.csv", "q/00000.csv"] : [];
          const request = accepted({
            bucket: "Lake",
            prefixes: ["p/"],
            keys: explicit,
            allVersions: versioned,
            dryRun: mode === "dry-run",
          });
          let progress: DeletionProgress = initialProgress(request);
          let saved = progress;
          // Batch details as S3 keeps them: one object per batch number, a redone batch overwriting its own.
          const details = new Map<number, BatchDetail>();
          // Each "invocation" may start a few batches, then its time runs out; the next starts from the checkpoint.
          for (let i = 0; progress.cursor.phase !== "done"; i++) {
            let left = budgets[i % budgets.length] ?? 1;
            if (i > 1000) throw new Error("no progress");
            progress = await runDeletion({
              store,
              request,
              progress: saved,
              budget: () => left-- > 0 || i % budgets.length === budgets.length - 1,
              batchSize,
              concurrency,
              onBatch: async (detail) => {
                details.set(detail.batch, detail);
              },
              onCheckpoint: async (p) => {
                saved = p;
              },
            });
            // What an invocation returns is exactly what it last checkpointed: nothing happens off the record.
            expect(progress).toEqual(saved);
          }
          const expected = [...keys, ...(withKeys ? ["q/00000.csv"] : [])].sort();
          const listed = [...details.values()].flatMap((d) => d.listing);
          const handled = (mode === "dry-run" ? listed : deletedEntries(store)).map((e) => e.replace(/\?.*$/, ""));
          // Every key exactly once: asked to be deleted (or listed, in a dry run), none skipped, none twice.
          expect(handled.sort()).toEqual(expected);
          expect(progress.counts.listed).toBe(expected.length);
          if (mode === "dry-run") {
            expect(progress.counts.deleted).toBe(0);
            expect(store.keys("lake")).toHaveLength(count + 2);
          } else {
            expect(progress.counts.deleted).toBe(expected.length - failing.length);
            expect(progress.counts.failed).toBe(failing.length);
            // Every failed key is in the batch details, once, whatever the progress keeps inline.
            const failedKeys = [...details.values()].flatMap((d) => d.errors.map((e) => e.key));
            expect(failedKeys.sort()).toEqual([...failing].sort());
            const left = [...failing, ...(withKeys ? ["q/00001.csv"] : ["q/00000.csv", "q/00001.csv"])].sort();
            expect(store.keys("lake")).toEqual(left);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it("after a crash between a batch and its checkpoint, resumes from the checkpoint without deleting anything twice", async () => {
    const store = new MemoryS3({ lake: {} });
    const keys = seed(store, "p/", 30);
    const request = accepted({ bucket: "Lake", prefixes: ["p/"] });
    let saved = initialProgress(request);
    let checkpoints = 0;
    await expect(
      runDeletion({
        store,
        request,
        progress: saved,
        budget: () => true,
        batchSize: 10,
        concurrency: 1,
        onCheckpoint: async (p) => {
          if (++checkpoints === 2) throw new Error("killed"); // batch 2 is deleted, its checkpoint lost
          saved = p;
        },
      }),
    ).rejects.toThrow("killed");
    const resumed = await runDeletion({ store, request, progress: saved, budget: () => true, batchSize: 10 });
    expect(resumed.cursor).toEqual({ phase: "done" });
    const deleted = deletedEntries(store);
    expect(new Set(deleted).size).toBe(deleted.length);
    expect(deleted.sort()).toEqual(keys);
    expect(store.keys("lake")).toEqual([]);
  });

  it("never saves a cursor past a batch S3 has not answered, even when later batches finish first", async () => {
    const store = new MemoryS3({ lake: {} });
    const keys = seed(store, "p/", 50);
    const original = store.deleteBatch.bind(store);
    store.deleteBatch = async (input) => {
      const first = input.entries[0]?.key;
      // Batch 2 is slow and then fails; batches 3 and 4 are answered before it.
      if (first === "p/00010.csv") {
        await new Promise((r) => setTimeout(r, 30));
        throw new Error("SlowDown");
      }
      return original(input);
    };
    const request = accepted({ bucket: "Lake", prefixes: ["p/"] });
    const cursors: unknown[] = [];
    let saved: DeletionProgress = initialProgress(request);
    await expect(
      runDeletion({
        store,
        request,
        progress: saved,
        budget: () => true,
        batchSize: 10,
        concurrency: 3,
        onCheckpoint: async (p) => {
          cursors.push(p.cursor);
          saved = p;
        },
      }),
    ).rejects.toThrow("SlowDown");
    expect(cursors).toEqual([{ phase: "prefixes", prefixIndex: 0, startAfter: "p/00009.csv" }]);
    // The next invocation resumes there: batch 2 is retried, what batches 3 and 4 deleted is not listed again.
    store.deleteBatch = original;
    const resumed = await runDeletion({ store, request, progress: saved, budget: () => true, batchSize: 10 });
    expect(resumed.cursor).toEqual({ phase: "done" });
    const deleted = deletedEntries(store);
    expect(new Set(deleted).size).toBe(deleted.length);
    expect(deleted.sort()).toEqual(keys);
    expect(store.keys("lake")).toEqual([]);
  });

  it("records a dry run's listing with its cursor, so a resumed dry run lists each key once", async () => {
    const store = new MemoryS3({ lake: {} });
    const keys = seed(store, "p/", 40);
    const request = accepted({ bucket: "Lake", prefixes: ["p/"], dryRun: true });
    let saved = initialProgress(request);
    let checkpoints = 0;
    await expect(
      runDeletion({
        store,
        request,
        progress: saved,
        budget: () => true,
        batchSize: 10,
        concurrency: 3,
        onCheckpoint: async (p) => {
          // The process dies at the second checkpoint: nothing after it is saved.
          if (++checkpoints >= 2) throw new Error("killed");
          saved = p;
        },
      }),
    ).rejects.toThrow("killed");
    const resumed = await runDeletion({ store, request, progress: saved, budget: () => true, batchSize: 10 });
    expect(resumed.listing).toEqual(keys);
    expect(resumed.counts.listed).toBe(40);
  });

  it("commits answered batches and rethrows when a DeleteObjects call fails", async () => {
    const store = new MemoryS3({ lake: {} });
    seed(store, "p/", 30);
    store.faults.push({
      op: "deleteBatch",
      error: new Error("SlowDown"),
      when: (i) => (i as { entries: ListedEntry[] }).entries[0]?.key === "p/00020.csv",
    });
    const request = accepted({ bucket: "Lake", prefixes: ["p/"] });
    let saved: DeletionProgress = initialProgress(request);
    await expect(
      runDeletion({
        store,
        request,
        progress: saved,
        budget: () => true,
        batchSize: 10,
        concurrency: 1,
        onCheckpoint: async (p) => {
          saved = p;
        },
      }),
    ).rejects.toThrow("SlowDown");
    expect(saved.cursor).toEqual({ phase: "prefixes", prefixIndex: 0, startAfter: "p/00019.csv" });
    expect(saved.counts.deleted).toBe(20);
  });
});
