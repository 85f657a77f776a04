/**
 * Conditional writes (PutObject with `If-None-Match: *` or `If-Match: <etag>`), which S3 supports and fauxqs
 * ignores: the S3 gateway checks the condition and forwards the PUT while holding a lock on the key, so concurrent
 * conditional writes through the gateway behave as on S3 (one wins, the others get 412 PreconditionFailed).
 */
import type http from "node:http";
import { classifyRequest } from "./s3-object-changes.ts";

/** A conditional PutObject: the key it locks and its conditions, as sent. */
export interface ConditionalPut {
  lockKey: string;
  ifNoneMatch?: string;
  ifMatch?: string;
}

/** The conditions of a PutObject that has any, or `undefined` for every other request. */
export function conditionalPutOf(
  req: Pick<http.IncomingMessage, "method" | "url" | "headers">,
): ConditionalPut | undefined {
  const request = classifyRequest(req);
  const ifNoneMatch = req.headers["if-none-match"];
  const ifMatch = req.headers["if-match"];
  if (request?.kind !== "put" || (ifNoneMatch === undefined && ifMatch === undefined)) return undefined;
  return { lockKey: `${request.target.bucket}/${request.target.key}`, ifNoneMatch, ifMatch };
}

/** Whether the conditions hold for the object as it is now (`status` and ETag of a HEAD of it). */
export function preconditionHolds(condition: ConditionalPut, current: { status: number; eTag?: string }): boolean {
  const { eTag } = current;
  const exists = current.status < 300 && eTag !== undefined;
  return (
    (condition.ifNoneMatch === undefined ||
      (condition.ifNoneMatch === "*" ? !exists : eTag !== condition.ifNoneMatch.replace(/"/g, ""))) &&
    (condition.ifMatch === undefined || (exists && eTag === condition.ifMatch.replace(/"/g, "")))
  );
}

const PRECONDITION_FAILED =
  '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>';

/** What conditional writes need of the gateway: the object's current state, and forwarding a request. */
export interface ConditionalWriteIo {
  /** Status and ETag of the object a request names, as the emulator has it now; rejects when it cannot tell. */
  current(req: http.IncomingMessage): Promise<{ status: number; eTag?: string }>;
  forward(req: http.IncomingMessage, res: http.ServerResponse): void;
}

/**
 * Returns the gateway's handler of conditional writes: it takes a conditional PutObject (and returns true), checks
 * and forwards it under the key's lock, and leaves every other request to the caller (returns false).
 */
export function conditionalWrites(
  io: ConditionalWriteIo,
): (req: http.IncomingMessage, res: http.ServerResponse) => boolean {
  const keyLocks = new Map<string, Promise<void>>();
  return (req, res) => {
    const conditional = conditionalPutOf(req);
    if (!conditional) return false;
    const previous = keyLocks.get(conditional.lockKey) ?? Promise.resolve();
    const run = previous.then(async () => {
      try {
        if (!preconditionHolds(conditional, await io.current(req))) {
          req.resume();
          res.writeHead(412, { "content-type": "application/xml" });
          res.end(PRECONDITION_FAILED);
          return;
        }
        // The lock is held until the emulator has answered the write.
        await new Promise<void>((resolve) => {
          res.on("close", resolve);
          io.forward(req, res);
        });
      } catch (error) {
        if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
        res.end(`S3 gateway: upstream error: ${(error as Error).message}`);
      }
    });
    const settled = run.catch(() => undefined);
    keyLocks.set(conditional.lockKey, settled);
    void settled.then(() => {
      if (keyLocks.get(conditional.lockKey) === settled) keyLocks.delete(conditional.lockKey);
    });
    return true;
  };
}
