/**
 * The policy each function's role gets from `sst deploy` is the document the local cloud enforces and `pnpm iam`
 * prints: the same statements (`functionStatements`), in the same order, with the stage's ARNs in place of the local
 * cloud's. And `policyDocument` writes them as pulumi-aws's `getPolicyDocument` does.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { type ArnsOf, functionStatements, policyDocument, type Statement } from "../../infra/permissions.ts";
import type { Wiring } from "../../infra/wiring.ts";
import * as wiring from "../../infra/wiring.ts";
import { catalogArns, Deployed } from "./checks.ts";
import { accountId, parsePolicy, region, type Synth, synthesize } from "./harness.ts";

let synth: Synth;
beforeAll(async () => {
  synth = await synthesize(wiring);
}, 300_000);

/** The ARNs of the synthesized stage, in the shape infra/permissions.ts takes. */
function stageArns(d: Deployed): ArnsOf<string> {
  const map = <T>(names: readonly string[], f: (name: string) => T) => Object.fromEntries(names.map((n) => [n, f(n)]));
  return {
    buckets: map(Object.keys(wiring.buckets), (n) => ({ bucket: d.bucketArn(n), objects: `${d.bucketArn(n)}/*` })),
    topics: map(Object.keys(wiring.topics), (n) => d.topicArn(n)),
    topicKey: d.topicKeyArn(),
    streams: map(Object.keys(wiring.streams), (n) => d.streamArn(n)),
    tables: map(Object.keys(wiring.tables), (n) => ({
      table: d.tableArn(n),
      indexes: `${d.tableArn(n)}/index/*`,
      ...((wiring.tables as Wiring["tables"])[n]?.stream ? { stream: d.tableStreamArn(n) } : {}),
    })),
    endpoints: map(
      Object.keys(wiring.endpoints),
      (n) => `arn:aws:sagemaker:${region}:${accountId}:endpoint/sluice-test-${n.toLowerCase()}`,
    ),
    catalogs: map(Object.keys(wiring.catalogs), (n) => catalogArns(wiring, n)),
    account: {
      arn: (service, resource) => `arn:aws:${service}:${region}:${accountId}:${resource}`,
      app: { name: "sluice", stage: "test" },
    },
  };
}

describe("each function's role policy, as deployed", () => {
  it.each(Object.keys(wiring.functions))("%s: the statements the local cloud enforces", (name) => {
    const d = new Deployed(synth);
    const spec = wiring.functions[name as keyof typeof wiring.functions];
    const inline = (synth.get("aws:iam/role:Role", `${name}Role`).inputs.inlinePolicies ?? []) as { policy: string }[];
    expect(inline).toHaveLength(1);
    const deployed: Statement<string>[] = parsePolicy(inline[0]?.policy).Statement.map((s) => ({
      actions: ([] as string[]).concat(s.Action),
      resources: ([] as string[]).concat(s.Resource),
    }));
    const enforced = functionStatements(wiring, name, spec, stageArns(d), d.dlqArn(name));
    expect(policyDocument(deployed)).toEqual(policyDocument(enforced));
  });
});

describe("policyDocument", () => {
  it("writes a list of one as a string and longer lists deduplicated in reverse order, as aws_iam_policy_document", () => {
    expect(
      policyDocument([
        { actions: ["sqs:SendMessage"], resources: ["arn:aws:sqs:us-east-1:1:q"] },
        {
          actions: ["s3:GetObject", "s3:PutObject", "s3:GetObject"],
          resources: ["arn:aws:s3:::b/*", "arn:aws:s3:::a/*"],
        },
      ]),
    ).toEqual({
      Version: "2012-10-17",
      Statement: [
        { Effect: "Allow", Action: "sqs:SendMessage", Resource: "arn:aws:sqs:us-east-1:1:q" },
        {
          Effect: "Allow",
          Action: ["s3:PutObject", "s3:GetObject"],
          Resource: ["arn:aws:s3:::b/*", "arn:aws:s3:::a/*"],
        },
      ],
    });
  });
});
