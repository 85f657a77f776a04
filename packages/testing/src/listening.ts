/**
 * The TCP sockets a set of processes listen on, read from /proc (Linux only, as CI and the local cloud's
 * process handling are): what `ss -ltnp` shows, without depending on `ss` or on the machine's own addresses.
 * Tests use it to check that the local cloud listens on loopback only.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

export interface ListeningSocket {
  /** `127.0.0.1`, `0.0.0.0`, `::`, `::1`, `::ffff:127.0.0.1`... */
  address: string;
  port: number;
  pid: number;
  /** The process's name (`/proc/<pid>/comm`): `node`, `java`. */
  command: string;
}

/** The processes whose process group is `pgid` (a child spawned `detached` leads its own). */
export function processGroup(pgid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The fields after the command, which is in parentheses and may hold spaces: state, ppid, pgrp, ...
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const pgrp = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
      if (pgrp === pgid) pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

/** The TCP sockets (IPv4 and IPv6) in the LISTEN state that these processes hold. */
export function listeningSockets(pids: Iterable<number>): ListeningSocket[] {
  const owners = new Map<string, { pid: number; command: string }>();
  for (const pid of pids) {
    let fds: string[];
    let command: string;
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
      command = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
        if (inode) owners.set(inode, { pid, command });
      } catch {
        // closed while we looked
      }
    }
  }
  const sockets: ListeningSocket[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of readFileSync(table, "utf8").trim().split("\n").slice(1)) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
      const fields = line.trim().split(/\s+/);
      const [local, state, inode] = [fields[1] ?? "", fields[3], fields[9] ?? ""];
      const owner = owners.get(inode);
      if (state !== "0A" || !owner) continue; // 0A: LISTEN
      const [hex = "", port = "0"] = local.split(":");
      sockets.push({ address: decodeAddress(hex), port: Number.parseInt(port, 16), ...owner });
    }
  }
  return sockets;
}

/** Whether a listening address is reachable from this machine only (127.0.0.0/8, `::1`, or IPv4-mapped 127.x). */
export function isLoopback(address: string): boolean {
  return /^(::ffff:)?127\./.test(address) || address === "::1";
}

/** /proc/net's hex address: 32-bit words, each in the host's byte order (little-endian on x86 and arm64). */
function decodeAddress(hex: string): string {
  const bytes = (hex.match(/.{8}/g) ?? [])
    .flatMap((word) => (word.match(/../g) ?? []).reverse())
    .map((byte) => Number.parseInt(byte, 16));
  if (bytes.length === 4) return bytes.join(".");
  const words = Array.from({ length: 8 }, (_, i) => ((bytes[2 * i] ?? 0) << 8) | (bytes[2 * i + 1] ?? 0));
  const zeros = (n: number) => words.slice(0, n).every((w) => w === 0);
  if (zeros(5) && words[5] === 0xffff) return `::ffff:${bytes.slice(12).join(".")}`;
  if (zeros(8)) return "::";
  if (zeros(7) && words[7] === 1) return "::1";
  return words.map((w) => w.toString(16)).join(":");
}
