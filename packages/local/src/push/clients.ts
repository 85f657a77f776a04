/**
 * AWS SDK clients for a push target, configured from its environment (the env file's endpoints and dummy
 * credentials, or `sst shell`'s real ones). Nothing here branches on "local or AWS" except what the emulators
 * need and AWS does not mind: path-style S3 addressing and an HTTP/1.1 handler for Kinesis on custom endpoints.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { KinesisClient } from "@aws-sdk/client-kinesis";
import { S3Client } from "@aws-sdk/client-s3";
import { SNSClient } from "@aws-sdk/client-sns";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import type { Env } from "../cli/env.ts";

type Service = "S3" | "SNS" | "KINESIS" | "DYNAMODB";

export interface BaseClientConfig {
  region?: string;
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

/**
 * Region, endpoint and credentials of one service from `env`, as the SDK itself would read them from
 * `process.env` (`AWS_ENDPOINT_URL_<SERVICE>` beats `AWS_ENDPOINT_URL`). Anything absent is left to the SDK's
 * default chains (profiles, SSO, instance roles).
 */
export function serviceConfig(env: Env, service: Service): BaseClientConfig {
  const config: BaseClientConfig = {};
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (region) config.region = region;
  const endpoint = env[`AWS_ENDPOINT_URL_${service}`] ?? env.AWS_ENDPOINT_URL;
  if (endpoint) config.endpoint = endpoint;
  if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
    config.credentials = {
      accessKeyId: env.AWS_ACCESS_KEY_ID,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
      ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
    };
  }
  return config;
}

export function createS3Client(env: Env): S3Client {
  const config = serviceConfig(env, "S3");
  const local = config.endpoint !== undefined;
  return new S3Client({
    ...config,
    // Emulators serve buckets on a path (`/bucket/key`), not on `bucket.localhost` host names.
    forcePathStyle: local,
    // Recent SDKs send streamed uploads aws-chunked with trailing checksums, which S3 emulators store framing and
    // all; on AWS the default (checksums on every upload) stays.
    ...(local ? { requestChecksumCalculation: "WHEN_REQUIRED", responseChecksumValidation: "WHEN_REQUIRED" } : {}),
  });
}

export function createSnsClient(env: Env): SNSClient {
  return new SNSClient(serviceConfig(env, "SNS"));
}

export function createKinesisClient(env: Env): KinesisClient {
  const config = serviceConfig(env, "KINESIS");
  // kinesalite speaks HTTP/1.1 only; the SDK's default HTTP/2 handler fails against it with a protocol error.
  return new KinesisClient(config.endpoint ? { ...config, requestHandler: new NodeHttpHandler() } : config);
}

export function createDynamoDbClient(env: Env): DynamoDBClient {
  return new DynamoDBClient(serviceConfig(env, "DYNAMODB"));
}
