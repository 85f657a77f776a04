/**
 * Test kit of the stream-mapping tests: an {@link Invoker} running in-process handler functions (the real function
 * host is tested on its own), and an on-failure destination on the SQS emulator whose messages tests read back.
 */
import { randomUUID } from "node:crypto";
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { DeadLetterSink, InvokeResult, Invoker } from "../runtime/types.ts";

// biome-ignore lint/suspicious/noExplicitAny: handlers receive whatever JSON the mapping sends
export type FixtureHandler = (event: any) => unknown;

export interface Invocation {
  functionName: string;
  // biome-ignore lint/suspicious/noExplicitAny: the event as the handler saw it
  event: any;
  result: InvokeResult;
}

export interface FixtureInvoker extends Invoker {
  readonly invocations: Invocation[];
  /** Invocations of one function. */
  of(functionName: string): Invocation[];
}

/**
 * Runs `handlers[functionName]` like the Lambda runtime would: the event and the result cross a JSON boundary, a
 * throw is an `Unhandled` function error.
 */
export function fixtureInvoker(
  handlers: Record<string, FixtureHandler>,
  where = { region: "us-east-1", accountId: "000000000000" },
): FixtureInvoker {
  const invocations: Invocation[] = [];
  return {
    invocations,
    of: (functionName) => invocations.filter((i) => i.functionName === functionName),
    functionArn: (functionName) => `arn:aws:lambda:${where.region}:${where.accountId}:function:${functionName}`,
    async invoke(functionName, event) {
      const handler = handlers[functionName];
      if (!handler) throw new Error(`no fixture handler ${functionName}`);
      const seen = JSON.parse(JSON.stringify(event));
      const started = Date.now();
      let result: InvokeResult;
      try {
        const payload = await handler(JSON.parse(JSON.stringify(seen)));
        result = {
          requestId: randomUUID(),
          status: "ok",
          payload: payload === undefined ? null : JSON.parse(JSON.stringify(payload)),
          durationMs: Date.now() - started,
        };
      } catch (err) {
        result = {
          requestId: randomUUID(),
          status: "error",
          error: { errorType: (err as Error).name, errorMessage: (err as Error).message },
          durationMs: Date.now() - started,
        };
      }
      invocations.push({ functionName, event: seen, result });
      return result;
    },
  };
}

/** The `state` a handler returned (tumbling windows). */
export function returnedState(invocation: Invocation | undefined): unknown {
  return (invocation?.result.payload as { state?: unknown } | null | undefined)?.state;
}

/** SQS-backed on-failure destinations, created on demand, one queue per name. */
export function sqsDeadLetters(sqs: SQSClient): DeadLetterSink & {
  /** Every message that reached `queueName` so far (received and deleted). */
  drain(queueName: string): Promise<unknown[]>;
} {
  const urls = new Map<string, Promise<string>>();
  const url = (queueName: string) => {
    let queueUrl = urls.get(queueName);
    if (!queueUrl) {
      queueUrl = sqs.send(new CreateQueueCommand({ QueueName: queueName })).then(({ QueueUrl }) => {
        if (!QueueUrl) throw new Error(`queue ${queueName} was not created`);
        return QueueUrl;
      });
      urls.set(queueName, queueUrl);
    }
    return queueUrl;
  };
  return {
    async send(queueName, body) {
      await sqs.send(new SendMessageCommand({ QueueUrl: await url(queueName), MessageBody: JSON.stringify(body) }));
    },
    async drain(queueName) {
      const QueueUrl = await url(queueName);
      const bodies: unknown[] = [];
      for (;;) {
        const { Messages = [] } = await sqs.send(
          new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
        );
        if (Messages.length === 0) return bodies;
        for (const message of Messages) bodies.push(JSON.parse(message.Body ?? "null"));
        await sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl,
            Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
          }),
        );
      }
    },
  };
}

/** The JSON type of each field of an object, recursively (arrays by their first element): shapes to compare. */
export function shapeOf(value: unknown): unknown {
  if (Array.isArray(value)) return value.length > 0 ? [shapeOf(value[0])] : [];
  if (value === null) return "null";
  if (typeof value === "object") {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, shapeOf(v)]));
  }
  return typeof value;
}
