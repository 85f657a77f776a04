/**
 * The IAM gateway in front of kinesalite: a request that names its stream more than once (ConsumerARN, StreamARN,
 * StreamName) is checked on every stream it names, and refused when they are not the same stream (kinesalite reads
 * the name, the policy check would read the ARN).
 */
import { CreateStreamCommand, GetShardIteratorCommand, PutRecordCommand } from "@aws-sdk/client-kinesis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKinesisClient, type Kinesalite, startKinesalite } from "../emulators/kinesalite.ts";
import { type IamGateway, startIamGateway } from "./gateway.ts";
import { accountId, failure, region, testIdentity } from "./testing.ts";

const streamArn = (name: string) => `arn:aws:kinesis:${region}:${accountId}:stream/${name}`;

const reader = testIdentity("Reader", [
  {
    Effect: "Allow",
    Action: ["kinesis:GetShardIterator", "kinesis:GetRecords", "kinesis:DescribeStreamSummary"],
    Resource: streamArn("Clickstream"),
  },
]);

describe("IAM gateway in front of Kinesis (kinesalite)", () => {
  let kinesalite: Kinesalite;
  let gateway: IamGateway;

  beforeAll(async () => {
    kinesalite = await startKinesalite();
    gateway = await startIamGateway({
      family: "kinesis",
      upstream: kinesalite.endpoint,
      region,
      accountId,
      identityOf: (key) => (key === reader.credentials.accessKeyId ? reader : undefined),
    });
    const root = createKinesisClient(gateway.endpoint);
    for (const name of ["Clickstream", "Other"])
      await root.send(new CreateStreamCommand({ StreamName: name, ShardCount: 1 }));
    await root.send(new PutRecordCommand({ StreamName: "Other", PartitionKey: "p", Data: Buffer.from("secret") }));
    root.destroy();
  });

  afterAll(async () => {
    await gateway?.stop();
    await kinesalite?.stop();
  });

  it("refuses a request whose StreamARN and StreamName name different streams", async () => {
    const client = createKinesisClient(gateway.endpoint, { credentials: reader.credentials, maxAttempts: 1 });
    const iterator = new GetShardIteratorCommand({
      StreamARN: streamArn("Clickstream"),
      StreamName: "Other",
      ShardId: "shardId-000000000000",
      ShardIteratorType: "TRIM_HORIZON",
    });
    expect(await failure(client.send(iterator))).toMatchObject({ name: "InvalidArgumentException", status: 400 });
    client.destroy();
  });

  it("checks the name a request gives alone, and allows the ARN and name of one stream together", async () => {
    const client = createKinesisClient(gateway.endpoint, { credentials: reader.credentials, maxAttempts: 1 });
    const byName = (StreamName: string, StreamARN?: string) =>
      new GetShardIteratorCommand({
        StreamName,
        ...(StreamARN ? { StreamARN } : {}),
        ShardId: "shardId-000000000000",
        ShardIteratorType: "TRIM_HORIZON",
      });
    expect(await failure(client.send(byName("Other")))).toMatchObject({ name: "AccessDeniedException", status: 400 });
    const ok = await client.send(byName("Clickstream", streamArn("Clickstream")));
    expect(ok.ShardIterator).toBeTruthy();
    client.destroy();
  });
});
