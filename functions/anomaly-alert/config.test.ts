import { DEFAULT_PIPELINE } from "@sluice/anomaly/pipeline";
import { describe, expect, it } from "vitest";
import { pipelineConfigOf, stateStoreOptionsOf } from "./config.ts";

describe("AnomalyAlert's configuration", () => {
  it("is the pipeline's default for an empty environment, one shard", () => {
    const config = pipelineConfigOf({});
    expect(config.windowing).toEqual({ ...DEFAULT_PIPELINE.windowing, expectedShards: 1, allowedSites: null });
    expect(config.policy).toEqual(DEFAULT_PIPELINE.policy);
    expect(config.detector).toEqual(DEFAULT_PIPELINE.detector);
  });

  it("reads every setting: windows, lateness, threshold, shards, the silence that evicts a site, the cap, the allow-list", () => {
    const config = pipelineConfigOf({
      ANOMALY_WINDOW_SECONDS: "300",
      ANOMALY_LATENESS_SECONDS: "0",
      ANOMALY_ALERT_THRESHOLD: "0.8",
      ANOMALY_STREAM_SHARDS: "2",
      ANOMALY_SITE_IDLE_SECONDS: "600",
      ANOMALY_MAX_SITES: "50",
      ANOMALY_WARMUP_WINDOWS: "60",
      ANOMALY_MAX_FUTURE_SECONDS: "120",
      ANOMALY_SITES: " a.example , b.example,,",
    });
    expect(config.windowing).toMatchObject({
      windowMs: 300_000,
      latenessMs: 0,
      expectedShards: 2,
      siteIdleMs: 600_000,
      maxSites: 50,
      allowedSites: ["a.example", "b.example"],
    });
    expect(config.policy.threshold).toBe(0.8);
    expect(config.detector.warmupPoints).toBe(60);
    expect(config.maxFutureMs).toBe(120_000);
  });

  it("gives the state's series items a time to live of 72 hours by default, another on demand, none at 0", () => {
    expect(stateStoreOptionsOf({})).toEqual({ retentionSeconds: 72 * 3600 });
    expect(stateStoreOptionsOf({ ANOMALY_STATE_RETENTION_HOURS: "24" })).toEqual({ retentionSeconds: 24 * 3600 });
    expect(stateStoreOptionsOf({ ANOMALY_STATE_RETENTION_HOURS: "0" })).toEqual({});
    expect(() => stateStoreOptionsOf({ ANOMALY_STATE_RETENTION_HOURS: "-1" })).toThrow(/ANOMALY_STATE_RETENTION_HOURS/);
  });

  it("refuses an invalid value at cold start, naming the function and the variable", () => {
    expect(() => pipelineConfigOf({ ANOMALY_ALERT_THRESHOLD: "1.5" })).toThrow(
      /AnomalyAlert configuration: ANOMALY_ALERT_THRESHOLD="1.5": expected a number/,
    );
    expect(() => pipelineConfigOf({ ANOMALY_MAX_SITES: "0" })).toThrow(/ANOMALY_MAX_SITES="0"/);
  });
});
