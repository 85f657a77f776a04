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

describe.runIf(existsSync(node22))("pricing model container (as the Dockerfile runs it)", () => {
  let child: ChildProcess;
  const port = 18000 + Math.floor(Math.random() * 2000);
  afterAll(() => {
    child?.kill("SIGTERM");
  });

  it("serves /ping and /invocations with Node's type stripping and no dependencies", async () => {
    child = spawn(
      node22,
      ["--experimental-strip-types", "--no-warnings", path.join(import.meta.dirname, "server.ts")],
      {
        env: { ...process.env, SAGEMAKER_BIND_TO_PORT: String(port) },
        stdio: "ignore",
      },
    );
    const base = `http://127.0.0.1:${port}`;
    let up = false;
    for (let i = 0; i < 100 && !up; i++) {
      up = await fetch(`${base}/ping`).then(
        (r) => r.ok,
        () => false,
      );
      if (!up) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(up).toBe(true);
    const out = await fetch(`${base}/invocations`, {
      method: "POST",
      body: encodeModelRequest([STRONG], "application/json"),
      headers: { "content-type": "application/json" },
    });
    const answer = decodeModelAnswer(await out.text(), out.headers.get("content-type") ?? "", 1);
    expect(answer.modelVersion).toBe(REFERENCE_MODEL_VERSION);
  });
});
