/**
 * Athena maintenance of the CDC Iceberg tables (`@sluice/cdc`'s `planMaintenance`): the tables of the catalog's
 * databases are listed from Glue (`GetTables`, Iceberg ones only), each one's current metadata file read from S3 for
 * its snapshot totals, and the planned statements started in the maintenance workgroup (`StartQueryExecution`), not
 * awaited: Athena runs them (an OPTIMIZE of a big table can take minutes) and keeps their outcome in the workgroup's
 * history. A statement's client request token is derived from the statement and the scheduled time, so a schedule
 * delivered twice starts it once.
 *
 * As the function does not wait for its statements, each run first reads how the previous run's statements ended
 * (`ListQueryExecutions` and `BatchGetQueryExecution` in the workgroup: those of its action submitted in the 25 hours
 * before its scheduled time, so a daily schedule looks at each run once): the failed and cancelled ones are returned
 * for the function to report.
 */
import { createHash } from "node:crypto";
import {
  type AthenaClient,
  BatchGetQueryExecutionCommand,
  ListQueryExecutionsCommand,
  StartQueryExecutionCommand,
} from "@aws-sdk/client-athena";
import { GetTablesCommand, type GlueClient } from "@aws-sdk/client-glue";
import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { type IcebergTableMetadata, parseIcebergJson } from "@sluice/cdc/iceberg-metadata";
import {
  type MaintenanceAction,
  type MaintenancePlan,
  planMaintenance,
  snapshotTotals,
  type TableSummary,
} from "@sluice/cdc/maintenance";

export interface MaintenanceClients {
  glue: GlueClient;
  s3: S3Client;
  athena: AthenaClient;
}

/** `s3://bucket/key` as bucket and key. */
function s3Location(uri: string): { Bucket: string; Key: string } {
  const match = /^s3a?:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (!match) throw new Error(`not an S3 location: ${uri}`);
  return { Bucket: match[1] as string, Key: match[2] as string };
}

/** The Iceberg tables of `databases` with their current snapshot totals (other tables are not listed). */
export async function icebergTableSummaries(
  clients: Pick<MaintenanceClients, "glue" | "s3">,
  databases: readonly string[],
): Promise<TableSummary[]> {
  const summaries: TableSummary[] = [];
  for (const database of databases) {
    let token: string | undefined;
    do {
      const page = await clients.glue.send(
        new GetTablesCommand({ DatabaseName: database, ...(token ? { NextToken: token } : {}) }),
      );
      for (const table of page.TableList ?? []) {
        const parameters = table.Parameters ?? {};
        if (parameters.table_type?.toUpperCase() !== "ICEBERG" || !table.Name) continue;
        const location = parameters.metadata_location;
        if (!location) {
          summaries.push({ database, table: table.Name });
          continue;
        }
        const object = await clients.s3.send(new GetObjectCommand(s3Location(location)));
        const metadata = parseIcebergJson<IcebergTableMetadata>(
          (await object.Body?.transformToString("utf-8")) ?? "{}",
        );
        const totals = snapshotTotals(metadata);
        summaries.push({ database, table: table.Name, ...(totals ? { totals } : {}) });
      }
      token = page.NextToken;
    } while (token);
  }
  return summaries;
}

export interface MaintenanceRun {
  action: MaintenanceAction;
  /** The Glue databases of the CDC tables. */
  databases: readonly string[];
  workGroup: string;
  /** The schedule's time for this run (ISO 8601): with the statement, the idempotency token of its start. */
  scheduledTime: string;
}

/** A maintenance statement Athena did not complete. */
export interface FailedStatement {
  queryExecutionId: string;
  database?: string;
  query: string;
  state: string;
  reason: string;
  /** When it was submitted (ISO 8601). */
  submitted: string;
}

/** The error a run ends with when statements of the previous run did not complete (after starting its own). */
export function previousRunFailed(action: string, failed: readonly FailedStatement[]): Error {
  const listed = failed.map((f) => `${f.query} (${f.state}: ${f.reason})`).join("; ");
  return new Error(`${failed.length} ${action} statement(s) of the previous run did not complete: ${listed}`);
}

/** How far back a run looks for the previous run's statements: the daily schedule's period, and an hour. */
const LOOK_BACK_MS = 25 * 3_600_000;
/** Pages of query ids read at most (50 each, most recent first). */
const MAX_PAGES = 20;

/**
 * The statements of `run.action` submitted in the workgroup in the 25 hours before the run's scheduled time that
 * failed or were cancelled. Query ids come most recent first: paging stops at the first page reaching past that.
 */
export async function failedStatements(athena: AthenaClient, run: MaintenanceRun): Promise<FailedStatement[]> {
  const until = Date.parse(run.scheduledTime);
  const since = until - LOOK_BACK_MS;
  const verb = run.action === "optimize" ? "OPTIMIZE " : "VACUUM ";
  const failed: FailedStatement[] = [];
  let token: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const listed = await athena.send(
      new ListQueryExecutionsCommand({
        WorkGroup: run.workGroup,
        MaxResults: 50,
        ...(token ? { NextToken: token } : {}),
      }),
    );
    const ids = listed?.QueryExecutionIds ?? [];
    if (ids.length === 0) break;
    const answer = await athena.send(new BatchGetQueryExecutionCommand({ QueryExecutionIds: ids }));
    let older = false;
    for (const execution of answer?.QueryExecutions ?? []) {
      const submitted = execution.Status?.SubmissionDateTime?.getTime();
      if (submitted === undefined) continue;
      if (submitted < since) older = true;
      if (submitted < since || submitted >= until) continue;
      const state = execution.Status?.State ?? "";
      const query = execution.Query ?? "";
      if ((state !== "FAILED" && state !== "CANCELLED") || !query.trimStart().toUpperCase().startsWith(verb)) continue;
      const database = execution.QueryExecutionContext?.Database;
      failed.push({
        queryExecutionId: execution.QueryExecutionId ?? "",
        ...(database ? { database } : {}),
        query,
        state,
        reason:
          execution.Status?.StateChangeReason ?? execution.Status?.AthenaError?.ErrorMessage ?? "(no reason given)",
        submitted: new Date(submitted).toISOString(),
      });
    }
    token = listed?.NextToken;
    if (older || !token) break;
  }
  return failed.sort((a, b) => a.submitted.localeCompare(b.submitted));
}

/**
 * Reads how the previous run's statements ended (`failedBefore`, told to `onFailedBefore` at once, so that they are
 * reported even if the rest of the run fails), then plans `run.action` over the databases' Iceberg tables and starts
 * each statement; returns the plan, the query ids and the earlier failures.
 */
export async function runMaintenance(
  clients: MaintenanceClients,
  run: MaintenanceRun,
  onFailedBefore: (failed: readonly FailedStatement[]) => void = () => {},
): Promise<
  MaintenancePlan & {
    started: { database: string; table: string; queryExecutionId: string }[];
    failedBefore: FailedStatement[];
  }
> {
  const failedBefore = await failedStatements(clients.athena, run);
  if (failedBefore.length > 0) onFailedBefore(failedBefore);
  const plan = planMaintenance(run.action, await icebergTableSummaries(clients, run.databases));
  const started: { database: string; table: string; queryExecutionId: string }[] = [];
  for (const statement of plan.statements) {
    const token = createHash("sha256").update(`${statement.sql}\n${run.scheduledTime}`).digest("hex");
    const answer = await clients.athena.send(
      new StartQueryExecutionCommand({
        QueryString: statement.sql,
        WorkGroup: run.workGroup,
        QueryExecutionContext: { Catalog: "AwsDataCatalog", Database: statement.database },
        ClientRequestToken: token,
      }),
    );
    started.push({
      database: statement.database,
      table: statement.table,
      queryExecutionId: answer.QueryExecutionId ?? "",
    });
  }
  return { ...plan, started, failedBefore };
}
