/**
 * The file catalog's view of the latest version: read forward from the hint (lagging or gone backwards), the folder
 * listed only without a usable hint; commits of the same version exclusive.
 */
import { describe, expect, it } from "vitest";
import { createFileCatalog } from "./iceberg-catalog.ts";
import type { IcebergTableMetadata } from "./iceberg-metadata.ts";
import { createMemoryStore, type ObjectStore } from "./storage.ts";

const metadata = (n: number) => ({ "last-sequence-number": n, properties: {} }) as unknown as IcebergTableMetadata;
const hint = "s/t/metadata/version-hint.text";

/** A store counting listings of the metadata folder. */
function counted(inner: ReturnType<typeof createMemoryStore>) {
  let lists = 0;
  const store: ObjectStore = {
    ...inner,
    async list(prefix) {
      if (prefix.includes("/metadata/")) lists++;
      return inner.list(prefix);
    },
  };
  return { store, lists: () => lists };
}

async function threeVersions() {
  const inner = createMemoryStore();
  const catalog = createFileCatalog(inner);
  let base = await catalog.load("s", "t");
  for (let n = 1; n <= 3; n++) {
    expect(await catalog.commit("s", "t", base, metadata(n), `c${n}`)).toBe("committed");
    base = await catalog.load("s", "t");
  }
  return inner;
}

describe("the file catalog's latest version", () => {
  it("is read forward from a hint that lags or went backwards, without listing the folder, and the hint brought up", async () => {
    const inner = await threeVersions();
    for (const stale of ["3", "2", "1"]) {
      await inner.put(hint, stale);
      const { store, lists } = counted(inner);
      const loaded = await createFileCatalog(store).load("s", "t");
      expect(loaded?.version).toBe(3);
      expect(loaded?.metadata["last-sequence-number"]).toBe(3);
      expect(lists()).toBe(0);
      expect(new TextDecoder().decode(inner.objects.get(hint))).toBe("3");
    }
  });

  it("is found by listing when the hint is missing or names no version", async () => {
    const inner = await threeVersions();
    for (const bad of [undefined, "9", "garbage"]) {
      if (bad === undefined) await inner.delete([hint]);
      else await inner.put(hint, bad);
      const { store, lists } = counted(inner);
      expect((await createFileCatalog(store).load("s", "t"))?.version).toBe(3);
      expect(lists()).toBe(1);
    }
  });

  it("is what the hint names after a slow writer's hint lands behind a newer commit's (readers that trust it)", async () => {
    for (const slow of ["commit", "load"] as const) {
      const inner = await threeVersions();
      // Writer A's hint put is held until B has committed version 5 and written its hint.
      let release = () => {};
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      let holding = true;
      const slowStore: ObjectStore = {
        ...inner,
        async put(key, body, options) {
          if (key === hint && holding) {
            holding = false;
            await held;
          }
          return inner.put(key, body, options);
        },
      };
      const a = createFileCatalog(slowStore);
      const b = createFileCatalog(inner);
      let aDone: Promise<unknown>;
      if (slow === "commit") {
        const base = await a.load("s", "t");
        aDone = a.commit("s", "t", base, metadata(4), "a4");
      } else {
        // A reader that found version 4 from a stale hint and brings the hint up, slowly.
        await b.commit("s", "t", await b.load("s", "t"), metadata(4), "b4");
        await inner.put(hint, "3");
        aDone = a.load("s", "t");
      }
      await new Promise((r) => setTimeout(r, 5));
      expect(await b.commit("s", "t", await b.load("s", "t"), metadata(5), "b5")).toBe("committed");
      expect(new TextDecoder().decode(inner.objects.get(hint))).toBe("5");
      release();
      await aDone;
      expect(new TextDecoder().decode(inner.objects.get(hint)), slow).toBe("5");
    }
  });

  it("a commit on a stale base is a conflict", async () => {
    const inner = await threeVersions();
    const catalog = createFileCatalog(inner);
    const stale = { metadata: metadata(2), metadataLocation: "", version: 2, token: "2" };
    expect(await catalog.commit("s", "t", stale, metadata(3), "other")).toBe("conflict");
  });
});

describe("the file catalog's retired versions (metadata files past the metadata log)", () => {
  const records = (inner: ReturnType<typeof createMemoryStore>) =>
    [...inner.objects.keys()].filter((k) => k.startsWith("s/t/_cdc/retired/")).sort();

  it("are deleted after a record of them, and a stale commit that creates one of them again is a conflict that leaves nothing", async () => {
    const inner = await threeVersions();
    const catalog = createFileCatalog(inner);
    await catalog.retireVersions?.("s", "t", [1, 2]);
    expect(inner.objects.has("s/t/metadata/v1.metadata.json")).toBe(false);
    expect(inner.objects.has("s/t/metadata/v2.metadata.json")).toBe(false);
    expect(records(inner)).toEqual(["s/t/_cdc/retired/2"]);
    // A writer that loaded version 1 long ago commits version 2: the key is free again, but the version is retired.
    const stale = { metadata: metadata(1), metadataLocation: "", version: 1, token: "1" };
    expect(await catalog.commit("s", "t", stale, metadata(2), "late")).toBe("conflict");
    expect(inner.objects.has("s/t/metadata/v2.metadata.json")).toBe(false);
    expect(new TextDecoder().decode(inner.objects.get(hint))).toBe("3");
    expect((await catalog.load("s", "t"))?.version).toBe(3);
    // A retirement of lower versions (a second sweep at once) leaves the highest record; commits go on.
    await catalog.retireVersions?.("s", "t", [1]);
    expect(records(inner)).toEqual(["s/t/_cdc/retired/1", "s/t/_cdc/retired/2"]);
    expect(await catalog.commit("s", "t", stale, metadata(2), "late")).toBe("conflict");
    const current = await catalog.load("s", "t");
    expect(await catalog.commit("s", "t", current, metadata(4), "c4")).toBe("committed");
    expect((await catalog.load("s", "t"))?.version).toBe(4);
  });

  it("never include the current version", async () => {
    const inner = await threeVersions();
    await expect(createFileCatalog(inner).retireVersions?.("s", "t", [2, 3])).rejects.toThrow(/current/);
    expect(inner.objects.has("s/t/metadata/v2.metadata.json")).toBe(true);
  });
});
