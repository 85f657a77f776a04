/**
 * `pnpm bench anomaly-sim`: the clickstream detector and alert policy on simulated minute windows
 * (`@sluice/anomaly/backtest/clickstream-sim`: the push generator's daily shape, funnel and incidents). Prints,
 * asserts nothing:
 * - false alerts per site-day on steady traffic: 8 site sizes (5 to 1 000 impressions a minute), 12 seeds, 3 days
 *   each (288 site-days, each site's warm-up included), for the pipeline's configuration and for the same with the
 *   band gate off (the alert policy still refuses an open alert inside its band), with 300 and 120 windows of warm-up;
 * - 90 incidents (spikes and drops of 3 to 10 times, CTR collapses to a tenth; 3 to 30 minutes; 30, 150 and 600
 *   impressions a minute; starting 130 to 420 minutes after the site's first window): how many are alerted while
 *   they last, how soon, and open alerts in the hour after them (echoes: on a metric of the incident's alert).
 */
import { type SimOptions, simulate } from "@sluice/anomaly/backtest/clickstream-sim";
import { DEFAULT_PIPELINE, type PipelineConfig } from "@sluice/anomaly/pipeline";

const START = Date.UTC(2026, 2, 1);
const variants: Array<[string, PipelineConfig]> = [
  ["pipeline (gate, warm-up 120)", DEFAULT_PIPELINE],
  [
    "gate off, warm-up 300",
    {
      ...DEFAULT_PIPELINE,
      detector: { ...DEFAULT_PIPELINE.detector, bandSigmas: 0, levelSigmas: 0, warmupPoints: 300 },
    },
  ],
  [
    "gate off, warm-up 120",
    {
      ...DEFAULT_PIPELINE,
      detector: { ...DEFAULT_PIPELINE.detector, bandSigmas: 0, levelSigmas: 0, warmupPoints: 120 },
    },
  ],
];

const sizes = [5, 10, 20, 50, 100, 200, 500, 1000];
for (const [name, config] of variants) {
  let opens = 0;
  let siteDays = 0;
  const started = performance.now();
  for (let seed = 1; seed <= 12; seed++) {
    const options: SimOptions = {
      config,
      start: START + seed * 5 * 3_600_000,
      minutes: 3 * 1440,
      seed,
      sites: sizes.map((impressionsPerMinute) => ({ impressionsPerMinute })),
    };
    opens += simulate(options).filter((a) => a.status === "open").length;
    siteDays += sizes.length * 3;
  }
  console.log(
    `steady traffic, ${name}: ${opens} false alerts in ${siteDays} site-days = ${(opens / siteDays).toFixed(3)} per site-day ` +
      `(${(performance.now() - started).toFixed(0)} ms)`,
  );
}

const kinds = ["traffic-spike", "traffic-drop", "ctr-collapse"] as const;
for (const [name, config] of variants) {
  let detected = 0;
  let after = 0;
  let echoes = 0;
  const delays: number[] = [];
  for (let i = 0; i < 90; i++) {
    const kind = kinds[i % 3] as (typeof kinds)[number];
    const size = [30, 150, 600][Math.floor(i / 3) % 3] as number;
    const minutes = 3 + ((i * 7) % 28);
    const at = 130 + ((i * 37) % 290);
    const factor = kind === "traffic-spike" ? 3 + (i % 8) : kind === "traffic-drop" ? 1 / (3 + (i % 8)) : 0.1;
    const alerts = simulate({
      config,
      start: START,
      minutes: at + minutes + 60,
      seed: i + 1,
      sites: [{ impressionsPerMinute: size, incidents: [{ kind, minute: at, minutes, factor }] }],
    });
    const open = alerts.find((a) => a.status === "open" && a.minute >= at && a.minute < at + minutes);
    if (open) {
      detected++;
      delays.push(open.minute - at);
    }
    const metrics = new Set(open?.metrics ?? []);
    for (const a of alerts) {
      if (a.status !== "open" || a.minute < at + minutes) continue;
      after++;
      if (metrics.has(a.metric)) echoes++;
    }
  }
  delays.sort((a, b) => a - b);
  console.log(
    `90 incidents, ${name}: ${detected} alerted while they last (median ${delays[Math.floor(delays.length / 2)] ?? "-"} min ` +
      `after the start, mean ${(delays.reduce((a, b) => a + b, 0) / Math.max(1, delays.length)).toFixed(2)}, 90th percentile ` +
      `${delays[Math.floor(delays.length * 0.9)] ?? "-"}), ${after} open alerts in the hour after them, ${echoes} of them on the incident's metrics`,
  );
}
