/**
 * The SageMaker endpoints of the wiring (the pricing model PriceInference calls), on AWS.
 *
 * Each endpoint is a link (`Resource.<Name>.name`) with a name per app and stage, so two stages in one account and
 * region never share or fight over one. The functions that link it get `sagemaker:InvokeEndpoint` on it through
 * their own permissions (infra/permissions.ts), like every other link.
 *
 * With an image (`SLUICE_PRICING_MODEL_IMAGE` at deploy time: the ECR URI of the image built from
 * packages/pricing/model/Dockerfile), the reference model is deployed as a SageMaker serverless endpoint under
 * that name.
 */
import { endpointPhysicalName, type Wiring } from "./wiring.ts";

/** The wiring endpoint the reference pricing model serves. */
export const pricingEndpoint = "PricingModel";

/** Serverless endpoint sizing: the reference model is a few KB of arithmetic; 1 GB is the smallest size with headroom. */
export const serverlessMemoryMb = 1024;
export const serverlessMaxConcurrency = 5;

export interface DeployedEndpoint {
  /** The link functions get (`Resource.<Name>.name`). */
  link: sst.Linkable<{ name: string }>;
  name: string;
  arn: $util.Output<string>;
}

/** One link per wiring endpoint, named per app and stage. */
export function createEndpoints(specs: Wiring["endpoints"]): Record<string, DeployedEndpoint> {
  const partition = aws.getPartitionOutput().partition;
  const region = aws.getRegionOutput().region;
  const account = aws.getCallerIdentityOutput().accountId;
  const deployed: Record<string, DeployedEndpoint> = {};
  for (const name of Object.keys(specs ?? {})) {
    const physical = endpointPhysicalName($app.name, $app.stage, name);
    deployed[name] = {
      link: new sst.Linkable(name, { properties: { name: physical } }),
      name: physical,
      arn: $interpolate`arn:${partition}:sagemaker:${region}:${account}:endpoint/${physical}`,
    };
  }
  return deployed;
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
  endpoints: Readonly<Record<string, DeployedEndpoint>>,
  options: PricingModelOptions = {},
): { endpointName: string; endpoint?: aws.sagemaker.Endpoint } | undefined {
  const target = endpoints[pricingEndpoint];
  if (!target) return undefined;
  const endpointName = target.name;
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
