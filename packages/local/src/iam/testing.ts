/**
 * What the IAM gateway's tests share: the local account, a test function's identity, and how a refused call failed.
 */
import { type FunctionIdentity, functionCredentials, functionPrincipal } from "./identities.ts";
import type { PolicyDocument } from "./policy.ts";

export const region = "us-east-1";
export const accountId = "000000000000";
export const app = { name: "sluice", stage: "test" };
/** Credentials that are no function's: the gateway passes their calls untouched (setting up, reading back). */
export const admin = { accessKeyId: "local", secretAccessKey: "local" };

/** The function `name` of {@link app}, allowed `statements`. */
export function testIdentity(name: string, statements: PolicyDocument["Statement"]): FunctionIdentity {
  return {
    functionName: name,
    credentials: functionCredentials(app, name),
    principal: functionPrincipal(app, accountId, name),
    policy: { Version: "2012-10-17", Statement: statements },
    faultable: false,
  };
}

/** How a call failed: its error's name, HTTP status and message. Throws if it succeeded. */
export async function failure(
  promise: Promise<unknown>,
): Promise<{ name: string; status: number | undefined; message: string }> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e as { name: string; message: string; $metadata: { httpStatusCode?: number } },
  );
  if (!err) throw new Error("the call succeeded");
  return { name: err.name, status: err.$metadata.httpStatusCode, message: err.message };
}
