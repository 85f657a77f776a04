/** Kinesis data streams and DynamoDB tables (with their streams), one per wiring entry. */
import type { Wiring } from "./wiring.ts";

/**
 * How long a Kinesis stream keeps its records: Kinesis's default, 24 hours, the same as every DynamoDB stream (fixed).
 * It bounds two things: how long a stream-triggered function may be down before records it never processed are
 * trimmed (the mappings set no age limit: infra/wiring.ts, `streamDefaults`), and how long a dead-lettered stream
 * batch, a pointer to its records, can still be read back. Extended retention (up to 7 days) is billed $0.02 per
 * shard-hour on top of the shard's own $0.015: for Clickstream's 2 shards, $29.20 a month more than its $21.90.
 * Not taken: the IteratorAge alarm (5 minutes) and the dead-letter alarms give a day to act; raise it here (hours,
 * 24-8760) for a stage where a day is not enough.
 */
export const streamRetentionHours = 24;

/**
 * Creates every Kinesis stream of the wiring: provisioned with the wiring's shard count (the local cloud creates
 * the same number of shards, so per-shard ordering and parallelism match), encrypted with the AWS-managed key, and
 * keeping records `streamRetentionHours`.
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
          retentionPeriod: streamRetentionHours,
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
