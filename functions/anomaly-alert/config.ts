/**
 * AnomalyAlert's configuration, from its environment (set in infra/wiring.ts; unset or blank: the default):
 * `ANOMALY_WINDOW_SECONDS` (60), `ANOMALY_LATENESS_SECONDS` (30), `ANOMALY_ALERT_THRESHOLD` (0.5),
 * `ANOMALY_STREAM_SHARDS` (the shards the watermark waits for: the wiring sets the `Clickstream` stream's
 * `shardCount`; 1 when unset), `ANOMALY_SITE_IDLE_SECONDS` (86 400: the silence after which a site is evicted),
 * `ANOMALY_WARMUP_WINDOWS` (120: the windows a series learns from before it can alert, 2 hours of 1-minute windows),
 * `ANOMALY_MAX_SITES` (1 000), `ANOMALY_SITES` (unset: every site; else the comma-separated names of the only sites
 * counted), `ANOMALY_STATE_RETENTION_HOURS` (72: the time to live of a series' state item in `AnomalyState`; the items
 * a commit replaces are left to expire rather than deleted; 0: deleted at once, and never expiring),
 * `ANOMALY_MAX_FUTURE_SECONDS` (300: an event dated further after the time of processing is malformed, as
 * DemandHydration's `DEMAND_MAX_FUTURE_SECONDS` refuses it). Read by the
 * handler at cold start, and by `pnpm bench anomaly-alert` from the wiring.
 */
import { DEFAULT_PIPELINE, type PipelineConfig } from "@sluice/anomaly/pipeline";
import * as z from "zod/mini";
import { configOf, decimal, list, wholeNumber } from "#kit/config";

const { windowing, policy } = DEFAULT_PIPELINE;

export const anomalyAlertEnv = z.object({
  ANOMALY_WINDOW_SECONDS: wholeNumber(windowing.windowMs / 1000, { min: 1 }),
  ANOMALY_LATENESS_SECONDS: wholeNumber(windowing.latenessMs / 1000),
  ANOMALY_ALERT_THRESHOLD: decimal(policy.threshold, { above: 0, max: 1 }),
  ANOMALY_STREAM_SHARDS: wholeNumber(1, { min: 1 }),
  ANOMALY_SITE_IDLE_SECONDS: wholeNumber(windowing.siteIdleMs / 1000, { min: 1 }),
  ANOMALY_MAX_SITES: wholeNumber(windowing.maxSites, { min: 1 }),
  ANOMALY_WARMUP_WINDOWS: wholeNumber(DEFAULT_PIPELINE.detector.warmupPoints ?? 120, { min: 1 }),
  ANOMALY_SITES: list(),
  ANOMALY_STATE_RETENTION_HOURS: wholeNumber(72),
  ANOMALY_MAX_FUTURE_SECONDS: wholeNumber(DEFAULT_PIPELINE.maxFutureMs / 1000),
});

/** The state store's settings from `env`: the series items' time to live (none when 0). */
export function stateStoreOptionsOf(env: Readonly<Record<string, string | undefined>> = process.env): {
  retentionSeconds?: number;
} {
  const hours = configOf("AnomalyAlert", anomalyAlertEnv, env).ANOMALY_STATE_RETENTION_HOURS;
  return hours > 0 ? { retentionSeconds: hours * 3600 } : {};
}

/** The pipeline's configuration from `env` (default: the process's); throws `InvalidConfiguration` naming the variable. */
export function pipelineConfigOf(env: Readonly<Record<string, string | undefined>> = process.env): PipelineConfig {
  const settings = configOf("AnomalyAlert", anomalyAlertEnv, env);
  return {
    ...DEFAULT_PIPELINE,
    windowing: {
      ...windowing,
      expectedShards: settings.ANOMALY_STREAM_SHARDS,
      windowMs: settings.ANOMALY_WINDOW_SECONDS * 1000,
      latenessMs: settings.ANOMALY_LATENESS_SECONDS * 1000,
      siteIdleMs: settings.ANOMALY_SITE_IDLE_SECONDS * 1000,
      maxSites: settings.ANOMALY_MAX_SITES,
      allowedSites: settings.ANOMALY_SITES,
    },
    policy: { ...policy, threshold: settings.ANOMALY_ALERT_THRESHOLD },
    detector: { ...DEFAULT_PIPELINE.detector, warmupPoints: settings.ANOMALY_WARMUP_WINDOWS },
    maxFutureMs: settings.ANOMALY_MAX_FUTURE_SECONDS * 1000,
  };
}
