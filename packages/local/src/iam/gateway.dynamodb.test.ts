/**
 * The IAM gateway in front of DynamoDB Local, called with the real AWS SDK: DynamoDB Local names its region
 * `ddblocal` in every ARN it returns, and the gateway shows callers the local cloud's region instead (as in every
 * other ARN of the local cloud, and in the stream events and on-failure records), accepting those ARNs back.
 */
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient, PutItemCommand } from "@aws-sdk/client-dynamodb";
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListStreamsCommand,
} from "@aws-sdk/client-dynamodb-streams";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DynamoDbLocal, startDynamoDbLocal } from "../emulators/dynamodb-local.ts";
import { type IamGateway, startIamGateway } from "./gateway.ts";
import { accountId, admin, region, testIdentity } from "./testing.ts";

const tableArn = `arn:aws:dynamodb:${region}:${accountId}:table/Requests`;
const identity = testIdentity("Reader", [
  {
    Effect: "Allow",
    Action: ["dynamodb:DescribeTable", "dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords"],
    Resource: [tableArn, `${tableArn}/stream/*`],
  },
]);

describe("IAM gateway in front of DynamoDB Local: ARNs in the local cloud's region", () => {
  let dynamo: DynamoDbLocal;
  let gateway: IamGateway;
  const clients = (credentials: typeof admin) => ({
    db: new DynamoDBClient({ region, credentials, endpoint: gateway.endpoint, maxAttempts: 1 }),
    streams: new DynamoDBStreamsClient({ region, credentials, endpoint: gateway.endpoint, maxAttempts: 1 }),
  });

  beforeAll(async () => {
    dynamo = await startDynamoDbLocal();
    gateway = await startIamGateway({
      family: "dynamodb",
      upstream: dynamo.endpoint,
      region,
      accountId,
      identityOf: (key) => (key === identity.credentials.accessKeyId ? identity : undefined),
    });
  });
  afterAll(async () => {
    await gateway?.stop();
    await dynamo?.stop();
  });

  it("answers with the cloud's region in table and stream ARNs, and takes them back, for every caller", async () => {
    // Prepare
    const root = clients(admin);
    const created = await root.db.send(
      new CreateTableCommand({
        TableName: "Requests",
        KeySchema: [{ AttributeName: "id", KeyType: "HASH" }],
        AttributeDefinitions: [{ AttributeName: "id", AttributeType: "S" }],
        BillingMode: "PAY_PER_REQUEST",
        StreamSpecification: { StreamEnabled: true, StreamViewType: "NEW_AND_OLD_IMAGES" },
      }),
    );
    await root.db.send(new PutItemCommand({ TableName: "Requests", Item: { id: { S: "r1" } } }));
    const streamArn = new RegExp(`^${tableArn}/stream/\\d{4}-\\d\\d-\\d\\dT[\\d:.]+$`);
    expect(created.TableDescription?.TableArn).toBe(tableArn);
    expect(created.TableDescription?.LatestStreamArn).toMatch(streamArn);
    const { Streams } = await root.streams.send(new ListStreamsCommand({ TableName: "Requests" }));
    expect(Streams?.map((s) => s.StreamArn)).toEqual([created.TableDescription?.LatestStreamArn]);

    for (const caller of [root, clients(identity.credentials)]) {
      // Act
      const { Table } = await caller.db.send(new DescribeTableCommand({ TableName: "Requests" }));
      const { StreamDescription } = await caller.streams.send(
        new DescribeStreamCommand({ StreamArn: Table?.LatestStreamArn }),
      );
      const { ShardIterator } = await caller.streams.send(
        new GetShardIteratorCommand({
          StreamArn: Table?.LatestStreamArn,
          ShardId: StreamDescription?.Shards?.[0]?.ShardId,
          ShardIteratorType: "TRIM_HORIZON",
        }),
      );
      const { Records } = await caller.streams.send(new GetRecordsCommand({ ShardIterator }));
      // Assess
      expect(Table?.TableArn).toBe(tableArn);
      expect(Table?.LatestStreamArn).toMatch(streamArn);
      expect(StreamDescription?.StreamArn).toBe(Table?.LatestStreamArn);
      expect(Records?.map((r) => r.dynamodb?.Keys?.id?.S)).toEqual(["r1"]);
    }
  });
});
