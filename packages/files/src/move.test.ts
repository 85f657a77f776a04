import type { AuditMessage as AuditEntry } from "@sluice/messages";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CopyOutOfTime, PreconditionFailed, VerificationFailed } from "./errors.ts";
import { checksumOfLayout, MemoryS3 } from "./fixtures/memory-store.ts";
import { decideMove, type MoveDependencies, moveObject, type ObjectCreated, objectCreatedOf } from "./move.ts";
import { MiB } from "./multipart.ts";
import type { ChecksumAlgorithm, ObjectHead } from "./ports.ts";
import { defaultRoutingRules } from "./rules.ts";

const eventTime = new Date("2026-11-23T10:00:00Z");
const buckets = { Lake: "lake" };

function setup(options: { inboxVersioned?: boolean } = {}) {
  const store = new MemoryS3({ inbox: { versioned: options.inboxVersioned ?? false }, lake: { versioned: true } });
  const audited: AuditEntry[] = [];
  const deps: MoveDependencies = {
    store,
    audit: { publish: async (m) => void audited.push(m) },
    rules: defaultRoutingRules,
    buckets,
  };
  return { store, audited, deps };
}

function eventFor(store: MemoryS3, key: string): ObjectCreated {
  const v = store.current("inbox", key);
  if (!v) throw new Error(`no ${key}`);
  return {
    bucket: "inbox",
    key,
    size: v.body.length,
    eTag: v.eTag,
    ...(v.versionId !== "null" ? { versionId: v.versionId } : {}),
    eventTime,
  };
}

const head = (over: Partial<ObjectHead> = {}): ObjectHead => ({ size: 10, eTag: "abc", metadata: {}, ...over });

describe("objectCreatedOf", () => {
  it("decodes the key and strips ETag quotes from an S3 record", () => {
    expect(
      objectCreatedOf({
        eventTime: "2026-11-23T10:00:00.000Z",
        eventName: "ObjectCreated:Put",
        s3: {
          bucket: { name: "inbox" },
          object: { key: "incoming/a+b%2Bc.csv", size: 3, eTag: '"abc"', sequencer: "01" },
        },
      }),
    ).toEqual({
      bucket: "inbox",
      key: "incoming/a b+c.csv",
      size: 3,
      eTag: "abc",
      eventTime,
      eventName: "ObjectCreated:Put",
      sequencer: "01",
    });
  });
});

describe("decideMove", () => {
  const base = { rules: defaultRoutingRules, buckets };
  const event: ObjectCreated = { bucket: "inbox", key: "incoming/ds/a.csv", size: 10, eTag: "abc", eventTime };

  it.each([
    ["copy up to 5 GiB", head({ size: 5 * 1024 * MiB }), "copy"],
    ["multipart above 5 GiB", head({ size: 5 * 1024 * MiB + 1 }), "multipart"],
  ])("%s", (_, source, kind) => {
    expect(decideMove({ ...base, event: { ...event, size: source.size }, source }).kind).toBe(kind);
  });

  it("skips folder markers, unrouted keys and replaced sources", () => {
    expect(decideMove({ ...base, event: { ...event, key: "incoming/ds/" }, source: head() })).toMatchObject({
      kind: "skip",
      reason: "folder-marker",
    });
    expect(decideMove({ ...base, event: { ...event, key: "incoming//a" }, source: head() })).toMatchObject({
      kind: "skip",
      reason: "no-route",
    });
    expect(decideMove({ ...base, event, source: head({ eTag: "other" }) })).toMatchObject({
      kind: "skip",
      reason: "superseded",
    });
  });

  it("says why a matching rule could not route: its key would be over S3's 1 024 bytes (it said no rule matched)", () => {
    // incoming/<1 000 bytes>.csv: the default rule for files at the top of incoming/ matches, but its destination,
    // raw/_unsorted/dt=YYYY-MM-DD/<name>, would be 1 032 bytes.
    const key = `incoming/${"L".repeat(1000)}.csv`;
    const decision = decideMove({ ...base, event: { ...event, key }, source: head() });
    expect(decision).toMatchObject({ kind: "skip", reason: "no-route" });
    expect(decision.kind === "skip" && decision.detail).toMatch(
      /^rule "[^"]+" \(v1\) matches, but its destination key would be 1032 bytes \(S3 allows 1024\)$/,
    );
    expect(decideMove({ ...base, event: { ...event, key: "incoming//a" }, source: head() })).toMatchObject({
      detail: 'rule "dataset" (v1) matches, but its destination key would have an empty segment',
    });
    expect(decideMove({ ...base, event: { ...event, key: "elsewhere/a.csv" }, source: head() })).toMatchObject({
      detail: "no routing rule (v1) matches",
    });
  });

  it("is already done when the source is gone and the destination holds it", () => {
    expect(decideMove({ ...base, event, source: undefined, destination: head() })).toMatchObject({
      kind: "already-done",
    });
    expect(decideMove({ ...base, event, source: undefined, destination: head({ size: 11 }) })).toMatchObject({
      kind: "skip",
      reason: "source-gone",
    });
    expect(decideMove({ ...base, event, source: undefined, destination: undefined })).toMatchObject({
      kind: "skip",
      reason: "source-gone",
    });
  });
});

describe("moveObject", () => {
  it("copies server-side with metadata, verifies, deletes the source: head, copy, delete, one audit", async () => {
    const { store, audited, deps } = setup();
    store.put("inbox", "incoming/orders/a b+c.csv", {
      body: "id,total\n1,9.99\n",
      contentType: "text/csv",
      metadata: { owner: "sales" },
      tags: { pii: "no" },
    });
    const outcome = await moveObject(eventFor(store, "incoming/orders/a b+c.csv"), deps);

    expect(outcome).toMatchObject({ outcome: "moved", method: "copy", verifiedBy: "etag", sourceDeleted: "deleted" });
    const copied = store.current("lake", "raw/orders/dt=2026-11-23/a b+c.csv");
    expect(copied?.body.toString()).toBe("id,total\n1,9.99\n");
    expect(copied).toMatchObject({ contentType: "text/csv", metadata: { owner: "sales" }, tags: { pii: "no" } });
    expect(store.keys("inbox")).toEqual([]);
    expect(store.calls.map((c) => c.op)).toEqual(["head", "copyObject", "deleteObject"]);
    expect(store.calls[1]?.input).toMatchObject({
      sourceETag: store.versions("lake", "raw/orders/dt=2026-11-23/a b+c.csv")[0]?.eTag,
    });
    expect(audited).toHaveLength(1);
    expect(audited[0]).toMatchObject({
      pipeline: "file-mover",
      action: "move",
      outcome: "succeeded",
      from: "s3://inbox/incoming/orders/a b+c.csv",
      to: "s3://lake/raw/orders/dt=2026-11-23/a b+c.csv",
      size: 16,
      rule: "dataset",
      rulesVersion: 1,
    });
    expect(typeof audited[0]?.durationMs).toBe("number");
  });

  it("keeps the storage class and checksum algorithm of the source", async () => {
    const { store, deps } = setup();
    const checksum = checksumOfLayout("CRC32", Buffer.from("x"));
    store.put("inbox", "incoming/a.bin", { body: "x", storageClass: "STANDARD_IA", checksum });
    const outcome = await moveObject(eventFor(store, "incoming/a.bin"), deps);
    expect(outcome).toMatchObject({ outcome: "moved", verifiedBy: "checksum" });
    expect(store.calls[1]?.input).toMatchObject({ storageClass: "STANDARD_IA", checksumAlgorithm: "CRC32" });
  });

  it("leaves the source when the copy cannot be verified, audits the failure and throws", async () => {
    const { store, audited, deps } = setup();
    store.put("inbox", "incoming/a.csv", { body: "data" });
    store.corruptCopies = true;
    await expect(moveObject(eventFor(store, "incoming/a.csv"), deps)).rejects.toThrow(VerificationFailed);
    expect(store.keys("inbox")).toEqual(["incoming/a.csv"]);
    expect(
      store.calls.filter((c) => c.op === "deleteObject" && (c.input as { bucket: string }).bucket === "inbox"),
    ).toEqual([]);
    expect(audited).toEqual([
      expect.objectContaining({ outcome: "failed", reason: expect.stringMatching(/verification failed/) }),
    ]);
  });

  it("reads the destination's size when ETags cannot be compared (multipart source), then deletes", async () => {
    const { store, deps } = setup();
    store.put("inbox", "incoming/big.csv", { body: "0123456789", parts: 2 });
    const outcome = await moveObject(eventFor(store, "incoming/big.csv"), deps);
    expect(outcome).toMatchObject({ outcome: "moved", verifiedBy: "size-and-receipt" });
    expect(store.calls.map((c) => c.op)).toEqual(["head", "copyObject", "head", "deleteObject"]);
  });

  it("treats a duplicate event after the move as already done, touching nothing", async () => {
    const { store, audited, deps } = setup();
    store.put("inbox", "incoming/a.csv", { body: "data" });
    const event = eventFor(store, "incoming/a.csv");
    await moveObject(event, deps);
    const before = store.versions("lake", "raw/_unsorted/dt=2026-11-23/a.csv").length;
    const again = await moveObject(event, deps);
    expect(again).toEqual({
      outcome: "already-done",
      from: "s3://inbox/incoming/a.csv",
      to: "s3://lake/raw/_unsorted/dt=2026-11-23/a.csv",
    });
    expect(store.versions("lake", "raw/_unsorted/dt=2026-11-23/a.csv")).toHaveLength(before);
    expect(audited[1]).toMatchObject({ outcome: "skipped", reason: "already-done" });
  });

  it("skips a late event whose source was replaced since: the new object's own event moves it", async () => {
    const { store, deps } = setup();
    store.put("inbox", "incoming/a.csv", { body: "old" });
    const late = eventFor(store, "incoming/a.csv");
    store.put("inbox", "incoming/a.csv", { body: "new" });
    expect(await moveObject(late, deps)).toMatchObject({ outcome: "skipped", reason: "superseded" });
    expect(store.current("inbox", "incoming/a.csv")?.body.toString()).toBe("new");
    expect(store.count("copyObject")).toBe(0);
  });

  it("skips without deleting when the source changes during the copy (CopySourceIfMatch)", async () => {
    const { store, deps } = setup();
    store.put("inbox", "incoming/a.csv", { body: "old" });
    store.faults.push({ op: "copyObject", error: new PreconditionFailed("412") });
    expect(await moveObject(eventFor(store, "incoming/a.csv"), deps)).toMatchObject({
      outcome: "skipped",
      reason: "superseded",
    });
    expect(store.count("deleteObject")).toBe(0);
  });

  it("deletes only the version it copied in a versioned source", async () => {
    const { store, deps } = setup({ inboxVersioned: true });
    store.put("inbox", "incoming/a.csv", { body: "v1" });
    await moveObject(eventFor(store, "incoming/a.csv"), deps);
    const del = store.calls.find((c) => c.op === "deleteObject")?.input as { versionId?: string };
    expect(del.versionId).toMatch(/^v/);
    expect(store.versions("inbox", "incoming/a.csv")).toEqual([]);
  });

  it("deletes an unversioned source only if it still has the copied ETag", async () => {
    const { store, deps } = setup();
    store.put("inbox", "incoming/a.csv", { body: "v1" });
    const event = eventFor(store, "incoming/a.csv");
    store.faults.push({ op: "deleteObject", error: new PreconditionFailed("412") });
    const outcome = await moveObject(event, deps);
    expect(outcome).toMatchObject({ outcome: "moved", sourceDeleted: "changed" });
    expect(store.calls.find((c) => c.op === "deleteObject")?.input).toMatchObject({ ifMatch: event.eTag });
  });

  it("copies above the threshold in parallel parts, keeping metadata and tags", async () => {
    const { store, deps } = setup();
    const body = Buffer.alloc(12 * MiB + 123, 7);
    body.write("head", 0);
    body.write("tail", body.length - 4);
    store.put("inbox", "incoming/ds/big.bin", {
      body,
      contentType: "application/octet-stream",
      metadata: { a: "1" },
      tags: { t: "x y" },
    });
    const outcome = await moveObject(eventFor(store, "incoming/ds/big.bin"), {
      ...deps,
      multipartThresholdBytes: 5 * MiB,
      multipart: { preferredPartBytes: 5 * MiB, maxParallelParts: 2 },
    });
    expect(outcome).toMatchObject({ outcome: "moved", method: "multipart", parts: 3, verifiedBy: "size-and-receipt" });
    const copied = store.current("lake", "raw/ds/dt=2026-11-23/big.bin");
    expect(copied?.body.equals(body)).toBe(true);
    expect(copied).toMatchObject({ metadata: { a: "1" }, tags: { t: "x y" }, contentType: "application/octet-stream" });
    expect(store.openUploads()).toBe(0);
  });

  it("aborts the multipart upload when a part fails, and keeps the source", async () => {
    const { store, audited, deps } = setup();
    store.put("inbox", "incoming/ds/big.bin", { body: Buffer.alloc(11 * MiB) });
    store.faults.push({
      op: "copyPart",
      error: new Error("InternalError"),
      when: (i) => (i as { partNumber: number }).partNumber === 2,
    });
    await expect(
      moveObject(eventFor(store, "incoming/ds/big.bin"), {
        ...deps,
        multipartThresholdBytes: 5 * MiB,
        multipart: { preferredPartBytes: 5 * MiB },
      }),
    ).rejects.toThrow("InternalError");
    expect(store.count("abortMultipartCopy")).toBe(1);
    expect(store.openUploads()).toBe(0);
    expect(store.keys("inbox")).toEqual(["incoming/ds/big.bin"]);
    expect(audited[0]).toMatchObject({ outcome: "failed" });
  });

  it("refuses a file it cannot route, which stays in the Inbox: audited as refused (WARN), not as a benign skip", async () => {
    const { store, audited, deps } = setup();
    const key = `incoming/${"L".repeat(1000)}.csv`;
    store.put("inbox", key, { body: "x" });
    const outcome = await moveObject(eventFor(store, key), deps);
    expect(outcome).toMatchObject({ outcome: "refused", reason: "no-route" });
    expect(store.keys("inbox")).toEqual([key]);
    expect(audited).toEqual([
      expect.objectContaining({
        outcome: "refused",
        reason: "no-route",
        detail: expect.stringContaining("would be 1032 bytes"),
      }),
    ]);
  });

  it("skips folder markers without a single S3 request", async () => {
    const { store, audited, deps } = setup();
    expect(
      await moveObject({ bucket: "inbox", key: "incoming/ds/", size: 0, eTag: "x", eventTime }, deps),
    ).toMatchObject({
      outcome: "skipped",
      reason: "folder-marker",
    });
    expect(store.calls).toEqual([]);
    expect(audited[0]).toMatchObject({ outcome: "skipped", reason: "folder-marker" });
  });
});

describe("a move against the invocation's deadline", () => {
  /**
   * A 30 MiB source copied in six 5 MiB parts, one at a time, on a clock that each part copy advances by the next
   * of `partSeconds` (the last one repeating); the move must be done by `deadlineSeconds`.
   */
  function timedMove(partSeconds: number[], deadlineSeconds: number, maxParallelParts = 1) {
    const { store, audited, deps } = setup();
    const body = Buffer.alloc(30 * MiB, 3);
    store.put("inbox", "incoming/ds/huge.bin", { body });
    let clock = 1_000_000;
    let copied = 0;
    const copyPart = store.copyPart.bind(store);
    store.copyPart = async (input) => {
      const seconds = partSeconds[Math.min(copied++, partSeconds.length - 1)] ?? 0;
      const part = await copyPart(input);
      clock += seconds * 1000;
      return part;
    };
    const move = moveObject(eventFor(store, "incoming/ds/huge.bin"), {
      ...deps,
      now: () => clock,
      deadline: clock + deadlineSeconds * 1000,
      multipartThresholdBytes: 5 * MiB,
      multipart: { preferredPartBytes: 5 * MiB, maxParallelParts },
    });
    return { store, audited, body, move };
  }

  function expectAbortedAndKept(store: MemoryS3, partsCopied: number) {
    expect(store.count("copyPart")).toBe(partsCopied);
    expect(store.count("abortMultipartCopy")).toBe(1);
    expect(store.count("completeMultipartCopy")).toBe(0);
    expect(store.openUploads()).toBe(0);
    expect(store.keys("lake")).toEqual([]);
    expect(store.keys("inbox")).toEqual(["incoming/ds/huge.bin"]);
    expect(store.count("deleteObject")).toBe(0);
  }

  it("stops when a part as slow as the slowest so far would end after the deadline: aborts, keeps the source", async () => {
    // Parts 1-4 take 1 s, part 5 30 s: at 34 s, 21 s are left; the rate says part 6 needs 7 s, but the slowest part
    // took 30 s, so part 6 is not started.
    const { store, audited, move } = timedMove([1, 1, 1, 1, 30, 1], 55);

    await expect(move).rejects.toThrow(CopyOutOfTime);
    await expect(move).rejects.toThrow(
      /5 of 6 parts copied in 34 s.*slowest part took 30 s.*21 s are left before the deadline.*upload was aborted.*source is kept/,
    );
    expectAbortedAndKept(store, 5);
    expect(audited).toEqual([
      expect.objectContaining({ outcome: "failed", reason: expect.stringMatching(/^copy failed: out of time/) }),
    ]);
  });

  it("stops as soon as the rate of the parts so far shows the rest cannot be copied in the time left", async () => {
    // 10 s a part, 6 parts: 60 s needed, 35 s available. Known after the first part: 5 more need 50 s, 25 s left.
    const { store, move } = timedMove([10], 35);

    await expect(move).rejects.toThrow(/1 of 6 parts copied in 10 s; at that rate the other 5 need about 50 s/);
    expectAbortedAndKept(store, 1);
  });

  it("starts no upload when the deadline has already passed", async () => {
    const { store, audited, move } = timedMove([1], 0);

    await expect(move).rejects.toThrow(/no time left before the deadline: not started/);
    expect(store.count("startMultipartCopy")).toBe(0);
    expect(store.count("copyPart")).toBe(0);
    expect(store.keys("inbox")).toEqual(["incoming/ds/huge.bin"]);
    expect(audited).toEqual([expect.objectContaining({ outcome: "failed" })]);
  });

  it("starts no single-part copy when the deadline has already passed", async () => {
    const { store, audited, deps } = setup();
    store.put("inbox", "incoming/a.csv", { body: "data" });

    await expect(
      moveObject(eventFor(store, "incoming/a.csv"), { ...deps, now: () => 5000, deadline: 5000 }),
    ).rejects.toThrow(CopyOutOfTime);
    expect(store.count("copyObject")).toBe(0);
    expect(store.keys("inbox")).toEqual(["incoming/a.csv"]);
    expect(audited).toEqual([expect.objectContaining({ outcome: "failed" })]);
  });

  it("copies as before when the copy fits in the time left", async () => {
    // 6 parts of 10 s, 61 s to the deadline: every check passes, to the last part (started at 50 s).
    for (const [parallel, deadlineSeconds] of [
      [1, 61],
      [4, 600],
    ] as const) {
      const { store, body, move } = timedMove([10], deadlineSeconds, parallel);

      await expect(move).resolves.toMatchObject({ outcome: "moved", method: "multipart", parts: 6 });
      expect(store.current("lake", "raw/ds/dt=2026-11-23/huge.bin")?.body.equals(body)).toBe(true);
      expect(store.count("abortMultipartCopy")).toBe(0);
      expect(store.keys("inbox")).toEqual([]);
    }
  });
});

describe("multipart sources with checksums (sources over 5 GiB)", () => {
  /** A source uploaded in parts of `sourcePartBytes` with `algorithm`, moved in parts of `copyPartBytes`. */
  async function moveWithLayouts(
    algorithm: ChecksumAlgorithm,
    size: number,
    sourcePartBytes: number,
    copyPartBytes: number,
    type?: "COMPOSITE" | "FULL_OBJECT",
  ) {
    const { store, audited, deps } = setup();
    const body = Buffer.alloc(size);
    for (let i = 0; i + 4 <= size; i += 4096) body.writeUInt32LE(i, i);
    const parts = Math.ceil(size / sourcePartBytes);
    const checksum = checksumOfLayout(algorithm, body, sourcePartBytes, type);
    store.put("inbox", "incoming/ds/big.bin", { body, parts, checksum });
    const move = moveObject(eventFor(store, "incoming/ds/big.bin"), {
      ...deps,
      multipartThresholdBytes: 5 * MiB,
      multipart: { preferredPartBytes: copyPartBytes, maxParallelParts: 4 },
    });
    return { store, audited, body, move };
  }

  it.each<[ChecksumAlgorithm, number, number]>([
    ["SHA256", 8 * MiB, 5 * MiB],
    ["SHA1", 8 * MiB, 5 * MiB],
    ["SHA256", 7 * MiB, 10 * MiB], // the same part count (2), another layout
  ])("moves a %s-composite source uploaded in other parts than the copy's (%d / %d bytes)", async (...layout) => {
    const { store, audited, body, move } = await moveWithLayouts(layout[0], 12 * MiB + 123, layout[1], layout[2]);

    await expect(move).resolves.toMatchObject({ outcome: "moved", method: "multipart" });

    expect(store.keys("inbox")).toEqual([]);
    expect(store.current("lake", "raw/ds/dt=2026-11-23/big.bin")?.body.equals(body)).toBe(true);
    expect(audited.at(-1)).toMatchObject({ outcome: "succeeded", verifiedBy: "size-and-receipt" });
  });

  it("verifies by checksum when the copy's composite checksum equals the source's (same layout)", async () => {
    const { audited, move } = await moveWithLayouts("SHA256", 12 * MiB + 123, 5 * MiB, 5 * MiB);

    await expect(move).resolves.toMatchObject({ outcome: "moved", verifiedBy: "checksum" });
    expect(audited.at(-1)).toMatchObject({ verifiedBy: "checksum" });
  });

  it("verifies a full-object CRC by checksum whatever the layouts", async () => {
    const { move } = await moveWithLayouts("CRC64NVME", 12 * MiB + 123, 8 * MiB, 5 * MiB);

    await expect(move).resolves.toMatchObject({ outcome: "moved", verifiedBy: "checksum" });
  });

  it("moves any multipart source whatever its checksum and layouts, and never leaves two copies (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<[ChecksumAlgorithm, "COMPOSITE" | "FULL_OBJECT"]>(
          ["SHA256", "COMPOSITE"],
          ["SHA1", "COMPOSITE"],
          ["CRC32", "FULL_OBJECT"],
          ["CRC32", "COMPOSITE"],
          ["CRC64NVME", "FULL_OBJECT"],
        ),
        fc.integer({ min: 5 * MiB + 1, max: 16 * MiB }),
        fc.integer({ min: 5, max: 9 }),
        fc.integer({ min: 5, max: 9 }),
        async ([algorithm, type], size, sourceMiB, copyMiB) => {
          const { store, body, move } = await moveWithLayouts(algorithm, size, sourceMiB * MiB, copyMiB * MiB, type);

          await expect(move).resolves.toMatchObject({ outcome: "moved" });
          expect(store.keys("inbox")).toEqual([]);
          const copies = store.versions("lake", "raw/ds/dt=2026-11-23/big.bin");
          expect(copies).toHaveLength(1);
          expect(copies[0]?.body.equals(body)).toBe(true);
        },
      ),
      { numRuns: 25 },
    );
  });
});

describe("a failed verification", () => {
  it("removes the copy it made, keeping the destination's earlier version and the source", async () => {
    const { store, audited, deps } = setup();
    store.put("lake", "raw/ds/dt=2026-11-23/a.csv", { body: "earlier" });
    store.put("inbox", "incoming/ds/a.csv", { body: "data" });
    store.corruptCopies = true;

    await expect(moveObject(eventFor(store, "incoming/ds/a.csv"), deps)).rejects.toThrow(VerificationFailed);

    expect(store.keys("inbox")).toEqual(["incoming/ds/a.csv"]);
    expect(store.versions("lake", "raw/ds/dt=2026-11-23/a.csv").map((v) => v.body.toString())).toEqual(["earlier"]);
    expect(audited).toEqual([
      expect.objectContaining({ outcome: "failed", copyRemoved: "deleted", reason: expect.stringMatching(/removed/) }),
    ]);
  });
});
