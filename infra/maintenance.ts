/**
 * Athena maintenance of the CDC Iceberg tables (packages/cdc/ICEBERG.md, "Compaction"): EventBridge Scheduler starts
 * the CdcMaintenance function (infra/wiring.ts) once a day to compact and again to vacuum; the function plans
 * from each table's metadata which tables get `OPTIMIZE … REWRITE DATA USING BIN_PACK` (big ones: CdcMerge compacts
 * tables of up to 5 M rows itself) or `VACUUM` (all), and starts the statements in the workgroup created here, whose
 * query results expire from Curated after a week.
 *
 * Why a function and not Scheduler's universal target `aws-sdk:athena:startQueryExecution`: the tables are created by
 * CdcMerge, not by `sst deploy`, and which of them is big changes with their data; a universal target would run a
 * fixed statement on a fixed table, compacting small tables CdcMerge already compacts (each OPTIMIZE then makes the
 * merge re-read the rewritten files' keys) and never a table configured later.
 *
 * Grants: the schedules' role may invoke the function and send to its dead-letter queue; the function's own grants
 * (its Curated link, and, being `cdcMaintenance` in the wiring, `athena:StartQueryExecution`, `ListQueryExecutions` and
 * `BatchGetQueryExecution` (how the previous run's statements ended) on this workgroup and the
 * Glue calls on the CDC databases: `cdcMaintenanceStatements` in infra/permissions.ts) are in its role's policy.
 */
import type { DeployedFunction } from "./functions.ts";
import { cdcDatabases, cdcMaintenanceWorkgroup } from "./permissions.ts";
import type { BucketLifecycleRules } from "./storage.ts";

/** The function the schedules start (a wiring function). */
export const maintenanceFunction = "CdcMaintenance";

/**
 * Daily compaction, daily vacuum, at night UTC (Scheduler's cron: minutes hours day-of-month month day-of-week year).
 * VACUUM expires the snapshots past the tables' retention (a day, `SNAPSHOT_RETENTION` in @sluice/cdc): a table
 * committed every minute keeps at most about 2 880 snapshots in its metadata (a weekly VACUUM let it reach 17 280).
 */
export const maintenanceSchedules = {
  optimize: "cron(0 3 * * ? *)",
  vacuum: "cron(0 5 * * ? *)",
} as const;

/** Where the workgroup writes query results in Curated, and for how long they are kept. */
export const resultsPrefix = "_maintenance/athena-results/";
export const resultsRetentionDays = 7;

/**
 * The results' expiry: a rule of Curated's lifecycle configuration (infra/storage.ts creates it, one per bucket; the
 * bucket-wide rule there aborts incomplete uploads, these included). It was a configuration of its own, created here
 * under the name `formerName`.
 */
export const resultsLifecycle: BucketLifecycleRules = {
  rules: [
    {
      id: "athena-maintenance-results",
      status: "Enabled",
      filter: { prefix: resultsPrefix },
      expiration: { days: resultsRetentionDays },
    },
  ],
  formerName: "CuratedMaintenanceResultsExpiry",
};

/**
 * A query scanning more than this is cancelled (Athena bills $5 per TB scanned: $5 at most per statement). An
 * OPTIMIZE rewriting more than 1 TiB at once would need it raised (infra/README.md, "CDC maintenance").
 */
export const bytesScannedCutoffPerQuery = 1024 ** 4;

export interface DeployedMaintenance {
  workgroup: aws.athena.Workgroup;
  schedules: Record<keyof typeof maintenanceSchedules, aws.scheduler.Schedule>;
}

/**
 * Creates the workgroup, the schedules and their grants; `deployed` is the CdcMaintenance function. (The results'
 * expiry, `resultsLifecycle`, is given to `createBuckets`.)
 */
export function createMaintenance(curated: sst.aws.Bucket, deployed: DeployedFunction): DeployedMaintenance {
  const prefix = `${$app.name}-${$app.stage}`;
  const account = aws.getCallerIdentityOutput().accountId;
  const workgroupName = cdcMaintenanceWorkgroup($app);
  const databases = cdcDatabases($app);

  const workgroup = new aws.athena.Workgroup("CdcMaintenanceWorkgroup", {
    name: workgroupName,
    description: "OPTIMIZE and VACUUM of the CDC Iceberg tables, started by CdcMaintenance",
    forceDestroy: true,
    configuration: {
      enforceWorkgroupConfiguration: true,
      publishCloudwatchMetricsEnabled: true,
      bytesScannedCutoffPerQuery,
      engineVersion: { selectedEngineVersion: "Athena engine version 3" },
      resultConfiguration: {
        outputLocation: $interpolate`s3://${curated.name}/${resultsPrefix}`,
        encryptionConfiguration: { encryptionOption: "SSE_S3" },
      },
    },
  });

  // The schedules' role: invoke this function, and hand an event it could not deliver to its dead-letter queue.
  // (Inline: a RolePolicy beside a role's inline policies is a permanent diff in pulumi-aws.)
  const role = new aws.iam.Role("CdcMaintenanceSchedulerRole", {
    assumeRolePolicy: $jsonStringify({
      Version: "2012-10-17",
      Statement: [
        {
          Effect: "Allow",
          Principal: { Service: "scheduler.amazonaws.com" },
          Action: "sts:AssumeRole",
          Condition: { StringEquals: { "aws:SourceAccount": account } },
        },
      ],
    }),
    inlinePolicies: [
      {
        name: "invoke",
        policy: $jsonStringify({
          Version: "2012-10-17",
          Statement: [
            { Effect: "Allow", Action: ["lambda:InvokeFunction"], Resource: [deployed.fn.arn] },
            { Effect: "Allow", Action: ["sqs:SendMessage"], Resource: [deployed.dlq.arn] },
          ],
        }),
      },
    ],
  });
  const schedule = (action: keyof typeof maintenanceSchedules) =>
    new aws.scheduler.Schedule(`CdcMaintenance${action === "optimize" ? "Optimize" : "Vacuum"}Schedule`, {
      name: `${prefix}-cdc-${action}`,
      description: `CdcMaintenance: Athena ${action.toUpperCase()} of the CDC Iceberg tables that need it`,
      scheduleExpression: maintenanceSchedules[action],
      scheduleExpressionTimezone: "UTC",
      flexibleTimeWindow: { mode: "OFF" },
      target: {
        arn: deployed.fn.arn,
        roleArn: role.arn,
        // `<aws.scheduler.scheduled-time>` is replaced by Scheduler: the run's idempotency token (a retried or
        // duplicate delivery starts no statement twice).
        input: $jsonStringify({
          action,
          databases,
          workGroup: workgroup.name,
          scheduledTime: "<aws.scheduler.scheduled-time>",
        }),
        retryPolicy: { maximumRetryAttempts: 3, maximumEventAgeInSeconds: 3600 },
        deadLetterConfig: { arn: deployed.dlq.arn },
      },
    });
  return { workgroup, schedules: { optimize: schedule("optimize"), vacuum: schedule("vacuum") } };
}
