/**
 * Anomaly alerting end to end on the local cloud, with the real wiring of AnomalyAlert (on the Clickstream stream,
 * its AnomalyState table, the Alerts and Audit topics) and the SnsLogger: `pnpm push clickstream` backfills 7 hours
 * of traffic for 3 sites with a CTR collapse on the first site 6 hours in; the Alerts topic gets exactly one open
 * and one resolved alert for it and nothing for the quiet sites, the SnsLogger logs both, and a malformed record
 * ends in AnomalyAlertDlq with its reason on the Audit topic without stopping the stream.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as wiring from "../../infra/wiring.ts";
import type { AlertMessage } from "../../packages/anomaly/src/alert-policy.ts";
import { createDynamoAnomalyStore } from "../../packages/aws/src/anomaly.ts";
import { type LocalCloud, startLocalCloud } from "../../packages/local/src/cloud.ts";
import { createKinesisClient } from "../../packages/local/src/emulators/kinesalite.ts";
import { runPush } from "../../packages/local/src/push/cli.ts";
import { siteNames } from "../../packages/local/src/push/clickstream-generator.ts";
import { putRecords } from "../../packages/local/src/push/sinks/kinesis.ts";
import { type TopicTap, tapTopic } from "./topic-tap.ts";

const credentials = { accessKeyId: "local", secretAccessKey: "local" };
const START = "2026-03-01T00:00:00.000Z";
const INCIDENT = Date.parse(START) + 6 * 3_600_000;

describe("anomaly alerting on the local cloud", () => {
  let cloud: LocalCloud;
  let sqs: SQSClient;
  const taps = {} as Record<"Alerts" | "Audit", TopicTap>;
  const received: Record<"Alerts" | "Audit", Array<Record<string, unknown>>> = { Alerts: [], Audit: [] };

  beforeAll(async () => {
    const stateDir = mkdtempSync(path.join(tmpdir(), "sluice-anomaly-"));
    // Only the functions under test: DemandHydration also reads Clickstream, and would only add load here.
    const { AnomalyAlert, SnsLogger } = wiring.functions;
    cloud = await startLocalCloud({
      basePort: 0,
      stateDir,
      writeEnvFile: false,
      wiring: { ...wiring, functions: { AnomalyAlert, SnsLogger } } as unknown as typeof wiring,
    });
    sqs = new SQSClient({ region: "us-east-1", endpoint: cloud.endpoints.sqs, credentials });
    // Queues of our own on Alerts and Audit, to read exactly what was published.
    for (const topic of ["Alerts", "Audit"] as const)
      taps[topic] = await tapTopic(cloud, sqs, topic, `anomaly-test-${topic}`);
  }, 180_000);

  afterAll(async () => {
    sqs?.destroy();
    await cloud?.stop();
  });

  /** Waits for the cloud to be idle, then drains both queues. */
  async function settle(): Promise<void> {
    await cloud.idle();
    for (const topic of ["Alerts", "Audit"] as const) received[topic].push(...(await taps[topic].drain()));
  }

  it("turns a pushed backfill with a CTR collapse into one open and one resolved alert, none for quiet sites", async () => {
    const out: string[] = [];
    const io = {
      env: cloud.env,
      cwd: cloud.logDir,
      stdout: { write: (t: string) => out.push(t) },
      stderr: { write: (t: string) => out.push(t), isTTY: false },
    };
    const args = ["clickstream", "--sites", "3", "--rate", "5", "--duration", "7h", "--start", START];
    const code = await runPush([...args, "--anomaly", "ctr-collapse@+6h", "--quiet"], io);
    expect(code, out.join("")).toBe(0);
    await settle();

    const alerts = received.Alerts as unknown as AlertMessage[];
    const [victim] = siteNames(3);
    expect(alerts.map((a) => [a.site, a.status])).toEqual([
      [victim, "open"],
      [victim, "resolved"],
    ]);
    const [open, resolved] = alerts as [AlertMessage, AlertMessage];
    expect(open).toMatchObject({ type: "anomaly", status: "open", severity: expect.any(String) });
    expect(Object.keys(open)).toEqual(
      expect.arrayContaining(["site", "metric", "windowStart", "windowEnd", "value", "expected", "score", "severity"]),
    );
    expect(["ctr", "clicks"]).toContain(open.metric);
    expect(Date.parse(open.windowStart)).toBeGreaterThanOrEqual(INCIDENT);
    expect(Date.parse(open.windowStart)).toBeLessThan(INCIDENT + 20 * 60_000);
    expect(resolved).toMatchObject({ status: "resolved", metric: open.metric, openedAt: open.windowStart });

    const log = readFileSync(path.join(cloud.logDir, "SnsLogger.log"), "utf8");
    const logged = log
      .split("\n")
      .filter((line) => line.includes('"type":"anomaly"') || line.includes('\\"type\\":\\"anomaly\\"'));
    expect(logged.length).toBe(2);
  }, 600_000);

  /** Events counted so far, from the stream state (read through the function's own adapter). */
  async function counted(): Promise<number> {
    const dynamo = new DynamoDBClient({ region: "us-east-1", endpoint: cloud.endpoints.dynamodb, credentials });
    const stream = await createDynamoAnomalyStore(dynamo, cloud.resources.tables.AnomalyState as string).loadStream();
    dynamo.destroy();
    return stream?.windowing.counted ?? 0;
  }

  it("sends a malformed record to AnomalyAlertDlq with its reason on Audit, and keeps counting the others", async () => {
    const before = await counted();
    const kinesis = createKinesisClient(cloud.endpoints.kinesis);
    const good = (i: number) => ({
      eventId: `after-${i}`,
      ts: new Date(Date.parse(START) + 7 * 3_600_000 + i * 1000).toISOString(),
      site: "fast-sneakers.example",
      page: "/p/1",
      productId: "p1",
      action: "impression",
      sessionId: "s1",
    });
    await putRecords(kinesis, cloud.resources.streams.Clickstream as string, [
      { partitionKey: "k", data: Buffer.from(JSON.stringify(good(1))) },
      { partitionKey: "k", data: Buffer.from('{"eventId": "broken", "ts": "yesterday"') },
      { partitionKey: "k", data: Buffer.from(JSON.stringify(good(2))) },
    ]);
    kinesis.destroy();
    await settle();

    const refused = received.Audit.filter((a) => a.pipeline === "anomaly-alert" && a.outcome === "refused");
    expect(refused.length).toBeGreaterThan(0);
    expect(refused[0]?.reason).toEqual(expect.stringContaining("not JSON"));
    const poisonSeq = BigInt(refused[0]?.sequenceNumber as string);
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: cloud.resources.queues.AnomalyAlertDlq,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
      }),
    );
    const ranges = Messages.map((m) => JSON.parse(m.Body ?? "{}").KinesisBatchInfo).map((info) => [
      BigInt(info.startSequenceNumber),
      BigInt(info.endSequenceNumber),
    ]);
    expect(ranges.some(([start, end]) => (start as bigint) <= poisonSeq && poisonSeq <= (end as bigint))).toBe(true);
    // Both valid records counted once, however many times the retries of the poison replayed them; no alert.
    expect(await counted()).toBe(before + 2);
    expect(received.Alerts).toHaveLength(2);
  }, 300_000);
});
