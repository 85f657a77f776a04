/**
 * One execution environment of a function: a child process that imports the handler module once (the cold
 * start) and runs invocations sent by the function host over IPC, one at a time, like a Lambda sandbox.
 *
 * It is started by `function-host.ts` with the function's environment (its configuration, its `SST_RESOURCE_*`
 * links and nothing else), so `import { Resource } from "sst"` in the handler reads exactly what it reads on AWS.
 */
import { randomBytes } from "node:crypto";
import { pathToFileURL } from "node:url";

export interface InvokeMessage {
  type: "invoke";
  requestId: string;
  event: unknown;
  /** Epoch ms after which the host kills this process. */
  deadline: number;
}

/** `initMs`: set on the invocation that imported the handler module (the init of a cold start), in ms. */
export type WorkerReply =
  | { type: "ready" }
  | { type: "result"; requestId: string; ok: true; payload: unknown; initMs?: number }
  | {
      type: "result";
      requestId: string;
      ok: false;
      error: { errorType: string; errorMessage: string; stackTrace: string[] };
      initMs?: number;
    };

type Handler = (event: unknown, context: unknown) => Promise<unknown> | unknown;

const modulePath = required("SLUICE_HANDLER_FILE");
const exportName = required("SLUICE_HANDLER_EXPORT");
const functionName = required("AWS_LAMBDA_FUNCTION_NAME");
const functionArn = required("SLUICE_FUNCTION_ARN");

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`worker: ${name} is not set`);
  return value;
}

let handlerPromise: Promise<Handler> | undefined;

function loadHandler(): Promise<Handler> {
  handlerPromise ??= import(pathToFileURL(modulePath).href).then((mod: Record<string, unknown>) => {
    const fn = mod[exportName];
    if (typeof fn !== "function") {
      throw Object.assign(new Error(`${modulePath} does not export a function named "${exportName}"`), {
        name: "Runtime.HandlerNotFound",
      });
    }
    return fn as Handler;
  });
  return handlerPromise;
}

function toError(err: unknown): { errorType: string; errorMessage: string; stackTrace: string[] } {
  if (err instanceof Error) {
    return {
      errorType: err.name || "Error",
      errorMessage: err.message,
      stackTrace: (err.stack ?? "")
        .split("\n")
        .slice(1)
        .map((line) => line.trim()),
    };
  }
  return { errorType: typeof err, errorMessage: String(err), stackTrace: [] };
}

function send(reply: WorkerReply): void {
  process.send?.(reply);
}

async function invoke(message: InvokeMessage): Promise<void> {
  // Each invocation gets its own X-Ray trace header, as the Lambda runtime sets it.
  const traceId = `1-${Math.floor(Date.now() / 1000).toString(16)}-${randomBytes(12).toString("hex")}`;
  process.env._X_AMZN_TRACE_ID = `Root=${traceId};Parent=${randomBytes(8).toString("hex")};Sampled=0`;
  const context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: "$LATEST",
    invokedFunctionArn: functionArn,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE ?? "128",
    awsRequestId: message.requestId,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME ?? `/aws/lambda/${functionName}`,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME ?? "local",
    getRemainingTimeInMillis: () => Math.max(0, message.deadline - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
  let initMs: number | undefined;
  try {
    const initStarted = handlerPromise ? undefined : performance.now();
    const handler = await loadHandler().finally(() => {
      if (initStarted !== undefined) initMs = performance.now() - initStarted;
    });
    const payload = await handler(message.event, context);
    // Lambda serialises the response as JSON: what cannot survive that does not reach the caller either.
    send({
      type: "result",
      requestId: message.requestId,
      ok: true,
      payload: payload === undefined ? null : payload,
      ...(initMs !== undefined ? { initMs } : {}),
    });
  } catch (err) {
    const error = toError(err);
    // The Lambda Node.js runtime logs an unhandled error as one record before reporting it.
    process.stderr.write(
      `${JSON.stringify({ timestamp: new Date().toISOString(), level: "ERROR", requestId: message.requestId, message: "Invoke Error", ...error })}\n`,
    );
    send({
      type: "result",
      requestId: message.requestId,
      ok: false,
      error,
      ...(initMs !== undefined ? { initMs } : {}),
    });
  }
}

process.on("message", (message: InvokeMessage) => {
  if (message?.type === "invoke") void invoke(message);
});
process.on("disconnect", () => process.exit(0));
send({ type: "ready" });
