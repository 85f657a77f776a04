/**
 * The reference model container started the way the Dockerfile starts it (Node's type stripping, no dependencies), in
 * a process of its own, as the local cloud's SageMaker runtime starts it. Its contract in detail is in server.test.ts.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { STRONG_DEMAND as STRONG } from "@sluice/testing";
import { afterAll, describe, expect, it } from "vitest";
import { decodeModelAnswer, encodeModelRequest } from "../src/model-contract.ts";
import { REFERENCE_MODEL_VERSION } from "../src/reference-model.ts";

// The Node 22 binary itself, not pnpm's `.bin/node` shell shim: killing the shim would leave the server running.
const node22 = path.resolve(import.meta.dirname, "../../../node_modules/node/bin/node");

describe("pricing model container (as the Dockerfile runs it)", () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    child?.kill("SIGTERM");
  });

  it("serves /ping and /invocations with Node's type stripping and no dependencies", async () => {
    expect(existsSync(node22), `${node22} (the \`node\` package pnpm install installs)`).toBe(true);
    // Port 0: the server binds one the system picks and says which.
    const started = spawn(
      node22,
      ["--experimental-strip-types", "--no-warnings", path.join(import.meta.dirname, "server.ts")],
      {
        env: { ...process.env, SAGEMAKER_BIND_TO_PORT: "0" },
        stdio: ["ignore", "ignore", "ignore", "ipc"],
      },
    );
    child = started;
    const port = await new Promise<number>((resolve, reject) => {
      started.once("message", (message: { type: string; port: number }) => resolve(message.port));
      started.once("exit", (code) => reject(new Error(`the server exited (${code}) before listening`)));
    });
    expect(port).toBeGreaterThan(0);
    const base = `http://127.0.0.1:${port}`;
    expect((await fetch(`${base}/ping`)).status).toBe(200);
    const out = await fetch(`${base}/invocations`, {
      method: "POST",
      body: encodeModelRequest([STRONG], "application/json"),
      headers: { "content-type": "application/json" },
    });
    const answer = decodeModelAnswer(await out.text(), out.headers.get("content-type") ?? "", 1);
    expect(answer.modelVersion).toBe(REFERENCE_MODEL_VERSION);
  });
});
