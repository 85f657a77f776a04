import * as wiring from "@sluice/infra/wiring";
import { describe, expect, it } from "vitest";
import { iamCommand } from "../cli/iam.ts";
import { eventSourcePermissionProblems, localPolicies, localTopicKeys } from "./policies.ts";
import { assertEvaluable, evaluate, type PolicyDocument } from "./policy.ts";

const names = { app: { name: "sluice", stage: "local" }, region: "us-east-1", accountId: "000000000000" };

describe("the local cloud's function policies", () => {
  const policies = localPolicies(wiring, names);

  it("encrypts every topic with the topics' key, which every publisher may use (the gateway checks it on Publish)", () => {
    const keys = localTopicKeys(wiring, names);
    const key = "arn:aws:kms:us-east-1:000000000000:key/sluice-local-topickey";
    expect([...keys.keys()].sort()).toEqual(
      Object.keys(wiring.topics)
        .map((t) => `arn:aws:sns:us-east-1:000000000000:sluice-local-${t}`)
        .sort(),
    );
    expect(new Set(keys.values())).toEqual(new Set([key]));
    for (const [name, policy] of Object.entries(policies)) {
      for (const topic of keys.keys()) {
        if (!evaluate(policy, { action: "sns:Publish", resource: topic }).allowed) continue;
        for (const action of ["kms:GenerateDataKey", "kms:Decrypt"])
          expect([name, evaluate(policy, { action, resource: key }).allowed]).toEqual([name, true]);
      }
    }
  });

  it("has one evaluable policy per function", () => {
    expect(Object.keys(policies).sort()).toEqual(Object.keys(wiring.functions).sort());
    for (const [name, policy] of Object.entries(policies)) expect(() => assertEvaluable(policy, name)).not.toThrow();
  });

  it("names the local cloud's resources: DemandHydration writes its windows in batches, and only there", () => {
    const windows = "arn:aws:dynamodb:us-east-1:000000000000:table/sluice-local-DemandWindows";
    const policy = policies.DemandHydration as PolicyDocument;
    expect(evaluate(policy, { action: "dynamodb:BatchWriteItem", resource: windows }).allowed).toBe(true);
    expect(
      evaluate(policy, {
        action: "dynamodb:BatchWriteItem",
        resource: "arn:aws:dynamodb:us-east-1:000000000000:table/sluice-local-Catalog",
      }).allowed,
    ).toBe(false);
  });

  it("lets PriceInference invoke its own model endpoint and no other", () => {
    const endpoint = (name: string) => `arn:aws:sagemaker:us-east-1:000000000000:endpoint/${name}`;
    const policy = policies.PriceInference as PolicyDocument;
    const invoke = (name: string) => evaluate(policy, { action: "sagemaker:InvokeEndpoint", resource: endpoint(name) });
    expect(invoke("sluice-local-pricingmodel").allowed).toBe(true);
    expect(invoke("sluice-prod-pricingmodel").allowed).toBe(false);
  });

  it("lets every function poll the streams that trigger it and fail over to its own queue", () => {
    expect(eventSourcePermissionProblems(wiring, policies, names)).toEqual([]);
  });

  it("refuses a function whose role could not poll its stream or reach its dead-letter queue, as Lambda does", () => {
    const crippled = Object.fromEntries(
      Object.entries(policies).map(([name, policy]) => [
        name,
        {
          ...policy,
          Statement: policy.Statement.filter((s) => {
            const actions = ([] as string[]).concat(s.Action ?? []);
            return !actions.includes("kinesis:GetRecords") && !actions.includes("sqs:SendMessage");
          }),
        },
      ]),
    );
    const problems = eventSourcePermissionProblems(wiring, crippled, names);
    expect(problems).toContain(
      "DemandHydration: the provided execution role does not have permissions to call GetRecords on Kinesis (arn:aws:kinesis:us-east-1:000000000000:stream/sluice-local-Clickstream)",
    );
    // Every function that has a trigger here (CdcMaintenance is started by EventBridge Scheduler, on AWS only).
    const triggered = Object.values(wiring.functions).filter((f) => f.triggers.length > 0);
    expect(problems.filter((p) => p.includes("SendMessage"))).toHaveLength(triggered.length);
  });
});

describe("pnpm --silent iam", () => {
  it("prints every function's policy as JSON", () => {
    const { code, out } = iamCommand([]);
    expect(code).toBe(0);
    const printed = JSON.parse(out);
    expect(Object.keys(printed).sort()).toEqual(Object.keys(wiring.functions).sort());
    expect(printed.SnsLogger).toEqual({
      Version: "2012-10-17",
      Statement: [
        {
          Effect: "Allow",
          Action: "sqs:SendMessage",
          Resource: "arn:aws:sqs:us-east-1:000000000000:sluice-local-SnsLoggerDlq",
        },
      ],
    });
  });

  it("prints the functions it is given, and refuses an unknown one", () => {
    expect(Object.keys(JSON.parse(iamCommand(["FileMover", "CdcMerge"]).out))).toEqual(["FileMover", "CdcMerge"]);
    const unknown = iamCommand(["FileMovr"]);
    expect(unknown.code).toBe(2);
    expect(unknown.out).toMatch(/no function named FileMovr; the functions are SnsLogger, FileMover/);
  });
});
