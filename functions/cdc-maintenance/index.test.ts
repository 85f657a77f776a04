/**
 * CdcMaintenance's input: what infra/maintenance.ts's schedules send (action, databases, workgroup, scheduled time) is
 * accepted; anything else fails the invocation before any AWS call (Scheduler retries, then the DLQ keeps it).
 */
import { beforeEach, describe, expect, it, vi } from "vitest";
import { coldStart, lambdaContext } from "#kit/testing";

// The adapter (its requests are asserted in packages/aws/src/cdc-maintenance.test.ts) with a result of the test's:
// each test sets what it needs; before each, no calls, an empty result and no failure.
const runs = vi.hoisted(() => ({
  calls: [] as unknown[],
  result: {} as Record<string, unknown>,
  fails: undefined as Error | undefined,
}));
beforeEach(() => {
  runs.calls = [];
  runs.result = { statements: [], skipped: [], started: [], failedBefore: [] };
  runs.fails = undefined;
});

// A statement of the previous run that did not complete, as the adapter reports it.
const failedBefore = {
  queryExecutionId: "q-old",
  database: "db",
  query: "VACUUM db.orders",
  state: "FAILED",
  reason: "ICEBERG_COMMIT_ERROR",
  submitted: "2026-12-05T05:00:03.000Z",
};
vi.mock("@sluice/aws/cdc-maintenance", async (original) => ({
  ...(await original<typeof import("@sluice/aws/cdc-maintenance")>()),
  runMaintenance: async (_clients: unknown, run: unknown, onFailedBefore: (failed: unknown[]) => void) => {
    runs.calls.push(run);
    const failed = runs.result.failedBefore as unknown[];
    if (failed.length > 0) onFailedBefore(failed);
    if (runs.fails) throw runs.fails;
    return runs.result;
  },
}));

const started = coldStart("CdcMaintenance", { Curated: { name: "curated" } }, {}, () => import("./index.ts"));

describe("CdcMaintenance", () => {
  it("reads the schedules' input", async () => {
    const { maintenanceInput } = await import("./index.ts");
    expect(
      maintenanceInput.parse({
        action: "optimize",
        databases: ["sluice_prod_sales"],
        workGroup: "sluice-prod-cdc-maintenance",
        scheduledTime: "2026-12-06T03:00:00Z",
      }),
    ).toEqual({
      action: "optimize",
      databases: ["sluice_prod_sales"],
      workGroup: "sluice-prod-cdc-maintenance",
      scheduledTime: "2026-12-06T03:00:00Z",
    });
  });

  it("fails an invocation whose input is not a maintenance run, before any AWS call", async () => {
    const run = { action: "reindex", databases: ["db"], workGroup: "wg", scheduledTime: "t" };
    await expect(started.handler(run as never, lambdaContext("CdcMaintenance", "r-1"))).rejects.toThrow(/action/);
    await expect(
      started.handler({ ...run, action: "vacuum", databases: [] } as never, lambdaContext("CdcMaintenance", "r-2")),
    ).rejects.toThrow(/databases/);
    expect(runs.calls).toEqual([]);
  });

  it("logs a previous run's statement that did not complete as an error and fails, after starting its own", async () => {
    runs.result = {
      statements: [],
      skipped: [],
      started: [{ database: "db", table: "orders", queryExecutionId: "q-new" }],
      failedBefore: [failedBefore],
    };
    const run = { action: "vacuum", databases: ["db"], workGroup: "wg", scheduledTime: "2026-12-06T05:00:00Z" };
    await expect(started.handler(run as never, lambdaContext("CdcMaintenance", "r-3"))).rejects.toThrow(
      "1 vacuum statement(s) of the previous run did not complete: VACUUM db.orders (FAILED: ICEBERG_COMMIT_ERROR)",
    );
    expect(runs.calls).toEqual([run]);
    const logs = started.stdout.logs();
    expect(logs).toContainEqual(
      expect.objectContaining({ message: "maintenance started", started: runs.result.started }),
    );
    expect(logs.filter((l) => l.level === "ERROR")).toContainEqual(
      expect.objectContaining({ queryExecutionId: "q-old", state: "FAILED", reason: "ICEBERG_COMMIT_ERROR" }),
    );
  });

  it("logs the previous run's failures even when this run fails before starting its own", async () => {
    runs.result = { statements: [], skipped: [], started: [], failedBefore: [failedBefore] };
    runs.fails = new Error("AccessDeniedException: glue:GetTables");
    const run = { action: "vacuum", databases: ["db"], workGroup: "wg", scheduledTime: "2026-12-06T05:00:00Z" };
    await expect(started.handler(run as never, lambdaContext("CdcMaintenance", "r-5"))).rejects.toThrow(
      "AccessDeniedException",
    );
    expect(started.stdout.logs()).toContainEqual(
      expect.objectContaining({ level: "ERROR", queryExecutionId: "q-old", state: "FAILED" }),
    );
  });

  it("succeeds when the previous run's statements completed", async () => {
    const run = { action: "optimize", databases: ["db"], workGroup: "wg", scheduledTime: "2026-12-06T03:00:00Z" };
    await expect(started.handler(run as never, lambdaContext("CdcMaintenance", "r-4"))).resolves.toBeUndefined();
    expect(runs.calls).toEqual([run]);
  });
});
