/**
 * End to end: `pnpm local` started as a user starts it; everything it starts listens on loopback only; a message
 * published with the AWS SDK to the `Audit` topic lands as one redacted structured record in
 * `.sluice/logs/SnsLogger.log`; a second `pnpm local` on the same state directory is refused, naming the first, whose
 * env file stays; Ctrl-C stops everything, DynamoDB Local's Java process included. And a `pnpm local` whose ports
 * another program holds exits 1 at once, naming the port, leaving nothing running and nothing in its state directory.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { PublishCommand, SNSClient } from "@aws-sdk/client-sns";
import { pgrep, waitUntil } from "@sluice/testing";
import { isLoopback, listeningSockets, processGroup } from "@sluice/testing/listening";
import { afterAll, beforeAll, expect, it } from "vitest";
import { loadEnvFile } from "../../packages/local/src/cli/env.ts";
import { repoRoot } from "../../packages/local/src/paths.ts";
import { isRunMarker } from "../../packages/local/src/runtime/run-marker.ts";
import { localOnly } from "./target.ts";

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs: number): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const javaPids = () => pgrep("-f", "DynamoDBLocal.jar");

const local = localOnly("tests `pnpm local` itself: its env file, .sluice/logs, Ctrl-C and DynamoDB Local's process");

local.describe("pnpm local (end to end)", () => {
  let child: ChildProcess;
  let stateDir: string;
  let env: Record<string, string>;
  let output = "";
  let startupMs = 0;
  /** Whether the env file left by an earlier, killed run was seen gone while this one started. */
  let staleEnvRemoved = false;
  const staleEnv = "# left by a killed run\nexport AWS_ENDPOINT_URL_S3='http://127.0.0.1:1'\n";
  const staleLog = '{"level":"INFO","message":"from an earlier run"}';
  const javaBefore = new Set(javaPids());

  beforeAll(async () => {
    stateDir = mkdtempSync(path.join(tmpdir(), "sluice-e2e-"));
    // What a run killed with SIGKILL leaves: its env file, and its functions' logs.
    const envFile = path.join(stateDir, "local.env");
    writeFileSync(envFile, staleEnv);
    mkdirSync(path.join(stateDir, "logs"));
    writeFileSync(path.join(stateDir, "logs", "SnsLogger.log"), `${staleLog}\n`);
    const started = Date.now();
    child = spawn("pnpm", ["--silent", "local", "--base-port", "0", "--state-dir", stateDir, "--quiet"], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
      // Its own process group, so that the test can send SIGINT to the group as a terminal's Ctrl-C does.
      detached: true,
      env: { ...process.env, FORCE_COLOR: "0" },
    });
    child.stdout?.on("data", (chunk) => {
      output += chunk;
    });
    child.stderr?.on("data", (chunk) => {
      output += chunk;
    });
    const ready = () => {
      const text = existsSync(envFile) ? readFileSync(envFile, "utf8") : undefined;
      if (text === undefined) staleEnvRemoved = true;
      return text !== undefined && text !== staleEnv ? true : undefined;
    };
    await waitFor("local.env", ready, 90_000).catch((err) => {
      throw new Error(`${(err as Error).message}\n${output}`);
    });
    startupMs = Date.now() - started;
    env = loadEnvFile(envFile);
  }, 120_000);

  afterAll(async () => {
    try {
      if (child?.pid) process.kill(-child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  });

  it("removes the env file of a killed run while it starts (its presence means ready), and marks the new run in the logs", () => {
    expect(staleEnvRemoved).toBe(true);
    const log = readFileSync(path.join(stateDir, "logs", "SnsLogger.log"), "utf8").split("\n");
    expect(log[0]).toBe(staleLog);
    expect(isRunMarker(log[1] ?? "")).toBe(true);
  });

  it("writes an env file with every endpoint and every resource link", () => {
    for (const key of [
      "AWS_REGION",
      "AWS_ACCESS_KEY_ID",
      "AWS_SECRET_ACCESS_KEY",
      "AWS_ENDPOINT_URL_S3",
      "AWS_ENDPOINT_URL_DYNAMODB",
      "AWS_ENDPOINT_URL_DYNAMODB_STREAMS",
      "AWS_ENDPOINT_URL_KINESIS",
      "AWS_ENDPOINT_URL_SNS",
      "AWS_ENDPOINT_URL_SQS",
      "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME",
      "AWS_ENDPOINT_URL_GLUE",
    ]) {
      expect(env[key], key).toBeTruthy();
    }
    for (const name of [
      "Inbox",
      "Lake",
      "CdcRaw",
      "Curated",
      "Clickstream",
      "Catalog",
      "InferenceRequests",
      "CdcCatalog",
    ]) {
      expect(JSON.parse(env[`SST_RESOURCE_${name}`] ?? "{}").name, name).toBeTruthy();
    }
    for (const name of ["Audit", "Alerts"]) {
      expect(JSON.parse(env[`SST_RESOURCE_${name}`] ?? "{}").arn, name).toMatch(/^arn:aws:sns:/);
    }
    console.log(`pnpm local: env file ready after ${startupMs} ms`);
  });

  it("listens on loopback only: the IAM gateways, and every emulator and server behind them", () => {
    const publicPorts = [
      ...new Set(Object.entries(env).flatMap(([key, url]) => (key.startsWith("AWS_ENDPOINT_URL_") ? [url] : []))),
    ].map((url) => Number(new URL(url).port));
    // Every process of `pnpm local`'s tree: spawned detached, it leads its own process group.
    const sockets = listeningSockets(processGroup(child.pid as number));
    const listed = sockets.map((s) => `${s.command} ${s.address}:${s.port}`).join(", ");

    expect(publicPorts).toHaveLength(6);
    expect(sockets.map((s) => s.port)).toEqual(expect.arrayContaining(publicPorts));
    // And the private ports behind them (fauxqs, the S3 gateway, DynamoDB Local's Java, kinesalite, ...).
    expect(sockets.length, listed).toBeGreaterThan(publicPorts.length);
    expect(sockets.some((s) => s.command === "java")).toBe(true);
    expect(sockets.filter((s) => !isLoopback(s.address))).toEqual([]);
  });

  it("logs a message published to Audit as one redacted structured record", async () => {
    const sns = new SNSClient({
      region: env.AWS_REGION,
      endpoint: env.AWS_ENDPOINT_URL_SNS,
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
    const topicArn = JSON.parse(env.SST_RESOURCE_Audit ?? "{}").arn as string;
    const { MessageId } = await sns.send(
      new PublishCommand({
        TopicArn: topicArn,
        Subject: "e2e",
        Message: JSON.stringify({
          pipeline: "e2e",
          user: { email: "jane.doe@example.com", password: "hunter2" },
          note: "card 4111 1111 1111 1111 on file",
        }),
        MessageAttributes: { severity: { DataType: "String", StringValue: "WARN" } },
      }),
    );
    const logFile = path.join(stateDir, "logs", "SnsLogger.log");
    const record = await waitFor(
      "the SnsLogger record",
      () => {
        if (!existsSync(logFile)) return undefined;
        return readFileSync(logFile, "utf8")
          .split("\n")
          .filter((line) => line.includes(MessageId ?? "-"))
          .map((line) => JSON.parse(line) as Record<string, unknown>)
          .find((line) => line.level === "WARN");
      },
      30_000,
    );
    const text = JSON.stringify(record);
    expect(text).not.toContain("jane.doe@example.com");
    expect(text).not.toContain("hunter2");
    expect(text).not.toContain("4111 1111 1111 1111");
    expect(text).toContain("e2e");
  });

  it("refuses a second `pnpm local` on its state directory, naming this one, and keeps its env file", async () => {
    const envFile = path.join(stateDir, "local.env");
    const before = readFileSync(envFile, "utf8");
    // Started as a user would start it again: the same state directory and the same ports.
    const basePort = new URL(env.AWS_ENDPOINT_URL_SNS ?? "").port;
    const second = spawn("pnpm", ["--silent", "local", "--base-port", basePort, "--state-dir", stateDir, "--quiet"], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, FORCE_COLOR: "0" },
    });
    let secondOutput = "";
    second.stdout?.on("data", (chunk) => {
      secondOutput += chunk;
    });
    second.stderr?.on("data", (chunk) => {
      secondOutput += chunk;
    });
    // `close`, not `exit`: the output may still be in the pipes when the process has exited.
    const code = await new Promise<number | null>((resolve) => second.once("close", (exitCode) => resolve(exitCode)));

    expect(code, secondOutput).not.toBe(0);
    expect(existsSync(envFile), secondOutput).toBe(true);
    expect(readFileSync(envFile, "utf8")).toBe(before);
    expect(secondOutput).toMatch(
      new RegExp(`a local cloud is already running on ${stateDir}: pid \\d+, base port ${basePort}`),
    );
  });

  it("stops cleanly on Ctrl-C and leaves no DynamoDB Local process behind", async () => {
    const ours = javaPids().filter((pid) => !javaBefore.has(pid));
    expect(ours.length).toBeGreaterThan(0);
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      child.once("close", (code, signal) => resolve({ code, signal })),
    );
    process.kill(-(child.pid as number), "SIGINT");
    const { code, signal } = await exited;
    // pnpm, its script shell and the local cloud all get the Ctrl-C: the local cloud shuts down and exits 0 (no
    // ELIFECYCLE from pnpm); pnpm itself may then end by the same SIGINT, as it does from a terminal.
    expect(output).toContain("[sluice] stopped.");
    expect(code === 0 || signal === "SIGINT", `exit code ${code}, signal ${signal}\n${output}`).toBe(true);
    expect(output).not.toMatch(/Error|ELIFECYCLE/);
    await waitFor("java to exit", () => (javaPids().some((pid) => ours.includes(pid)) ? undefined : true), 10_000);
    expect(existsSync(path.join(stateDir, "local.env"))).toBe(false);
    expect(existsSync(path.join(stateDir, "local.lock"))).toBe(false);
  });
});

local.describe("pnpm local on a port another program holds", () => {
  it("exits 1 with one line naming the port and what to do, leaving no process, env file or lock behind", async () => {
    // Prepare: another program (LocalStack, another local cloud) on the port `pnpm local` would give S3, its second;
    // the env file of a killed run in the state directory.
    const other = net.createServer();
    await new Promise<void>((resolve) => other.listen(0, "127.0.0.1", resolve));
    const busy = (other.address() as net.AddressInfo).port;
    const stateDir = mkdtempSync(path.join(tmpdir(), "sluice-port-in-use-"));
    writeFileSync(path.join(stateDir, "local.env"), "export AWS_ENDPOINT_URL_S3='http://127.0.0.1:1'\n");
    try {
      // Act: started as a user starts it, in a process group of its own (what it starts stays in that group).
      const started = spawn(
        "pnpm",
        ["--silent", "local", "--base-port", String(busy - 1), "--state-dir", stateDir, "--quiet"],
        { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"], detached: true, env: { ...process.env, FORCE_COLOR: "0" } },
      );
      let output = "";
      started.stdout?.on("data", (chunk) => {
        output += chunk;
      });
      started.stderr?.on("data", (chunk) => {
        output += chunk;
      });
      const code = await new Promise<number | null>((resolve) =>
        started.once("close", (exitCode) => resolve(exitCode)),
      );
      const group = String(started.pid);
      await waitUntil(() => pgrep("-g", group).length === 0, 10_000);
      const left = pgrep("-g", group).map((pid) => {
        const cmdline = `/proc/${pid}/cmdline`;
        return `${pid} ${existsSync(cmdline) ? readFileSync(cmdline, "utf8").replaceAll("\0", " ") : "(gone)"}`;
      });
      // Assess
      expect(code, output).toBe(1);
      expect(output.trim().split("\n"), output).toHaveLength(1);
      expect(output).toContain(`port ${busy} (S3) is in use`);
      expect(output).toMatch(/--base-port \d+/);
      expect(left).toEqual([]);
      expect(existsSync(path.join(stateDir, "local.env"))).toBe(false);
      expect(existsSync(path.join(stateDir, "local.lock"))).toBe(false);
    } finally {
      other.close();
    }
  }, 90_000);
});
