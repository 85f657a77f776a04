/**
 * The deployed stacks against infra/wiring.ts, the wiring the local cloud runs. The stacks are built the way
 * `sst deploy` builds them, through sst.config.ts's `run()`, synthesized offline under Pulumi mocks, and must create
 * exactly what the wiring says.
 */
import { describe, expect, it, vi } from "vitest";
import * as wiring from "../../infra/wiring.ts";
import { describeDeployment } from "./suite.ts";

const deployment = describeDeployment("infra/wiring.ts", wiring, async () => {
  const config = (await import("../../sst.config.ts")).default;
  return (await config.run()) as Record<string, unknown>;
});

describe("stream mappings (infra/wiring.ts)", () => {
  const mappings = Object.entries(wiring.functions).flatMap(([name, spec]) =>
    spec.triggers.flatMap((t) => (t.kind === "kinesis" || t.kind === "dynamodb" ? [{ name, batch: t.batch }] : [])),
  );

  it("never discard a record for its age: an outage (throttling, a bad deploy) waits up to the stream's retention", () => {
    // When Lambda cannot invoke the function, it retries until the records pass MaximumRecordAgeInSeconds, whatever
    // MaximumRetryAttempts says: a finite age would dead-letter good records after an outage that long.
    expect(mappings.length).toBeGreaterThan(0);
    for (const { name, batch } of mappings) expect([name, batch.maximumRecordAgeInSeconds]).toEqual([name, -1]);
  });

  it("retry a failing record 10 times, isolated by bisection and partial batch responses, before the DLQ", () => {
    for (const { name, batch } of mappings) {
      expect([
        name,
        batch.maximumRetryAttempts,
        batch.bisectBatchOnFunctionError,
        batch.reportBatchItemFailures,
      ]).toEqual([name, 10, true, true]);
    }
  });
});

describe("alarms (infra/wiring.ts)", () => {
  it("number 35 a stage, as infra/README.md states (and prices): 8 functions x 3 (DLQ depth, new dead letters, throttles), 8 with an on-failure destination, 3 stream consumers", () => {
    const alarms = deployment.synth().ofType("aws:cloudwatch/metricAlarm:MetricAlarm");
    const functions: wiring.FunctionSpec[] = Object.values(wiring.functions);
    const streamConsumers = functions.filter((spec) =>
      spec.triggers.some((t) => t.kind === "kinesis" || t.kind === "dynamodb"),
    );
    const withDestination = functions.filter((spec) => spec.async !== undefined || streamConsumers.includes(spec));
    expect([functions.length, withDestination.length, streamConsumers.length]).toEqual([8, 8, 3]);
    expect(alarms.length).toBe(35);
  });
});

describe("sst.config.ts", () => {
  it("names the app sluice, keeps state in AWS, retains and protects production only", async () => {
    const config = (await import("../../sst.config.ts")).default;
    const production = await config.app({ stage: "production" });
    const dev = await config.app({ stage: "dev" });
    expect({
      name: production.name,
      home: production.home,
      removal: production.removal,
      protect: production.protect,
    }).toEqual({ name: "sluice", home: "aws", removal: "retain", protect: true });
    expect({ removal: dev.removal, protect: dev.protect }).toEqual({ removal: "remove", protect: false });
  });

  it("passes a region to the AWS provider only when AWS_REGION or AWS_DEFAULT_REGION sets one (else the profile's)", async () => {
    const config = (await import("../../sst.config.ts")).default;
    const saved = { AWS_REGION: process.env.AWS_REGION, AWS_DEFAULT_REGION: process.env.AWS_DEFAULT_REGION };
    const awsProvider = async (env: Record<string, string | undefined>) => {
      for (const [key, value] of Object.entries(env)) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
      return ((await config.app({ stage: "dev" })).providers as Record<string, unknown>).aws;
    };
    try {
      expect(await awsProvider({ AWS_REGION: undefined, AWS_DEFAULT_REGION: undefined })).toEqual({});
      expect(await awsProvider({ AWS_REGION: "eu-west-1", AWS_DEFAULT_REGION: "us-west-2" })).toEqual({
        region: "eu-west-1",
      });
      expect(await awsProvider({ AWS_REGION: undefined, AWS_DEFAULT_REGION: "us-west-2" })).toEqual({
        region: "us-west-2",
      });
    } finally {
      await awsProvider(saved);
    }
  });

  it("pins the AWS provider to the accounts config/stages.json lists for the stage deployed (allowedAccountIds)", async () => {
    vi.resetModules();
    vi.doMock("../../config/stages.json", () => ({
      default: { production: { awsAccountIds: ["111122223333"] } },
    }));
    try {
      const config = (await import("../../sst.config.ts")).default;
      const awsProvider = async (stage: string) =>
        ((await config.app({ stage })).providers as Record<string, { allowedAccountIds?: string[] }>).aws
          ?.allowedAccountIds;
      expect(await awsProvider("production")).toEqual(["111122223333"]);
      expect(await awsProvider("dev")).toBeUndefined();
    } finally {
      vi.doUnmock("../../config/stages.json");
      vi.resetModules();
    }
  });

  it("outputs every bucket, topic, stream, table, endpoint, function (and its log group) and dead-letter queue", () => {
    const expected = [
      ...Object.keys(wiring.buckets).map((n) => `${n}Bucket`),
      ...Object.keys(wiring.topics).map((n) => `${n}Topic`),
      ...Object.keys(wiring.streams).map((n) => `${n}Stream`),
      ...Object.keys(wiring.tables).map((n) => `${n}Table`),
      ...Object.keys(wiring.endpoints).map((n) => `${n}Endpoint`),
      ...Object.keys(wiring.functions).flatMap((n) => [`${n}Function`, `${n}LogGroup`, wiring.deadLetterQueueOf(n)]),
    ].sort();
    const outputs = deployment.synth().outputs;
    expect(Object.keys(outputs).sort()).toEqual(expected);
    for (const name of Object.keys(wiring.functions)) expect(outputs[`${name}LogGroup`]).toMatch(/^\/aws\/lambda\//);
    expect(outputs.PricingModelEndpoint).toBe("sluice-test-pricingmodel");
  });
});
