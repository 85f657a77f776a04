/**
 * A vitest reporter that counts tests per layer (vitest project): passed, failed, and test files that failed without
 * a failed test (an import or hook error). It prints one line per project selected for the run, and writes the same
 * figures to `.sluice/test-totals.json`, which .ci/run sums into its closing "N passed, N failed" line.
 *
 * A project that ran no test says so (`no test ran`) and counts as one failure: a layer whose files were all
 * filtered out, excluded by a config change or skipped must not pass silently. Errors vitest reports outside any test
 * (an unhandled rejection, a failing globalSetup) count as failures of the run.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { SerializedError } from "vitest";
import type { Reporter, TestModule, Vitest } from "vitest/node";

export interface LayerTotals {
  project: string;
  files: number;
  passed: number;
  failed: number;
  skipped: number;
  /** Test files that failed without a failed test: an import, collection or hook error. */
  brokenFiles: number;
}

export interface TestTotals {
  layers: LayerTotals[];
  /** Errors outside any test (unhandled errors, a failing global setup). */
  unhandledErrors: number;
}

/** The failures a layer counts: failed tests, broken files, and one if it ran no test at all. */
export function failuresOf(layer: LayerTotals): number {
  return layer.failed + layer.brokenFiles + (layer.passed + layer.failed === 0 ? 1 : 0);
}

const files = (n: number) => `${n} ${n === 1 ? "file" : "files"}`;

/** One line per layer, as printed at the end of a run. */
export function describeLayer(layer: LayerTotals): string {
  const ran = layer.passed + layer.failed;
  const figures =
    ran === 0
      ? `no test ran (${files(layer.files)}${layer.brokenFiles ? `, ${layer.brokenFiles} broken` : ""})`
      : `${layer.passed} passed, ${layer.failed + layer.brokenFiles} failed` +
        (layer.brokenFiles ? ` (${layer.brokenFiles} files broken)` : "") +
        (layer.skipped ? `, ${layer.skipped} skipped` : "") +
        `, ${files(layer.files)}`;
  return `${layer.project}: ${figures}`;
}

export default class LayerTotalsReporter implements Reporter {
  private vitest!: Vitest;

  onInit(vitest: Vitest): void {
    this.vitest = vitest;
  }

  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<SerializedError>): void {
    const layers = new Map<string, LayerTotals>();
    const layer = (project: string) => {
      let totals = layers.get(project);
      if (!totals) {
        totals = { project, files: 0, passed: 0, failed: 0, skipped: 0, brokenFiles: 0 };
        layers.set(project, totals);
      }
      return totals;
    };
    // Every project of the run, in the config's order, so that one with no file at all still shows.
    for (const project of this.vitest.projects) layer(project.name);
    for (const module of testModules) {
      const totals = layer(module.project.name);
      totals.files += 1;
      let failedTests = 0;
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === "passed") totals.passed += 1;
        else if (state === "failed") failedTests += 1;
        else totals.skipped += 1;
      }
      totals.failed += failedTests;
      if (failedTests === 0 && (module.state() === "failed" || module.errors().length > 0)) totals.brokenFiles += 1;
    }
    const totals: TestTotals = { layers: [...layers.values()], unhandledErrors: unhandledErrors.length };
    const file = path.join(this.vitest.config.root, ".sluice", "test-totals.json");
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, `${JSON.stringify(totals, null, 2)}\n`);
    const lines = totals.layers.map(describeLayer);
    if (totals.unhandledErrors) lines.push(`errors outside any test: ${totals.unhandledErrors}`);
    this.vitest.logger.log(`\n Tests per layer\n${lines.map((line) => `   ${line}`).join("\n")}\n`);
  }
}
