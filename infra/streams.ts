/** Kinesis data streams and DynamoDB tables (with their streams), one per wiring entry. */
import type { Wiring } from "./wiring.ts";

/**
 * Creates every Kinesis stream of the wiring: provisioned with the wiring's shard count (the local cloud creates
 * the same number of shards, so per-shard ordering and parallelism match) and encrypted with the AWS-managed key.
 */
export function createStreams(specs: Wiring["streams"]): Record<string, sst.aws.KinesisStream> {
  const streams: Record<string, sst.aws.KinesisStream> = {};
  for (const [name, spec] of Object.entries(specs)) {
    streams[name] = new sst.aws.KinesisStream(name, {
      transform: {
        stream: {
          streamModeDetails: { streamMode: "PROVISIONED" },
          shardCount: spec.shardCount,
          encryptionType: "KMS",
          kmsKeyId: "alias/aws/kinesis",
        },
      },
    });
  }
  return streams;
}

/**
 * Creates every DynamoDB table of the wiring: keys are strings (as in the local cloud), on-demand billing, a
 * stream when the wiring asks for one (required before a function can subscribe), time to live on the wiring's
 * `ttl` attribute, point-in-time recovery (SST's default) and encryption at rest (DynamoDB's default).
 */
export function createTables(specs: Wiring["tables"]): Record<string, sst.aws.Dynamo> {
  const tables: Record<string, sst.aws.Dynamo> = {};
  for (const [name, spec] of Object.entries(specs)) {
    tables[name] = new sst.aws.Dynamo(name, {
      fields: {
        [spec.hashKey]: "string",
        ...(spec.rangeKey ? { [spec.rangeKey]: "string" as const } : {}),
      },
      primaryIndex: { hashKey: spec.hashKey, rangeKey: spec.rangeKey },
      stream: spec.stream,
      ttl: spec.ttl,
    });
  }
  return tables;
}
