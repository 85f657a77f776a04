/**
 * The SageMaker endpoints of the wiring (the pricing model PriceInference calls), on AWS.
 *
 * Each endpoint is a link (`Resource.<Name>.name`) with a name per app and stage, so two stages in one account and
 * region never share or fight over one. The functions that link it get `sagemaker:InvokeEndpoint` on it through
 * their own permissions (infra/permissions.ts), like every other link.
 *
 * By default a stage deploys the endpoint's model itself: `sst deploy` builds the image of the wiring's `model`
 * directory (its Dockerfile; the build context is the repository root) for linux/amd64, which SageMaker serverless
 * endpoints run, with `@pulumi/docker-build` (the provider SST itself builds container images with, so a Docker
 * engine must run on the deploying machine), pushes it to a repository of the stage, and serves that exact image (by
 * digest) as a serverless endpoint. A stage whose settings (config/stages.json) name an existing endpoint deploys
 * none of that and calls the endpoint it names.
 */
import { createHash } from "node:crypto";
import path from "node:path";
import { type EndpointSpec, endpointPhysicalName, type Wiring } from "./wiring.ts";

/** The wiring endpoint the reference pricing model serves. */
export const pricingEndpoint = "PricingModel";

/** SageMaker serverless endpoints run x86_64 containers only. */
export const modelPlatform = "linux/amd64";

/**
 * Serverless endpoint sizing: the reference model is a few KB of arithmetic; 1 GB is the smallest size with headroom.
 * Its concurrency is the wiring's (`maxConcurrency`), which PriceInference's own concurrency is bounded by.
 */
export const serverlessMemoryMb = 1024;

/** Images a model repository keeps besides the newest: earlier builds, for a rollback. */
export const keptImages = 10;

export interface DeployedEndpoint {
  /** The link functions get (`Resource.<Name>.name`). */
  link: sst.Linkable<{ name: string }>;
  name: string;
  arn: $util.Output<string>;
  /** An endpoint the stage uses but does not deploy (config/stages.json). */
  existing: boolean;
}

/**
 * One link per wiring endpoint: named per app and stage, or the existing endpoint `existing` names for it (by wiring
 * name).
 */
export function createEndpoints(
  specs: Wiring["endpoints"],
  existing: Readonly<Record<string, string | undefined>> = {},
): Record<string, DeployedEndpoint> {
  const partition = aws.getPartitionOutput().partition;
  const region = aws.getRegionOutput().region;
  const account = aws.getCallerIdentityOutput().accountId;
  const deployed: Record<string, DeployedEndpoint> = {};
  for (const name of Object.keys(specs ?? {})) {
    const given = existing[name];
    const physical = given ?? endpointPhysicalName($app.name, $app.stage, name);
    deployed[name] = {
      link: new sst.Linkable(name, { properties: { name: physical } }),
      name: physical,
      // SageMaker ARNs name the endpoint in lower case, whatever case it was created with.
      arn: $interpolate`arn:${partition}:sagemaker:${region}:${account}:endpoint/${physical.toLowerCase()}`,
      existing: given !== undefined,
    };
  }
  return deployed;
}

/**
 * `<prefix>-<first 12 hex digits of sha256(content)>`, at most 63 characters (SageMaker's limit). A SageMaker model
 * or endpoint configuration cannot change: a new one replaces it, created before the old one is deleted, so its name
 * must change whenever what it holds does.
 */
export function versionedName(prefix: string, content: string): string {
  const hash = createHash("sha256").update(content).digest("hex").slice(0, 12);
  return `${prefix.slice(0, 63 - 13).replace(/-+$/, "")}-${hash}`;
}

/** What deploying one endpoint's model creates. */
export interface ModelDeployment {
  repository: aws.ecr.Repository;
  image: dockerbuild.Image;
  role: aws.iam.Role;
  model: aws.sagemaker.Model;
  config: aws.sagemaker.EndpointConfiguration;
  endpoint: aws.sagemaker.Endpoint;
}

/** Deploys the model of every wiring endpoint the stage does not take as existing. */
export function deployModels(
  specs: Wiring["endpoints"],
  endpoints: Readonly<Record<string, DeployedEndpoint>>,
): Record<string, ModelDeployment> {
  const deployed: Record<string, ModelDeployment> = {};
  for (const [name, spec] of Object.entries(specs ?? {})) {
    const target = endpoints[name];
    if (target && !target.existing) deployed[name] = deployModel(name, spec, target);
  }
  return deployed;
}

function deployModel(name: string, spec: EndpointSpec, target: DeployedEndpoint): ModelDeployment {
  const partition = aws.getPartitionOutput().partition;
  const region = aws.getRegionOutput().region;
  const account = aws.getCallerIdentityOutput().accountId;

  // The stage's own image repository, named like its endpoint (ECR allows no repeated hyphen).
  const repository = new aws.ecr.Repository(`${name}Repository`, {
    name: target.name.replace(/-+/g, "-"),
    // Every stage but production (sst.config.ts: removal "retain") removes its images with the stage.
    forceDelete: $app.removal === "remove",
    imageScanningConfiguration: { scanOnPush: true },
  });
  new aws.ecr.LifecyclePolicy(`${name}Lifecycle`, {
    repository: repository.name,
    policy: JSON.stringify({
      rules: [
        {
          rulePriority: 1,
          description: `Keep the ${keptImages} newest untagged images (earlier builds), expire older ones`,
          selection: { tagStatus: "untagged", countType: "imageCountMoreThan", countNumber: keptImages },
          action: { type: "expire" },
        },
      ],
    }),
  });

  const token = aws.ecr.getAuthorizationTokenOutput({ registryId: repository.registryId });
  const image = new dockerbuild.Image(`${name}Image`, {
    context: { location: $cli.paths.root },
    dockerfile: { location: path.join($cli.paths.root, spec.model, "Dockerfile") },
    platforms: [modelPlatform],
    push: true,
    tags: [$interpolate`${repository.repositoryUrl}:latest`],
    registries: [
      token.apply((t) => ({ address: t.proxyEndpoint, username: t.userName, password: $util.secret(t.password) })),
    ],
  });
  // The pushed image itself, not a tag: a new build is a new digest, hence a new model, which rolls the endpoint.
  const imageUri = $interpolate`${repository.repositoryUrl}@${image.digest}`;

  // What SageMaker itself needs to run the container: pull this image and write this endpoint's logs.
  const logGroup = $interpolate`arn:${partition}:logs:${region}:${account}:log-group:/aws/sagemaker/Endpoints/${target.name}`;
  const role = new aws.iam.Role(`${name}Role`, {
    assumeRolePolicy: JSON.stringify({
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Principal: { Service: "sagemaker.amazonaws.com" }, Action: "sts:AssumeRole" }],
    }),
    inlinePolicies: [
      {
        name: "model",
        policy: $jsonStringify({
          Version: "2012-10-17",
          Statement: [
            { Effect: "Allow", Action: ["ecr:GetAuthorizationToken"], Resource: ["*"] },
            {
              Effect: "Allow",
              Action: ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
              Resource: [repository.arn],
            },
            {
              Effect: "Allow",
              Action: ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
              Resource: [logGroup, $interpolate`${logGroup}:*`],
            },
          ],
        }),
      },
    ],
  });

  const container = { image: imageUri, mode: "SingleModel" };
  const model = new aws.sagemaker.Model(name, {
    name: $resolve([imageUri, role.arn]).apply(([uri, roleArn]) =>
      versionedName(target.name, JSON.stringify({ image: uri, mode: container.mode, role: roleArn })),
    ),
    executionRoleArn: role.arn,
    primaryContainer: container,
  });
  const variant = {
    variantName: "AllTraffic",
    serverlessConfig: { memorySizeInMb: serverlessMemoryMb, maxConcurrency: spec.maxConcurrency },
  };
  const config = new aws.sagemaker.EndpointConfiguration(`${name}Config`, {
    name: model.name.apply((modelName) => versionedName(target.name, JSON.stringify({ ...variant, modelName }))),
    productionVariants: [{ ...variant, modelName: model.name }],
  });
  const endpoint = new aws.sagemaker.Endpoint(`${name}Endpoint`, {
    name: target.name,
    endpointConfigName: config.name,
  });
  return { repository, image, role, model, config, endpoint };
}
