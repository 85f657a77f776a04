/**
 * The pricing model endpoint on AWS (infra/pricing.ts), as `sst deploy` builds a stage by default (config/stages.json
 * names no endpoint for it): the reference model's image is built from packages/pricing/model for linux/amd64, pushed
 * to the stage's own ECR repository and served, by digest, as a serverless endpoint named per app and stage, which
 * PriceInference's role may invoke (through its own inline policy, never a separate RolePolicy).
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { DEFAULT_PRICING_CONFIG } from "@sluice/pricing";
import { beforeAll, describe, expect, it } from "vitest";
import { versionedName } from "../../infra/pricing.ts";
import * as wiring from "../../infra/wiring.ts";
import { accountId, parsePolicy, platformDir, region, repoRoot, type Synth, synthesize } from "./harness.ts";

const endpointName = "sluice-test-pricingmodel";
/** The key Pulumi marks a secret value with (`specialSigKey` in @pulumi/pulumi's runtime). */
const pulumiSecretSig = "4dabf18193072939515e22adb298388d";
const repositoryUrl = `${accountId}.dkr.ecr.${region}.amazonaws.com/${endpointName}`;
let synth: Synth;

beforeAll(async () => {
  synth = await synthesize(wiring);
}, 300_000);

const inputsOf = (type: string, name: string) => synth.get(type, name).inputs;

describe("pricing model endpoint, deployed by the stage", () => {
  it("lets PriceInference invoke the stage's endpoint through its role's own policy, and nothing else", () => {
    const role = synth.get("aws:iam/role:Role", "PriceInferenceRole").inputs;
    const statements = (role.inlinePolicies as { policy: string }[]).flatMap((p) => parsePolicy(p.policy).Statement);
    expect(statements.filter((s) => s.Action.some((a) => a.startsWith("sagemaker:")))).toEqual([
      {
        Effect: "Allow",
        Action: ["sagemaker:InvokeEndpoint"],
        Resource: [`arn:aws:sagemaker:${region}:${accountId}:endpoint/${endpointName}`],
      },
    ]);
    // A RolePolicy on a role SST manages through inlinePolicies is a permanent diff (pulumi-aws documents it).
    expect(synth.ofType("aws:iam/rolePolicy:RolePolicy")).toEqual([]);
  });

  it("pushes to a repository of the stage, removed with its images on a non-production stage", () => {
    const repository = inputsOf("aws:ecr/repository:Repository", "PricingModelRepository");
    expect(repository).toMatchObject({ name: endpointName, forceDelete: true });
    const lifecycle = inputsOf("aws:ecr/lifecyclePolicy:LifecyclePolicy", "PricingModelLifecycle");
    expect(lifecycle.repository).toBe(endpointName);
    expect(JSON.parse(lifecycle.policy as string).rules[0].selection).toEqual({
      tagStatus: "untagged",
      countType: "imageCountMoreThan",
      countNumber: 10,
    });
  });

  it("builds the model's Dockerfile from the repository root for linux/amd64 and pushes it with an ECR token", () => {
    const image = inputsOf("docker-build:index:Image", "PricingModelImage");
    expect(image).toMatchObject({
      context: { location: repoRoot },
      dockerfile: { location: path.join(repoRoot, "packages/pricing/model/Dockerfile") },
      platforms: ["linux/amd64"],
      push: true,
      tags: [`${repositoryUrl}:latest`],
    });
    // A secret in the state (Pulumi's secret signature), since it holds the token's password.
    expect(image.registries).toEqual({
      [pulumiSecretSig]: "1b47061264138c4ac30d75fd1eb44270",
      value: [
        { address: `https://${accountId}.dkr.ecr.${region}.amazonaws.com`, username: "AWS", password: "mock-password" },
      ],
    });
  });

  it("serves the pushed image by digest, as a serverless endpoint named per app and stage", () => {
    const digest = synth.get("docker-build:index:Image", "PricingModelImage").state.digest as string;
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const model = inputsOf("aws:sagemaker/model:Model", "PricingModel");
    expect(model.primaryContainer).toEqual({ image: `${repositoryUrl}@${digest}`, mode: "SingleModel" });
    expect(model.name).toMatch(new RegExp(`^${endpointName}-[0-9a-f]{12}$`));

    const config = inputsOf("aws:sagemaker/endpointConfiguration:EndpointConfiguration", "PricingModelConfig");
    expect(config.name).toMatch(new RegExp(`^${endpointName}-[0-9a-f]{12}$`));
    expect(config.name).not.toBe(model.name);
    expect(config.productionVariants).toEqual([
      {
        variantName: "AllTraffic",
        modelName: model.name,
        serverlessConfig: { memorySizeInMb: 1024, maxConcurrency: 5 },
      },
    ]);

    expect(inputsOf("aws:sagemaker/endpoint:Endpoint", "PricingModelEndpoint")).toMatchObject({
      name: endpointName,
      endpointConfigName: config.name,
    });
    expect(synth.outputs.PricingModelEndpoint).toBe(endpointName);
  });

  it("runs the model with a role SageMaker assumes, which pulls only this repository and logs only this endpoint", () => {
    const role = inputsOf("aws:iam/role:Role", "PricingModelRole");
    expect(JSON.parse(role.assumeRolePolicy as string).Statement).toEqual([
      { Effect: "Allow", Principal: { Service: "sagemaker.amazonaws.com" }, Action: "sts:AssumeRole" },
    ]);
    const statements = (role.inlinePolicies as { policy: string }[]).flatMap((p) => parsePolicy(p.policy).Statement);
    const logGroup = `arn:aws:logs:${region}:${accountId}:log-group:/aws/sagemaker/Endpoints/${endpointName}`;
    expect(statements).toEqual([
      { Effect: "Allow", Action: ["ecr:GetAuthorizationToken"], Resource: ["*"] },
      {
        Effect: "Allow",
        Action: ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
        Resource: [`arn:aws:ecr:${region}:${accountId}:repository/${endpointName}`],
      },
      {
        Effect: "Allow",
        Action: ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        Resource: [logGroup, `${logGroup}:*`],
      },
    ]);
  });
});

describe("PriceInference within the endpoint's limits", () => {
  const spec = wiring.functions.PriceInference;
  const env = spec.environment as Record<string, string | undefined>;

  it("has one model call in flight per invocation (one per stream shard), within the endpoint's concurrency", () => {
    const config = inputsOf("aws:sagemaker/endpointConfiguration:EndpointConfiguration", "PricingModelConfig");
    const maxConcurrency = (config.productionVariants as { serverlessConfig: { maxConcurrency: number } }[])[0]
      ?.serverlessConfig.maxConcurrency;
    expect(maxConcurrency).toBe(wiring.endpoints.PricingModel.maxConcurrency);
    expect(Number(env.PRICING_MODEL_PARALLELISM)).toBe(1);
    const fn = inputsOf("aws:lambda/function:Function", "PriceInferenceFunction");
    // No reservation by default (it fails the deploy in accounts with a low concurrency quota); when one is set, it
    // must keep the calls in flight within the endpoint's.
    const reserved = fn.reservedConcurrentExecutions as number | undefined;
    if (reserved !== undefined && reserved >= 0) expect(reserved).toBeLessThanOrEqual(maxConcurrency as number);
  });

  it("leaves room in the function's timeout for a whole model call (its request timeout) and the writes after it", () => {
    const modelTimeoutMs = Number(env.PRICING_MODEL_TIMEOUT_SECONDS) * 1000;
    // SageMaker lets a model answer for 60 s; a serverless endpoint's cold start comes on top.
    expect(modelTimeoutMs).toBeGreaterThan(60_000);
    expect(modelTimeoutMs + DEFAULT_PRICING_CONFIG.reserveMs).toBeLessThan(spec.timeout * 1000);
  });
});

describe("versioned SageMaker names", () => {
  it("change with what the model or configuration holds, and stay within 63 characters", () => {
    const a = versionedName(endpointName, "image@sha256:aaa");
    expect(a).toMatch(new RegExp(`^${endpointName}-[0-9a-f]{12}$`));
    expect(versionedName(endpointName, "image@sha256:aaa")).toBe(a);
    expect(versionedName(endpointName, "image@sha256:bbb")).not.toBe(a);
    const long = versionedName("x".repeat(49).concat("-----", "y".repeat(20)), "c");
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).toMatch(/^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/);
  });
});

describe("the model image", () => {
  const dockerfileDir = path.join(repoRoot, wiring.endpoints.PricingModel.model);

  it("is built with an ignore file that lets exactly the files its Dockerfile copies into the context", () => {
    const copied = readFileSync(path.join(dockerfileDir, "Dockerfile"), "utf8")
      .split("\n")
      .filter((line) => line.startsWith("COPY "))
      .flatMap((line) => line.split(/\s+/).slice(1, -1));
    const ignore = readFileSync(path.join(dockerfileDir, "Dockerfile.dockerignore"), "utf8")
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => line !== "" && !line.startsWith("#"));
    expect(ignore[0]).toBe("*");
    expect(ignore.slice(1).sort()).toEqual(copied.map((file) => `!${file}`).sort());
  });

  it("is built by the docker-build provider sst.config.ts pins: the one copy SST's own container builds import", async () => {
    const config = (await import("../../sst.config.ts")).default;
    const providers = (await config.app({ stage: "dev" })).providers as Record<string, unknown>;
    const installed = (file: string) => JSON.parse(readFileSync(path.join(platformDir, file), "utf8"));
    expect(providers["docker-build"]).toBe(installed("node_modules/@pulumi/docker-build/package.json").version);
    expect(readFileSync(path.join(platformDir, "src/components/aws/helpers/container-builder.ts"), "utf8")).toContain(
      'from "@pulumi/docker-build"',
    );
  });
});
