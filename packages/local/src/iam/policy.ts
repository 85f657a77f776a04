/**
 * IAM identity-policy evaluation, for the subset of IAM that Sluice's generated policies use: `Allow` and `Deny`
 * statements with `Action`/`NotAction` and `Resource`/`NotResource`, wildcards in both. It follows IAM's documented
 * rules (IAM User Guide, "Policy evaluation logic" and "IAM JSON policy elements"):
 *
 * - a request is denied by default; an `Allow` that matches allows it; a matching `Deny` wins over every `Allow`;
 * - action names match case-insensitively, with `*` (any run of characters) and `?` (one character);
 * - resource ARNs match case-sensitively, segment by segment between colons, `*` and `?` within a segment; a `*`
 *   ending a segment also matches across the colons that follow; `"*"` alone matches every resource.
 *
 * A statement with a `Condition`, a `Principal` or a policy variable (`${aws:username}`) is refused when the
 * policy is loaded, rather than silently evaluated as if it were absent: the generated policies use none, and a
 * local cloud that ignored one would allow what AWS denies.
 *
 * Why not `@cloud-copilot/iam-simulate`: it evaluates all of IAM, but it is AGPL-3.0, which many of the companies
 * that would run Sluice do not accept even in development tooling.
 */

export interface PolicyStatement {
  Sid?: string;
  Effect: "Allow" | "Deny";
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Condition?: unknown;
  Principal?: unknown;
  NotPrincipal?: unknown;
}

export interface PolicyDocument {
  Version: "2012-10-17";
  Statement: PolicyStatement[];
}

/** One authorization question: may the identity perform `action` on `resource` (an ARN, or `*`)? */
export interface AccessRequest {
  action: string;
  resource: string;
}

export type Decision =
  | { allowed: true; statement: number }
  | { allowed: false; reason: "explicit-deny"; statement: number }
  | { allowed: false; reason: "implicit-deny" };

const list = (value: string | string[] | undefined): string[] | undefined =>
  value === undefined ? undefined : Array.isArray(value) ? value : [value];

/** Throws when a policy uses IAM features this evaluator does not implement (see the module comment). */
export function assertEvaluable(policy: PolicyDocument, owner: string): void {
  if (policy.Version !== "2012-10-17") throw new Error(`${owner}: policy Version must be "2012-10-17"`);
  policy.Statement.forEach((statement, index) => {
    const where = `${owner}: statement ${statement.Sid ?? index}`;
    if (statement.Effect !== "Allow" && statement.Effect !== "Deny")
      throw new Error(`${where}: Effect must be Allow or Deny`);
    if (statement.Condition !== undefined)
      throw new Error(`${where}: Condition is not supported by the local cloud's IAM`);
    if (statement.Principal !== undefined || statement.NotPrincipal !== undefined) {
      throw new Error(`${where}: an identity policy has no Principal`);
    }
    if ((statement.Action === undefined) === (statement.NotAction === undefined)) {
      throw new Error(`${where}: exactly one of Action and NotAction is required`);
    }
    if ((statement.Resource === undefined) === (statement.NotResource === undefined)) {
      throw new Error(`${where}: exactly one of Resource and NotResource is required`);
    }
    for (const resource of [...(list(statement.Resource) ?? []), ...(list(statement.NotResource) ?? [])]) {
      if (resource.includes("${")) throw new Error(`${where}: policy variables are not supported (${resource})`);
    }
  });
}

/** Evaluates an identity policy for one request. */
export function evaluate(policy: PolicyDocument, request: AccessRequest): Decision {
  let allowedBy: number | undefined;
  for (const [index, statement] of policy.Statement.entries()) {
    if (!statementMatches(statement, request)) continue;
    if (statement.Effect === "Deny") return { allowed: false, reason: "explicit-deny", statement: index };
    allowedBy ??= index;
  }
  return allowedBy === undefined
    ? { allowed: false, reason: "implicit-deny" }
    : { allowed: true, statement: allowedBy };
}

function statementMatches(statement: PolicyStatement, request: AccessRequest): boolean {
  const actions = list(statement.Action);
  const notActions = list(statement.NotAction);
  const actionOk = actions
    ? actions.some((pattern) => actionMatches(pattern, request.action))
    : !(notActions ?? []).some((pattern) => actionMatches(pattern, request.action));
  if (!actionOk) return false;
  const resources = list(statement.Resource);
  const notResources = list(statement.NotResource);
  return resources
    ? resources.some((pattern) => resourceMatches(pattern, request.resource))
    : !(notResources ?? []).some((pattern) => resourceMatches(pattern, request.resource));
}

/** IAM action matching: `service:Name`, case-insensitive, with `*` and `?`. */
export function actionMatches(pattern: string, action: string): boolean {
  return glob(pattern.toLowerCase(), action.toLowerCase());
}

/** IAM resource matching (see the module comment). */
export function resourceMatches(pattern: string, arn: string): boolean {
  if (pattern === "*") return true;
  if (arn === "*") return false;
  const want = splitArn(pattern);
  const have = splitArn(arn);
  for (let i = 0; i < want.length; i++) {
    const segment = want[i] as string;
    const last = i === want.length - 1;
    if (last && i < 5 && segment.endsWith("*")) return glob(segment, have.slice(i).join(":"));
    if (i >= have.length) return false;
    if (!glob(segment, have[i] as string)) return false;
  }
  return want.length === have.length;
}

/** `arn:partition:service:region:account:resource`, the resource kept whole (it may contain colons). */
function splitArn(arn: string): string[] {
  const parts = arn.split(":");
  return parts.length <= 6 ? parts : [...parts.slice(0, 5), parts.slice(5).join(":")];
}

/** `*` matches any run of characters (none included), `?` exactly one; everything else literally. */
export function glob(pattern: string, value: string): boolean {
  let p = 0;
  let v = 0;
  let star = -1;
  let resume = 0;
  while (v < value.length) {
    const c = pattern[p];
    if (c === "?" || (c !== undefined && c !== "*" && c === value[v])) {
      p++;
      v++;
    } else if (c === "*") {
      star = p++;
      resume = v;
    } else if (star >= 0) {
      p = star + 1;
      v = ++resume;
    } else {
      return false;
    }
  }
  while (pattern[p] === "*") p++;
  return p === pattern.length;
}
