/**
 * `kill -9` for tests: a switch armed to go off at the n-th crash point (every write and every deleted key of a store,
 * and whatever else a test declares a point, such as a catalog call), after which the "process" is dead: every
 * operation throws, so no cleanup code runs and nothing more is written. A test kills a merge at each point in turn,
 * revives (a new process on the same storage) and checks what the storage holds.
 */
import type { ObjectStore } from "../storage.ts";

/** Thrown at the kill point and by every operation after it. */
export class Killed extends Error {
  override readonly name = "Killed";
}

export interface KillSwitch {
  /**
   * Goes off at the `n`-th crash point from now (0-based; `Infinity`: never), or at the first point whose label `n`
   * accepts. Revives a dead process.
   */
  arm(n: number | ((label: string) => boolean)): void;
  /** A crash point: throws at the armed one, and for ever once dead. */
  point(label: string): void;
  /** Throws once dead (reads of a dead process). */
  alive(): void;
  readonly dead: boolean;
  /** The crash points passed since `arm` (the one that killed last). */
  readonly points: readonly string[];
}

export function killSwitch(): KillSwitch {
  let countdown = Number.POSITIVE_INFINITY;
  let at: ((label: string) => boolean) | undefined;
  let dead = false;
  const points: string[] = [];
  return {
    arm(n) {
      countdown = typeof n === "number" ? n : Number.POSITIVE_INFINITY;
      at = typeof n === "number" ? undefined : n;
      dead = false;
      points.length = 0;
    },
    point(label) {
      if (dead) throw new Killed(`dead (${label})`);
      points.push(label);
      if (countdown-- === 0 || at?.(label)) {
        dead = true;
        throw new Killed(`killed before ${label}`);
      }
    },
    alive() {
      if (dead) throw new Killed("dead");
    },
    get dead() {
      return dead;
    },
    get points() {
      return points;
    },
  };
}

/** `inner` run by a process that `kill` can end: each put and each deleted key is a crash point. */
export function mortalStore(inner: ObjectStore, kill: KillSwitch): ObjectStore {
  return {
    async list(prefix) {
      kill.alive();
      return inner.list(prefix);
    },
    async get(key) {
      kill.alive();
      return inner.get(key);
    },
    async *read(key) {
      kill.alive();
      for await (const chunk of inner.read(key)) {
        kill.alive();
        yield chunk;
      }
    },
    async put(key, body, options) {
      kill.point(`put ${key}`);
      return inner.put(key, body, options);
    },
    async delete(keys) {
      // One key at a time: a batch delete (S3 DeleteObjects) can be cut anywhere.
      for (const key of keys) {
        kill.point(`delete ${key}`);
        await inner.delete([key]);
      }
    },
    uri: (key) => inner.uri(key),
  };
}
