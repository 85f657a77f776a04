/**
 * One local cloud per state directory. A local cloud that writes the env file holds `<stateDir>/local.lock` (its pid
 * and base port) from the start of its start to the end of its stop. A start checks it before it touches the
 * directory (it removes the env file first thing): while the lock's process lives the start is refused, naming it;
 * the lock of a process that is gone (a run killed with `kill -9`) is stale, and taken over.
 */
import { linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";

/** What the lock says of the local cloud holding a state directory. */
export interface LockHolder {
  pid: number;
  /** Its first port (SNS+SQS): the base port asked for, then the one it listens on (`--base-port 0` picks one). */
  basePort: number;
}

export interface StateLock {
  /** Records the base port the local cloud listens on. */
  update(basePort: number): void;
  release(): void;
}

export function lockFileOf(stateDir: string): string {
  return path.join(stateDir, "local.lock");
}

/** The local cloud holding the state directory, if its process lives (`kill(pid, 0)`: EPERM is alive too). */
export function lockHolder(stateDir: string): LockHolder | undefined {
  let holder: LockHolder;
  try {
    holder = JSON.parse(readFileSync(lockFileOf(stateDir), "utf8")) as LockHolder;
  } catch {
    return undefined;
  }
  if (!Number.isInteger(holder.pid) || holder.pid <= 0) return undefined;
  try {
    process.kill(holder.pid, 0);
    return holder;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM" ? holder : undefined;
  }
}

/** Throws, naming the local cloud running on the state directory, if one is. */
export function assertNotRunning(stateDir: string): void {
  const holder = lockHolder(stateDir);
  if (!holder) return;
  const port = holder.basePort === 0 ? "0 (still starting)" : holder.basePort;
  throw new Error(
    `a local cloud is already running on ${stateDir}: pid ${holder.pid}, base port ${port}. ` +
      `Stop it (Ctrl-C), or start this one with another --state-dir and --base-port ` +
      `(if pid ${holder.pid} is no local cloud, remove ${lockFileOf(stateDir)}).`,
  );
}

/**
 * Takes the state directory's lock for this process, or throws as `assertNotRunning` does. The lock file appears
 * whole (a hard link to a file already written), so that a start never reads one half-written.
 */
export function lockStateDir(stateDir: string, basePort: number): StateLock {
  mkdirSync(stateDir, { recursive: true });
  const file = lockFileOf(stateDir);
  const write = (port: number) => {
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify({ pid: process.pid, basePort: port } satisfies LockHolder)}\n`);
    return tmp;
  };
  const tmp = write(basePort);
  try {
    for (;;) {
      try {
        linkSync(tmp, file);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
      assertNotRunning(stateDir);
      rmSync(file, { force: true });
    }
  } finally {
    rmSync(tmp, { force: true });
  }
  return {
    update: (port) => renameSync(write(port), file),
    release: () => rmSync(file, { force: true }),
  };
}
