import { randomBytes } from "node:crypto";
import { GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { DELETE_REQUESTS_PREFIX, deleteRequestSchema, reportKeyOf } from "@sluice/files";
import { InvalidInput, UsageError } from "../errors.ts";
import { textArgument } from "../input.ts";
import { defineKind } from "../kind.ts";

const NAME = /^[A-Za-z0-9][A-Za-z0-9._\-/]{0,199}$/;

/** A default request name: sortable by time, unique enough for one user's requests. */
function defaultName(now = new Date()): string {
  return `${now.toISOString().replace(/[:.]/g, "-")}-${randomBytes(3).toString("hex")}`;
}

interface ReportSummary {
  status?: string;
  refusal?: { message?: string };
  /** Why the request failed for good (status `failed`). */
  failure?: string;
  counts?: { deleted?: number; failed?: number; listed?: number; skipped?: number };
  progress?: { step?: number };
}

/** The statuses after which the FileDeleter writes no more to a report (the others are steps on the way). */
const FINAL = new Set(["completed", "refused", "failed"]);

function describeReport(report: ReportSummary, dryRun: boolean): string {
  if (report.status === "refused") return `refused: ${report.refusal?.message ?? "see the report"}`;
  const c = report.counts ?? {};
  const what = dryRun
    ? `${c.listed ?? 0} would be deleted (dry run)`
    : `${c.deleted ?? 0} deleted, ${c.failed ?? 0} failed`;
  // A failed request says why, then what it had done before it stopped.
  const status = report.status === "failed" ? `failed: ${report.failure ?? "see the report"};` : `${report.status}:`;
  return `${status} ${what}, ${c.skipped ?? 0} skipped, step ${report.progress?.step ?? 0}`;
}

export const deleteRequestKind = defineKind({
  name: "delete-request",
  summary: "drop a delete request for the FileDeleter (objects or prefixes, every version with allVersions)",
  usage: "delete-request <json | @file | @-> [--name <name>] [--wait] [--unchecked]",
  help: `Writes a delete request to the Inbox at requests/delete/<name>.json, where it triggers the FileDeleter.
The report appears at reports/delete/<name>.json in the Inbox, and a summary on the Audit topic.

The request (JSON):
  {"bucket": "Lake", "keys": [...], "prefixes": [...], "allVersions": false, "dryRun": false,
   "reason": "why (required)", "confirm": "<bucket name: required for an empty prefix, the whole bucket>"}
"bucket" is a component name (Lake, Inbox, CdcRaw, Curated) or its physical name; other buckets are refused.

Options:
  --name <name>   the request's name (letters, digits, . _ - /); default: the time and a random suffix
  --wait          wait for the final report and print its outcome (exit 1 when the request was refused or
                  failed, or any deletion failed)
  --timeout <s>   how long --wait waits (default 300)
  --unchecked     send the request without checking it first (to see how the FileDeleter refuses it)

Examples:
  pnpm push delete-request '{"bucket":"Lake","prefixes":["raw/customers/c-42/"],"reason":"GDPR #42"}' --wait
  pnpm push delete-request @erase.json --name gdpr/2026-11-23-42`,
  options: {
    name: { type: "string" },
    wait: { type: "boolean", default: false },
    timeout: { type: "string", default: "300" },
    unchecked: { type: "boolean", default: false },
  },
  positionals: [1, 1],
  async run(context, { values, positionals }) {
    const name = values.name ?? defaultName();
    if (!NAME.test(name)) throw new UsageError(`--name "${name}": letters, digits, . _ - / only`, "delete-request");
    const timeoutSeconds = Number(values.timeout);
    if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) {
      throw new UsageError("--timeout must be a positive number of seconds", "delete-request");
    }
    const text = await textArgument(positionals[0] ?? "", context.cwd, context.stdin);
    let dryRun = false;
    if (!values.unchecked) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (err) {
        throw new InvalidInput(`the request is not JSON (${(err as Error).message}); nothing was sent`);
      }
      const checked = deleteRequestSchema.safeParse(parsed);
      if (!checked.success) {
        const issues = checked.error.issues.map((i) => `  ${i.path.join(".") || "request"}: ${i.message}`);
        throw new InvalidInput(`the request is malformed, nothing was sent:\n${issues.join("\n")}`);
      }
      dryRun = checked.data.dryRun;
    }
    const inbox = context.resolve("bucket", "Inbox");
    const key = `${DELETE_REQUESTS_PREFIX}${name}.json`;
    const client = context.clients.s3();
    await client.send(
      new PutObjectCommand({ Bucket: inbox.physical, Key: key, Body: text, ContentType: "application/json" }),
    );
    const where = `s3://${inbox.physical}/${key}`;
    if (!values.wait)
      return `delete request ${name} written to ${where}; report: s3://${inbox.physical}/${reportKeyOf(name)}`;

    const until = Date.now() + timeoutSeconds * 1000;
    for (;;) {
      try {
        const out = await client.send(new GetObjectCommand({ Bucket: inbox.physical, Key: reportKeyOf(name) }));
        const report = JSON.parse((await out.Body?.transformToString()) ?? "{}") as ReportSummary;
        if (FINAL.has(report.status ?? "")) {
          const line = `delete request ${name}: ${describeReport(report, dryRun)}; report: s3://${inbox.physical}/${reportKeyOf(name)}`;
          if (report.status !== "completed" || (report.counts?.failed ?? 0) > 0) throw new InvalidInput(line);
          return line;
        }
      } catch (err) {
        if (err instanceof InvalidInput) throw err;
        if ((err as { name?: string }).name !== "NoSuchKey") throw err;
      }
      if (Date.now() > until) {
        throw new InvalidInput(`no final report for ${name} after ${timeoutSeconds} s (the request is at ${where})`);
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  },
});
