/**
 * The pricing model endpoint on AWS (infra/pricing.ts), synthesized with a reference model image: PriceInference's
 * role may invoke exactly the stage's endpoint (through its own inline policy, never a separate RolePolicy), and the
 * reference model runs as a serverless endpoint of that name, pulled from its own ECR repository only.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { ecrRepositoryArn } from "../../infra/pricing.ts";
import * as wiring from "../../infra/wiring.ts";
import { accountId, parsePolicy, region, type Synth, synthesize } from "./harness.ts";

const image = `${accountId}.dkr.ecr.${region}.amazonaws.com/sluice/pricing-model:demand-v1`;
let synth: Synth;

beforeAll(async () => {
  process.env.SLUICE_PRICING_MODEL_IMAGE = image;
  try {
    synth = await synthesize(wiring);
  } finally {
    delete process.env.SLUICE_PRICING_MODEL_IMAGE;
  }
}, 300_000);

describe("pricing model endpoint", () => {
  it("lets PriceInference invoke the stage's endpoint through its role's own policy, and nothing else", () => {
    const role = synth.get("aws:iam/role:Role", "PriceInferenceRole").inputs;
    const statements = (role.inlinePolicies as { policy: string }[]).flatMap((p) => parsePolicy(p.policy).Statement);
    expect(statements.filter((s) => s.Action.some((a) => a.startsWith("sagemaker:")))).toEqual([
      {
        Effect: "Allow",
        Action: ["sagemaker:InvokeEndpoint"],
        Resource: [`arn:aws:sagemaker:${region}:${accountId}:endpoint/sluice-test-pricingmodel`],
      },
    ]);
    // A RolePolicy on a role SST manages through inlinePolicies is a permanent diff (pulumi-aws documents it).
    expect(synth.ofType("aws:iam/rolePolicy:RolePolicy")).toEqual([]);
  });

  it("deploys the reference model image as a serverless endpoint named per app and stage", () => {
    expect(synth.get("aws:sagemaker/endpoint:Endpoint", "PricingModelEndpoint").inputs.name).toBe(
      "sluice-test-pricingmodel",
    );
    const config = synth.get("aws:sagemaker/endpointConfiguration:EndpointConfiguration", "PricingModelConfig").inputs;
    expect(config.productionVariants).toEqual([
      expect.objectContaining({
        variantName: "AllTraffic",
        serverlessConfig: { memorySizeInMb: 1024, maxConcurrency: 5 },
      }),
    ]);
    const model = synth.get("aws:sagemaker/model:Model", "PricingModel").inputs;
    expect(model.primaryContainer).toMatchObject({ image });
    const role = synth.get("aws:iam/role:Role", "PricingModelRole").inputs;
    expect(JSON.parse(role.assumeRolePolicy as string).Statement[0].Principal).toEqual({
      Service: "sagemaker.amazonaws.com",
    });
    const statements = (role.inlinePolicies as { policy: string }[]).flatMap((p) => parsePolicy(p.policy).Statement);
    expect(statements.find((s) => s.Action.includes("ecr:BatchGetImage"))?.Resource).toEqual([
      `arn:aws:ecr:${region}:${accountId}:repository/sluice/pricing-model`,
    ]);
  });

  it.each([
    ["123456789012.dkr.ecr.eu-west-1.amazonaws.com/pricing:1", "arn:aws:ecr:eu-west-1:123456789012:repository/pricing"],
    [
      "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/model@sha256:abc",
      "arn:aws:ecr:us-east-1:123456789012:repository/team/model",
    ],
    ["123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/m", "arn:aws-cn:ecr:cn-north-1:123456789012:repository/m"],
  ])("reads the ECR repository of %s", (uri, arn) => {
    expect(ecrRepositoryArn(uri)).toBe(arn);
  });

  it("refuses an image SageMaker cannot pull", () => {
    expect(() => ecrRepositoryArn("docker.io/library/node:22")).toThrow(/ECR image URI/);
  });
});
