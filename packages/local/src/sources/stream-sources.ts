/**
 * The two stream sources a stream mapping reads: Kinesis data streams and DynamoDB streams, behind one small
 * interface (list shards, get an iterator, read records), so that one engine (`stream-mapping.ts`) serves both.
 */
import { DescribeTableCommand, type DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  DescribeStreamCommand,
  type DynamoDBStreamsClient,
  GetRecordsCommand as DynamoDbGetRecordsCommand,
  GetShardIteratorCommand as DynamoDbGetShardIteratorCommand,
} from "@aws-sdk/client-dynamodb-streams";
import {
  type KinesisClient,
  GetRecordsCommand as KinesisGetRecordsCommand,
  GetShardIteratorCommand as KinesisGetShardIteratorCommand,
  ListShardsCommand,
} from "@aws-sdk/client-kinesis";
import { dynamodbEventRecord, kinesisEventRecord, kinesisStreamArn, type ShardRecord } from "./stream-records.ts";

export interface ShardInfo {
  shardId: string;
  parentShardId?: string;
  adjacentParentShardId?: string;
}

export type ShardPosition =
  | { type: "TRIM_HORIZON" | "LATEST" }
  | { type: "AT_SEQUENCE_NUMBER" | "AFTER_SEQUENCE_NUMBER"; sequenceNumber: string };

export interface ShardRead {
  records: ShardRecord[];
  /** Absent when the shard is closed and every record has been read. */
  nextIterator?: string;
}

export interface StreamSource {
  kind: "kinesis" | "dynamodb";
  /** The stream ARN events carry as `eventSourceARN`. */
  eventSourceArn: string;
  listShards(): Promise<ShardInfo[]>;
  iterator(shardId: string, position: ShardPosition): Promise<string>;
  /** Reads up to `limit` records; `previousArrivalMs` keeps arrival times monotonic within a shard. */
  read(shardId: string, iterator: string, limit: number, previousArrivalMs: number): Promise<ShardRead>;
}

const sizeOf = (event: unknown) => Buffer.byteLength(JSON.stringify(event));

/** A Kinesis data stream, addressed by name (kinesalite has no ARN routing). */
export function kinesisSource(options: {
  client: KinesisClient;
  streamName: string;
  region: string;
  accountId: string;
  invokeIdentityArn: string;
}): StreamSource {
  const { client, streamName } = options;
  const eventSourceArn = kinesisStreamArn(options.region, options.accountId, streamName);
  return {
    kind: "kinesis",
    eventSourceArn,
    async listShards() {
      const shards: ShardInfo[] = [];
      let nextToken: string | undefined;
      do {
        const page = await client.send(
          nextToken
            ? new ListShardsCommand({ NextToken: nextToken })
            : new ListShardsCommand({ StreamName: streamName }),
        );
        for (const shard of page.Shards ?? []) {
          if (!shard.ShardId) continue;
          shards.push({
            shardId: shard.ShardId,
            parentShardId: shard.ParentShardId,
            adjacentParentShardId: shard.AdjacentParentShardId,
          });
        }
        nextToken = page.NextToken;
      } while (nextToken);
      return shards;
    },
    async iterator(shardId, position) {
      const { ShardIterator } = await client.send(
        new KinesisGetShardIteratorCommand({
          StreamName: streamName,
          ShardId: shardId,
          ShardIteratorType: position.type,
          StartingSequenceNumber: "sequenceNumber" in position ? position.sequenceNumber : undefined,
        }),
      );
      if (!ShardIterator) throw new Error(`no shard iterator for ${streamName}/${shardId}`);
      return ShardIterator;
    },
    async read(shardId, iterator, limit) {
      const page = await client.send(
        new KinesisGetRecordsCommand({ ShardIterator: iterator, Limit: Math.min(Math.max(limit, 1), 10_000) }),
      );
      const records = (page.Records ?? []).map((record): ShardRecord => {
        const event = kinesisEventRecord(record, {
          shardId,
          region: options.region,
          eventSourceArn,
          invokeIdentityArn: options.invokeIdentityArn,
        });
        return {
          sequenceNumber: record.SequenceNumber ?? "",
          arrivalMs: record.ApproximateArrivalTimestamp?.getTime() ?? Date.now(),
          event,
          size: sizeOf(event),
        };
      });
      return { records, nextIterator: page.NextShardIterator };
    },
  };
}

/**
 * A stream or table ARN as AWS writes it: DynamoDB Local names its region `ddblocal` in the ARNs it returns; the
 * local cloud's region stands there instead, as in every other ARN of the local cloud (the IAM gateway in front of
 * DynamoDB Local translates both ways, so callers only ever see this form).
 */
export function awsDynamoDbArn(arn: string, region: string): string {
  return arn.replace(/^arn:aws:dynamodb:ddblocal:/, `arn:aws:dynamodb:${region}:`);
}

/**
 * A DynamoDB table's stream. Events (and on-failure records) carry its ARN as AWS writes it (`awsDynamoDbArn`);
 * the calls name the stream as `DescribeTable` reported it.
 */
export async function dynamodbSource(options: {
  dynamodb: DynamoDBClient;
  streams: DynamoDBStreamsClient;
  tableName: string;
  region: string;
}): Promise<StreamSource> {
  const { streams } = options;
  const { Table } = await options.dynamodb.send(new DescribeTableCommand({ TableName: options.tableName }));
  const streamArn = Table?.LatestStreamArn;
  if (!streamArn || !Table?.StreamSpecification?.StreamEnabled) {
    throw new Error(`table ${options.tableName} has no stream enabled`);
  }
  const eventSourceArn = awsDynamoDbArn(streamArn, options.region);
  return {
    kind: "dynamodb",
    eventSourceArn,
    async listShards() {
      const shards: ShardInfo[] = [];
      let exclusiveStartShardId: string | undefined;
      do {
        const { StreamDescription } = await streams.send(
          new DescribeStreamCommand({ StreamArn: streamArn, ExclusiveStartShardId: exclusiveStartShardId }),
        );
        for (const shard of StreamDescription?.Shards ?? []) {
          if (shard.ShardId) shards.push({ shardId: shard.ShardId, parentShardId: shard.ParentShardId });
        }
        exclusiveStartShardId = StreamDescription?.LastEvaluatedShardId;
      } while (exclusiveStartShardId);
      return shards;
    },
    async iterator(shardId, position) {
      const { ShardIterator } = await streams.send(
        new DynamoDbGetShardIteratorCommand({
          StreamArn: streamArn,
          ShardId: shardId,
          ShardIteratorType: position.type,
          SequenceNumber: "sequenceNumber" in position ? position.sequenceNumber : undefined,
        }),
      );
      if (!ShardIterator) throw new Error(`no shard iterator for ${streamArn}/${shardId}`);
      return ShardIterator;
    },
    async read(_shardId, iterator, limit, previousArrivalMs) {
      const page = await streams.send(
        new DynamoDbGetRecordsCommand({ ShardIterator: iterator, Limit: Math.min(Math.max(limit, 1), 1000) }),
      );
      const readAt = Date.now();
      let previous = previousArrivalMs;
      const records = (page.Records ?? []).map((record): ShardRecord => {
        const arrivalMs = Math.max(previous, creationTime(record.dynamodb?.ApproximateCreationDateTime, readAt));
        previous = arrivalMs;
        const event = dynamodbEventRecord(record, {
          region: options.region,
          eventSourceArn,
          creationSeconds: Math.floor(arrivalMs / 1000),
        });
        return { sequenceNumber: record.dynamodb?.SequenceNumber ?? "", arrivalMs, event, size: sizeOf(event) };
      });
      return { records, nextIterator: page.NextShardIterator };
    },
  };
}

/**
 * DynamoDB Local truncates `ApproximateCreationDateTime` to the minute, while AWS gives the second. The time this
 * mapping first read the record, clamped into that minute (or second), is a close estimate when the mapping keeps
 * up with the stream and never leaves the interval the emulator reported.
 */
function creationTime(reported: Date | undefined, readAt: number): number {
  if (!reported) return readAt;
  const ms = reported.getTime();
  const precision = ms % 60_000 === 0 ? 60_000 : 1000;
  return Math.min(Math.max(readAt, ms), ms + precision - 1);
}
