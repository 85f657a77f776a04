/**
 * One local cloud for a whole e2e run, shared by every e2e file: the vitest `globalSetup` of the projects `e2e` and
 * `faults` (vitest.config.ts), and the client test/e2e/target.ts connects with.
 *
 * The setup runs in vitest's main process. It starts a small control server on loopback and hands its URL to the test
 * files (`project.provide`, read with `inject`). The local cloud itself starts on the first file's request (so a run
 * whose filter selects no e2e file starts none), once, with the real wiring, the model containers, short async retry
 * delays and, for `faults`, the project's injected faults; it stops when the next project's cloud starts (one shared
 * cloud at a time) or at the end of the run. What a file needs from it that is not an AWS API goes through the control
 * server: the cloud's description (endpoints, resources, env, log directory), `idle()` (the local cloud's exact
 * "everything sent so far was handled") and direct invocations.
 * Everything else (S3, DynamoDB, Kinesis, SNS, SQS) the files call on the emulators' endpoints, as on a stage.
 *
 * Sharing a cloud means the files must not see each other's data: each writes its own keys, items and records, and
 * reads what it wrote (see each file). The files of one cloud run one at a time, in the stage run's order
 * (test/e2e/order.ts): the anomaly and pricing flows share the Clickstream stream, whose consumers' watermarks only
 * move forward.
 */
import { appendFileSync, mkdtempSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import * as wiring from "../../infra/wiring.ts";
import type { LocalCloud, LocalCloudOptions } from "../../packages/local/src/cloud.ts";

/** What the e2e files need to know of the shared cloud, from the control server. */
export interface SharedCloudDescription {
  endpoints: LocalCloud["endpoints"];
  resources: LocalCloud["resources"];
  env: Record<string, string>;
  logDir: string;
  /** The wiring's function names (locally a function is addressed by its wiring name). */
  functions: string[];
  /** The injected faults, when the cloud has them. */
  faults?: { rules: string; seed: number };
}

/** How a direct invocation ended (the function host's answer, without its request id and duration). */
export interface SharedInvokeOutcome {
  status: "ok" | "error" | "timeout";
  payload?: unknown;
  error?: unknown;
}

declare module "vitest" {
  export interface ProvidedContext {
    /** The control server of the run's shared local cloud (test/e2e/shared-cloud.ts), when the project has one. */
    sharedLocalCloud?: { url: string };
  }
}

/** The environment variable that selects the target; `pnpm test:stage` sets it to `stage`. */
export const TARGET_ENV = "SLUICE_E2E_TARGET";

/**
 * Faults to inject into the local cloud (`SLUICE_E2E_FAULTS`, a `pnpm local --faults` spec such as `5%`), with a seed
 * (`SLUICE_E2E_FAULTS_SEED`, else a random one, printed): the flows must hold their guarantees under them.
 */
export function faultsOf(
  env: Readonly<Record<string, string | undefined>>,
): { rules: string; seed: number } | undefined {
  const rules = env.SLUICE_E2E_FAULTS?.trim();
  if (!rules) return undefined;
  const seed = env.SLUICE_E2E_FAULTS_SEED ? Number(env.SLUICE_E2E_FAULTS_SEED) : Math.floor(Math.random() * 2 ** 31);
  if (!Number.isInteger(seed))
    throw new Error(`SLUICE_E2E_FAULTS_SEED must be an integer, got ${env.SLUICE_E2E_FAULTS_SEED}`);
  return { rules, seed };
}

/** The options of a shared cloud: what every e2e file needs of it. */
export function sharedCloudOptions(stateDir: string): LocalCloudOptions {
  return {
    basePort: 0,
    stateDir,
    writeEnvFile: false,
    // AWS waits about a minute, then two, before retrying a failed asynchronous invocation; the flows only need the
    // retries to happen.
    asyncRetryDelaysMs: [50, 100],
    // A record failing for good is retried 10 times (infra/wiring.ts, streamDefaults) before its DLQ: 0.05 s doubling
    // to 0.5 s, 3.75 s in all, instead of the local cloud's 31 s (AWS backs off longer still).
    streamRetryDelayMs: { firstMs: 50, maxMs: 500 },
  };
}

/**
 * The shared cloud running in this process, if any: on the process's global object, as each project's setup may be a
 * module instance of its own.
 */
const running = Symbol.for("sluice.e2e.sharedCloud");
type RunningCloud = { project: string; stop: () => Promise<void> };
const runningClouds = globalThis as typeof globalThis & { [running]?: RunningCloud };

/** vitest `globalSetup`: provides the control server's URL; the cloud starts on the first file's request. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const env = { ...process.env, ...project.config.env };
  if ((env[TARGET_ENV] || "local") !== "local") return async () => {};
  const label = `[e2e ${project.name}]`;
  let started: Promise<{ cloud: LocalCloud; description: SharedCloudDescription }> | undefined;

  const start = async () => {
    const { startLocalCloud } = await import("../../packages/local/src/cloud.ts");
    const stateDir = mkdtempSync(path.join(tmpdir(), `sluice-${project.name}-`));
    const faults = faultsOf(env);
    if (faults)
      console.log(`${label} faults: ${faults.rules}, seed ${faults.seed} (SLUICE_E2E_FAULTS_SEED replays it)`);
    const faultLog = path.join(stateDir, "faults.log");
    const began = Date.now();
    const cloud = await startLocalCloud({
      ...sharedCloudOptions(stateDir),
      ...(faults
        ? {
            faults: {
              ...faults,
              // A lost answer (the call applied, the connection dropped) held 1 s instead of the default 5: the same
              // fault for the handler, whose SDK waits for the drop either way, at a fifth of the wait. DemandHydration's
              // hundreds of calls per backfill otherwise spend most of the layer's time waiting on dropped answers.
              slowMs: 1_000,
              onFault: (fn: string, message: string) => appendFileSync(faultLog, `${fn} ${message}\n`),
            },
          }
        : {}),
    });
    console.log(`${label} one local cloud for every file, ready in ${Date.now() - began} ms (state in ${stateDir})`);
    const description: SharedCloudDescription = {
      endpoints: cloud.endpoints,
      resources: cloud.resources,
      env: cloud.env,
      logDir: cloud.logDir,
      functions: Object.keys(wiring.functions),
      ...(faults ? { faults } : {}),
    };
    return { cloud, description };
  };
  const stop = async () => {
    const cloud = started;
    started = undefined;
    await (await cloud?.catch(() => undefined))?.cloud.stop();
  };
  const cloud = () => {
    if (!started) {
      // One shared cloud at a time: the projects' files run one project after the other (test/e2e/order.ts), so the
      // cloud of a project whose files are done would only poll its streams while the next project runs.
      const previous = runningClouds[running];
      runningClouds[running] = { project: project.name, stop };
      started = (async () => {
        if (previous && previous.project !== project.name) await previous.stop();
        return start();
      })();
    }
    return started;
  };

  const routes: Record<string, (body: unknown) => Promise<unknown>> = {
    "/cloud": async () => (await cloud()).description,
    "/idle": async () => {
      await (await cloud()).cloud.idle();
      return {};
    },
    "/invoke": async (body) => {
      const { functionName, payload } = body as { functionName: string; payload: unknown };
      const { status, payload: returned, error } = await (await cloud()).cloud.host.invoke(functionName, payload);
      return { status, payload: returned, error } satisfies SharedInvokeOutcome;
    },
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const route = routes[req.url ?? ""];
      const text = Buffer.concat(chunks).toString("utf8");
      const answer = (status: number, value: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(value));
      };
      if (req.method !== "POST" || !route) return answer(404, { error: `no route ${req.method} ${req.url}` });
      route(text ? JSON.parse(text) : {}).then(
        (value) => answer(200, value),
        (err: Error) => answer(500, { error: err.stack ?? String(err) }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  project.provide("sharedLocalCloud", { url: `http://127.0.0.1:${port}` });

  return async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await stop();
  };
}

/**
 * Calls the control server. Node's `http` rather than `fetch`: an `idle` may take minutes (a backfill under faults),
 * longer than fetch's header timeout.
 */
export function callSharedCloud<T>(url: string, route: "/cloud" | "/idle" | "/invoke", body: unknown = {}): Promise<T> {
  const text = JSON.stringify(body);
  return new Promise<T>((resolve, reject) => {
    const req = http.request(
      `${url}${route}`,
      { method: "POST", headers: { "content-type": "application/json", "content-length": Buffer.byteLength(text) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          const value = JSON.parse(Buffer.concat(chunks).toString("utf8"));
          if (res.statusCode === 200) resolve(value as T);
          else reject(new Error(`the shared local cloud (${route}): ${value.error}`));
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(text);
  });
}
