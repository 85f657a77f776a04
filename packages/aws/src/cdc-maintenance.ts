/**
 * Athena maintenance of the CDC Iceberg tables (`@sluice/cdc`'s `planMaintenance`): the tables of the catalog's
 * databases are listed from Glue (`GetTables`, Iceberg ones only), each one's current metadata file read from S3 for
 * its snapshot totals, and the planned statements started in the maintenance workgroup (`StartQueryExecution`), not
 * awaited: Athena runs them (an OPTIMIZE of a big table can take minutes) and keeps their outcome in the workgroup's
 * history. A statement's client request token is derived from the statement and the scheduled time, so a schedule
 * delivered twice starts it once.
 */
import { createHash } from "node:crypto";
import { type AthenaClient, StartQueryExecutionCommand } from "@aws-sdk/client-athena";
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

/** Plans `run.action` over the databases' Iceberg tables and starts each statement; returns the plan and query ids. */
export async function runMaintenance(
  clients: MaintenanceClients,
  run: MaintenanceRun,
): Promise<MaintenancePlan & { started: { database: string; table: string; queryExecutionId: string }[] }> {
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
  return { ...plan, started };
}
