import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { startLocalCloud } from "./cloud.ts";
import type { WiringResources } from "./resources.ts";

/** A wiring that stops a start at its first check (its one function is triggered by a bucket it does not define). */
const undeployable: WiringResources = {
  buckets: {},
  topics: {},
  streams: {},
  tables: {},
  functions: {
    Orphan: {
      description: "triggered by a bucket this wiring does not define",
      handler: "test/fixtures/functions/behaviours.echo",
      timeout: 2,
      memory: 128,
      links: [],
      triggers: [{ kind: "s3", bucket: "Inbox", events: ["s3:ObjectCreated:*"] }],
    },
  },
};

/** A wiring with nothing in it: deployable, so that a start goes as far as its ports. */
const empty: WiringResources = { buckets: {}, topics: {}, streams: {}, tables: {}, functions: {} };

/** Listens on a free loopback port, as another program (LocalStack, another local cloud) would. */
async function occupyPort(): Promise<net.Server> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}

describe("startLocalCloud", () => {
  const stateDir = mkdtempSync(path.join(tmpdir(), "sluice-cloud-"));
  const running: ChildProcess[] = [];
  afterAll(() => {
    for (const child of running) child.kill("SIGKILL");
    rmSync(stateDir, { recursive: true, force: true });
  });
  /** A state directory of its own, with the env file a local cloud wrote there. */
  const stateDirWithEnvFile = (name: string) => {
    const dir = path.join(stateDir, name);
    mkdirSync(dir);
    writeFileSync(path.join(dir, "local.env"), "export AWS_ENDPOINT_URL_S3='http://127.0.0.1:4567'\n");
    return dir;
  };

  it("removes a local.env left by a run that did not stop cleanly before anything else (its presence means ready)", async () => {
    // Prepare: the env file of a killed run, and a wiring that stops the start at its first check.
    const envFile = path.join(stateDir, "local.env");
    writeFileSync(envFile, "export AWS_ENDPOINT_URL_S3='http://127.0.0.1:4567'\n");
    // Act
    const start = startLocalCloud({ stateDir, wiring: undeployable, models: [] });
    // Assess
    await expect(start).rejects.toThrow(/cannot be deployed/);
    expect(existsSync(envFile)).toBe(false);
  });

  it("refuses to start on a state directory a running local cloud holds, naming it, and leaves its env file alone", async () => {
    // Prepare: the lock and env file of a local cloud whose process is alive.
    const dir = stateDirWithEnvFile("running");
    const envFile = path.join(dir, "local.env");
    const before = readFileSync(envFile, "utf8");
    const other = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
    running.push(other);
    writeFileSync(path.join(dir, "local.lock"), JSON.stringify({ pid: other.pid, basePort: 4566 }));
    // Act
    const start = startLocalCloud({ stateDir: dir, wiring: undeployable, models: [] });
    // Assess
    await expect(start).rejects.toThrow(`a local cloud is already running on ${dir}: pid ${other.pid}, base port 4566`);
    expect(readFileSync(envFile, "utf8")).toBe(before);
    expect(JSON.parse(readFileSync(path.join(dir, "local.lock"), "utf8")).pid).toBe(other.pid);
  });

  it("takes over the lock of a local cloud that was killed (its process is gone), and releases it when its start fails", async () => {
    // Prepare: the lock and env file of a run killed with SIGKILL: a pid no process has any more.
    const dir = stateDirWithEnvFile("killed");
    const { pid: dead } = spawnSync(process.execPath, ["-e", ""]);
    writeFileSync(path.join(dir, "local.lock"), JSON.stringify({ pid: dead, basePort: 4566 }));
    // Act
    const start = startLocalCloud({ stateDir: dir, wiring: undeployable, models: [] });
    // Assess: the start went past the lock to its first check, removing the stale env file on its way.
    await expect(start).rejects.toThrow(/cannot be deployed/);
    expect(existsSync(path.join(dir, "local.env"))).toBe(false);
    expect(existsSync(path.join(dir, "local.lock"))).toBe(false);
  });

  it("refuses to start when one of its six ports is in use, naming it and what to do, before it starts any emulator", async () => {
    // Prepare: another program on a port the local cloud would give Kinesis (its fourth), and the env file of a
    // killed run.
    const other = await occupyPort();
    const busy = (other.address() as net.AddressInfo).port;
    const dir = stateDirWithEnvFile("port-in-use");
    try {
      // Act: the unit layer refuses any emulator, so a start that got as far as one fails otherwise.
      const start = startLocalCloud({ stateDir: dir, basePort: busy - 3, wiring: empty, models: [] });
      // Assess
      await expect(start).rejects.toThrow(`port ${busy} (Kinesis) is in use`);
      await expect(start).rejects.toThrow(/--base-port \d+/);
      expect(existsSync(path.join(dir, "local.env"))).toBe(false);
      expect(existsSync(path.join(dir, "local.lock"))).toBe(false);
    } finally {
      other.close();
    }
  });
});
