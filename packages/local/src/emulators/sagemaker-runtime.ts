/**
 * A SageMaker-runtime-compatible endpoint: `POST /endpoints/{EndpointName}/invocations`, as
 * `@aws-sdk/client-sagemaker-runtime`'s `InvokeEndpoint` calls it, forwarded to the model container serving
 * that endpoint (any server that follows the container contract: `GET /ping`, `POST /invocations`).
 * Each container runs as a child process on its own loopback port, and exits when the process that started it is gone
 * (`exit-with-parent.ts`), even when that process could not stop it (SIGKILL).
 */
import { type ChildProcess, fork } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { freePort, listen } from "./ports.ts";

/** Makes a container exit with the process that started it (see the file). */
const exitWithParent = fileURLToPath(new URL("./exit-with-parent.ts", import.meta.url));

/** SageMaker's InvokeEndpoint body limit (6 MB; serverless endpoints take 4 MB). */
const MAX_BODY_BYTES = 6 * 1024 * 1024;
/** SageMaker's model response timeout. */
const MODEL_TIMEOUT_MS = 60_000;

export interface ModelContainer {
  /** Endpoint name clients call. */
  endpointName: string;
  /** Entry file of the container's server (run with tsx); it must listen on `SAGEMAKER_BIND_TO_PORT`. */
  entry: string;
}

export interface SageMakerRuntime {
  endpoint: string;
  stop(): Promise<void>;
}

interface Running {
  child: ChildProcess;
  port: number;
}

function sendError(res: http.ServerResponse, status: number, type: string, body: Record<string, unknown>): void {
  res.writeHead(status, { "content-type": "application/json", "x-amzn-errortype": type }).end(JSON.stringify(body));
}

async function waitForPing(port: number, child: ChildProcess, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`model container exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const req = http.get({ host: "127.0.0.1", port, path: "/ping" }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`model container on port ${port} did not answer /ping`);
}

export async function startSageMakerRuntime(options: {
  containers: readonly ModelContainer[];
  port?: number;
  cwd: string;
  accountId: string;
  region: string;
}): Promise<SageMakerRuntime> {
  const running = new Map<string, Running>();
  const stopContainers = () =>
    Promise.all(
      [...running.values()].map(
        ({ child }) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once("exit", () => resolve());
            child.kill("SIGTERM");
          }),
      ),
    );
  // Every container forked is waited for, so that a start that fails (a container that does not answer, the port
  // in use) stops them all, and none is left running.
  const pinged = await Promise.allSettled(
    options.containers.map(async (container) => {
      const port = await freePort();
      const child = fork(container.entry, [], {
        cwd: options.cwd,
        execArgv: ["--import", "tsx", "--import", exitWithParent],
        env: { ...process.env, SAGEMAKER_BIND_TO_PORT: String(port) },
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      });
      running.set(container.endpointName, { child, port });
      await waitForPing(port, child);
    }),
  );

  const server = http.createServer((req, res) => {
    const match = /^\/endpoints\/([^/]+)\/invocations$/.exec((req.url ?? "").split("?")[0] ?? "");
    if (req.method !== "POST" || !match?.[1]) {
      sendError(res, 404, "UnknownOperationException", { message: "Unknown operation" });
      return;
    }
    const endpointName = decodeURIComponent(match[1]);
    const target = running.get(endpointName);
    if (!target) {
      sendError(res, 400, "ValidationError", {
        message: `Endpoint ${endpointName} of account ${options.accountId} not found.`,
      });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (size > MAX_BODY_BYTES) {
        sendError(res, 413, "ValidationError", { message: `Request body is larger than ${MAX_BODY_BYTES} bytes` });
        return;
      }
      const headers: http.OutgoingHttpHeaders = {};
      for (const name of ["content-type", "accept", "x-amzn-sagemaker-custom-attributes"]) {
        if (req.headers[name]) headers[name] = req.headers[name];
      }
      const upstream = http.request(
        {
          host: "127.0.0.1",
          port: target.port,
          method: "POST",
          path: "/invocations",
          headers,
          timeout: MODEL_TIMEOUT_MS,
        },
        (modelRes) => {
          const body: Buffer[] = [];
          modelRes.on("data", (chunk: Buffer) => body.push(chunk));
          modelRes.on("end", () => {
            const text = Buffer.concat(body);
            const status = modelRes.statusCode ?? 500;
            if (status >= 400) {
              sendError(res, 424, "ModelError", {
                message: `Received ${status < 500 ? "client" : "server"} error (${status}) from primary with message "${text.toString("utf8")}".`,
                OriginalStatusCode: status,
                OriginalMessage: text.toString("utf8"),
                LogStreamArn: `arn:aws:logs:${options.region}:${options.accountId}:log-group:/aws/sagemaker/Endpoints/${endpointName}`,
              });
              return;
            }
            const out: http.OutgoingHttpHeaders = {
              "content-type": modelRes.headers["content-type"] ?? "application/octet-stream",
              "x-amzn-invoked-production-variant": "AllTraffic",
            };
            const custom = modelRes.headers["x-amzn-sagemaker-custom-attributes"];
            if (custom) out["x-amzn-sagemaker-custom-attributes"] = custom;
            res.writeHead(200, out).end(text);
          });
        },
      );
      upstream.on("timeout", () => {
        upstream.destroy();
        sendError(res, 424, "ModelError", { message: "Model did not respond within 60 seconds" });
      });
      upstream.on("error", (err) => {
        if (!res.headersSent) sendError(res, 424, "ModelError", { message: `Model unreachable: ${err.message}` });
      });
      upstream.end(Buffer.concat(chunks));
    });
  });
  try {
    const failed = pinged.find((result) => result.status === "rejected");
    if (failed) throw failed.reason;
    await listen(server, options.port ?? 0);
  } catch (err) {
    await stopContainers();
    throw err;
  }
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await stopContainers();
    },
  };
}
