/**
 * AnomalyAlert's settings from the function's environment (`infra/wiring.ts` sets them; unset or empty means the
 * default):
 *
 * | variable                    | setting                                                       | default          |
 * | --------------------------- | ------------------------------------------------------------- | ---------------- |
 * | `ANOMALY_WINDOW_SECONDS`    | window length                                                 | 60               |
 * | `ANOMALY_LATENESS_SECONDS`  | allowed lateness behind the watermark                         | 30               |
 * | `ANOMALY_ALERT_THRESHOLD`   | score that opens an incident, in (0, 1]                       | 0.5              |
 * | `ANOMALY_STREAM_SHARDS`     | shards the watermark waits for (the wiring sets the stream's) | 1                |
 * | `ANOMALY_SITE_IDLE_SECONDS` | silence (event time) after which a site is evicted            | 86 400 (a day)   |
 * | `ANOMALY_MAX_SITES`         | most sites known at once                                      | 1 000            |
 * | `ANOMALY_SITES`             | the only sites counted, comma-separated                       | unset: all sites |
 */
import { DEFAULT_PIPELINE, type PipelineConfig } from "./pipeline.ts";

/** The variables {@link pipelineConfigFromEnv} reads. */
export const ANOMALY_ENV = [
  "ANOMALY_WINDOW_SECONDS",
  "ANOMALY_LATENESS_SECONDS",
  "ANOMALY_ALERT_THRESHOLD",
  "ANOMALY_STREAM_SHARDS",
  "ANOMALY_SITE_IDLE_SECONDS",
  "ANOMALY_MAX_SITES",
  "ANOMALY_SITES",
] as const;

type Env = Readonly<Partial<Record<string, string>>>;

const positiveInteger = (n: number) => Number.isInteger(n) && n > 0;

/** The pipeline's configuration: `base` with what `env` sets; throws naming the variable when a value is invalid. */
export function pipelineConfigFromEnv(env: Env, base: Readonly<PipelineConfig> = DEFAULT_PIPELINE): PipelineConfig {
  const number = (name: (typeof ANOMALY_ENV)[number], fallback: number, valid: (n: number) => boolean) => {
    const text = env[name]?.trim();
    if (text === undefined || text === "") return fallback;
    const value = Number(text);
    if (!valid(value)) throw new Error(`${name}=${env[name]} is not valid`);
    return value;
  };
  const seconds = (name: (typeof ANOMALY_ENV)[number], fallbackMs: number, valid = positiveInteger) =>
    1000 * number(name, fallbackMs / 1000, valid);
  return {
    ...base,
    windowing: {
      ...base.windowing,
      windowMs: seconds("ANOMALY_WINDOW_SECONDS", base.windowing.windowMs),
      latenessMs: seconds("ANOMALY_LATENESS_SECONDS", base.windowing.latenessMs, (n) => Number.isInteger(n) && n >= 0),
      expectedShards: number("ANOMALY_STREAM_SHARDS", base.windowing.expectedShards, positiveInteger),
      siteIdleMs: seconds("ANOMALY_SITE_IDLE_SECONDS", base.windowing.siteIdleMs),
      maxSites: number("ANOMALY_MAX_SITES", base.windowing.maxSites, positiveInteger),
      allowedSites: sitesFrom(env.ANOMALY_SITES) ?? base.windowing.allowedSites,
    },
    policy: {
      ...base.policy,
      threshold: number("ANOMALY_ALERT_THRESHOLD", base.policy.threshold, (n) => n > 0 && n <= 1),
    },
  };
}

/** A comma-separated list of site names (spaces around names ignored), or null when unset or blank. */
function sitesFrom(text: string | undefined): string[] | null {
  const sites = (text ?? "")
    .split(",")
    .map((site) => site.trim())
    .filter((site) => site !== "");
  return sites.length > 0 ? sites : null;
}
