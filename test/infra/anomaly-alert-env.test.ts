/**
 * AnomalyAlert's environment in infra/wiring.ts against the settings the function reads: every variable is one it
 * knows and parses, and the watermark waits for exactly the shards of the stream that triggers it.
 */
import { describe, expect, it } from "vitest";
import { anomalyAlertEnv, pipelineConfigOf, stateStoreOptionsOf } from "../../functions/anomaly-alert/config.ts";
import * as wiring from "../../infra/wiring.ts";

describe("AnomalyAlert's environment", () => {
  const spec = wiring.functions.AnomalyAlert;
  const environment: Record<string, string> = { ...spec.environment };

  it("sets only variables the function reads, each valid", () => {
    const anomaly = Object.keys(environment).filter((name) => name.startsWith("ANOMALY_"));
    expect(anomaly.filter((name) => !Object.hasOwn(anomalyAlertEnv.shape, name))).toEqual([]);
    expect(() => pipelineConfigOf(environment)).not.toThrow();
  });

  it("waits for the shards of the stream that triggers it", () => {
    const streams = spec.triggers.flatMap((t) => (t.kind === "kinesis" ? [t.stream] : []));
    expect(streams).toEqual(["Clickstream"]);
    const config = pipelineConfigOf(environment);
    expect(config.windowing.expectedShards).toBe(wiring.streams.Clickstream.shardCount);
  });

  it("gives the series items a time to live, on the table's TTL attribute (else replaced items would stay for ever)", () => {
    expect(stateStoreOptionsOf(environment).retentionSeconds).toBe(72 * 3600);
    expect(wiring.tables.AnomalyState.ttl).toBe("expiresAt");
  });
});
