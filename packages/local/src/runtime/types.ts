/**
 * Contracts between the parts of the local Lambda runtime: the function host (which runs handler code in
 * worker processes) and the event sources (S3 notifications, SNS subscriptions, stream mappings).
 */

/** What one invocation of a function ended with, as the Lambda service sees it. */
export interface InvokeResult {
  requestId: string;
  /** `ok`: the handler returned; `error`: it threw or rejected (AWS "Unhandled"); `timeout`: it ran past its timeout. */
  status: "ok" | "error" | "timeout";
  /** The handler's return value (JSON-serialisable) when `status` is `ok`. */
  payload?: unknown;
  /** AWS-shaped error when `status` is not `ok`, e.g. `{ errorType: "Error", errorMessage: "boom" }`. */
  error?: { errorType: string; errorMessage: string; stackTrace?: string[] };
  durationMs: number;
}

/** Invokes a function by name (the wiring's function name, e.g. `SnsLogger`) with an event. */
export interface Invoker {
  invoke(functionName: string, event: unknown): Promise<InvokeResult>;
  /** The ARN the local cloud gives a function, used in failure records. */
  functionArn(functionName: string): string;
}

/** Sends a JSON message to an SQS queue (the on-failure destinations). */
export interface DeadLetterSink {
  send(queueName: string, body: unknown): Promise<void>;
}
