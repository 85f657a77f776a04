/**
 * The exact requests of the anomaly adapters (aws-sdk-client-mock): the copy-on-write commit and its error mapping,
 * and the alert message on SNS. The store runs for real on DynamoDB Local in anomaly.dynamodb.test.ts, the whole
 * flow on the local cloud in test/e2e/anomaly.test.ts.
 */
import { gunzipSync, gzipSync } from "node:zlib";
import {
  BatchGetItemCommand,
  BatchWriteItemCommand,
  ConditionalCheckFailedException,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from "@aws-sdk/client-dynamodb";
import {
  InvalidParameterException,
  PublishCommand,
  type PublishCommandInput,
  SNSClient,
  ThrottledException,
} from "@aws-sdk/client-sns";
import { AlertRefused, type SeriesState, StateConflict, type StreamState } from "@sluice/anomaly/pipeline";
import { emptyWindowingState } from "@sluice/anomaly/windowing";
import type { AlertMessage } from "@sluice/messages";
import { mockClient } from "aws-sdk-client-mock";
import fc from "fast-check";
import { beforeEach, describe, expect, it } from "vitest";
import { createDynamoAnomalyStore, createSnsAlertPublisher, snsSubject } from "./anomaly.ts";

const dynamo = mockClient(DynamoDBClient);
const sns = mockClient(SNSClient);
beforeEach(() => {
  dynamo.reset();
  sns.reset();
});

const stream = (version: number): StreamState => ({
  version,
  windowing: emptyWindowingState(),
  policies: {},
  outbox: [],
});
const series = new Map<string, SeriesState>([
  ["a.example#ctr", { detector: { v: 2, n: 1, lo: 1, hi: 1, rest: 0, scales: [] } }],
]);

describe("createDynamoAnomalyStore", () => {
  /** A head as loadStream reads it: version 7, series a.example#ctr in its tagged item. */
  const head7 = {
    Item: {
      pk: { S: "stream#Clickstream" },
      version: { N: "7" },
      docz: { B: gzipSync(JSON.stringify({ state: stream(7), series: { "a.example#ctr": "6-old" } })) },
    },
  };

  it("writes the series under a tag of its own, then the head on its version (the commit point), then deletes what it replaced", async () => {
    dynamo.on(GetItemCommand).resolves(head7);
    dynamo.on(BatchWriteItemCommand).resolves({});
    dynamo.on(PutItemCommand).resolves({});
    const store = createDynamoAnomalyStore(new DynamoDBClient({}), "AnomalyState");
    expect(await store.loadStream()).toEqual(stream(7));
    await store.commit(stream(8), 7, series);
    const calls = dynamo.calls().map((c) => c.args[0].constructor.name);
    expect(calls).toEqual(["GetItemCommand", "BatchWriteItemCommand", "PutItemCommand", "BatchWriteItemCommand"]);
    const [write, cleanup] = dynamo
      .commandCalls(BatchWriteItemCommand)
      .map((c) => c.args[0].input.RequestItems?.AnomalyState);
    const itemKey = write?.[0]?.PutRequest?.Item?.pk?.S ?? "";
    expect(itemKey).toMatch(/^series#a\.example#ctr@8-[0-9a-f]{12}$/);
    // Gzipped JSON (a third smaller: most series items fit DynamoDB's 1 KB write unit); no plain copy.
    const statez = write?.[0]?.PutRequest?.Item?.statez?.B;
    expect(JSON.parse(gunzipSync(statez ?? new Uint8Array()).toString("utf8"))).toEqual(series.get("a.example#ctr"));
    expect(write?.[0]?.PutRequest?.Item?.state).toBeUndefined();
    const put = dynamo.commandCalls(PutItemCommand)[0]?.args[0].input;
    expect(put).toMatchObject({
      TableName: "AnomalyState",
      Item: { pk: { S: "stream#Clickstream" }, version: { N: "8" } },
      ConditionExpression: "version = :expected",
      ExpressionAttributeValues: { ":expected": { N: "7" } },
    });
    // The document is gzipped (a fifth of its JSON or less: each batch's commit rewrites it, DynamoDB bills per KB).
    expect(put?.Item?.doc).toBeUndefined();
    expect(JSON.parse(gunzipSync(put?.Item?.docz?.B ?? new Uint8Array()).toString("utf8"))).toEqual({
      state: stream(8),
      series: { "a.example#ctr": itemKey.slice("series#a.example#ctr@".length) },
    });
    expect(cleanup).toEqual([{ DeleteRequest: { Key: { pk: { S: "series#a.example#ctr@6-old" } } } }]);
  });

  it("with a retention, gives each series item its time to live and leaves the replaced ones to expire (no deletion billed)", async () => {
    dynamo.on(GetItemCommand).resolves(head7);
    dynamo.on(BatchWriteItemCommand).resolves({});
    dynamo.on(PutItemCommand).resolves({});
    const now = Date.UTC(2026, 11, 6, 10, 0, 0);
    const store = createDynamoAnomalyStore(new DynamoDBClient({}), "AnomalyState", {
      retentionSeconds: 72 * 3600,
      now: () => now,
    });
    await store.loadStream();
    await store.commit(stream(8), 7, series);
    const writes = dynamo.commandCalls(BatchWriteItemCommand).map((c) => c.args[0].input.RequestItems?.AnomalyState);
    expect(writes).toHaveLength(1);
    expect(writes[0]?.[0]?.PutRequest?.Item?.expiresAt).toEqual({ N: String(now / 1000 + 72 * 3600) });
    expect(writes.flat().filter((r) => r?.DeleteRequest)).toEqual([]);
    // The head has no time to live: it is the stream's state, and names the series.
    expect(dynamo.commandCalls(PutItemCommand)[0]?.args[0].input.Item?.expiresAt).toBeUndefined();
  });

  it("reads a gzipped head back; a head without its document is refused, not read as an empty state", async () => {
    const document = { state: stream(9), series: { "a.example#ctr": "9-new" } };
    dynamo.on(GetItemCommand).resolves({
      Item: { pk: { S: "stream#Clickstream" }, version: { N: "9" }, docz: { B: gzipSync(JSON.stringify(document)) } },
    });
    expect(await createDynamoAnomalyStore(new DynamoDBClient({}), "AnomalyState").loadStream()).toEqual(stream(9));
    dynamo.reset();
    dynamo.on(GetItemCommand).resolves({ Item: { pk: { S: "stream#Clickstream" }, version: { N: "9" } } });
    await expect(createDynamoAnomalyStore(new DynamoDBClient({}), "AnomalyState").loadStream()).rejects.toThrow(
      "stream#Clickstream: a head without its document",
    );
  });

  it("creates the head only if absent; a lost race is a StateConflict, and what it wrote is deleted", async () => {
    dynamo.on(GetItemCommand).resolves({});
    dynamo.on(BatchWriteItemCommand).resolves({});
    dynamo.on(PutItemCommand).rejects(new ConditionalCheckFailedException({ message: "no", $metadata: {} }));
    const store = createDynamoAnomalyStore(new DynamoDBClient({}), "AnomalyState");
    await expect(store.commit(stream(1), 0, series)).rejects.toBeInstanceOf(StateConflict);
    expect(dynamo.commandCalls(PutItemCommand)[0]?.args[0].input.ConditionExpression).toBe("attribute_not_exists(pk)");
    const [write, cleanup] = dynamo
      .commandCalls(BatchWriteItemCommand)
      .map((c) => c.args[0].input.RequestItems?.AnomalyState);
    const written = write?.[0]?.PutRequest?.Item?.pk?.S;
    expect(written).toMatch(/^series#a\.example#ctr@1-/);
    expect(cleanup).toEqual([{ DeleteRequest: { Key: { pk: { S: written } } } }]);
  });

  it("keeps everything it wrote when the head write fails without a verdict (it may have been applied)", async () => {
    dynamo.on(GetItemCommand).resolves(head7);
    dynamo.on(BatchWriteItemCommand).resolves({});
    dynamo.on(PutItemCommand).rejects(Object.assign(new Error("socket hang up"), { name: "TimeoutError" }));
    const store = createDynamoAnomalyStore(new DynamoDBClient({}), "AnomalyState");
    await expect(store.commit(stream(8), 7, series)).rejects.toThrow("socket hang up");
    expect(dynamo.commandCalls(BatchWriteItemCommand)).toHaveLength(1);
  });

  it("keeps what it wrote when its head was applied, its answer lost, and another commit built on it first", async () => {
    // The SDK's retry of the head write fails its condition: the table is at version 9 now, written by another
    // invocation on top of this commit's version 8, and still naming the series this commit wrote.
    const written = () => {
      const puts = dynamo.commandCalls(BatchWriteItemCommand)[0]?.args[0].input.RequestItems?.AnomalyState ?? [];
      return puts.map((r) => r.PutRequest?.Item?.pk?.S ?? "");
    };
    let reads = 0;
    dynamo.on(GetItemCommand).callsFake(() => {
      if (reads++ === 0) return head7;
      const tag = (written()[0] ?? "").split("@")[1] ?? "";
      const document = { state: stream(9), series: { "a.example#ctr": tag } };
      return {
        Item: {
          pk: { S: "stream#Clickstream" },
          version: { N: "9" },
          commit: { S: "9-other" },
          docz: { B: gzipSync(JSON.stringify(document)) },
        },
      };
    });
    dynamo.on(BatchWriteItemCommand).resolves({});
    dynamo.on(PutItemCommand).rejects(new ConditionalCheckFailedException({ message: "no", $metadata: {} }));
    const store = createDynamoAnomalyStore(new DynamoDBClient({}), "AnomalyState");
    await store.commit(stream(8), 7, series);
    const deleted = dynamo
      .commandCalls(BatchWriteItemCommand)
      .flatMap((c) => c.args[0].input.RequestItems?.AnomalyState ?? [])
      .flatMap((r) => (r.DeleteRequest ? [r.DeleteRequest.Key?.pk?.S] : []));
    expect(written()).toHaveLength(series.size);
    expect(deleted.filter((key) => written().includes(key ?? ""))).toEqual([]);
  });

  it("reads a series item written gzipped, and one written as plain JSON before", async () => {
    dynamo.on(GetItemCommand).resolves({
      Item: {
        pk: { S: "stream#Clickstream" },
        version: { N: "7" },
        docz: {
          B: gzipSync(
            JSON.stringify({ state: stream(7), series: { "a.example#ctr": "6-old", "b.example#ctr": "6-z" } }),
          ),
        },
      },
    });
    const state = series.get("a.example#ctr");
    dynamo.on(BatchGetItemCommand).resolves({
      Responses: {
        AnomalyState: [
          { pk: { S: "series#a.example#ctr@6-old" }, state: { S: JSON.stringify(state) } },
          { pk: { S: "series#b.example#ctr@6-z" }, statez: { B: gzipSync(JSON.stringify(state)) } },
        ],
      },
    });
    const store = createDynamoAnomalyStore(new DynamoDBClient({}), "AnomalyState");
    const loaded = await store.loadSeries(["a.example#ctr", "b.example#ctr"], 7);
    expect(loaded.get("a.example#ctr")).toEqual(state);
    expect(loaded.get("b.example#ctr")).toEqual(state);
  });

  it("reads the series the head names, consistently, and retries unprocessed keys", async () => {
    dynamo.on(GetItemCommand).resolves(head7);
    dynamo
      .on(BatchGetItemCommand)
      .resolvesOnce({
        Responses: { AnomalyState: [] },
        UnprocessedKeys: { AnomalyState: { Keys: [{ pk: { S: "series#a.example#ctr@6-old" } }] } },
      })
      .resolvesOnce({
        Responses: {
          AnomalyState: [
            { pk: { S: "series#a.example#ctr@6-old" }, state: { S: JSON.stringify(series.get("a.example#ctr")) } },
          ],
        },
      });
    const store = createDynamoAnomalyStore(new DynamoDBClient({}), "AnomalyState");
    const loaded = await store.loadSeries(["a.example#ctr", "b.example#ctr"], 7);
    expect([...loaded.keys()]).toEqual(["a.example#ctr"]);
    const calls = dynamo.commandCalls(BatchGetItemCommand);
    expect(calls).toHaveLength(2);
    expect(calls[0]?.args[0].input.RequestItems?.AnomalyState).toEqual({
      // b.example#ctr is not named by the head: it has no state yet, nothing to read.
      Keys: [{ pk: { S: "series#a.example#ctr@6-old" } }],
      ConsistentRead: true,
    });
  });

  it("answers StateConflict when the version asked for is no longer the head's", async () => {
    dynamo.on(GetItemCommand).resolves(head7);
    const store = createDynamoAnomalyStore(new DynamoDBClient({}), "AnomalyState");
    await expect(store.loadSeries(["a.example#ctr"], 6)).rejects.toBeInstanceOf(StateConflict);
    await expect(store.commit(stream(7), 6, series)).rejects.toBeInstanceOf(StateConflict);
    expect(dynamo.commandCalls(BatchWriteItemCommand)).toHaveLength(0);
  });
});

describe("createSnsAlertPublisher", () => {
  it("publishes the alert as JSON with the attributes the SnsLogger and e-mail filters read", async () => {
    sns.on(PublishCommand).resolves({});
    const alert: AlertMessage = {
      type: "anomaly",
      status: "open",
      site: "a.example",
      metric: "ctr",
      windowStart: "2026-03-01T06:04:00.000Z",
      windowEnd: "2026-03-01T06:05:00.000Z",
      value: 0.005,
      expected: { mean: 0.08, low: 0.02, high: 0.14 },
      score: 1,
      severity: "critical",
      metrics: ["ctr"],
    };
    await createSnsAlertPublisher(new SNSClient({}), "arn:aws:sns:us-east-1:1:Alerts").publish(alert);
    const input = sns.commandCalls(PublishCommand)[0]?.args[0].input;
    expect(JSON.parse(input?.Message ?? "")).toEqual(alert);
    expect(input).toMatchObject({
      TopicArn: "arn:aws:sns:us-east-1:1:Alerts",
      MessageAttributes: {
        severity: { DataType: "String", StringValue: "ERROR" },
        status: { DataType: "String", StringValue: "open" },
        site: { DataType: "String", StringValue: "a.example" },
      },
    });
  });

  it("lays the JSON out one field and one summary line a line, for a person reading the e-mail", async () => {
    sns.on(PublishCommand).resolves({});
    const alert = {
      type: "anomaly",
      status: "open",
      site: "a.example",
      metric: "ctr",
      summary: ["OPEN critical: ctr on a.example was 0.005", "Other metrics of a.example: none moved."],
      windowStart: "2026-03-01T06:04:00.000Z",
      windowEnd: "2026-03-01T06:05:00.000Z",
      value: 0.005,
      expected: { mean: 0.08, low: 0.02, high: 0.14 },
      score: 1,
      severity: "critical",
      metrics: ["ctr"],
      recent: [{ windowStart: "2026-03-01T06:04:00.000Z", value: 0.005 }],
      moved: [],
    } satisfies AlertMessage;
    await createSnsAlertPublisher(new SNSClient({}), "arn:aws:sns:us-east-1:1:Alerts").publish(alert);
    const message = sns.commandCalls(PublishCommand)[0]?.args[0].input.Message ?? "";
    expect(JSON.parse(message)).toEqual(alert);
    expect(message.split("\n").slice(0, 8)).toEqual([
      "{",
      '  "type": "anomaly",',
      '  "status": "open",',
      '  "site": "a.example",',
      '  "metric": "ctr",',
      '  "summary": [',
      '    "OPEN critical: ctr on a.example was 0.005",',
      '    "Other metrics of a.example: none moved."',
    ]);
  });
});

/**
 * Publish as SNS checks it (the local SNS emulator accepts any Subject): the Subject ASCII printable, no line breaks or
 * other control characters, less than 100 characters; the message at most 256 KB.
 */
function publishLikeAws(input: PublishCommandInput) {
  const subject = input.Subject;
  if (subject !== undefined && (!/^[\x20-\x7e]+$/.test(subject) || subject.length >= 100 || subject.trim() !== subject))
    throw new InvalidParameterException({ message: "Invalid parameter: Subject", $metadata: {} });
  if (Buffer.byteLength(input.Message ?? "") > 262_144)
    throw new InvalidParameterException({ message: "Invalid parameter: Message too long", $metadata: {} });
  return { MessageId: "m-1" };
}

describe("createSnsAlertPublisher against SNS's validation", () => {
  const alertOn = (site: string): AlertMessage => ({
    type: "anomaly",
    status: "open",
    site,
    metric: "ctr",
    windowStart: "2026-03-01T06:04:00.000Z",
    windowEnd: "2026-03-01T06:05:00.000Z",
    value: 0.005,
    expected: { mean: 0.08, low: 0.02, high: 0.14 },
    score: 1,
    severity: "critical",
    metrics: ["ctr"],
  });

  it("gives a site with a line break a Subject SNS accepts, and keeps the site as it is in the message (issue 7)", async () => {
    sns.on(PublishCommand).callsFake(publishLikeAws);
    const alert = alertOn("evil.example\r\nBcc: everyone@example.com");
    await createSnsAlertPublisher(new SNSClient({}), "arn:aws:sns:us-east-1:1:Alerts").publish(alert);
    const input = sns.commandCalls(PublishCommand)[0]?.args[0].input;
    expect(input?.Subject).toBe(
      "[open] ctr anomaly on evil.example Bcc: everyone@example.com at 2026-03-01T06:04:00.000Z",
    );
    expect(JSON.parse(input?.Message ?? "")).toEqual(alert);
    expect(input?.MessageAttributes?.site?.StringValue).toBe("evil.example\\u000d\\u000aBcc: everyone@example.com");
  });

  it("publishes with a valid Subject whatever the site (property)", async () => {
    const site = fc.string({ unit: "binary", minLength: 1, maxLength: 300 });
    fc.assert(
      fc.property(site, (text) => {
        expect(() => publishLikeAws({ TopicArn: "t", Message: "m", Subject: snsSubject(text) })).not.toThrow();
      }),
      { numRuns: 1000 },
    );
    sns.on(PublishCommand).callsFake(publishLikeAws);
    const publisher = createSnsAlertPublisher(new SNSClient({}), "arn:aws:sns:us-east-1:1:Alerts");
    await fc.assert(
      fc.asyncProperty(site, async (text) => {
        await publisher.publish(alertOn(text));
      }),
      { numRuns: 20 },
    );
    expect(snsSubject(`[open] ctr anomaly on ${"x".repeat(200)}`)).toBe(`[open] ctr anomaly on ${"x".repeat(74)}...`);
  });

  it("tells a refusal of the alert itself (AlertRefused) from a failure worth retrying", async () => {
    const publisher = createSnsAlertPublisher(new SNSClient({}), "arn:aws:sns:us-east-1:1:Alerts");
    sns
      .on(PublishCommand)
      .rejects(new InvalidParameterException({ message: "Invalid parameter: Subject", $metadata: {} }));
    const refused = await publisher.publish(alertOn("a.example")).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(AlertRefused);
    expect((refused as Error).message).toBe("InvalidParameterException: Invalid parameter: Subject");
    sns.on(PublishCommand).rejects(new ThrottledException({ message: "Rate exceeded", $metadata: {} }));
    const throttled = await publisher.publish(alertOn("a.example")).catch((error: unknown) => error);
    expect(throttled).not.toBeInstanceOf(AlertRefused);
    expect((throttled as Error).name).toBe("ThrottledException");
  });
});
