/**
 * Who calls the local cloud. Each function runs with credentials of its own, as a Lambda function runs with a
 * session of its execution role; every other caller (the AWS CLI, `pnpm push`, tests, a user's scripts, the local
 * cloud's own plumbing) signs with the local cloud's default credentials and is unrestricted, like a developer's
 * administrator credentials.
 */
import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { PolicyDocument } from "./policy.ts";

export interface FunctionCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
}

export interface FunctionIdentity {
  functionName: string;
  credentials: FunctionCredentials;
  /** The assumed-role session ARN AWS names in its errors. */
  principal: string;
  /** The identity policy of the function's role: the document `sst deploy` attaches to it. */
  policy: PolicyDocument;
  /**
   * Whether injected faults apply: to the calls the handler makes, not to those Lambda itself makes with the role
   * (polling a stream, sending to the on-failure destination), which use credentials of their own.
   */
  faultable: boolean;
}

/**
 * A function's credentials: a temporary (`ASIA`) access key id derived from the app, stage and function name, so
 * that the same function gets the same key on every start and no two functions share one.
 */
export function functionCredentials(app: { name: string; stage: string }, functionName: string): FunctionCredentials {
  const digest = createHash("sha256").update(`${app.name}/${app.stage}/${functionName}`).digest();
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let id = "";
  for (let i = 0; i < 16; i++) id += alphabet[(digest[i] as number) % 32];
  return {
    accessKeyId: `ASIA${id}`,
    secretAccessKey: digest.subarray(16).toString("base64"),
    sessionToken: `sluice-local/${app.name}/${app.stage}/${functionName}`,
  };
}

/** The role session a function runs as: `arn:aws:sts::<account>:assumed-role/<app>-<stage>-<Function>Role/<Function>`. */
export function functionPrincipal(
  app: { name: string; stage: string },
  accountId: string,
  functionName: string,
): string {
  return `arn:aws:sts::${accountId}:assumed-role/${app.name}-${app.stage}-${functionName}Role/${functionName}`;
}

/** The access key id a request is signed with (SigV4 `Authorization` header, or a presigned URL's query). */
export function accessKeyOf(req: Pick<IncomingMessage, "headers" | "url">): string | undefined {
  const authorization = req.headers.authorization;
  const fromHeader = typeof authorization === "string" ? /Credential=([^/,\s]+)\//.exec(authorization)?.[1] : undefined;
  if (fromHeader) return fromHeader;
  const credential = new URL(req.url ?? "/", "http://local").searchParams.get("X-Amz-Credential");
  return credential?.split("/")[0] || undefined;
}
