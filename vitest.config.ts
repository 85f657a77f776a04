import { defineConfig } from "vitest/config";
import { LayerOrder } from "./test/e2e/order.ts";

/**
 * The test suite in layers, one vitest project each (`pnpm test` runs them all, `pnpm test:<layer>` one):
 * - `unit`: no Java, no emulator, no network (test/setup/unit-layer.ts makes any attempt fail, naming it): the domain,
 *   the adapters against `aws-sdk-client-mock`, the handlers, the infra code under Pulumi mocks, the pure parts of the
 *   local cloud and the CLIs. Every test file that is not listed below.
 * - `local`: the files below, each starting what it tests: an emulator (fauxqs, DynamoDB Local, kinesalite), a model
 *   container, the local cloud's runtime, or a local cloud of its own (the event runtime with fixture handlers, IAM with
 *   a wiring one action short, `pnpm local` itself); and the three that run a toolchain over the whole repository (tsc
 *   over infra/ against SST's platform types; esbuild bundles of every function, imported as Lambda would or read for
 *   the AWS SDK commands they contain), which took as long as the rest of the unit layer; and the Iceberg merge killed at
 *   every write (a fresh table per kill point, on disk and through the Glue emulator: 20 s, a third of the unit layer).
 * - `e2e`: the pipeline flows of test/e2e, all on one local cloud for the run (test/e2e/shared-cloud.ts), one file at a
 *   time (test/e2e/order.ts says why); the same files run against a deployed stage (`pnpm test:stage`).
 * - `faults`: the same flows again on a second shared local cloud that injects faults (below).
 */
const localLayer = [
  "packages/aws/src/anomaly.dynamodb.test.ts",
  "packages/aws/src/demand-windows.dynamodb.test.ts",
  "packages/aws/src/pricing.dynamodb.test.ts",
  "packages/aws/src/pricing.edges.test.ts",
  "packages/aws/src/pricing-model.http.test.ts",
  "packages/local/src/emulators/*.test.ts",
  "packages/local/src/faults.gateway.test.ts",
  "packages/local/src/iam/gateway.test.ts",
  "packages/local/src/iam/gateway.dynamodb.test.ts",
  "packages/local/src/iam/gateway.sns-sqs.test.ts",
  "packages/local/src/iam/gateway.kinesis.test.ts",
  "packages/local/src/push/push.integration.test.ts",
  "packages/local/src/runtime/function-host.test.ts",
  "packages/local/src/sources/s3-gateway.test.ts",
  "packages/local/src/sources/sns-subscription.test.ts",
  "packages/local/src/sources/stream-mapping.*.test.ts",
  "packages/pricing/model/server.container.test.ts",
  "test/e2e/event-sources.test.ts",
  "test/e2e/iam.test.ts",
  "test/e2e/local-cloud.test.ts",
  "test/infra/typecheck.test.ts",
  "test/infra/commands.test.ts",
  "scripts/build.test.ts",
  "packages/cdc/src/iceberg-kill.test.ts",
  "packages/aws/src/iceberg-kill.test.ts",
];

/** The flows: they run on the shared local cloud, and again under injected faults. */
const flows = [
  "test/e2e/anomaly.test.ts",
  "test/e2e/cdc.test.ts",
  "test/e2e/files.test.ts",
  "test/e2e/pricing.test.ts",
];

/**
 * 5 % of every call a handler makes fails with one of AWS's retryable errors, or is applied with its answer lost;
 * except that a lost answer is not injected into SNS publishes: a standard topic has no deduplication, so a publish
 * retried after its answer was lost is delivered twice, as on AWS (the READMEs say so: consumers deduplicate), and the
 * flows' exact message counts would then depend on the draw. Fixed seed: a failure replays with the same draws
 * (`SLUICE_E2E_FAULTS_SEED` overrides it), given the files' fixed order on their one cloud.
 */
const faults = {
  SLUICE_E2E_FAULTS: "5%,sns=5%:throttle+5xx+reset",
  SLUICE_E2E_FAULTS_SEED: process.env.SLUICE_E2E_FAULTS_SEED ?? "1",
};

/** The files of a shared local cloud: one worker, so one file at a time, in LayerOrder, after the other layers. */
const sharedCloud = { globalSetup: ["test/e2e/shared-cloud.ts"], maxWorkers: 1, fileParallelism: false };

export default defineConfig({
  test: {
    exclude: ["**/node_modules/**", "**/.sst/**"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    sequence: { sequencer: LayerOrder },
    // Per-layer totals at the end of a run, also written to .sluice/test-totals.json for .ci/run.
    reporters: ["default", "./test/setup/layer-totals.ts"],
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["packages/**/*.test.ts", "functions/**/*.test.ts", "test/**/*.test.ts", "scripts/**/*.test.ts"],
          exclude: ["**/node_modules/**", "**/.sst/**", ...localLayer, ...flows],
          setupFiles: ["test/setup/unit-layer.ts"],
          // Every core (vitest leaves one to its main process by default): the unit files are many and short, and the
          // main process mostly waits for them. On this 2-core machine 70 s instead of 90 s.
          maxWorkers: "100%",
        },
      },
      // Its own group, after the unit files: vitest runs projects of different `maxWorkers` in different groups.
      { extends: true, test: { name: "local", include: localLayer, sequence: { groupOrder: 1 } } },
      { extends: true, test: { name: "e2e", include: flows, ...sharedCloud } },
      { extends: true, test: { name: "faults", include: flows, env: faults, testTimeout: 300_000, ...sharedCloud } },
    ],
  },
});
