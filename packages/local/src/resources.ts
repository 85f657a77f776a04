/**
 * Creates, in the emulators, every resource the wiring defines (the same resources the SST stacks create), and
 * gives each one the `SST_RESOURCE_<Name>` value SST would give a linked function.
 */
import { CreateTableCommand, type DynamoDBClient, UpdateTimeToLiveCommand } from "@aws-sdk/client-dynamodb";
import { CreateStreamCommand, DescribeStreamSummaryCommand, type KinesisClient } from "@aws-sdk/client-kinesis";
import { CreateBucketCommand, type S3Client } from "@aws-sdk/client-s3";
import { CreateTopicCommand, type SNSClient } from "@aws-sdk/client-sns";
import { CreateQueueCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { catalogDatabasePrefix, deadLetterQueueOf, endpointPhysicalName, type Wiring } from "@sluice/infra/wiring";
import { catalogDatabases } from "./catalogs.ts";

/** The wiring the local cloud runs (the real one, or a test's with fixture handlers). */
export type WiringResources = Wiring;

export interface Clients {
  s3: S3Client;
  sns: SNSClient;
  sqs: SQSClient;
  kinesis: KinesisClient;
  dynamodb: DynamoDBClient;
  /** The local Glue Data Catalog (its databases are created directly, as `sst deploy` creates them). */
  glue: { createDatabase(name: string): void };
}

export interface CreatedResources {
  /** Physical bucket name by component name. */
  buckets: Record<string, string>;
  /** Topic ARN by component name. */
  topics: Record<string, string>;
  /** Physical stream name by component name. */
  streams: Record<string, string>;
  /** Physical table name by component name. */
  tables: Record<string, string>;
  /** SageMaker endpoint name by component name (served by the local SageMaker runtime). */
  endpoints: Record<string, string>;
  /** Glue database names by catalog component name. */
  catalogs: Record<string, string[]>;
  /** Dead-letter queue URL by queue name (`<Function>Dlq`). */
  queues: Record<string, string>;
  /** `SST_RESOURCE_<Name>` JSON by component name, as `sst shell` gives it. */
  links: Record<string, string>;
}

const streamViewTypes = {
  "new-image": "NEW_IMAGE",
  "old-image": "OLD_IMAGE",
  "new-and-old-images": "NEW_AND_OLD_IMAGES",
  "keys-only": "KEYS_ONLY",
} as const;

/** `sluice-local-inbox`-style physical names: stable, readable, valid for every service. */
export function physicalName(prefix: string, name: string, lower = false): string {
  const full = `${prefix}${name}`;
  return lower ? full.toLowerCase() : full;
}

export async function createResources(
  wiring: WiringResources,
  clients: Clients,
  app: { name: string; stage: string },
): Promise<CreatedResources> {
  const prefix = `${app.name}-${app.stage}-`;
  const created: CreatedResources = {
    buckets: {},
    topics: {},
    streams: {},
    tables: {},
    endpoints: {},
    catalogs: {},
    queues: {},
    links: {},
  };
  for (const name of Object.keys(wiring.endpoints ?? {})) {
    // The name `sst deploy` gives the endpoint in a stage.
    const endpoint = endpointPhysicalName(app.name, app.stage, name);
    created.endpoints[name] = endpoint;
    created.links[name] = JSON.stringify({ name: endpoint, type: "sst.sst.Linkable" });
  }

  for (const [name, spec] of Object.entries(wiring.catalogs ?? {})) {
    const prefix = catalogDatabasePrefix(app.name, app.stage);
    created.catalogs[name] = catalogDatabases(spec, prefix);
    for (const database of created.catalogs[name]) clients.glue.createDatabase(database);
    created.links[name] = JSON.stringify({ name: prefix, type: "sst.sst.Linkable" });
  }

  const bucketJobs = Object.keys(wiring.buckets).map(async (name) => {
    const bucket = physicalName(prefix, name, true);
    await clients.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    created.buckets[name] = bucket;
    created.links[name] = JSON.stringify({ name: bucket, type: "sst.aws.Bucket" });
  });

  const topicJobs = Object.keys(wiring.topics).map(async (name) => {
    const { TopicArn } = await clients.sns.send(new CreateTopicCommand({ Name: physicalName(prefix, name) }));
    if (!TopicArn) throw new Error(`topic ${name} was not created`);
    created.topics[name] = TopicArn;
    created.links[name] = JSON.stringify({ arn: TopicArn, type: "sst.aws.SnsTopic" });
  });

  const queueJobs = Object.keys(wiring.functions).map(async (fn) => {
    const queue = deadLetterQueueOf(fn);
    const { QueueUrl } = await clients.sqs.send(new CreateQueueCommand({ QueueName: physicalName(prefix, queue) }));
    if (!QueueUrl) throw new Error(`queue ${queue} was not created`);
    created.queues[queue] = QueueUrl;
  });

  const streamJobs = Object.entries(wiring.streams).map(async ([name, spec]) => {
    const stream = physicalName(prefix, name);
    await clients.kinesis.send(new CreateStreamCommand({ StreamName: stream, ShardCount: spec.shardCount }));
    for (;;) {
      const { StreamDescriptionSummary } = await clients.kinesis.send(
        new DescribeStreamSummaryCommand({ StreamName: stream }),
      );
      if (StreamDescriptionSummary?.StreamStatus === "ACTIVE") break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    created.streams[name] = stream;
    created.links[name] = JSON.stringify({ name: stream, type: "sst.aws.KinesisStream" });
  });

  const tableJobs = Object.entries(wiring.tables).map(async ([name, spec]) => {
    const table = physicalName(prefix, name);
    const keys = [{ AttributeName: spec.hashKey, KeyType: "HASH" as const }];
    const attributes = [{ AttributeName: spec.hashKey, AttributeType: "S" as const }];
    if (spec.rangeKey) {
      keys.push({ AttributeName: spec.rangeKey, KeyType: "RANGE" as never });
      attributes.push({ AttributeName: spec.rangeKey, AttributeType: "S" });
    }
    await clients.dynamodb.send(
      new CreateTableCommand({
        TableName: table,
        KeySchema: keys,
        AttributeDefinitions: attributes,
        BillingMode: "PAY_PER_REQUEST",
        StreamSpecification: spec.stream
          ? { StreamEnabled: true, StreamViewType: streamViewTypes[spec.stream] }
          : undefined,
      }),
    );
    if (spec.ttl) {
      await clients.dynamodb.send(
        new UpdateTimeToLiveCommand({
          TableName: table,
          TimeToLiveSpecification: { AttributeName: spec.ttl, Enabled: true },
        }),
      );
    }
    created.tables[name] = table;
    created.links[name] = JSON.stringify({ name: table, type: "sst.aws.Dynamo" });
  });

  await Promise.all([...bucketJobs, ...topicJobs, ...queueJobs, ...streamJobs, ...tableJobs]);
  return created;
}
