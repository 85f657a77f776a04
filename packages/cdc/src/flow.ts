/**
 * One DMS file landing in the raw bucket -> merged into its table. The invocation reports every file it decided on,
 * one outcome each, to the audit port and in what it returns (the handler logs one line each): `merged` (Audit's
 * `succeeded`: every file its pass committed, whichever file's event started the pass), `skipped` with its reason
 * (`already applied`: a replay, or a file another invocation's pass merged; or not a file of a configured table),
 * `refused` (its own file, corrupt, with row and reason; the table is unchanged by it, and a corrected file with the
 * same name applies later). The words are Audit's (`AUDIT_OUTCOMES`), but `merged` for `succeeded`, as FileMover
 * logs `moved`.
 *
 * Merges of a table are serialized by its lease (`lease.ts`), and a pass merges every pending file of the table in
 * the folder of the file (`MergeEngine.mergePass`: DMS order, one commit): files that arrive together (a full load split into
 * several LOAD files, a backlog of change files) are merged once, by whichever invocation takes the lease first; the
 * others wait for the lease and find their file applied. An invocation that cannot take the lease before its time
 * runs short fails (`TableBusy`) and is retried by Lambda. A lost commit race is retried inside the pass; anything
 * else throws so that the invocation is retried.
 */
import type { AuditPort } from "@sluice/messages";
import type { TableConfig, TablesConfig } from "./config.ts";
import { TableBusy } from "./errors.ts";
import { type LeaseOptions, TableLease } from "./lease.ts";
import {
  APPLIED_RETENTION_MS,
  type AppliedFile,
  type MergeOptions,
  type RejectedFile,
  sha256Of,
} from "./merge-pass.ts";
import {
  DEFAULT_PASS_BYTES,
  DEFAULT_PASS_FILES,
  type FileOutcome,
  icebergEngine,
  type MergeEngine,
  type PassLimits,
} from "./run.ts";
import { locateFile, sortFiles } from "./source.ts";
import type { ObjectStore } from "./storage.ts";

export interface MergeObjectDeps {
  source: ObjectStore;
  target: ObjectStore;
  config: TablesConfig;
  audit: AuditPort;
  /** The engine and its catalog (default: `icebergEngine()`, the file catalog; the Lambda's commits through Glue). */
  engine?: MergeEngine;
  options?: MergeOptions;
  correlationId?: string;
  /** How much a pass takes on (default 4 GiB, 1000 files), and the table lease's timing. */
  pass?: PassLimits & {
    lease?: LeaseOptions;
    /** First wait between looks at a busy table (default 250 ms; it grows by half each time to `maxPollMs`, default 2 s). */
    pollMs?: number;
    maxPollMs?: number;
    /** With less time than this left, an invocation stops waiting for a busy table (default 60 s). */
    minPassMs?: number;
  };
  /** Time left in this invocation, ms (Lambda's `context.getRemainingTimeInMillis`); default unbounded. */
  remainingMs?: () => number;
}

/** One file an invocation reports; the same file, outcome (`merged`: Audit's `succeeded`) and fields as its Audit message. */
export type ObjectOutcome =
  | (Extract<FileOutcome, { outcome: "merged" }> & { table: string })
  | { outcome: "skipped"; file: string; table?: string; reason: string; version?: number }
  | { outcome: "refused"; file: string; table: string; row: number; reason: string };

const ALREADY_APPLIED = "already applied";

/** Reports `outcomes` to Audit, one message each, in order; returns them. */
async function report(
  outcomes: ObjectOutcome[],
  audit: MergeObjectDeps["audit"],
  base: { pipeline: string; action: string; correlationId?: string },
): Promise<ObjectOutcome[]> {
  for (const outcome of outcomes) {
    if (outcome.outcome === "merged") {
      const { outcome: _, spills: __, ...fields } = outcome;
      await audit.publish({ ...base, ...fields, outcome: "succeeded" });
    } else await audit.publish({ ...base, ...outcome });
  }
  return outcomes;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Merges the raw object `key` (already URL-decoded) into its table, with the other pending files of its folder.
 * Returns every file it reported, in the order reported: `key`'s outcome (exactly one) and, when its pass committed,
 * every other file the pass merged.
 */
export async function mergeObject(key: string, deps: MergeObjectDeps): Promise<ObjectOutcome[]> {
  const base = {
    pipeline: "cdc-merge",
    action: "merge",
    ...(deps.correlationId ? { correlationId: deps.correlationId } : {}),
  };
  const located = locateFile(deps.config, key);
  if (!located)
    return report(
      [{ outcome: "skipped", file: key, reason: "not a DMS data file of a configured table" }],
      deps.audit,
      base,
    );
  const table = located.table;
  let sha: string | undefined;
  /** This file's applied entry when the table's latest version has it with this content. */
  const appliedAs = (applied: Record<string, AppliedFile>) => async () => {
    const known = applied[located.relPath];
    if (!known) return undefined;
    sha ??= await sha256Of(deps.source.read(key));
    return known.sha256 === sha ? known : undefined;
  };
  const skip = (known: AppliedFile) =>
    report(
      [{ outcome: "skipped", file: key, table: table.name, reason: ALREADY_APPLIED, version: known.version }],
      deps.audit,
      base,
    );

  const engine = deps.engine ?? icebergEngine();
  const remaining = deps.remainingMs ?? (() => Number.POSITIVE_INFINITY);
  let wait = deps.pass?.pollMs ?? 250;
  for (;;) {
    const known = await appliedAs((await engine.files(deps.target, table)).applied)();
    if (known) return skip(known);
    const lease = await TableLease.acquire(deps.target, table, deps.pass?.lease);
    if (lease) {
      try {
        // The previous holder may have merged this file just before releasing: look again, under the lease.
        const files = await engine.files(deps.target, table);
        const again = await appliedAs(files.applied)();
        if (again) return await skip(again);
        return await pass(key, table, located.relPath, files, sha, engine, deps, base);
      } finally {
        await lease.release();
      }
    }
    if (remaining() < (deps.pass?.minPassMs ?? 60_000))
      throw new TableBusy(`${table.name} is being merged by another invocation; ${key} is not merged yet`);
    await sleep(wait);
    wait = Math.min(wait * 1.5, deps.pass?.maxPollMs ?? 2000);
  }
}

/**
 * One pass, under the table's lease: `key` and the files of its folder that the table has not applied (and that were
 * written within the applied-files retention: older ones, if not applied, come with their own event), in DMS order,
 * within the pass limits, merged in one commit. Every file merged is reported; of the others only `key` (a file left
 * out here is reported by its own invocation).
 */
async function pass(
  key: string,
  table: TableConfig,
  relPath: string,
  metadata: { applied: Record<string, AppliedFile>; rejected: Record<string, RejectedFile> },
  sha: string | undefined,
  engine: MergeEngine,
  deps: MergeObjectDeps,
  base: { pipeline: string; action: string; correlationId?: string },
): Promise<ObjectOutcome[]> {
  const folder = key.slice(0, key.lastIndexOf("/") + 1);
  const cutoff =
    (deps.options?.now?.() ?? new Date()).getTime() - (deps.options?.appliedRetentionMs ?? APPLIED_RETENTION_MS);
  let own: { key: string; relPath: string; size: number; lastModified?: number } = { key, relPath, size: 0 };
  const others: (typeof own)[] = [];
  for (const object of await deps.source.list(folder)) {
    if (object.key === key) {
      own = { ...own, ...object };
      continue;
    }
    const located = locateFile(deps.config, object.key);
    if (!located || located.table !== table || metadata.applied[located.relPath]) continue;
    if (object.lastModified !== undefined && object.lastModified < cutoff) continue;
    // A file a pass rejected, not replaced since: its own invocation reported it; not read again.
    const rejected = metadata.rejected[located.relPath];
    if (rejected && rejected.size === object.size && rejected.lastModified === object.lastModified) continue;
    others.push({ ...object, relPath: located.relPath });
  }
  // The files after it in DMS order, as many as the pass limits allow (the rest: a later pass, or their own event).
  const maxBytes = deps.pass?.maxPassBytes ?? DEFAULT_PASS_BYTES;
  const maxFiles = deps.pass?.maxPassFiles ?? DEFAULT_PASS_FILES;
  const taken = [own];
  let bytes = own.size;
  for (const file of sortFiles(others)) {
    if (taken.length >= maxFiles || bytes + file.size > maxBytes) break;
    taken.push(file);
    bytes += file.size;
  }
  const chosen = sortFiles(taken);
  const result = await engine.mergePass(
    deps.target,
    table,
    chosen.map((f) => ({
      file: { relPath: f.relPath, displayName: f.key },
      open: () => deps.source.read(f.key),
      size: f.size,
      ...(f.lastModified !== undefined ? { lastModified: f.lastModified } : {}),
      ...(f.key === key && sha ? { sha256: sha } : {}),
    })),
    deps.options ?? {},
  );
  const outcomes: ObjectOutcome[] = [];
  for (const [i, outcome] of result.files.entries()) {
    const file = chosen[i]?.key as string;
    if (outcome.outcome === "merged") outcomes.push({ ...outcome, file, table: table.name });
    else if (file === key && outcome.outcome === "replay")
      outcomes.push({ outcome: "skipped", file, table: table.name, reason: ALREADY_APPLIED, version: outcome.version });
    else if (file === key && outcome.outcome === "rejected")
      outcomes.push({ outcome: "refused", file, table: table.name, row: outcome.row, reason: outcome.reason });
  }
  return report(outcomes, deps.audit, base);
}
