/**
 * Per-stage settings (config/stages.json, infra/stages.ts), and a stage that names an existing pricing endpoint:
 * PriceInference calls (and may invoke) that endpoint, and the stage builds, pushes and deploys no model of its own.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { awsProviderArgs } from "../../infra/provider.ts";
import { stageSettings, stagesProblems } from "../../infra/stages.ts";
import * as wiring from "../../infra/wiring.ts";
import { accountId, app, parsePolicy, region, repoRoot, type Synth, synthesize } from "./harness.ts";

const existing = "Team-Pricing-v3";
let synth: Synth;

beforeAll(async () => {
  synth = await synthesize(wiring, async (w) => {
    const { deploySluice } = await import("../../infra/app.ts");
    return deploySluice(w, { stages: { [app.stage]: { pricingEndpoint: existing } } });
  });
}, 300_000);

describe("a stage that names an existing pricing endpoint", () => {
  it("links PricingModel to that endpoint and outputs its name", () => {
    const build = synth.builds.find((b) => b.functionID === "PriceInference");
    expect(build?.links.PricingModel).toEqual({ name: existing, type: "sst.sst.Linkable" });
    expect(synth.outputs.PricingModelEndpoint).toBe(existing);
  });

  it("lets PriceInference invoke that endpoint (SageMaker ARNs are lower case)", () => {
    const role = synth.get("aws:iam/role:Role", "PriceInferenceRole").inputs;
    const statements = (role.inlinePolicies as { policy: string }[]).flatMap((p) => parsePolicy(p.policy).Statement);
    expect(statements.filter((s) => s.Action.includes("sagemaker:InvokeEndpoint"))).toEqual([
      {
        Effect: "Allow",
        Action: ["sagemaker:InvokeEndpoint"],
        Resource: [`arn:aws:sagemaker:${region}:${accountId}:endpoint/team-pricing-v3`],
      },
    ]);
  });

  it.each([
    "aws:ecr/repository:Repository",
    "aws:ecr/lifecyclePolicy:LifecyclePolicy",
    "docker-build:index:Image",
    "aws:sagemaker/model:Model",
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration",
    "aws:sagemaker/endpoint:Endpoint",
  ])("creates no %s", (type) => {
    expect(synth.ofType(type)).toEqual([]);
  });

  it("creates no role for SageMaker", () => {
    const roles = synth.ofType("aws:iam/role:Role").map((r) => r.inputs.assumeRolePolicy as string);
    expect(roles.filter((policy) => policy.includes("sagemaker.amazonaws.com"))).toEqual([]);
  });
});

describe("config/stages.json", () => {
  it("is valid as committed", () => {
    const file = JSON.parse(readFileSync(path.join(repoRoot, "config/stages.json"), "utf8"));
    expect(stagesProblems(file)).toEqual([]);
  });

  it("gives a stage it does not list every default", () => {
    expect(stageSettings("someone-elses-stage", { staging: { pricingEndpoint: "shared-pricing" } })).toEqual({});
    expect(stageSettings("staging", { staging: { pricingEndpoint: "shared-pricing" } })).toEqual({
      pricingEndpoint: "shared-pricing",
    });
    expect(stageSettings("$comment", { $comment: "not a stage" })).toEqual({});
  });

  it.each([
    [{ staging: { pricingEndpont: "x" } }, /unknown setting "pricingEndpont"/],
    [{ staging: { pricingEndpoint: "my_endpoint" } }, /not a SageMaker endpoint name/],
    [{ staging: { pricingEndpoint: "x".repeat(64) } }, /not a SageMaker endpoint name/],
    [{ staging: { pricingEndpoint: 42 } }, /not a SageMaker endpoint name/],
    [{ staging: "my-endpoint" }, /expected an object/],
    [{ production: { awsAccountIds: "111122223333" } }, /awsAccountIds .* is not a list of AWS account ids/],
    [{ production: { awsAccountIds: [] } }, /awsAccountIds \[\] is not a list of AWS account ids/],
    [{ production: { awsAccountIds: [111122223333] } }, /is not a list of AWS account ids/],
    [{ production: { awsAccountIds: ["1111-2222-3333"] } }, /is not a list of AWS account ids/],
    [{ production: { awsAccountIds: ["11112222333"] } }, /is not a list of AWS account ids/],
    [{ production: { awsAccountIds: ["111122223333", "111122223333"] } }, /names 111122223333 twice/],
  ])("refuses %j, whichever stage deploys", (file, message) => {
    expect(() => stageSettings("production", file)).toThrow(message);
  });

  it("pins a stage to the AWS accounts it lists (awsAccountIds)", () => {
    const file = { production: { awsAccountIds: ["111122223333", "444455556666"] } };
    expect(stagesProblems(file)).toEqual([]);
    expect(stageSettings("production", file)).toEqual({ awsAccountIds: ["111122223333", "444455556666"] });
  });
});

describe("the AWS provider's arguments for a stage (awsProviderArgs, sst.config.ts's app())", () => {
  const file = { production: { awsAccountIds: ["111122223333"] }, staging: { pricingEndpoint: "shared-pricing" } };

  it("allow only the accounts config/stages.json pins the stage to", () => {
    expect(awsProviderArgs("production", {}, file)).toEqual({ allowedAccountIds: ["111122223333"] });
  });

  it("pin nothing for a stage the file does not pin, as before (any account the credentials name)", () => {
    expect(awsProviderArgs("staging", {}, file)).toEqual({});
    expect(awsProviderArgs("someone-elses-stage", {}, file)).toEqual({});
  });

  it("name a region only when AWS_REGION or AWS_DEFAULT_REGION sets one, AWS_REGION first", () => {
    expect(awsProviderArgs("production", { AWS_REGION: "eu-west-1", AWS_DEFAULT_REGION: "us-west-2" }, file)).toEqual({
      region: "eu-west-1",
      allowedAccountIds: ["111122223333"],
    });
    expect(awsProviderArgs("staging", { AWS_DEFAULT_REGION: "us-west-2" }, file)).toEqual({ region: "us-west-2" });
    expect(awsProviderArgs("staging", { AWS_REGION: "" }, file)).toEqual({});
  });

  it("refuse an invalid file, whichever stage deploys", () => {
    expect(() => awsProviderArgs("staging", {}, { production: { awsAccountIds: ["123"] } })).toThrow(
      /config\/stages.json:\n- stage "production": awsAccountIds/,
    );
  });

  it("read config/stages.json by default, which pins no stage as committed", () => {
    expect(awsProviderArgs("production", {})).toEqual({});
  });
});
