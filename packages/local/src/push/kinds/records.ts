import { randomUUID } from "node:crypto";
import path from "node:path";
import { clickstreamEventIssues } from "@sluice/messages";
import { UsageError } from "../errors.ts";
import { assertFile, inlineJson, type JsonLine, ProblemList, readJsonLines } from "../input.ts";
import { defineKind } from "../kind.ts";
import { formatCount, formatThroughput } from "../progress.ts";
import {
  type KinesisEntry,
  MAX_PARTITION_KEY_LENGTH,
  MAX_RECORD_BYTES,
  MAX_RECORDS_PER_REQUEST,
  putRecords,
} from "../sinks/kinesis.ts";

/** The stream whose records must be clickstream events (`@sluice/messages`). */
export const CLICKSTREAM_STREAM = "Clickstream";
export const DEFAULT_PARTITION_KEY_FIELD = "eventId";

export interface RecordRules {
  /** Check each record against the clickstream event schema. */
  clickstream: boolean;
  /** Field whose value is the partition key. */
  partitionKeyField: string;
  /** The field must be there (it was asked for explicitly); otherwise a missing one gets a random key. */
  partitionKeyRequired: boolean;
  /** `--no-validate`: send lines as they are, JSON or not (to push bad data at a pipeline on purpose). */
  validate: boolean;
}

/** The partition key of a parsed line, or why there is none. */
export function partitionKeyOf(line: JsonLine, rules: RecordRules): { key: string } | { problem: string } {
  const value = line.ok ? line.value : undefined;
  const field =
    value !== null && typeof value === "object" && !Array.isArray(value)
      ? (value as Record<string, unknown>)[rules.partitionKeyField]
      : undefined;
  if (typeof field === "string" || typeof field === "number") {
    const key = String(field);
    if (key.length === 0) return { problem: `partition key field "${rules.partitionKeyField}" is empty` };
    if (key.length > MAX_PARTITION_KEY_LENGTH) {
      return {
        problem: `partition key "${rules.partitionKeyField}" is longer than ${MAX_PARTITION_KEY_LENGTH} characters`,
      };
    }
    return { key };
  }
  if (rules.partitionKeyRequired && rules.validate) {
    return { problem: `no partition key: field "${rules.partitionKeyField}" is missing or not a string or number` };
  }
  return { key: randomUUID() };
}

/** Every reason a line cannot be pushed as a record under these rules (empty when it can). */
export function recordProblems(line: JsonLine, rules: RecordRules): string[] {
  const problems: string[] = [];
  if (rules.validate) {
    if (!line.ok) return [line.error];
    if (rules.clickstream) problems.push(...clickstreamEventIssues(line.value));
  }
  const key = partitionKeyOf(line, rules);
  if ("problem" in key) problems.push(key.problem);
  else if (Buffer.byteLength(line.text) + Buffer.byteLength(key.key) > MAX_RECORD_BYTES) {
    problems.push("record larger than 1 MiB (data and partition key)");
  }
  return problems;
}

export const recordsKind = defineKind({
  name: "records",
  summary: "put JSON records into a Kinesis stream (PutRecords, 500 a batch, failed entries retried)",
  usage: "records --stream <Name> (--file <records.jsonl> | --data <json> ...) [--partition-key-field eventId]",
  help: `Puts records into a stream: each line of a JSON Lines file, or each --data value, becomes one record whose
data is that JSON text. Records go in PutRecords batches of up to ${MAX_RECORDS_PER_REQUEST} (and 5 MiB), one batch
at a time; entries a batch reports as failed (throttling) are sent again with back-off.

Everything is checked before anything is sent: a bad line fails the run with its line number and nothing is
pushed. On the ${CLICKSTREAM_STREAM} stream each record must be a clickstream event:
  {"eventId","ts" (ISO-8601 UTC),"site","page","productId",
   "action": "impression"|"click"|"add_to_cart"|"purchase","sessionId"}   (all strings)

Options:
  --stream <Name>                stream component name (Clickstream)
  --file <path>                  JSON Lines file, one record per non-blank line
  --data <json>                  one record; repeatable
  --partition-key-field <field>  field holding the partition key (default ${DEFAULT_PARTITION_KEY_FIELD}; a record
                                 without it gets a random key unless the option is given explicitly)
  --no-validate                  send lines as they are, JSON or not (to test how a pipeline treats bad data)

Examples:
  pnpm push records --stream Clickstream --file clicks.jsonl
  pnpm push records --stream Clickstream --data '{"eventId":"e1","ts":"2026-03-01T12:00:00Z","site":"shop",
    "page":"/p/1","productId":"p1","action":"click","sessionId":"s1"}'`,
  options: {
    stream: { type: "string" },
    file: { type: "string" },
    data: { type: "string", multiple: true },
    "partition-key-field": { type: "string" },
    "no-validate": { type: "boolean", default: false },
  },
  async run(context, { values }) {
    if (!values.stream) throw new UsageError("--stream is required", "records");
    if ((values.file === undefined) === (values.data === undefined)) {
      throw new UsageError("give either --file <records.jsonl> or --data <json> (not both)", "records");
    }
    const stream = context.resolve("stream", values.stream);
    const rules: RecordRules = {
      clickstream: stream.component === CLICKSTREAM_STREAM,
      partitionKeyField: values["partition-key-field"] ?? DEFAULT_PARTITION_KEY_FIELD,
      partitionKeyRequired: values["partition-key-field"] !== undefined,
      validate: !values["no-validate"],
    };
    let source: string;
    let label = "line";
    let lines: () => AsyncIterable<JsonLine> | Iterable<JsonLine>;
    if (values.file !== undefined) {
      const file = path.resolve(context.cwd, values.file);
      assertFile(file, "--file");
      source = path.relative(context.cwd, file) || file;
      lines = () => readJsonLines(file);
    } else {
      const data = inlineJson(values.data ?? []);
      source = "--data";
      label = "--data value";
      lines = () => data;
    }

    const problems = new ProblemList(source, "records are", label);
    let total = 0;
    for await (const line of lines()) {
      total++;
      const found = recordProblems(line, rules);
      if (found.length) problems.add(line.line, found.join("; "));
    }
    problems.throwIfAny(total);
    if (total === 0) throw new UsageError(`${source} holds no records`, "records");

    async function* entries(): AsyncGenerator<KinesisEntry> {
      for await (const line of lines()) {
        const key = partitionKeyOf(line, rules);
        yield { data: Buffer.from(line.text), partitionKey: "key" in key ? key.key : randomUUID() };
      }
    }
    const progress = context.progress(`putting records into ${stream.component}`, "records", total);
    const report = await putRecords(context.clients.kinesis(), stream.physical, entries(), {
      onStored: (n) => progress.add(n),
      onRetry: (pending, error) =>
        progress.note(pending ? `retrying ${formatCount(pending)} (${error?.split(":")[0] ?? "failed"})` : undefined),
    }).finally(() => progress.done());
    const shards = Object.keys(report.shards).length;
    const retried = report.retried ? `, ${formatCount(report.retried)} retried` : "";
    return (
      `put ${formatThroughput(report.records, "records", progress.elapsedMs)} into ${stream.component} ` +
      `(${stream.physical}): ${report.requests} PutRecords ${report.requests === 1 ? "call" : "calls"}, ` +
      `${shards} ${shards === 1 ? "shard" : "shards"}${retried}`
    );
  },
});
