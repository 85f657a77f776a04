/**
 * CdcMaintenance's input: what infra/maintenance.ts's schedules send (action, databases, workgroup, scheduled time) is
 * accepted; anything else fails the invocation before any AWS call (Scheduler retries, then the DLQ keeps it).
 */
import { describe, expect, it } from "vitest";
import { coldStart, lambdaContext } from "#kit/testing";

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
  });
});
