/**
 * Checks a wiring for what AWS would only reject at deploy time, or not at all: triggers on resources that do not
 * exist, a catalog over a bucket that does not exist, async triggers without an async config, a table trigger without a stream, batch options out of AWS's
 * ranges, and S3 notifications that overlap (S3 refuses a bucket configuration where two notifications could match
 * the same event). Pure, so `sst deploy`, the wiring tests and a fixture all fail the same way, before any call to AWS.
 */
import type { S3EventName, StreamBatchOptions, Trigger, Wiring } from "./wiring.ts";

/** Every problem found, as readable sentences; empty when the wiring is deployable. */
export function wiringProblems(wiring: Wiring): string[] {
  const problems: string[] = [];
  const names = new Map<string, string>();
  const claim = (name: string, what: string) => {
    const other = names.get(name.toLowerCase());
    if (other) problems.push(`"${name}" names both ${other} and ${what}: SST component names must be unique`);
    names.set(name.toLowerCase(), what);
  };
  for (const name of Object.keys(wiring.buckets)) claim(name, "a bucket");
  for (const name of Object.keys(wiring.topics)) claim(name, "a topic");
  for (const name of Object.keys(wiring.streams)) claim(name, "a stream");
  for (const name of Object.keys(wiring.tables)) claim(name, "a table");
  for (const name of Object.keys(wiring.endpoints ?? {})) claim(name, "an endpoint");
  for (const [name, spec] of Object.entries(wiring.catalogs ?? {})) {
    claim(name, "a catalog");
    if (!(spec.bucket in wiring.buckets))
      problems.push(`catalog ${name} keeps its tables in unknown bucket ${spec.bucket}`);
  }
  for (const name of Object.keys(wiring.functions)) {
    claim(name, "a function");
    claim(`${name}Dlq`, `the dead-letter queue of ${name}`);
  }

  for (const [name, spec] of Object.entries(wiring.functions)) {
    if (
      spec.reservedConcurrency !== undefined &&
      !(Number.isInteger(spec.reservedConcurrency) && spec.reservedConcurrency >= 1)
    ) {
      problems.push(`${name}'s reservedConcurrency must be a whole number >= 1 (0 would never run it)`);
    }
    for (const trigger of spec.triggers) {
      problems.push(...triggerProblems(wiring, name, trigger));
      if ((trigger.kind === "s3" || trigger.kind === "sns") && !spec.async) {
        problems.push(`${name} has an ${trigger.kind} trigger but no async config (retries, event age)`);
      }
    }
  }
  problems.push(...overlappingNotifications(wiring));
  return problems;
}

/** Throws one error listing every problem of the wiring. */
export function assertDeployable(wiring: Wiring): void {
  const problems = wiringProblems(wiring);
  if (problems.length > 0) throw new Error(`infra/wiring.ts cannot be deployed:\n- ${problems.join("\n- ")}`);
}

function triggerProblems(wiring: Wiring, fn: string, trigger: Trigger): string[] {
  switch (trigger.kind) {
    case "s3":
      return trigger.bucket in wiring.buckets ? [] : [`${fn} is triggered by unknown bucket ${trigger.bucket}`];
    case "sns":
      return trigger.topic in wiring.topics ? [] : [`${fn} is triggered by unknown topic ${trigger.topic}`];
    case "kinesis":
      if (!(trigger.stream in wiring.streams)) return [`${fn} is triggered by unknown stream ${trigger.stream}`];
      return batchProblems(`${fn}'s ${trigger.stream} mapping`, trigger.batch);
    case "dynamodb": {
      const table = wiring.tables[trigger.table];
      if (!table) return [`${fn} is triggered by unknown table ${trigger.table}`];
      if (!table.stream) return [`${fn} is triggered by table ${trigger.table}, which has no stream`];
      return batchProblems(`${fn}'s ${trigger.table} mapping`, trigger.batch);
    }
  }
}

/** AWS's limits for Kinesis and DynamoDB stream mappings (Lambda API, CreateEventSourceMapping). */
function batchProblems(where: string, batch: StreamBatchOptions): string[] {
  const problems: string[] = [];
  const check = (ok: boolean, message: string) => {
    if (!ok) problems.push(`${where}: ${message}`);
  };
  const int = Number.isInteger;
  check(int(batch.batchSize) && batch.batchSize >= 1 && batch.batchSize <= 10_000, "batchSize must be 1-10000");
  check(
    int(batch.maximumBatchingWindowInSeconds) &&
      batch.maximumBatchingWindowInSeconds >= 0 &&
      batch.maximumBatchingWindowInSeconds <= 300,
    "maximumBatchingWindowInSeconds must be 0-300",
  );
  check(
    int(batch.maximumRetryAttempts) && batch.maximumRetryAttempts >= -1 && batch.maximumRetryAttempts <= 10_000,
    "maximumRetryAttempts must be -1-10000",
  );
  check(
    batch.maximumRecordAgeInSeconds === -1 ||
      (int(batch.maximumRecordAgeInSeconds) &&
        batch.maximumRecordAgeInSeconds >= 60 &&
        batch.maximumRecordAgeInSeconds <= 604_800),
    "maximumRecordAgeInSeconds must be -1 or 60-604800",
  );
  if (batch.tumblingWindowInSeconds !== undefined) {
    check(
      int(batch.tumblingWindowInSeconds) && batch.tumblingWindowInSeconds >= 1 && batch.tumblingWindowInSeconds <= 900,
      "tumblingWindowInSeconds must be 1-900",
    );
  }
  if (batch.parallelizationFactor !== undefined) {
    check(
      int(batch.parallelizationFactor) && batch.parallelizationFactor >= 1 && batch.parallelizationFactor <= 10,
      "parallelizationFactor must be 1-10",
    );
  }
  return problems;
}

/** Whether two S3 event names can match the same event (`s3:ObjectCreated:*` covers `s3:ObjectCreated:Put`). */
function eventsOverlap(a: S3EventName, b: S3EventName): boolean {
  const family = (event: string) => event.split(":").slice(0, 2).join(":");
  if (a === b) return true;
  if (family(a) !== family(b)) return false;
  return a.endsWith(":*") || b.endsWith(":*");
}

/** S3's rule: two filters overlap when one prefix starts the other and one suffix ends the other (or is absent). */
function filtersOverlap(
  a: { filterPrefix?: string; filterSuffix?: string },
  b: { filterPrefix?: string; filterSuffix?: string },
): boolean {
  const pa = a.filterPrefix ?? "";
  const pb = b.filterPrefix ?? "";
  const sa = a.filterSuffix ?? "";
  const sb = b.filterSuffix ?? "";
  const prefixes = pa.startsWith(pb) || pb.startsWith(pa);
  const suffixes = sa.endsWith(sb) || sb.endsWith(sa);
  return prefixes && suffixes;
}

function overlappingNotifications(wiring: Wiring): string[] {
  const byBucket = new Map<string, { fn: string; trigger: Extract<Trigger, { kind: "s3" }> }[]>();
  for (const [fn, spec] of Object.entries(wiring.functions)) {
    for (const trigger of spec.triggers) {
      if (trigger.kind !== "s3") continue;
      byBucket.set(trigger.bucket, [...(byBucket.get(trigger.bucket) ?? []), { fn, trigger }]);
    }
  }
  const problems: string[] = [];
  for (const [bucket, notifications] of byBucket) {
    notifications.forEach((a, i) => {
      for (const b of notifications.slice(i + 1)) {
        const sharedEvent = a.trigger.events.some((x) => b.trigger.events.some((y) => eventsOverlap(x, y)));
        if (sharedEvent && filtersOverlap(a.trigger, b.trigger)) {
          problems.push(
            `${bucket}: the notifications of ${a.fn} and ${b.fn} overlap (same events, overlapping prefix/suffix); S3 rejects that`,
          );
        }
      }
    });
  }
  return problems;
}
