/**
 * The pricing model endpoint PriceInference calls, on AWS. Its name is PriceInference's `PRICING_ENDPOINT_NAME`
 * in infra/wiring.ts (the local cloud serves the reference model under the same name).
 *
 * - Always: PriceInference's role may call that endpoint, and only it (`sagemaker:InvokeEndpoint`).
 * - With an image (`SLUICE_PRICING_MODEL_IMAGE` at deploy time: the ECR URI of the image built from
 *   packages/pricing/model/Dockerfile), the reference model is deployed as a SageMaker serverless endpoint under
 *   that name. Without one, the endpoint is yours: deploy any model that follows the contract
 *   (packages/pricing/README.md) under that name, or change the name in the wiring.
 */
import type { DeployedFunction } from "./functions.ts";
import type { Wiring } from "./wiring.ts";

export const pricingFunctionName = "PriceInference";

/** Serverless endpoint sizing: the reference model is a few KB of arithmetic; 1 GB is the smallest size with headroom. */
export const serverlessMemoryMb = 1024;
export const serverlessMaxConcurrency = 5;

/** The endpoint PriceInference calls, from the wiring; undefined when the wiring has no PriceInference. */
export function pricingEndpointName(wiring: Wiring): string | undefined {
  return wiring.functions[pricingFunctionName]?.environment?.PRICING_ENDPOINT_NAME;
}

/** The ECR repository of an image URI (`<account>.dkr.ecr.<region>.amazonaws.com/<repo>[:tag|@digest]`). */
export function ecrRepositoryArn(image: string): string {
  const match = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\/([^:@]+)(?:[:@].*)?$/.exec(image);
  if (!match)
    throw new Error(`SLUICE_PRICING_MODEL_IMAGE=${image}: expected an ECR image URI (SageMaker pulls from ECR)`);
  const [, account, region, repository] = match;
  const partition = region?.startsWith("cn-") ? "aws-cn" : region?.startsWith("us-gov-") ? "aws-us-gov" : "aws";
  return `arn:${partition}:ecr:${region}:${account}:repository/${repository}`;
}

export interface PricingModelOptions {
  /** ECR image URI of the reference model; absent: an existing endpoint is used. */
  image?: string;
}

export function deployPricingModel(
  wiring: Wiring,
  functions: Readonly<Record<string, DeployedFunction>>,
  options: PricingModelOptions = {},
): { endpointName: string; endpoint?: aws.sagemaker.Endpoint } | undefined {
  const endpointName = pricingEndpointName(wiring);
  const fn = functions[pricingFunctionName];
  if (!endpointName || !fn) return undefined;

  const partition = aws.getPartitionOutput().partition;
  const region = aws.getRegionOutput().name;
  const account = aws.getCallerIdentityOutput().accountId;
  // SageMaker lower-cases endpoint names in ARNs.
  const endpointArn = $interpolate`arn:${partition}:sagemaker:${region}:${account}:endpoint/${endpointName.toLowerCase()}`;
  new aws.iam.RolePolicy(`${pricingFunctionName}InvokeEndpoint`, {
    role: fn.fn.nodes.role.name,
    policy: $jsonStringify({
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Action: ["sagemaker:InvokeEndpoint"], Resource: [endpointArn] }],
    }),
  });
  if (!options.image) return { endpointName };

  // What SageMaker itself needs to run the container: pull the image and write its logs.
  const role = new aws.iam.Role("PricingModelRole", {
    assumeRolePolicy: JSON.stringify({
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Principal: { Service: "sagemaker.amazonaws.com" }, Action: "sts:AssumeRole" }],
    }),
    inlinePolicies: [
      {
        name: "model",
        policy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            {
              Effect: "Allow",
              Action: ["ecr:GetAuthorizationToken"],
              Resource: ["*"],
            },
            {
              Effect: "Allow",
              Action: ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
              Resource: [ecrRepositoryArn(options.image)],
            },
            {
              Effect: "Allow",
              Action: ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
              Resource: ["arn:aws:logs:*:*:log-group:/aws/sagemaker/*"],
            },
          ],
        }),
      },
    ],
  });
  const model = new aws.sagemaker.Model("PricingModel", {
    executionRoleArn: role.arn,
    primaryContainer: { image: options.image, mode: "SingleModel" },
  });
  const config = new aws.sagemaker.EndpointConfiguration("PricingModelConfig", {
    productionVariants: [
      {
        variantName: "AllTraffic",
        modelName: model.name,
        serverlessConfig: { memorySizeInMb: serverlessMemoryMb, maxConcurrency: serverlessMaxConcurrency },
      },
    ],
  });
  const endpoint = new aws.sagemaker.Endpoint("PricingModelEndpoint", {
    name: endpointName,
    endpointConfigName: config.name,
  });
  return { endpointName, endpoint };
}
