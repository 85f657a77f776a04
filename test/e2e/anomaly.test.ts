/**
 * Anomaly alerting end to end, on the local cloud or a deployed stage (test/e2e/target.ts), with the real wiring of
 * AnomalyAlert (on the Clickstream stream, its AnomalyState table, the Alerts and Audit topics) and the SnsLogger:
 * `pnpm push clickstream` backfills 3 hours of traffic for 3 sites with a CTR collapse on the first site 2 hours 10 minutes
 * in, just past the detector's warm-up of 2 hours (120 windows: a new site can alert after 2 hours of traffic);
 * the Alerts topic gets exactly one open and one resolved alert for it and nothing for the quiet sites, the SnsLogger
 * logs both, and a malformed record ends in AnomalyAlertDlq with its data and reason (on the Audit topic too) without
 * stopping the stream or being retried.
 *
 * The backfill is event time in March 2026: it must be the first clickstream the stream's consumers see (their
 * watermarks only move forward), which is why a run starts with this file, alone, on a stage as on the shared local
 * cloud (test/e2e/order.ts). The other flows share the cloud: this file counts only what it wrote (the stream's
 * counters from before and after, its own sites' alerts and log records).
 */
import type { AlertMessage } from "@sluice/messages";
import { siteNames } from "@sluice/testing/clickstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDynamoAnomalyStore } from "../../packages/aws/src/anomaly.ts";
import { runPush } from "../../packages/local/src/push/cli.ts";
import { putRecords } from "../../packages/local/src/push/sinks/kinesis.ts";
import { startTarget, type Target } from "./target.ts";
import type { TopicTap } from "./topic-tap.ts";

const START = "2026-03-01T00:00:00.000Z";
const INCIDENT = Date.parse(START) + 130 * 60_000;
/** The backfill's end: 3 hours of event time. */
const END = Date.parse(START) + 3 * 3_600_000;

describe("anomaly alerting", () => {
  let target: Target;
  let started: Date;
  const taps = {} as Record<"Alerts" | "Audit", TopicTap>;
  const received: Record<"Alerts" | "Audit", Array<Record<string, unknown>>> = { Alerts: [], Audit: [] };

  /** The backfill's sites: the first one's click-through rate collapses. */
  const sites = siteNames(3);

  beforeAll(async () => {
    started = new Date();
    target = await startTarget({ name: "anomaly" });
    // Queues of our own on Alerts and Audit, to read exactly what was published.
    for (const topic of ["Alerts", "Audit"] as const) taps[topic] = await target.tap(topic);
  }, 180_000);

  afterAll(async () => {
    await target?.stop();
  });

  /** Adds what was published on both topics since the last drain to `received`. */
  async function drainTaps(): Promise<void> {
    for (const topic of ["Alerts", "Audit"] as const) received[topic].push(...(await taps[topic].drain()));
  }

  /**
   * The anomaly alerts about this file's sites among what Alerts carried (on AWS it also carries the dead-letter
   * alarms' notifications).
   */
  const anomalyAlerts = () =>
    received.Alerts.filter(
      (a) => a.type === "anomaly" && sites.includes(a.site as string),
    ) as unknown as AlertMessage[];

  /**
   * The stream's windowing counters (events counted into windows, and events that came after their window closed), read
   * through the function's own adapter (the item layout is its business). They count every file's events: this file
   * compares them before and after what it wrote.
   */
  async function windowing(): Promise<{ counted: number; late: number }> {
    const store = createDynamoAnomalyStore(target.clients.dynamodb, target.resources.tables.AnomalyState as string);
    const stream = await store.loadStream();
    return { counted: stream?.windowing.counted ?? 0, late: stream?.windowing.late ?? 0 };
  }

  it("turns a pushed backfill with a CTR collapse into one open and one resolved alert, none for quiet sites", async () => {
    const before = await windowing();
    const out: string[] = [];
    const io = {
      env: target.env,
      cwd: target.dir,
      stdout: { write: (t: string) => out.push(t) },
      stderr: { write: (t: string) => out.push(t), isTTY: false },
    };
    const args = ["clickstream", "--sites", "3", "--rate", "5", "--duration", "3h", "--start", START];
    const code = await runPush([...args, "--anomaly", "ctr-collapse@+130m", "--quiet"], io);
    expect(code, out.join("")).toBe(0);
    const pushed = Number(/put ([\d,]+) events/.exec(out.join(""))?.[1]?.replaceAll(",", ""));
    expect(pushed).toBeGreaterThan(0);

    // Every record read once: counted into its window, or late.
    await target.eventually(
      "AnomalyAlert to read the whole backfill",
      async () => {
        const { counted, late } = await windowing();
        expect(counted + late - (before.counted + before.late)).toBe(pushed);
      },
      { timeoutMs: 15 * 60_000 },
    );
    const [victim] = sites;
    const alerts = await target.eventually("one open and one resolved alert", async () => {
      await drainTaps();
      expect(anomalyAlerts().map((a) => [a.site, a.status])).toEqual([
        [victim, "open"],
        [victim, "resolved"],
      ]);
      return anomalyAlerts();
    });
    const [open, resolved] = alerts as [AlertMessage, AlertMessage];
    expect(open).toMatchObject({ type: "anomaly", status: "open", severity: expect.any(String) });
    expect(Object.keys(open)).toEqual(
      expect.arrayContaining(["site", "metric", "windowStart", "windowEnd", "value", "expected", "score", "severity"]),
    );
    expect(["ctr", "clicks"]).toContain(open.metric);
    expect(Date.parse(open.windowStart)).toBeGreaterThanOrEqual(INCIDENT);
    expect(Date.parse(open.windowStart)).toBeLessThan(INCIDENT + 20 * 60_000);
    expect(resolved).toMatchObject({ status: "resolved", metric: open.metric, openedAt: open.windowStart });
    // What on-call reads: the metric's last windows against the band, what else moved, as text.
    const recent = open.recent ?? [];
    expect(recent.at(-1)?.windowStart).toBe(open.windowStart);
    // The open value is the window's own, or the mean of the last `windows` windows (the detector's view).
    const averaged = recent.slice(-(open.windows ?? 1));
    const value = open.value ?? Number.NaN; // null only on resolved messages
    expect(averaged.reduce((sum, w) => sum + w.value, 0) / averaged.length).toBeCloseTo(value, 3);
    expect(value < open.expected.low || value > open.expected.high).toBe(true);
    expect(open.moved).toEqual(expect.any(Array));
    expect(open.summary?.[0]).toMatch(
      new RegExp(`^OPEN (warning|critical): ${open.metric} on ${victim} (was|averaged) `),
    );

    await target.eventually("both alerts logged by the SnsLogger", async () => {
      const logged = (await target.logRecords("SnsLogger", started))
        .map((record) => JSON.stringify(record))
        .filter((line) => line.includes('"type":"anomaly"') || line.includes('\\"type\\":\\"anomaly\\"'))
        .filter((line) => sites.some((site) => line.includes(site)));
      expect(logged.length).toBe(2);
    });
  }, 1_200_000);

  it("sends a malformed record to AnomalyAlertDlq with its data and reason (Audit: the message id), and keeps counting the others", async () => {
    const before = (await windowing()).counted;
    const good = (i: number) => ({
      eventId: `after-${i}`,
      ts: new Date(END + i * 1000).toISOString(),
      site: "fast-sneakers.example",
      page: "/p/1",
      productId: "p1",
      action: "impression",
      sessionId: "s1",
    });
    await putRecords(target.clients.kinesis, target.resources.streams.Clickstream as string, [
      { partitionKey: "k", data: Buffer.from(JSON.stringify(good(1))) },
      { partitionKey: "k", data: Buffer.from('{"eventId": "broken", "ts": "yesterday"') },
      { partitionKey: "k", data: Buffer.from(JSON.stringify(good(2))) },
    ]);

    const refused = await target.eventually("the malformed record refused on Audit", async () => {
      await drainTaps();
      const refused = received.Audit.filter((a) => a.pipeline === "anomaly-alert" && a.outcome === "refused");
      expect(refused.length).toBeGreaterThan(0);
      return refused;
    });
    expect(refused[0]?.reason).toEqual(expect.stringContaining("not JSON"));
    const poisonSeq = refused[0]?.sequenceNumber as string;
    // In AnomalyAlertDlq: the record itself (its data, as sent, and as text), where it was, the reason.
    const letter = await target.eventually("the malformed record in AnomalyAlertDlq", async () => {
      const letters = (await target.deadLetters("AnomalyAlert")).filter(
        (body) =>
          body.type === "PoisonRecord" && (body.record as { sequenceNumber?: string }).sequenceNumber === poisonSeq,
      );
      // One (more only if a send's answer was lost and the SDK sent it again: the faults project).
      expect(letters.length).toBeGreaterThan(0);
      return letters[0] as Record<string, unknown>;
    });
    expect(letter).toMatchObject({
      function: "AnomalyAlert",
      reason: refused[0]?.reason,
      record: {
        eventSource: "aws:kinesis",
        partitionKey: "k",
        shardId: expect.stringMatching(/^shardId-/),
        arrivedAt: expect.any(String),
        data: Buffer.from('{"eventId": "broken", "ts": "yesterday"').toString("base64"),
        text: '{"eventId": "broken", "ts": "yesterday"',
      },
    });
    expect(refused[0]).toMatchObject({ deadLetterQueue: "AnomalyAlertDlq", deadLetterMessageId: expect.any(String) });
    // Both valid records counted once; no alert.
    await target.eventually("both valid records counted", async () => {
      expect((await windowing()).counted).toBe(before + 2);
    });
    await target.settle();
    await drainTaps();
    expect(anomalyAlerts()).toHaveLength(2);
  }, 600_000);
});
