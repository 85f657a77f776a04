/**
 * The Athena maintenance adapter, request by request (aws-sdk-client-mock): Glue `GetTables` pages of each database,
 * the metadata file of each Iceberg table from S3, and one `StartQueryExecution` per planned statement, in the
 * workgroup, with the table's database and an idempotency token of the statement and the scheduled time.
 */
import {
  AthenaClient,
  BatchGetQueryExecutionCommand,
  ListQueryExecutionsCommand,
  type QueryExecution,
  StartQueryExecutionCommand,
} from "@aws-sdk/client-athena";
import { GetTablesCommand, GlueClient } from "@aws-sdk/client-glue";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { runMaintenance } from "./cdc-maintenance.ts";

const glue = mockClient(GlueClient);
const s3 = mockClient(S3Client);
const athena = mockClient(AthenaClient);
const clients = { glue: new GlueClient({}), s3: new S3Client({}), athena: new AthenaClient({}) };

/** Iceberg metadata whose current snapshot (a 63-bit id, as Athena writes them) has these totals. */
function metadata(records: number, deleteFiles: number): string {
  return (
    '{"format-version":2,"current-snapshot-id":5637457382938474823,"snapshots":[{"snapshot-id":5637457382938474823,' +
    `"summary":{"operation":"overwrite","total-data-files":"40","total-delete-files":"${deleteFiles}",` +
    `"total-records":"${records}","total-files-size":"${40 * 512 * 1024 * 1024}"}}]}`
  );
}

/** A GetObject body as the SDK hands it over (only what the adapter reads of it). */
const body = (text: string) => ({ transformToString: async () => text }) as never;

beforeEach(() => {
  glue.reset();
  s3.reset();
  athena.reset();
});

describe("runMaintenance", () => {
  it("lists the Iceberg tables page by page, reads their metadata, and starts the planned statements", async () => {
    glue
      .on(GetTablesCommand, { DatabaseName: "sluice_prod_sales" })
      .resolvesOnce({
        TableList: [
          {
            Name: "orders",
            Parameters: {
              table_type: "ICEBERG",
              metadata_location: "s3://curated/sales/orders/metadata/00009-a.metadata.json",
            },
          },
          // Not Iceberg: not listed.
          { Name: "legacy", Parameters: { classification: "parquet" } },
        ],
        NextToken: "page-2",
      })
      .resolvesOnce({
        TableList: [
          {
            Name: "customers",
            Parameters: {
              table_type: "iceberg",
              metadata_location: "s3://curated/sales/customers/metadata/00002-b.metadata.json",
            },
          },
        ],
      });
    glue.on(GetTablesCommand, { DatabaseName: "sluice_prod_hr" }).resolves({
      TableList: [{ Name: "people", Parameters: { table_type: "ICEBERG" } }],
    });
    s3.on(GetObjectCommand, { Bucket: "curated", Key: "sales/orders/metadata/00009-a.metadata.json" }).resolves({
      Body: body(metadata(80_000_000, 120)),
    });
    s3.on(GetObjectCommand, { Bucket: "curated", Key: "sales/customers/metadata/00002-b.metadata.json" }).resolves({
      Body: body(metadata(1_000, 200)),
    });
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: "q-1" });

    const result = await runMaintenance(clients, {
      action: "optimize",
      databases: ["sluice_prod_sales", "sluice_prod_hr"],
      workGroup: "sluice-prod-maintenance",
      scheduledTime: "2026-12-06T03:00:00Z",
    });

    expect(glue.commandCalls(GetTablesCommand).map((c) => c.args[0].input)).toEqual([
      { DatabaseName: "sluice_prod_sales" },
      { DatabaseName: "sluice_prod_sales", NextToken: "page-2" },
      { DatabaseName: "sluice_prod_hr" },
    ]);
    expect(s3.commandCalls(GetObjectCommand).map((c) => c.args[0].input)).toEqual([
      { Bucket: "curated", Key: "sales/orders/metadata/00009-a.metadata.json" },
      { Bucket: "curated", Key: "sales/customers/metadata/00002-b.metadata.json" },
    ]);
    const starts = athena.commandCalls(StartQueryExecutionCommand).map((c) => c.args[0].input);
    expect(starts).toEqual([
      {
        QueryString: "OPTIMIZE sluice_prod_sales.orders REWRITE DATA USING BIN_PACK",
        WorkGroup: "sluice-prod-maintenance",
        QueryExecutionContext: { Catalog: "AwsDataCatalog", Database: "sluice_prod_sales" },
        ClientRequestToken: expect.stringMatching(/^[0-9a-f]{64}$/),
      },
    ]);
    expect(result.started).toEqual([{ database: "sluice_prod_sales", table: "orders", queryExecutionId: "q-1" }]);
    expect(result.skipped.map((s) => s.table)).toEqual(["customers", "people"]);
  });

  it("gives the same statement the same token for one scheduled time (a duplicate delivery starts it once)", async () => {
    glue.on(GetTablesCommand).resolves({
      TableList: [{ Name: "orders", Parameters: { table_type: "ICEBERG", metadata_location: "s3://c/o/m.json" } }],
    });
    s3.on(GetObjectCommand).callsFake(() => ({ Body: body(metadata(10, 0)) }));
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: "q" });
    const run = (scheduledTime: string) =>
      runMaintenance(clients, { action: "vacuum", databases: ["db"], workGroup: "wg", scheduledTime });
    await run("2026-12-06T05:00:00Z");
    await run("2026-12-06T05:00:00Z");
    await run("2026-12-13T05:00:00Z");
    const tokens = athena.commandCalls(StartQueryExecutionCommand).map((c) => c.args[0].input.ClientRequestToken);
    expect(athena.commandCalls(StartQueryExecutionCommand)[0]?.args[0].input.QueryString).toBe("VACUUM db.orders");
    expect(tokens[0]).toBe(tokens[1]);
    expect(tokens[2]).not.toBe(tokens[0]);
  });

  it("reports the statements of its action the previous run started that failed or were cancelled (Athena ran them after it)", async () => {
    glue.on(GetTablesCommand).resolves({ TableList: [] });
    const execution = (
      id: string,
      query: string,
      state: string,
      submitted: string,
      reason?: string,
    ): QueryExecution => ({
      QueryExecutionId: id,
      Query: query,
      QueryExecutionContext: { Database: "db" },
      Status: {
        State: state as never,
        SubmissionDateTime: new Date(submitted),
        ...(reason ? { StateChangeReason: reason } : {}),
      },
    });
    const history: QueryExecution[] = [
      execution("v-1", "VACUUM db.orders", "FAILED", "2026-12-06T05:00:03Z", "ICEBERG_COMMIT_ERROR: lost the race"),
      execution("o-1", "OPTIMIZE db.orders REWRITE DATA USING BIN_PACK", "FAILED", "2026-12-06T03:00:02Z", "x"),
      execution("v-2", "VACUUM db.customers", "SUCCEEDED", "2026-12-06T05:00:04Z"),
      execution("v-3", "VACUUM db.people", "CANCELLED", "2026-12-06T05:00:05Z", "Query exhausted resources"),
      // The run before the previous one: reported by the previous run.
      execution("v-0", "VACUUM db.orders", "FAILED", "2026-12-05T05:00:03Z", "old"),
    ];
    athena
      .on(ListQueryExecutionsCommand)
      // Most recent first, as Athena lists them; the second page reaches past the window: no third is read.
      .resolvesOnce({ QueryExecutionIds: ["v-3", "v-2"], NextToken: "more" })
      .resolvesOnce({ QueryExecutionIds: ["v-1", "o-1", "v-0"], NextToken: "even-more" })
      .resolvesOnce({ QueryExecutionIds: ["never-read"] });
    athena.on(BatchGetQueryExecutionCommand).callsFake((input: { QueryExecutionIds: string[] }) => ({
      QueryExecutions: history.filter((q) => input.QueryExecutionIds.includes(q.QueryExecutionId ?? "")),
    }));
    const result = await runMaintenance(clients, {
      action: "vacuum",
      databases: ["db"],
      workGroup: "wg",
      scheduledTime: "2026-12-07T05:00:00Z",
    });
    expect(result.failedBefore).toEqual([
      {
        queryExecutionId: "v-1",
        database: "db",
        query: "VACUUM db.orders",
        state: "FAILED",
        reason: "ICEBERG_COMMIT_ERROR: lost the race",
        submitted: "2026-12-06T05:00:03.000Z",
      },
      {
        queryExecutionId: "v-3",
        database: "db",
        query: "VACUUM db.people",
        state: "CANCELLED",
        reason: "Query exhausted resources",
        submitted: "2026-12-06T05:00:05.000Z",
      },
    ]);
    const lists = athena.commandCalls(ListQueryExecutionsCommand).map((c) => c.args[0].input);
    expect(lists).toEqual([
      { WorkGroup: "wg", MaxResults: 50 },
      { WorkGroup: "wg", MaxResults: 50, NextToken: "more" },
    ]);
  });
});
