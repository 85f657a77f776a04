/**
 * The pure parts of the stage target (test/e2e/stage.ts, test/e2e/target.ts): what it reads from `sst shell`'s
 * environment, from CloudWatch Logs events and from Lambda's Invoke answers, and how it polls. The AWS calls
 * themselves cannot run here (no AWS); these are the parts that decide what the calls are made with and how their
 * answers are read.
 */
import { describe, expect, it } from "vitest";
import * as wiring from "../../infra/wiring.ts";
import { type Clock, invokeOutcome, logEventRecord, pollUntil, stageResources, startStageTarget } from "./stage.ts";
import { loggedSince, parseLogLines, targetKind } from "./target.ts";
import { snsDeliveryPolicy } from "./topic-tap.ts";

/** The environment `sst shell --stage e2e` gives for the wiring: one link per linkable component, as SST writes it. */
function shellEnv(): Record<string, string> {
  const env: Record<string, string> = { SST_RESOURCE_App: JSON.stringify({ name: "sluice", stage: "e2e" }) };
  const link = (name: string, value: Record<string, string>) => {
    env[`SST_RESOURCE_${name}`] = JSON.stringify(value);
  };
  for (const name of Object.keys(wiring.buckets)) link(name, { name: `sluice-e2e-${name}-x1`, type: "sst.aws.Bucket" });
  for (const name of Object.keys(wiring.topics))
    link(name, { arn: `arn:aws:sns:eu-west-1:123456789012:sluice-e2e-${name}`, type: "sst.aws.SnsTopic" });
  for (const name of Object.keys(wiring.streams))
    link(name, { name: `sluice-e2e-${name}`, type: "sst.aws.KinesisStream" });
  for (const name of Object.keys(wiring.tables)) link(name, { name: `sluice-e2e-${name}`, type: "sst.aws.Dynamo" });
  link("PricingModel", { name: "sluice-e2e-pricingmodel", type: "sst.sst.Linkable" });
  link("CdcCatalog", { name: "sluice_e2e", type: "sst.sst.Linkable" });
  for (const name of Object.keys(wiring.functions)) {
    link(name, { name: `sluice-e2e-${name}Function-abc`, type: "sst.aws.Function" });
    link(`${name}Dlq`, { url: `https://sqs.eu-west-1.amazonaws.com/123456789012/${name}Dlq-x`, type: "sst.aws.Queue" });
  }
  return env;
}

describe("the stage target", () => {
  it("is chosen by SLUICE_E2E_TARGET, local by default, and refuses anything else", () => {
    expect(targetKind({})).toBe("local");
    expect(targetKind({ SLUICE_E2E_TARGET: "" })).toBe("local");
    expect(targetKind({ SLUICE_E2E_TARGET: "stage" })).toBe("stage");
    expect(() => targetKind({ SLUICE_E2E_TARGET: "prod" })).toThrow(/expected "local" or "stage"/);
  });

  it("reads every component's name, ARN or URL from sst shell's links", () => {
    const resources = stageResources(shellEnv());
    expect(resources.buckets).toEqual({
      Inbox: "sluice-e2e-Inbox-x1",
      Lake: "sluice-e2e-Lake-x1",
      CdcRaw: "sluice-e2e-CdcRaw-x1",
      Curated: "sluice-e2e-Curated-x1",
    });
    expect(resources.topics.Audit).toBe("arn:aws:sns:eu-west-1:123456789012:sluice-e2e-Audit");
    expect(resources.streams.Clickstream).toBe("sluice-e2e-Clickstream");
    expect(Object.keys(resources.tables).sort()).toEqual(Object.keys(wiring.tables).sort());
    expect(resources.endpoints).toEqual({ PricingModel: "sluice-e2e-pricingmodel" });
    expect(resources.catalogs).toEqual({ CdcCatalog: "sluice_e2e" });
    expect(resources.functions.SnsLogger).toBe("sluice-e2e-SnsLoggerFunction-abc");
    expect(resources.queues.PriceInferenceDlq).toBe(
      "https://sqs.eu-west-1.amazonaws.com/123456789012/PriceInferenceDlq-x",
    );
    expect(Object.keys(resources.queues)).toHaveLength(Object.keys(wiring.functions).length);
  });

  it("names every link it misses, and says how to run under sst shell", () => {
    const env = shellEnv();
    delete env.SST_RESOURCE_Lake;
    env.SST_RESOURCE_Audit = JSON.stringify({ name: "not-an-arn" });
    env.SST_RESOURCE_SnsLoggerDlq = "not json";
    expect(() => stageResources(env)).toThrow(
      /missing from the environment \(SST_RESOURCE_Lake\.name, SST_RESOURCE_Audit\.arn, SST_RESOURCE_SnsLoggerDlq\.url\): .*pnpm test:stage --stage <name>/,
    );
    expect(() => stageResources({})).toThrow(/SST_RESOURCE_Inbox\.name/);
  });

  it("refuses to start where AWS_ENDPOINT_URL_* would send its calls to the local emulators", async () => {
    const env = { ...shellEnv(), AWS_ENDPOINT_URL_S3: "http://127.0.0.1:4567" };
    await expect(startStageTarget("check", env)).rejects.toThrow(/AWS_ENDPOINT_URL_S3 set: a stage run must reach AWS/);
  });

  it("lets only the tapped topic deliver to a tap's queue", () => {
    const topic = "arn:aws:sns:eu-west-1:123456789012:sluice-e2e-Audit";
    const queue = "arn:aws:sqs:eu-west-1:123456789012:sluice-e2e-files-Audit";
    expect(JSON.parse(snsDeliveryPolicy(queue, topic)).Statement).toEqual([
      {
        Effect: "Allow",
        Principal: { Service: "sns.amazonaws.com" },
        Action: "sqs:SendMessage",
        Resource: queue,
        Condition: { ArnEquals: { "aws:SourceArn": topic } },
      },
    ]);
  });
});

describe("log records", () => {
  const powertools = {
    level: "INFO",
    message: "SNS message",
    timestamp: "2026-12-05T14:44:48.794Z",
    service: "sns-logger",
    sns: { message: { pipeline: "file-mover" } },
  };

  it("reads a Powertools record from a CloudWatch Logs event, with or without Lambda's text-format prefix", () => {
    expect(logEventRecord(`${JSON.stringify(powertools)}\n`)).toEqual(powertools);
    const prefixed = `2026-12-05T14:44:48.794Z\t0b6c1c5e-9a1f-4f5e-b1a2-000000000000\tINFO\t${JSON.stringify(powertools)}\n`;
    expect(logEventRecord(prefixed)).toEqual(powertools);
  });

  it("takes Lambda's platform lines and plain text for no record", () => {
    expect(logEventRecord("START RequestId: 0b6c1c5e Version: $LATEST\n")).toBeUndefined();
    expect(logEventRecord("REPORT RequestId: 0b6c1c5e\tDuration: 12.3 ms\tBilled Duration: 13 ms\n")).toBeUndefined();
    expect(logEventRecord("2026-12-05T14:44:48Z\tid\tERROR\tboom {not json\n")).toBeUndefined();
    expect(logEventRecord(undefined)).toBeUndefined();
  });

  it("keeps what the function logged since a time: not platform records, not metrics, not older records", () => {
    const text = [
      JSON.stringify({ time: "2026-12-05T14:44:47.679Z", type: "platform.start", record: { requestId: "r" } }),
      JSON.stringify({ _aws: { Timestamp: 1796481888783, CloudWatchMetrics: [] }, ColdStart: 1 }),
      JSON.stringify({ ...powertools, timestamp: "2026-12-05T14:00:00.000Z", message: "older" }),
      JSON.stringify(powertools),
      "a plain line",
      '{"cut": ',
    ].join("\n");
    const records = parseLogLines(text);
    expect(records).toHaveLength(4);
    expect(loggedSince(records, new Date("2026-12-05T14:30:00.000Z"))).toEqual([powertools]);
  });
});

describe("direct invocations", () => {
  const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

  it("returns the handler's answer when Lambda reports no function error", () => {
    expect(invokeOutcome(undefined, bytes([{ status: "completed" }]))).toEqual({
      status: "ok",
      payload: [{ status: "completed" }],
    });
    expect(invokeOutcome(undefined, undefined)).toEqual({ status: "ok", payload: undefined });
  });

  it("tells an error from a timeout", () => {
    const error = { errorType: "Error", errorMessage: "boom" };
    expect(invokeOutcome("Unhandled", bytes(error))).toEqual({ status: "error", error });
    const timeout = { errorMessage: "2026-12-05T14:44:48.794Z abc Task timed out after 900.00 seconds" };
    expect(invokeOutcome("Unhandled", bytes(timeout))).toEqual({ status: "timeout", error: timeout });
  });
});

describe("polling with a deadline", () => {
  /** A clock whose sleeps pass instantly, recording them. */
  function fakeClock(): Clock & { slept: number[] } {
    let now = 0;
    const slept: number[] = [];
    return {
      slept,
      now: () => now,
      async sleep(ms) {
        slept.push(ms);
        now += ms;
      },
    };
  }

  it("probes until the probe passes, one interval apart", async () => {
    const clock = fakeClock();
    let calls = 0;
    const value = await pollUntil(
      "three calls",
      () => {
        calls++;
        if (calls < 3) throw new Error(`only ${calls}`);
        return calls;
      },
      { timeoutMs: 60_000, intervalMs: 5_000, clock },
    );
    expect(value).toBe(3);
    expect(clock.slept).toEqual([5_000, 5_000]);
  });

  it("throws the probe's last error after the deadline, saying what it waited for and how long", async () => {
    const clock = fakeClock();
    let calls = 0;
    const failing = pollUntil(
      "the report",
      () => {
        calls++;
        throw new Error(`no report yet (call ${calls})`);
      },
      { timeoutMs: 20_000, intervalMs: 5_000, clock },
    );
    await expect(failing).rejects.toThrow(
      /^the report: still not so after 20 s \(5 tries\): no report yet \(call 5\)$/,
    );
    expect(calls).toBe(5);
    expect(clock.now()).toBe(20_000);
  });
});
