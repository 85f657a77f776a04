import { defineConfig } from "vitest/config";

/** The flows that also run under injected faults (pnpm local --faults): their guarantees must hold there too. */
const faultedFlows = [
  "test/e2e/files.test.ts",
  "test/e2e/pricing.test.ts",
  "test/e2e/anomaly.test.ts",
  "test/e2e/cdc.test.ts",
];

/**
 * 5 % of every call a handler makes fails with one of AWS's retryable errors, or is applied with its answer lost;
 * except that a lost answer is not injected into SNS publishes: a standard topic has no deduplication, so a publish
 * retried after its answer was lost is delivered twice, as on AWS (the READMEs say so: consumers deduplicate), and the
 * flows' exact message counts would then depend on the draw. Fixed seed: a failure replays with the same draws
 * (`SLUICE_E2E_FAULTS_SEED` overrides it).
 */
const faults = {
  SLUICE_E2E_FAULTS: "5%,sns=5%:throttle+5xx+reset",
  SLUICE_E2E_FAULTS_SEED: process.env.SLUICE_E2E_FAULTS_SEED ?? "1",
};

export default defineConfig({
  test: {
    exclude: ["**/node_modules/**", "**/.sst/**"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    projects: [
      {
        extends: true,
        test: {
          name: "default",
          include: ["packages/**/*.test.ts", "functions/**/*.test.ts", "test/**/*.test.ts", "scripts/**/*.test.ts"],
        },
      },
      {
        extends: true,
        test: { name: "faults", include: faultedFlows, env: faults, testTimeout: 300_000 },
      },
    ],
  },
});
