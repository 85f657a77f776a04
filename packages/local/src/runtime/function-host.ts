/**
 * The function host: runs each function's handler in its own worker processes ("execution environments"),
 * with the function's configured timeout, memory setting, environment and links, and writes everything the
 * handler prints to `.sluice/logs/<FunctionName>.log` (what CloudWatch Logs would hold), after a run marker line
 * (`run-marker.ts`): the file is appended to across runs.
 */
import { type ChildProcess, fork } from "node:child_process";
import { randomUUID } from "node:crypto";
import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { DEAD_LETTER_QUEUE_URL, type FunctionSpec } from "@sluice/infra/wiring";
import { runMarker } from "./run-marker.ts";
import type { InvokeResult, Invoker } from "./types.ts";
import type { InvokeMessage, WorkerReply } from "./worker.ts";

const workerFile = fileURLToPath(new URL("./worker.ts", import.meta.url));

export interface FunctionHostOptions {
  /** Repository root: handler paths in the wiring are relative to it. */
  repoRoot: string;
  functions: Readonly<Record<string, FunctionSpec>>;
  /** Environment given to every function (region, credentials, endpoints, `SST_RESOURCE_App`). */
  baseEnv: Readonly<Record<string, string>>;
  /** A function's credentials (its role session); default: the base environment's. */
  credentialsOf?: (functionName: string) => { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /**
   * The URL of each function's own dead-letter queue, by function name: given to it as `DEAD_LETTER_QUEUE_URL`, as
   * `sst deploy` does.
   */
  deadLetterQueueUrls?: Readonly<Record<string, string>>;
  /** `SST_RESOURCE_<Name>` value (JSON) of every resource a function may be linked to, by resource name. */
  resourceLinks: Readonly<Record<string, string>>;
  /** Directory of the per-function log files. */
  logDir: string;
  region: string;
  accountId: string;
  /** Concurrent execution environments per function (Lambda's reserved concurrency). Default 4. */
  maxConcurrency?: number;
  /** Copies each log line to this callback too (e.g. the `pnpm local` console). */
  onLog?: (functionName: string, line: string) => void;
}

interface Sandbox {
  child: ChildProcess;
  ready: Promise<void>;
  /** When the worker said it was ready (its process and runtime started). */
  readyAt?: number;
  busy: boolean;
  dead: boolean;
  /** Whether an invocation ran in it already: the first one is its cold start. */
  used: boolean;
}

interface Pending {
  resolve: (value: WorkerReply & { type: "result" }) => void;
  reject: (err: Error) => void;
}

/** A function's pool of sandboxes, with a queue of invocations waiting for one. */
class FunctionPool {
  private readonly sandboxes = new Set<Sandbox>();
  private readonly waiting: Array<{ resolve: (sandbox: Sandbox) => void; reject: (err: Error) => void }> = [];
  /** Set by stop(): no sandbox is started any more, and invocations still waiting for one fail. */
  private stopping = false;
  private readonly pending = new Map<ChildProcess, Pending>();
  private readonly log: WriteStream;

  constructor(
    readonly name: string,
    private readonly spec: FunctionSpec,
    private readonly env: Record<string, string>,
    private readonly options: FunctionHostOptions,
  ) {
    mkdirSync(options.logDir, { recursive: true });
    // Appended to across runs: each run starts with a marker line (`pnpm logs` shows the current run by default).
    this.log = createWriteStream(path.join(options.logDir, `${name}.log`), { flags: "a" });
    this.log.write(`${runMarker(new Date(), process.pid)}\n`);
  }

  async invoke(event: unknown): Promise<InvokeResult> {
    const requestId = randomUUID();
    let sandbox: Sandbox;
    try {
      sandbox = await this.acquire();
    } catch (err) {
      return {
        requestId,
        status: "error",
        error: { errorType: "Sluice.Stopping", errorMessage: (err as Error).message },
        durationMs: 0,
      };
    }
    const started = Date.now();
    const timeoutMs = this.spec.timeout * 1000;
    this.writeLog(
      JSON.stringify({
        time: new Date(started).toISOString(),
        type: "platform.start",
        record: { requestId, version: "$LATEST" },
      }),
    );
    let timer: NodeJS.Timeout | undefined;
    const cold = !sandbox.used;
    sandbox.used = true;
    try {
      await sandbox.ready;
      const reply = await new Promise<WorkerReply & { type: "result" }>((resolve, reject) => {
        this.pending.set(sandbox.child, { resolve, reject });
        timer = setTimeout(() => reject(new TimeoutError()), timeoutMs);
        const message: InvokeMessage = { type: "invoke", requestId, event, deadline: started + timeoutMs };
        // A worker can die before its exit is processed: the send then fails (EPIPE, channel closed), and this
        // invocation fails as one whose runtime exited; the sandbox is dropped, the next invocation gets a fresh one.
        sandbox.child.send(message, (err) => {
          if (err) reject(new Error(`Runtime exited without providing a reason (${err.message})`));
        });
      });
      const durationMs = Date.now() - started;
      // A cold start's init (the runtime starting, the handler module imported) is reported apart, as Lambda's
      // REPORT line has it (Init Duration); the invocation's own duration is what is left.
      const initDurationMs = cold
        ? Math.min(durationMs, Math.max(0, (sandbox.readyAt ?? started) - started) + Math.round(reply.initMs ?? 0))
        : undefined;
      this.report(requestId, durationMs - (initDurationMs ?? 0), reply.ok ? "success" : "error", initDurationMs);
      return reply.ok
        ? { requestId, status: "ok", payload: reply.payload, durationMs }
        : { requestId, status: "error", error: reply.error, durationMs };
    } catch (err) {
      const durationMs = Date.now() - started;
      if (err instanceof TimeoutError) {
        // Lambda stops a sandbox that runs past its timeout; the next invocation gets a fresh one.
        this.kill(sandbox);
        const errorMessage = `${new Date().toISOString()} ${requestId} Task timed out after ${this.spec.timeout.toFixed(2)} seconds`;
        this.writeLog(
          JSON.stringify({
            time: new Date().toISOString(),
            type: "platform.report",
            record: { requestId, status: "timeout", metrics: { durationMs } },
          }),
        );
        return { requestId, status: "timeout", error: { errorType: "Sandbox.Timedout", errorMessage }, durationMs };
      }
      this.kill(sandbox);
      this.report(requestId, durationMs, "error");
      return {
        requestId,
        status: "error",
        error: {
          errorType: "Runtime.ExitError",
          errorMessage: `RequestId: ${requestId} Error: ${(err as Error).message}`,
        },
        durationMs,
      };
    } finally {
      clearTimeout(timer);
      this.pending.delete(sandbox.child);
      this.release(sandbox);
    }
  }

  private report(requestId: string, durationMs: number, status: "success" | "error", initDurationMs?: number): void {
    const metrics = {
      durationMs,
      billedDurationMs: Math.ceil(durationMs),
      memorySizeMB: this.spec.memory,
      ...(initDurationMs !== undefined ? { initDurationMs } : {}),
    };
    this.writeLog(
      JSON.stringify({
        time: new Date().toISOString(),
        type: "platform.report",
        record: { requestId, status, metrics },
      }),
    );
  }

  private async acquire(): Promise<Sandbox> {
    if (this.stopping) throw new StoppingError();
    for (const sandbox of this.sandboxes) {
      if (!sandbox.busy && !sandbox.dead) {
        sandbox.busy = true;
        return sandbox;
      }
    }
    if (this.sandboxes.size < (this.options.maxConcurrency ?? 4)) {
      const sandbox = this.spawn();
      sandbox.busy = true;
      return sandbox;
    }
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  private release(sandbox: Sandbox): void {
    const next = this.waiting.shift();
    if (!next) {
      sandbox.busy = false;
      return;
    }
    if (this.stopping) {
      next.reject(new StoppingError());
    } else if (sandbox.dead) {
      const fresh = this.spawn();
      fresh.busy = true;
      next.resolve(fresh);
    } else {
      next.resolve(sandbox);
    }
  }

  private spawn(): Sandbox {
    const [file, exportName] = splitHandler(this.spec.handler);
    const child = fork(workerFile, [], {
      cwd: this.options.repoRoot,
      execArgv: ["--import", "tsx", "--enable-source-maps"],
      env: {
        ...this.env,
        SLUICE_HANDLER_FILE: path.join(this.options.repoRoot, file),
        SLUICE_HANDLER_EXPORT: exportName,
        AWS_LAMBDA_LOG_STREAM_NAME: `${new Date().toISOString().slice(0, 10).replaceAll("-", "/")}/[$LATEST]${randomUUID().replaceAll("-", "")}`,
      },
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      serialization: "json",
    });
    let readyResolve: () => void = () => {};
    let readyReject: (err: Error) => void = () => {};
    const sandbox: Sandbox = {
      child,
      busy: false,
      dead: false,
      used: false,
      ready: new Promise<void>((resolve, reject) => {
        readyResolve = resolve;
        readyReject = reject;
      }),
    };
    sandbox.ready.catch(() => {});
    this.pipeLines(child);
    child.on("message", (reply: WorkerReply) => {
      if (reply.type === "ready") {
        sandbox.readyAt = Date.now();
        readyResolve();
      } else if (reply.type === "result") this.pending.get(child)?.resolve(reply);
    });
    // An error of the child (a failed send or kill, a failed spawn) is the sandbox's death, never the host's.
    child.on("error", (err) => {
      sandbox.dead = true;
      this.sandboxes.delete(sandbox);
      const reason = `Runtime exited without providing a reason (${err.message})`;
      readyReject(new Error(reason));
      this.pending.get(child)?.reject(new Error(reason));
    });
    child.on("exit", (code, signal) => {
      sandbox.dead = true;
      this.sandboxes.delete(sandbox);
      const reason = `Runtime exited with error: ${signal ? `signal ${signal}` : `exit status ${code}`}`;
      readyReject(new Error(reason));
      this.pending.get(child)?.reject(new Error(reason));
    });
    this.sandboxes.add(sandbox);
    return sandbox;
  }

  private pipeLines(child: ChildProcess): void {
    for (const stream of [child.stdout, child.stderr]) {
      let buffer = "";
      stream?.setEncoding("utf8");
      stream?.on("data", (chunk: string) => {
        buffer += chunk;
        let newline = buffer.indexOf("\n");
        while (newline >= 0) {
          this.writeLog(buffer.slice(0, newline));
          buffer = buffer.slice(newline + 1);
          newline = buffer.indexOf("\n");
        }
      });
      stream?.on("end", () => {
        if (buffer) this.writeLog(buffer);
        buffer = "";
      });
    }
  }

  private writeLog(line: string): void {
    // After stop() has closed the log, a late line (an invocation ending) is not written (nor sent on).
    if (this.log.writableEnded) return;
    this.log.write(`${line}\n`);
    this.options.onLog?.(this.name, line);
  }

  private kill(sandbox: Sandbox): void {
    sandbox.dead = true;
    this.sandboxes.delete(sandbox);
    sandbox.child.kill("SIGKILL");
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const { reject } of this.waiting.splice(0)) reject(new StoppingError());
    const exits = [...this.sandboxes].map(
      (sandbox) =>
        new Promise<void>((resolve) => {
          if (sandbox.child.exitCode !== null || sandbox.child.signalCode !== null) return resolve();
          // "close": the process has exited and its output has been read to the end (into the log); not waited for
          // long after the exit (a process the handler started could hold the output open).
          sandbox.child.once("close", () => resolve());
          sandbox.child.once("exit", () => setTimeout(resolve, 500).unref());
          sandbox.child.kill("SIGTERM");
          setTimeout(() => sandbox.child.kill("SIGKILL"), 2000).unref();
        }),
    );
    await Promise.all(exits);
    await new Promise<void>((resolve) => this.log.end(resolve));
  }
}

class TimeoutError extends Error {
  override name = "TimeoutError";
}

class StoppingError extends Error {
  override name = "StoppingError";
  constructor() {
    super("the local cloud is stopping: the invocation was not run");
  }
}

/** `functions/sns-logger/index.handler` -> [`functions/sns-logger/index.ts`, `handler`]. */
export function splitHandler(handler: string): [file: string, exportName: string] {
  const dot = handler.lastIndexOf(".");
  if (dot <= 0) throw new Error(`handler "${handler}" must be "<path>.<export>"`);
  return [`${handler.slice(0, dot)}.ts`, handler.slice(dot + 1)];
}

export interface FunctionHost extends Invoker {
  /** The environment a function's sandboxes get (for inspection and tests). */
  environmentOf(functionName: string): Record<string, string>;
  stop(): Promise<void>;
}

/** Starts a host for the given functions. Sandboxes are spawned lazily, on first invocation. */
export function createFunctionHost(options: FunctionHostOptions): FunctionHost {
  const pools = new Map<string, FunctionPool>();
  const envs = new Map<string, Record<string, string>>();
  const arn = (name: string) => `arn:aws:lambda:${options.region}:${options.accountId}:function:${name}`;
  for (const [name, spec] of Object.entries(options.functions)) {
    const env = functionEnvironment(name, spec, options, arn(name));
    envs.set(name, env);
    pools.set(name, new FunctionPool(name, spec, env, options));
  }
  return {
    functionArn: arn,
    environmentOf(name) {
      const env = envs.get(name);
      if (!env) throw new Error(`unknown function ${name}`);
      return { ...env };
    },
    invoke(name, event) {
      const pool = pools.get(name);
      if (!pool) throw new Error(`unknown function ${name}; known: ${[...pools.keys()].join(", ")}`);
      return pool.invoke(event);
    },
    async stop() {
      await Promise.all([...pools.values()].map((pool) => pool.stop()));
    },
  };
}

/**
 * What a function's process sees: the Lambda runtime variables, the base (region, endpoints, credentials),
 * the function's own environment, and `SST_RESOURCE_*` for exactly the resources it is linked to.
 * The host's own environment is not inherited, apart from what Node itself needs to run.
 */
function functionEnvironment(
  name: string,
  spec: FunctionSpec,
  options: FunctionHostOptions,
  functionArn: string,
): Record<string, string> {
  const inherited: Record<string, string> = {};
  for (const key of ["PATH", "HOME", "TMPDIR", "LANG", "TZ", "NODE_OPTIONS"]) {
    const value = process.env[key];
    if (value !== undefined) inherited[key] = value;
  }
  const links: Record<string, string> = {};
  for (const link of spec.links) {
    const value = options.resourceLinks[link];
    if (value === undefined) throw new Error(`${name} links ${link}, which the local cloud does not define`);
    links[`SST_RESOURCE_${link}`] = value;
  }
  const credentials = options.credentialsOf?.(name);
  const dlqUrl = options.deadLetterQueueUrls?.[name];
  return {
    ...inherited,
    ...options.baseEnv,
    ...(credentials
      ? {
          AWS_ACCESS_KEY_ID: credentials.accessKeyId,
          AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
          ...(credentials.sessionToken ? { AWS_SESSION_TOKEN: credentials.sessionToken } : {}),
        }
      : {}),
    AWS_REGION: options.region,
    AWS_DEFAULT_REGION: options.region,
    AWS_LAMBDA_FUNCTION_NAME: name,
    AWS_LAMBDA_FUNCTION_VERSION: "$LATEST",
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(spec.memory),
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${name}`,
    AWS_LAMBDA_INITIALIZATION_TYPE: "on-demand",
    _HANDLER: spec.handler,
    SLUICE_FUNCTION_ARN: functionArn,
    ...(spec.environment ?? {}),
    ...(dlqUrl !== undefined ? { [DEAD_LETTER_QUEUE_URL]: dlqUrl } : {}),
    ...links,
  };
}
