/**
 * CdcMerge: each AWS DMS file landing in CdcRaw (`<folder>/<schema>/<table>/...`) is merged into its current-state
 * table in Curated by the engine of `@sluice/cdc` and the table configuration in `config/cdc-tables.json` (bundled):
 * an Iceberg v2 table registered in the Glue Data Catalog (`CdcCatalog`: one database per DMS schema), merge-on-read,
 * compacted by the merge while it is small (big tables are Athena's to compact: CdcMaintenance). A table is merged by
 * one invocation at a time (its lease in Curated), in passes that take every pending file of the folder at once (a
 * full load split into LOAD files is merged in one commit); an invocation whose file another pass merged skips it, one
 * that cannot get the table before its time runs short fails and is retried. Every file an invocation decides on —
 * each file its pass merged, whichever file's event started it, and its own file if skipped or refused (corrupt) — is
 * logged, one line each (`merged`, `skipped`, `refused`), and sent to Audit (`succeeded`, `skipped`, `refused`); a
 * corrupt file does not fail the invocation (retrying cannot fix it), any other error does.
 */
import { GlueClient } from "@aws-sdk/client-glue";
import { S3Client } from "@aws-sdk/client-s3";
import { SNSClient } from "@aws-sdk/client-sns";
import { createSnsAuditSink } from "@sluice/aws/audit";
import { createS3ObjectStore } from "@sluice/aws/cdc";
import { createGlueCatalog } from "@sluice/aws/iceberg-catalog";
import { icebergEngine, mergeObject, parseTablesConfig } from "@sluice/cdc";
import { catalogDatabaseName } from "@sluice/infra/wiring";
import { decodeS3EventKey } from "@sluice/messages";
import { createObservability, withObservability } from "@sluice/observability";
import type { Context, S3Event } from "aws-lambda";
import { linksOf } from "#kit/links";
import { forEachS3Record, requestIdOf, S3_REQUEST_ID } from "#kit/s3-records";
import tables from "../../config/cdc-tables.json" with { type: "json" };

const links = linksOf<"CdcMerge">();
// Checked once, at cold start: an invalid configuration fails every invocation loudly.
const config = parseTablesConfig(tables);

const observability = createObservability({ serviceName: "cdc-merge", correlationId: S3_REQUEST_ID });
const s3 = new S3Client({});
const source = createS3ObjectStore(s3, links.CdcRaw.name);
const target = createS3ObjectStore(s3, links.Curated.name);
const audit = createSnsAuditSink(new SNSClient({}), links.Audit.arn);
const glue = new GlueClient({});
const engine = icebergEngine((store) =>
  createGlueCatalog(glue, store, {
    databaseOf: (schema) => catalogDatabaseName(links.CdcCatalog.name, schema),
  }),
);

async function mergeRecords(event: S3Event, context: Context): Promise<void> {
  await forEachS3Record(event, { logger: observability.logger, done: "cdc-merge", failed: "merge failed" }, (record) =>
    mergeObject(decodeS3EventKey(record.s3.object.key), {
      source,
      target,
      config,
      audit,
      engine,
      correlationId: requestIdOf(record),
      remainingMs: () => context.getRemainingTimeInMillis(),
    }),
  );
}

export const handler = withObservability(mergeRecords, observability);
