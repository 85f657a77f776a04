/**
 * The SageMaker runtime's model containers are child processes of the local cloud: they must not outlive it, however
 * it ends (SIGKILL included), as DynamoDB Local's watchdog and the function workers do not; nor a start that fails.
 */
import { type ChildProcess, spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { pgrep, waitUntil } from "@sluice/testing";
import { afterAll, describe, expect, it } from "vitest";
import { repoRoot } from "../paths.ts";
import { isAlive } from "./dynamodb-local.ts";
import { startSageMakerRuntime } from "./sagemaker-runtime.ts";

const runtimeModule = pathToFileURL(path.join(import.meta.dirname, "sagemaker-runtime.ts")).href;
const modelEntry = path.join(repoRoot, "packages/pricing/model/server.ts");

/** A Node process that starts the SageMaker runtime with the pricing model container, then says "ready". */
function startParent(): ChildProcess {
  const script = `
    const { startSageMakerRuntime } = await import(${JSON.stringify(runtimeModule)});
    await startSageMakerRuntime({
      containers: [{ endpointName: "m", entry: ${JSON.stringify(modelEntry)} }],
      cwd: ${JSON.stringify(repoRoot)},
      accountId: "000000000000",
      region: "us-east-1",
    });
    console.log("ready");
  `;
  return spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "inherit"],
  });
}

/** The children of `pid` whose command line names `file` (tsx has an esbuild child of its own). */
const childrenOf = (pid: number, file: string) => pgrep("-P", String(pid), "-f", file);

describe("SageMaker runtime", () => {
  const leftovers: number[] = [];
  afterAll(() => {
    for (const pid of leftovers) if (isAlive(pid)) process.kill(pid, "SIGKILL");
  });

  it("its model containers exit when the process that started them is SIGKILLed", async () => {
    // Prepare
    const parent = startParent();
    leftovers.push(parent.pid as number);
    await new Promise<void>((resolve, reject) => {
      let output = "";
      parent.stdout?.on("data", (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes("ready")) resolve();
      });
      parent.once("exit", (code) => reject(new Error(`parent exited (${code}) before starting: ${output}`)));
    });
    const models = childrenOf(parent.pid as number, modelEntry);
    leftovers.push(...models);
    expect(models).toHaveLength(1);
    // Act: no chance to clean up.
    const exited = new Promise((resolve) => parent.once("exit", resolve));
    parent.kill("SIGKILL");
    await exited;
    // Assess
    expect(await waitUntil(() => models.every((pid) => !isAlive(pid)), 5000)).toBe(true);
  }, 60_000);

  it("rejects its start on a port in use, and stops the model containers it started", async () => {
    // Prepare: another program on its port.
    const other = net.createServer();
    await new Promise<void>((resolve) => other.listen(0, "127.0.0.1", resolve));
    const busy = (other.address() as net.AddressInfo).port;
    try {
      // Act
      const start = startSageMakerRuntime({
        containers: [{ endpointName: "m", entry: modelEntry }],
        port: busy,
        cwd: repoRoot,
        accountId: "000000000000",
        region: "us-east-1",
      });
      // Assess
      await expect(start).rejects.toThrow(`EADDRINUSE: address already in use 127.0.0.1:${busy}`);
      expect(await waitUntil(() => childrenOf(process.pid, modelEntry).length === 0, 5000)).toBe(true);
    } finally {
      other.close();
    }
  }, 60_000);
});
