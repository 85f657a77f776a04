/**
 * Step of `startLocalCloud`: each function's identity. A function gets two sets of credentials of its role: the
 * handler's, and those Lambda itself uses with the same role (stream polling, dead-lettering). Both carry the policy
 * `sst deploy` attaches to the role; faults are injected into the handler's calls only.
 */
import { type FunctionIdentity, functionCredentials, functionPrincipal } from "../iam/identities.ts";
import { localPolicies } from "../iam/policies.ts";
import { assertEvaluable, type PolicyDocument } from "../iam/policy.ts";
import { ACCOUNT_ID, APP, REGION } from "../names.ts";
import type { WiringResources } from "../resources.ts";

/** The names the local cloud's ARNs and policies are built from. */
export const localNames = { app: APP, region: REGION, accountId: ACCOUNT_ID };

/** The credentials a function's handler runs with. */
export function credentialsOf(functionName: string) {
  return functionCredentials(APP, functionName);
}

/** The credentials Lambda uses with the function's role (stream polling, the on-failure destination). */
export function serviceCredentialsOf(functionName: string) {
  return functionCredentials(APP, `${functionName}#lambda`);
}

export interface FunctionIdentities {
  /** Each function's IAM policy, with the local cloud's ARNs. */
  policies: Record<string, PolicyDocument>;
  /** Identity by access key id: the handler's and Lambda's credentials of every function. */
  identities: Map<string, FunctionIdentity>;
}

/** Every function's policy and the identities the IAM gateways recognize; throws on a policy IAM could not evaluate. */
export function functionIdentities(spec: WiringResources): FunctionIdentities {
  const policies = localPolicies(spec, localNames);
  const identities = new Map<string, FunctionIdentity>();
  for (const [name, policy] of Object.entries(policies)) {
    assertEvaluable(policy, name);
    const principal = functionPrincipal(APP, ACCOUNT_ID, name);
    const handler = credentialsOf(name);
    const service = serviceCredentialsOf(name);
    identities.set(handler.accessKeyId, {
      functionName: name,
      credentials: handler,
      principal,
      policy,
      faultable: true,
    });
    identities.set(service.accessKeyId, {
      functionName: name,
      credentials: service,
      principal,
      policy,
      faultable: false,
    });
  }
  return { policies, identities };
}
