/**
 * CdcMaintenance: started by EventBridge Scheduler (infra/maintenance.ts), once a day to compact and again to
 * vacuum. The schedule's input names the action, the Glue databases of the CDC tables, the Athena workgroup and the
 * scheduled time; the function plans from each Iceberg table's metadata which tables get `OPTIMIZE … BIN_PACK` (big
 * tables with many delete files or small files: CdcMerge compacts small ones itself) or `VACUUM`, starts those
 * statements in the workgroup (Athena runs them) and logs the plan. An input it cannot read fails the invocation.
 *
 * Athena runs the statements after the function has returned, so each run reports how the previous run's ended: after
 * starting its own, a run that finds statements of its action failed or cancelled since the previous run (a commit
 * race lost to CdcMerge, the scan cutoff, a permission) logs each as an error and fails the invocation, naming them:
 * Lambda's retries (which start nothing twice: the idempotency tokens) then CdcMaintenanceDlq and its alarm carry it.
 */
import { AthenaClient } from "@aws-sdk/client-athena";
import { GlueClient } from "@aws-sdk/client-glue";
import { S3Client } from "@aws-sdk/client-s3";
import { previousRunFailed, runMaintenance } from "@sluice/aws/cdc-maintenance";
import { createObservability, withObservability } from "@sluice/observability";
import * as z from "zod/mini";

/** The schedule's input (infra/maintenance.ts writes it; `scheduledTime` is Scheduler's `<aws.scheduler.scheduled-time>`). */
export const maintenanceInput = z.object({
  action: z.enum(["optimize", "vacuum"]),
  databases: z.array(z.string().check(z.minLength(1))).check(z.minLength(1)),
  workGroup: z.string().check(z.minLength(1)),
  scheduledTime: z.string().check(z.minLength(1)),
});

const observability = createObservability({ serviceName: "cdc-maintenance" });
const clients = { glue: new GlueClient({}), s3: new S3Client({}), athena: new AthenaClient({}) };

async function maintain(event: unknown): Promise<void> {
  const run = maintenanceInput.parse(event);
  // Logged as soon as they are read: this run's own listing or starts may fail after.
  const result = await runMaintenance(clients, run, (failedBefore) => {
    for (const failed of failedBefore) {
      observability.logger.error("maintenance statement of the previous run did not complete", { ...failed });
    }
  });
  observability.logger.info("maintenance started", {
    action: run.action,
    started: result.started,
    skipped: result.skipped,
  });
  if (result.failedBefore.length > 0) throw previousRunFailed(run.action, result.failedBefore);
}

export const handler = withObservability(maintain, observability);
