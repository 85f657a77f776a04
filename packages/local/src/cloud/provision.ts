/**
 * Step of `startLocalCloud`: every resource of the wiring created in the emulators, and the environment a client of
 * the local cloud needs (what `local.env` holds).
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { KinesisClient } from "@aws-sdk/client-kinesis";
import { S3Client } from "@aws-sdk/client-s3";
import { SNSClient } from "@aws-sdk/client-sns";
import { SQSClient } from "@aws-sdk/client-sqs";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { localArns } from "../iam/policies.ts";
import { APP, REGION } from "../names.ts";
import { type Clients, type CreatedResources, createResources, type WiringResources } from "../resources.ts";
import type { CloudEndpoints } from "./emulators.ts";
import { localNames } from "./identities.ts";

/** SDK client configuration for an endpoint of the local cloud, with its default (unrestricted) credentials. */
export function clientConfig(endpoint: string) {
  return { region: REGION, endpoint, credentials: { accessKeyId: "local", secretAccessKey: "local" } };
}

/** The endpoint variables and the app's link: what every handler and client of the local cloud is given. */
export function endpointEnv(endpoints: CloudEndpoints): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_S3: endpoints.s3,
    AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
    AWS_ENDPOINT_URL_DYNAMODB_STREAMS: endpoints.dynamodbStreams,
    AWS_ENDPOINT_URL_KINESIS: endpoints.kinesis,
    AWS_ENDPOINT_URL_SNS: endpoints.sns,
    AWS_ENDPOINT_URL_SQS: endpoints.sqs,
    AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME: endpoints.sagemakerRuntime,
    AWS_ENDPOINT_URL_GLUE: endpoints.glue,
    SST_RESOURCE_App: JSON.stringify(APP),
  };
}

export interface ProvisionedResources {
  /** The local cloud's own clients (unrestricted), used to create resources and to subscribe to topics. */
  clients: Clients;
  resources: CreatedResources;
  /** The environment a client needs: region, credentials, endpoints and every resource's link. */
  env: Record<string, string>;
}

/** Creates the wiring's resources and checks they have the ARNs the functions' policies name. */
export async function provisionResources(
  spec: WiringResources,
  endpoints: CloudEndpoints,
  glue: Clients["glue"],
): Promise<ProvisionedResources> {
  const clients: Clients = {
    s3: new S3Client({ ...clientConfig(endpoints.s3), forcePathStyle: true }),
    sns: new SNSClient(clientConfig(endpoints.sns)),
    sqs: new SQSClient(clientConfig(endpoints.sqs)),
    kinesis: new KinesisClient({ ...clientConfig(endpoints.kinesis), requestHandler: new NodeHttpHandler() }),
    dynamodb: new DynamoDBClient(clientConfig(endpoints.dynamodb)),
    glue,
  };
  const resources = await createResources(spec, clients, APP);
  // The policies name resources by the ARNs the local cloud gives them: check the emulators agree.
  const arns = localArns(spec, localNames);
  for (const [name, arn] of Object.entries(resources.topics)) {
    if (arns.topics[name] !== arn) throw new Error(`topic ${name} is ${arn}, its policies name ${arns.topics[name]}`);
  }

  const env: Record<string, string> = {
    AWS_REGION: REGION,
    AWS_DEFAULT_REGION: REGION,
    AWS_ACCESS_KEY_ID: "local",
    AWS_SECRET_ACCESS_KEY: "local",
    ...endpointEnv(endpoints),
  };
  for (const [name, value] of Object.entries(resources.links)) env[`SST_RESOURCE_${name}`] = value;
  return { clients, resources, env };
}
