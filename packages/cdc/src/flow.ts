/**
 * One DMS file landing in the raw bucket -> merged into its table, with every outcome reported to the audit port:
 * `succeeded` (merged), `skipped` (a replay, or not a file of a configured table), `refused` (a corrupt file, with
 * file, row and reason; the table is unchanged, and a corrected file with the same name applies later). A lost
 * commit race is retried inside `mergeFile`; anything else throws so that the invocation is retried.
 */
import type { TablesConfig } from "./config.ts";
import { InvalidCdcFile } from "./errors.ts";
import type { FileOutcome } from "./run.ts";
import { locateFile } from "./source.ts";
import type { ObjectStore } from "./storage.ts";
import { type MergeOptions, mergeFile } from "./table.ts";

/** What the flow needs of an audit sink (`@sluice/aws/audit`'s `AuditSink` fits). */
export interface CdcAudit {
  publish(message: {
    pipeline: string;
    action: string;
    outcome: "succeeded" | "skipped" | "refused" | "failed";
    correlationId?: string;
    reason?: string;
    [field: string]: unknown;
  }): Promise<void>;
}

export interface MergeObjectDeps {
  source: ObjectStore;
  target: ObjectStore;
  config: TablesConfig;
  audit: CdcAudit;
  options?: MergeOptions;
  correlationId?: string;
}

export type ObjectOutcome = (FileOutcome & { table: string }) | { outcome: "ignored"; file: string };

/** Merges the raw object `key` (already URL-decoded) into its table. */
export async function mergeObject(key: string, deps: MergeObjectDeps): Promise<ObjectOutcome> {
  const base = {
    pipeline: "cdc-merge",
    action: "merge",
    file: key,
    ...(deps.correlationId ? { correlationId: deps.correlationId } : {}),
  };
  const located = locateFile(deps.config, key);
  if (!located) {
    await deps.audit.publish({ ...base, outcome: "skipped", reason: "not a DMS data file of a configured table" });
    return { outcome: "ignored", file: key };
  }
  const table = located.table.name;
  try {
    const result = await mergeFile(
      deps.target,
      located.table,
      { relPath: located.relPath, displayName: key },
      () => deps.source.read(key),
      deps.options,
    );
    if (result.outcome === "merged") {
      await deps.audit.publish({
        ...base,
        outcome: "succeeded",
        table,
        version: result.version,
        rows: result.rows,
        keysChanged: result.keysChanged,
        bucketsRewritten: result.bucketsRewritten,
        attempts: result.attempts,
      });
    } else {
      await deps.audit.publish({
        ...base,
        outcome: "skipped",
        table,
        reason: "already applied",
        version: result.version,
      });
    }
    return { ...result, table };
  } catch (error) {
    if (!(error instanceof InvalidCdcFile)) throw error;
    await deps.audit.publish({
      ...base,
      outcome: "refused",
      table,
      row: error.row,
      reason: error.reason,
    });
    return { outcome: "rejected", file: key, table, row: error.row, reason: error.reason };
  }
}
