import { describe, expect, it } from "vitest";
import { ANOMALY_ENV, pipelineConfigFromEnv } from "./config.ts";
import { createMemoryStateStore, DEFAULT_PIPELINE, processClickstreamBatch } from "./pipeline.ts";

describe("pipelineConfigFromEnv", () => {
  it("gives the defaults for an empty environment (every site, one shard: the wiring always sets the shards)", () => {
    expect(pipelineConfigFromEnv({})).toEqual(DEFAULT_PIPELINE);
    expect(pipelineConfigFromEnv({}).windowing).toMatchObject({
      expectedShards: 1,
      siteIdleMs: 86_400_000,
      maxSites: 1000,
      allowedSites: null,
    });
  });

  it("reads every setting: windows, lateness, threshold, shards, the silence that evicts a site, the site limit", () => {
    const config = pipelineConfigFromEnv({
      ANOMALY_WINDOW_SECONDS: "120",
      ANOMALY_LATENESS_SECONDS: "0",
      ANOMALY_ALERT_THRESHOLD: "0.7",
      ANOMALY_STREAM_SHARDS: "2",
      ANOMALY_SITE_IDLE_SECONDS: "3600",
      ANOMALY_MAX_SITES: "50",
    });
    expect(config.windowing).toMatchObject({
      windowMs: 120_000,
      latenessMs: 0,
      expectedShards: 2,
      siteIdleMs: 3_600_000,
      maxSites: 50,
      allowedSites: null,
    });
    expect(config.policy.threshold).toBe(0.7);
    // What the environment does not set stays as it was.
    expect(config.detector).toEqual(DEFAULT_PIPELINE.detector);
    expect(config.policy.resolveAfterWindows).toBe(DEFAULT_PIPELINE.policy.resolveAfterWindows);
  });

  it("reads the allow-list as comma-separated names, spaces around them ignored; blank means every site", () => {
    expect(
      pipelineConfigFromEnv({ ANOMALY_SITES: " a.example, b.example ,,c.example " }).windowing.allowedSites,
    ).toEqual(["a.example", "b.example", "c.example"]);
    expect(pipelineConfigFromEnv({ ANOMALY_SITES: "  " }).windowing.allowedSites).toBeNull();
    expect(pipelineConfigFromEnv({ ANOMALY_SITES: " , " }).windowing.allowedSites).toBeNull();
  });

  it("refuses a value that is not a valid setting, naming the variable", () => {
    for (const [name, text] of [
      ["ANOMALY_STREAM_SHARDS", "0"],
      ["ANOMALY_STREAM_SHARDS", "two"],
      ["ANOMALY_SITE_IDLE_SECONDS", "-1"],
      ["ANOMALY_SITE_IDLE_SECONDS", "1.5"],
      ["ANOMALY_MAX_SITES", "0"],
      ["ANOMALY_WINDOW_SECONDS", "0"],
      ["ANOMALY_LATENESS_SECONDS", "-5"],
      ["ANOMALY_ALERT_THRESHOLD", "1.5"],
      ["ANOMALY_ALERT_THRESHOLD", "0"],
    ] as const) {
      expect(() => pipelineConfigFromEnv({ [name]: text }), `${name}=${text}`).toThrow(`${name}=${text} is not valid`);
    }
  });

  it("lists the variables it reads", () => {
    expect(ANOMALY_ENV).toEqual([
      "ANOMALY_WINDOW_SECONDS",
      "ANOMALY_LATENESS_SECONDS",
      "ANOMALY_ALERT_THRESHOLD",
      "ANOMALY_STREAM_SHARDS",
      "ANOMALY_SITE_IDLE_SECONDS",
      "ANOMALY_MAX_SITES",
      "ANOMALY_SITES",
    ]);
  });

  it("drives the pipeline: only the sites ANOMALY_SITES names are counted, one silent for ANOMALY_SITE_IDLE_SECONDS is dropped", async () => {
    const config = pipelineConfigFromEnv({ ANOMALY_SITES: "a.example,b.example", ANOMALY_SITE_IDLE_SECONDS: "600" });
    const store = createMemoryStateStore();
    const start = Date.UTC(2026, 2, 1);
    const record = (i: number, minute: number, site: string) => ({
      shardId: "shard-0",
      sequenceNumber: String(i),
      data: Buffer.from(
        JSON.stringify({
          eventId: `e${i}`,
          ts: new Date(start + minute * 60_000).toISOString(),
          site,
          page: "/p/1",
          productId: "p1",
          action: "impression",
          sessionId: "s1",
        }),
      ).toString("base64"),
    });
    const deps = { store, alerts: { publish: async () => {} }, config, now: () => start + 86_400_000 };
    const first = await processClickstreamBatch(
      [record(1, 0, "a.example"), record(2, 0, "b.example"), record(3, 0, "x.example")],
      deps,
    );
    expect(first.counted).toBe(2);
    expect(first.skippedSites).toEqual([{ site: "x.example", reason: "not-allowed", events: 1 }]);
    const evicted: unknown[] = [];
    for (let minute = 1; minute <= 15; minute++) {
      evicted.push(...(await processClickstreamBatch([record(3 + minute, minute, "b.example")], deps)).evicted);
    }
    expect(evicted).toEqual([{ site: "a.example", openIncident: false }]);
    expect(Object.keys(store.stream?.policies ?? {})).toEqual(["b.example"]);
    expect([...store.series.keys()].some((key) => key.startsWith("a.example#"))).toBe(false);
  });
});
