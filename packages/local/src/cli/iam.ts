/**
 * `pnpm --silent iam [Function...]`: prints, as JSON, each function's IAM policy exactly as `sst deploy` attaches it
 * to the function's role (the same statements, from infra/wiring.ts through infra/permissions.ts), with the local
 * cloud's ARNs: `{"<Function>": {"Version": "2012-10-17", "Statement": [...]}}`. These are the documents the local
 * cloud enforces. On a stage, the ARNs are the stage's.
 */
import * as wiring from "@sluice/infra/wiring";
import { localPolicies } from "../iam/policies.ts";
import { ACCOUNT_ID, APP, REGION } from "../names.ts";

export function iamCommand(args: readonly string[]): { code: number; out: string } {
  if (args.includes("--help") || args.includes("-h")) {
    return { code: 0, out: "usage: pnpm --silent iam [Function...]   (every function when none is named)\n" };
  }
  const policies = localPolicies(wiring, { app: APP, region: REGION, accountId: ACCOUNT_ID });
  const unknown = args.filter((name) => !(name in policies));
  if (unknown.length > 0) {
    return {
      code: 2,
      out: `iam: no function named ${unknown.join(", ")}; the functions are ${Object.keys(policies).join(", ")}\n`,
    };
  }
  const chosen = args.length > 0 ? Object.fromEntries(args.map((name) => [name, policies[name]])) : policies;
  return { code: 0, out: `${JSON.stringify(chosen, null, 2)}\n` };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { code, out } = iamCommand(process.argv.slice(2));
  (code === 0 ? process.stdout : process.stderr).write(out);
  process.exitCode = code;
}
