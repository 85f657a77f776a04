/** The directory store's reads into a reused buffer (`getInto`), and `getReusing`'s fallback for stores without it. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createDirectoryStore, createMemoryStore, getReusing, ReadBuffer } from "./storage.ts";

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "storage-test-"));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("reading objects into a reused buffer", () => {
  it("gives each object's bytes, reusing the buffer while it is big enough, and undefined for a missing one", async () => {
    const store = createDirectoryStore(root);
    const big = new Uint8Array(300_000).map((_, i) => (i * 7) % 256);
    const small = new TextEncoder().encode("a smaller object");
    await store.put("t/big.bin", big);
    await store.put("t/small.bin", small);
    const into = new ReadBuffer();
    const first = (await getReusing(store, "t/big.bin", into)) as Uint8Array;
    expect(Buffer.from(first).equals(Buffer.from(big))).toBe(true);
    const second = (await getReusing(store, "t/small.bin", into)) as Uint8Array;
    expect(new TextDecoder().decode(second)).toBe("a smaller object");
    // The same memory: the second read overwrote the first's bytes.
    expect(second.buffer).toBe(first.buffer);
    expect(Buffer.from(first.subarray(0, small.length)).equals(Buffer.from(small))).toBe(true);
    expect(await getReusing(store, "t/none.bin", into)).toBeUndefined();
    // An empty object reads as empty.
    await store.put("t/empty.bin", new Uint8Array());
    expect((await getReusing(store, "t/empty.bin", into))?.length).toBe(0);
  });

  it("falls back to get for a store without getInto", async () => {
    const store = createMemoryStore();
    await store.put("k", "v");
    expect(new TextDecoder().decode((await getReusing(store, "k", new ReadBuffer())) as Uint8Array)).toBe("v");
    expect(await getReusing(store, "missing", new ReadBuffer())).toBeUndefined();
  });
});
