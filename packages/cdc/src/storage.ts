/**
 * The storage port the merge engine runs on: a flat key space with list/get/put/conditional put/delete. The
 * commit of a table version is one conditional put (`ifNoneMatch`) of the next metadata version, so two merges of
 * the same table cannot both commit on top of the same version. Implementations: a local directory (here), an
 * in-memory one (tests), S3 (`@sluice/aws/cdc`).
 */
import { createReadStream } from "node:fs";
import { link, mkdir, open, readdir, readFile, rm, stat, unlink, writeFile } from "node:fs/promises";
import { dirname, join, relative, resolve, sep } from "node:path";
import { pathToFileURL } from "node:url";
import { PreconditionFailed } from "./errors.ts";

export interface ListedObject {
  key: string;
  size: number;
  /** When the object was last written (ms since the epoch), when the store knows it. */
  lastModified?: number;
}

export interface PutOptions {
  /** Write only if no object has this key (S3 `If-None-Match: *`); else `PreconditionFailed`. */
  ifNoneMatch?: boolean;
  contentType?: string;
}

export interface ObjectStore {
  /** Every key under `prefix`, in key order. */
  list(prefix: string): Promise<ListedObject[]>;
  /** The object's bytes, or undefined when absent. */
  get(key: string): Promise<Uint8Array | undefined>;
  /**
   * The object's bytes read into `into` (`ReadBuffer`), valid until its next read: for a reader that reads many
   * objects one after the other and keeps none, memory reused rather than allocated (and faulted in) per object.
   * Optional: `getReusing` falls back to `get`.
   */
  getInto?(key: string, into: ReadBuffer): Promise<Uint8Array | undefined>;
  /** The object's bytes as a stream (large source files). */
  read(key: string): AsyncIterable<Uint8Array>;
  put(key: string, body: Uint8Array | string, options?: PutOptions): Promise<void>;
  delete(keys: readonly string[]): Promise<void>;
  /** How readers (Athena, DuckDB) address the object: `s3://bucket/key`, `file:///...`. */
  uri(key: string): string;
}

/** A buffer objects are read into one after the other (`ObjectStore.getInto`); each read overwrites the last. */
export class ReadBuffer {
  private bytes = new Uint8Array(0);

  /** At least `n` bytes to read into (the last read's bytes are not kept when it grows). */
  reserve(n: number): Uint8Array {
    if (this.bytes.length < n) this.bytes = new Uint8Array(Math.ceil(n * 1.25));
    return this.bytes;
  }
}

/** The object's bytes, read into `into` when the store can (`getInto`), else as `get` returns them. */
export function getReusing(store: ObjectStore, key: string, into: ReadBuffer): Promise<Uint8Array | undefined> {
  return store.getInto ? store.getInto(key, into) : store.get(key);
}

/** A local directory as an object store. Conditional puts use `link(2)`, which fails atomically if the name exists. */
export function createDirectoryStore(root: string): ObjectStore {
  const base = resolve(root);
  const pathOf = (key: string) => join(base, ...key.split("/"));
  let counter = 0;
  async function walk(dir: string, out: ListedObject[]): Promise<void> {
    let entries: import("node:fs").Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
      throw error;
    }
    for (const entry of entries) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) await walk(full, out);
      else if (entry.isFile() && !entry.name.startsWith(".tmp-")) {
        // Deleted since the directory was read (a concurrent merge's cleanup): not listed, as S3 may do.
        const info = await stat(full).catch((error: NodeJS.ErrnoException) => {
          if (error.code === "ENOENT") return undefined;
          throw error;
        });
        if (info)
          out.push({ key: relative(base, full).split(sep).join("/"), size: info.size, lastModified: info.mtimeMs });
      }
    }
  }
  return {
    async list(prefix) {
      const slash = prefix.lastIndexOf("/");
      const out: ListedObject[] = [];
      await walk(slash === -1 ? base : pathOf(prefix.slice(0, slash)), out);
      return out.filter((o) => o.key.startsWith(prefix)).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    },
    async get(key) {
      try {
        return await readFile(pathOf(key));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
        throw error;
      }
    },
    async getInto(key, into) {
      let handle: import("node:fs/promises").FileHandle;
      try {
        handle = await open(pathOf(key), "r");
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
        throw error;
      }
      try {
        const { size } = await handle.stat();
        const bytes = into.reserve(size);
        let at = 0;
        while (at < size) {
          const { bytesRead } = await handle.read(bytes, at, size - at, at);
          if (bytesRead === 0) throw new Error(`${key}: ${size - at} bytes short of its size`);
          at += bytesRead;
        }
        return bytes.subarray(0, size);
      } finally {
        await handle.close();
      }
    },
    read(key) {
      return createReadStream(pathOf(key), { highWaterMark: 4 << 20 });
    },
    async put(key, body, options) {
      const path = pathOf(key);
      await mkdir(dirname(path), { recursive: true });
      // Write aside then publish by rename/link, so a reader never sees a half-written object.
      const tmp = join(dirname(path), `.tmp-${process.pid}-${Date.now()}-${counter++}`);
      await writeFile(tmp, body);
      try {
        if (options?.ifNoneMatch) {
          try {
            await link(tmp, path);
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code === "EEXIST") throw new PreconditionFailed(`${key} exists`);
            throw error;
          }
        } else {
          const { rename } = await import("node:fs/promises");
          await rename(tmp, path);
          return;
        }
      } finally {
        await rm(tmp, { force: true });
      }
    },
    async delete(keys) {
      for (const key of keys) {
        try {
          await unlink(pathOf(key));
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
        }
      }
    },
    uri(key) {
      return pathToFileURL(pathOf(key)).href;
    },
  };
}

/** An in-memory object store (tests). `failNextPut` lets a test crash a merge between two writes. */
export function createMemoryStore(): ObjectStore & {
  objects: Map<string, Uint8Array>;
  beforePut?: (key: string) => void;
} {
  const objects = new Map<string, Uint8Array>();
  const modified = new Map<string, number>();
  const store = {
    objects,
    beforePut: undefined as ((key: string) => void) | undefined,
    async list(prefix: string) {
      return [...objects.entries()]
        .filter(([k]) => k.startsWith(prefix))
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([key, body]) => ({ key, size: body.byteLength, lastModified: modified.get(key) as number }));
    },
    async get(key: string) {
      return objects.get(key);
    },
    async *read(key: string) {
      const body = objects.get(key);
      if (!body) throw new Error(`no such object: ${key}`);
      yield body;
    },
    async put(key: string, body: Uint8Array | string, options?: PutOptions) {
      store.beforePut?.(key);
      if (options?.ifNoneMatch && objects.has(key)) throw new PreconditionFailed(`${key} exists`);
      objects.set(key, typeof body === "string" ? new TextEncoder().encode(body) : body);
      modified.set(key, Date.now());
    },
    async delete(keys: readonly string[]) {
      for (const key of keys) {
        objects.delete(key);
        modified.delete(key);
      }
    },
    uri(key: string) {
      return `mem://${key}`;
    },
  };
  return store;
}
