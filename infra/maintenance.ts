/**
 * Athena maintenance of the CDC Iceberg tables (packages/cdc/ICEBERG.md, "Compaction"): EventBridge Scheduler starts
 * the CdcMaintenance function (infra/wiring.ts) once a day to compact and once a week to vacuum; the function plans
 * from each table's metadata which tables get `OPTIMIZE … REWRITE DATA USING BIN_PACK` (big ones: CdcMerge compacts
 * tables of up to 5 M rows itself) or `VACUUM` (all), and starts the statements in the workgroup created here, whose
 * query results expire from Curated after a week.
 *
 * Why a function and not Scheduler's universal target `aws-sdk:athena:startQueryExecution`: the tables are created by
 * CdcMerge, not by `sst deploy`, and which of them is big changes with their data; a universal target would run a
 * fixed statement on a fixed table, compacting small tables CdcMerge already compacts (each OPTIMIZE then makes the
 * merge re-read the rewritten files' keys) and never a table configured later.
 *
 * Grants: the schedules' role may invoke the function and send to its dead-letter queue; the function's role gets,
 * besides its wiring links (Curated), `athena:StartQueryExecution` on the workgroup alone, and the Glue reads and
 * `UpdateTable` (Athena's commit of a rewrite, with the caller's credentials) on the catalog, the CDC databases and
 * their tables.
 */
import cdcTables from "../config/cdc-tables.json" with { type: "json" };
import { cdcDatabaseName } from "./catalog.ts";
import type { DeployedFunction } from "./functions.ts";
import type { Statement } from "./permissions.ts";

/** The function the schedules start (a wiring function). */
export const maintenanceFunction = "CdcMaintenance";

/** Daily compaction, weekly vacuum, at night UTC (Scheduler's cron: minutes hours day-of-month month day-of-week year). */
export const maintenanceSchedules = {
  optimize: "cron(0 3 * * ? *)",
  vacuum: "cron(0 5 ? * SUN *)",
} as const;

/** Where the workgroup writes query results in Curated, and for how long they are kept. */
export const resultsPrefix = "_maintenance/athena-results/";
export const resultsRetentionDays = 7;

/**
 * A query scanning more than this is cancelled (Athena bills $5 per TB scanned: $5 at most per statement). An
 * OPTIMIZE rewriting more than 1 TiB at once would need it raised (infra/README.md, "CDC maintenance").
 */
export const bytesScannedCutoffPerQuery = 1024 ** 4;

/** Glue actions the function needs: listing tables, and what Athena does with the caller's rights to run OPTIMIZE. */
export const maintenanceGlueActions = ["glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:UpdateTable"];

/** The Glue databases of the configured CDC tables (one per DMS schema), as `infra/catalog.ts` names them. */
export function maintenanceDatabases(app: string, stage: string): string[] {
  const schemas = Object.keys((cdcTables as { tables: Record<string, unknown> }).tables).map(
    (name) => name.split(".")[0],
  );
  return [...new Set(schemas)].map((schema) => cdcDatabaseName(app, stage, schema as string));
}

/**
 * The statements CdcMaintenance's role gets beside its wiring links: start statements in the workgroup, and the Glue
 * calls of the listing and of Athena's commits, on the catalog, the CDC databases and their tables. `arn(service,
 * resource)` names a resource of the account and region (Pulumi outputs on AWS, strings in tests and the local cloud).
 */
export function maintenanceStatements<A>(
  arn: (service: string, resource: string) => A,
  workgroupName: string,
  databases: readonly string[],
): Statement<A>[] {
  return [
    { actions: ["athena:StartQueryExecution"], resources: [arn("athena", `workgroup/${workgroupName}`)] },
    {
      actions: [...maintenanceGlueActions],
      resources: [
        arn("glue", "catalog"),
        ...databases.map((database) => arn("glue", `database/${database}`)),
        ...databases.map((database) => arn("glue", `table/${database}/*`)),
      ],
    },
  ];
}

/** The workgroup's name in an app's stage. */
export function maintenanceWorkgroupName(app: string, stage: string): string {
  return `${app}-${stage}-cdc-maintenance`;
}

export interface DeployedMaintenance {
  workgroup: aws.athena.Workgroup;
  schedules: Record<keyof typeof maintenanceSchedules, aws.scheduler.Schedule>;
}

/** Creates the workgroup, the results' expiry, the schedules and their grants; `deployed` is the CdcMaintenance function. */
export function createMaintenance(curated: sst.aws.Bucket, deployed: DeployedFunction): DeployedMaintenance {
  const prefix = `${$app.name}-${$app.stage}`;
  const partition = aws.getPartitionOutput().partition;
  const region = aws.getRegionOutput().region;
  const account = aws.getCallerIdentityOutput().accountId;
  const workgroupName = maintenanceWorkgroupName($app.name, $app.stage);
  const databases = maintenanceDatabases($app.name, $app.stage);

  new aws.s3.BucketLifecycleConfiguration("CuratedMaintenanceResultsExpiry", {
    bucket: curated.name,
    rules: [
      {
        id: "athena-maintenance-results",
        status: "Enabled",
        filter: { prefix: resultsPrefix },
        expiration: { days: resultsRetentionDays },
        abortIncompleteMultipartUpload: { daysAfterInitiation: 1 },
      },
    ],
  });
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

  // What Athena does with the function's credentials beyond its wiring links.
  const arn = (service: string, resource: string) =>
    $interpolate`arn:${partition}:${service}:${region}:${account}:${resource}`;
  new aws.iam.RolePolicy(`${maintenanceFunction}Maintenance`, {
    role: deployed.fn.nodes.role.name,
    policy: $jsonStringify({
      Version: "2012-10-17",
      Statement: maintenanceStatements(arn, workgroupName, databases).map((s) => ({
        Effect: "Allow",
        Action: s.actions,
        Resource: s.resources,
      })),
    }),
  });

  // The schedules' role: invoke this function, and hand an event it could not deliver to its dead-letter queue.
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
  });
  new aws.iam.RolePolicy("CdcMaintenanceSchedulerInvoke", {
    role: role.name,
    policy: $jsonStringify({
      Version: "2012-10-17",
      Statement: [
        { Effect: "Allow", Action: ["lambda:InvokeFunction"], Resource: [deployed.fn.arn] },
        { Effect: "Allow", Action: ["sqs:SendMessage"], Resource: [deployed.dlq.arn] },
      ],
    }),
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
