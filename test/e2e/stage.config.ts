/**
 * Vitest for `pnpm test:stage` (scripts/test-stage.ts): the end-to-end files of test/e2e, unchanged, against a
 * deployed stage, one file at a time, anomaly first, as `pnpm test` runs them on its shared local cloud
 * (test/e2e/order.ts says why). What differs from `pnpm test`, and why:
 * - `SLUICE_E2E_TARGET=stage`: every file starts the stage target (test/e2e/target.ts), not a local cloud.
 * - Timeouts sized for AWS (a test may wait minutes for async retries and stream batches; see stageWaits).
 * - The verbose reporter, which lists every test, so the ones skipped as local-only show with their reason.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";
import { StageOrder } from "./order.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export default defineConfig({
  test: {
    root,
    include: ["test/e2e/**/*.test.ts"],
    env: { SLUICE_E2E_TARGET: "stage" },
    fileParallelism: false,
    sequence: { sequencer: StageOrder },
    testTimeout: 20 * 60_000,
    hookTimeout: 5 * 60_000,
    reporters: ["verbose"],
  },
});
