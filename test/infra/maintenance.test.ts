/**
 * Athena maintenance of the CDC Iceberg tables, as `sst deploy` creates it (Pulumi mocks): the workgroup and its
 * results' expiry in Curated, the two schedules starting CdcMaintenance with the databases and the workgroup, and the
 * grants: the schedules' role invokes that function only, the function starts queries in that workgroup only and
 * reaches the Glue catalog, the CDC databases and their tables only.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { bytesScannedCutoffPerQuery, resultsPrefix } from "../../infra/maintenance.ts";
import { cdcDatabases, cdcMaintenanceGlueActions } from "../../infra/permissions.ts";
import * as wiring from "../../infra/wiring.ts";
import { Deployed } from "./checks.ts";
import { accountId, app, parsePolicy, region, type Synth, synthesize } from "./harness.ts";

let synth: Synth;
let d: Deployed;
beforeAll(async () => {
  synth = await synthesize(wiring);
  d = new Deployed(synth);
}, 300_000);

const workgroupName = `${app.name}-${app.stage}-cdc-maintenance`;

describe("CDC maintenance by Athena", () => {
  it("creates the workgroup: engine 3, results in Curated (SSE-S3) expiring after 7 days, a scan cutoff", () => {
    const workgroup = synth.get("aws:athena/workgroup:Workgroup", "CdcMaintenanceWorkgroup").inputs;
    expect(workgroup.name).toBe(workgroupName);
    expect(workgroup.configuration).toEqual({
      enforceWorkgroupConfiguration: true,
      publishCloudwatchMetricsEnabled: true,
      bytesScannedCutoffPerQuery,
      engineVersion: { selectedEngineVersion: "Athena engine version 3" },
      resultConfiguration: {
        outputLocation: `s3://${d.bucketName("Curated")}/${resultsPrefix}`,
        encryptionConfiguration: { encryptionOption: "SSE_S3" },
      },
    });
    // The results' expiry is a rule of Curated's one lifecycle configuration, after the bucket-wide abort of
    // incomplete multipart uploads (which covers the results' prefix too).
    const lifecycle = synth.get(
      "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
      "CuratedLifecycle",
    ).inputs;
    expect(lifecycle.bucket).toBe(d.bucketName("Curated"));
    expect(lifecycle.rules).toEqual([
      {
        id: "abort-incomplete-multipart-uploads",
        status: "Enabled",
        filter: {},
        abortIncompleteMultipartUpload: { daysAfterInitiation: 1 },
      },
      {
        id: "athena-maintenance-results",
        status: "Enabled",
        filter: { prefix: resultsPrefix },
        expiration: { days: 7 },
      },
    ]);
  });

  it("schedules OPTIMIZE and VACUUM daily, each starting CdcMaintenance with its input, retries and DLQ", () => {
    const schedules = synth.ofType("aws:scheduler/schedule:Schedule");
    expect(schedules.map((s) => s.name).sort()).toEqual([
      "CdcMaintenanceOptimizeSchedule",
      "CdcMaintenanceVacuumSchedule",
    ]);
    const roleArn = synth.get("aws:iam/role:Role", "CdcMaintenanceSchedulerRole").state.arn;
    for (const [name, action, expression] of [
      ["CdcMaintenanceOptimizeSchedule", "optimize", "cron(0 3 * * ? *)"],
      ["CdcMaintenanceVacuumSchedule", "vacuum", "cron(0 5 * * ? *)"],
    ] as const) {
      const schedule = synth.get("aws:scheduler/schedule:Schedule", name).inputs;
      expect(schedule.scheduleExpression).toBe(expression);
      expect(schedule.scheduleExpressionTimezone).toBe("UTC");
      const target = schedule.target as Record<string, unknown>;
      expect(target.arn).toBe(d.functionArn("CdcMaintenance"));
      expect(target.roleArn).toBe(roleArn);
      expect(target.deadLetterConfig).toEqual({ arn: d.dlqArn("CdcMaintenance") });
      expect(target.retryPolicy).toEqual({ maximumRetryAttempts: 3, maximumEventAgeInSeconds: 3600 });
      expect(JSON.parse(target.input as string)).toEqual({
        action,
        databases: cdcDatabases(app),
        workGroup: workgroupName,
        scheduledTime: "<aws.scheduler.scheduled-time>",
      });
    }
    expect(cdcDatabases(app)).toEqual(["sluice_test_sales"]);
  });

  it("lets the schedules' role, trusted by Scheduler of this account only, invoke CdcMaintenance and reach its DLQ", () => {
    const role = synth.get("aws:iam/role:Role", "CdcMaintenanceSchedulerRole").inputs;
    expect(JSON.parse(role.assumeRolePolicy as string)).toEqual({
      Version: "2012-10-17",
      Statement: [
        {
          Effect: "Allow",
          Principal: { Service: "scheduler.amazonaws.com" },
          Action: "sts:AssumeRole",
          Condition: { StringEquals: { "aws:SourceAccount": accountId } },
        },
      ],
    });
    const [policy, ...more] = role.inlinePolicies as { name: string; policy: string }[];
    expect(more).toEqual([]);
    expect(parsePolicy(policy?.policy).Statement).toEqual([
      { Effect: "Allow", Action: ["lambda:InvokeFunction"], Resource: [d.functionArn("CdcMaintenance")] },
      { Effect: "Allow", Action: ["sqs:SendMessage"], Resource: [d.dlqArn("CdcMaintenance")] },
    ]);
  });

  it("grants CdcMaintenance Athena's start and read of its statements on the workgroup, Glue on the CDC databases only", () => {
    // In the function role's one inline policy (the wiring's statements: a RolePolicy beside it would be a permanent
    // diff), after its Curated link.
    const role = synth.get("aws:iam/role:Role", "CdcMaintenanceRole").inputs;
    const [policy] = role.inlinePolicies as { policy: string }[];
    const statements = parsePolicy(policy?.policy).Statement.filter((s) =>
      s.Action.some((a) => a.startsWith("athena:") || a.startsWith("glue:")),
    );
    const glue = (resource: string) => `arn:aws:glue:${region}:${accountId}:${resource}`;
    expect(statements).toEqual([
      {
        Effect: "Allow",
        Action: ["athena:StartQueryExecution", "athena:ListQueryExecutions", "athena:BatchGetQueryExecution"],
        Resource: [`arn:aws:athena:${region}:${accountId}:workgroup/${workgroupName}`],
      },
      {
        Effect: "Allow",
        Action: cdcMaintenanceGlueActions,
        Resource: [glue("catalog"), glue("database/sluice_test_sales"), glue("table/sluice_test_sales/*")],
      },
    ]);
    expect(cdcMaintenanceGlueActions).toEqual([
      "glue:GetDatabase",
      "glue:GetTable",
      "glue:GetTables",
      "glue:UpdateTable",
    ]);
    expect(synth.ofType("aws:iam/rolePolicy:RolePolicy")).toEqual([]);
  });
});
