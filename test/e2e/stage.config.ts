/**
 * Vitest for `pnpm test:stage` (scripts/test-stage.ts): the end-to-end files of test/e2e, unchanged, against a
 * deployed stage. What differs from `pnpm test`, and why:
 * - `SLUICE_E2E_TARGET=stage`: every file starts the stage target (test/e2e/target.ts), not a local cloud.
 * - One file at a time, anomaly first. The flows share the stage's Clickstream stream, and its consumers' watermarks
 *   only move forward: the anomaly file's 7-hour backfill (March 2026 event time) must come before the pricing file's
 *   clickstream (November 2026), or AnomalyAlert would take the whole backfill for late events. One file at a time
 *   also keeps each file's counts and logs its own.
 * - Timeouts sized for AWS (a test may wait minutes for async retries and stream batches; see stageWaits).
 * - The verbose reporter, which lists every test, so the ones skipped as local-only show with their reason.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";
import { BaseSequencer, type TestSpecification } from "vitest/node";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Files that run first on a stage, in this order; the others follow by name. */
export const runFirst = ["test/e2e/anomaly.test.ts"];

/** Orders the files: {@link runFirst}, then the rest alphabetically (not by the durations vitest has cached). */
export class StageOrder extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (file: TestSpecification) => {
      const index = runFirst.indexOf(path.relative(root, file.moduleId).split(path.sep).join("/"));
      return index < 0 ? runFirst.length : index;
    };
    return [...files].sort((a, b) => rank(a) - rank(b) || a.moduleId.localeCompare(b.moduleId));
  }
}

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
