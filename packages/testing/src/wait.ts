import { execFileSync } from "node:child_process";

/**
 * Polls `condition` every 50 ms until it holds or `timeoutMs` has passed; resolves to its last answer. For tests that
 * wait on another process (a child's exit, a socket, a file), never to assert a timing.
 */
export async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return condition();
}

/** The pids `pgrep` finds with these arguments (`-f <pattern>`, `-P <parent>`, ...); none when it finds none. */
export function pgrep(...args: string[]): number[] {
  try {
    return execFileSync("pgrep", args, { encoding: "utf8" }).trim().split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
