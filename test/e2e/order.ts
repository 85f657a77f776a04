/**
 * The order the end-to-end flows run in, one file at a time, wherever several of them share one environment: a
 * deployed stage (test/e2e/stage.config.ts) or the run's shared local cloud (vitest.config.ts, projects `e2e` and
 * `faults`). The flows share the Clickstream stream, and its consumers' watermarks only move forward: the anomaly
 * file's 7-hour backfill (March 2026 event time) must come before the pricing file's clickstream (November 2026), or
 * AnomalyAlert would take the whole backfill for late events. One file at a time also keeps each file's counts and
 * logs its own.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { BaseSequencer, type TestSpecification } from "vitest/node";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Files that run first, in this order; the others follow by name. */
export const runFirst = ["test/e2e/anomaly.test.ts"];

/** The vitest projects whose files share one local cloud, in the order they run. */
export const sharedCloudProjects = ["e2e", "faults"];

const relative = (file: TestSpecification) => path.relative(root, file.moduleId).split(path.sep).join("/");

/** {@link runFirst}, then the rest alphabetically (not by the durations vitest has cached). */
export function flowOrder(a: TestSpecification, b: TestSpecification): number {
  const rank = (file: TestSpecification) => {
    const index = runFirst.indexOf(relative(file));
    return index < 0 ? runFirst.length : index;
  };
  return rank(a) - rank(b) || a.moduleId.localeCompare(b.moduleId);
}

/** A stage run: every file in {@link flowOrder}. */
export class StageOrder extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    return [...files].sort(flowOrder);
  }
}

/**
 * `pnpm test`: the unit and local layers as vitest orders them (longest first, for the workers), then the files of
 * the shared-cloud projects, project by project ({@link sharedCloudProjects}), each in {@link flowOrder}. vitest runs
 * a project limited to one worker after the others, one file at a time, in this order.
 */
export class LayerOrder extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const shared = (file: TestSpecification) => sharedCloudProjects.indexOf(file.project.name);
    const others = await super.sort(files.filter((file) => shared(file) < 0));
    const flows = files.filter((file) => shared(file) >= 0).sort((a, b) => shared(a) - shared(b) || flowOrder(a, b));
    return [...others, ...flows];
  }
}
