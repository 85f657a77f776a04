/**
 * The IAM policy of each function, for the local cloud's resources: the statements `infra/permissions.ts` computes
 * from the wiring for `sst deploy` (`functionStatements`), with the local cloud's ARNs in place of the stage's,
 * rendered as the deploy renders them (`policyDocument`).
 */
import { type ArnsOf, functionStatements, policyDocument } from "@sluice/infra/permissions";
import { catalogDatabasePrefix, deadLetterQueueOf, endpointPhysicalName, type Wiring } from "@sluice/infra/wiring";
import { catalogDatabases } from "../catalogs.ts";
import { evaluate, type PolicyDocument } from "./policy.ts";

export interface LocalNames {
  app: { name: string; stage: string };
  region: string;
  accountId: string;
}

/** Physical names the local cloud gives a wiring's resources (`sluice-local-inbox`, `sluice-local-Audit`...). */
export function localPhysicalName(names: LocalNames, name: string, lower = false): string {
  const full = `${names.app.name}-${names.app.stage}-${name}`;
  return lower ? full.toLowerCase() : full;
}

/**
 * The ARNs of the local cloud's resources. A table's stream is named `<table arn>/stream/*`: its label (a creation
 * time) is only known once the table exists, and a table has one stream.
 */
export function localArns(wiring: Wiring, names: LocalNames): ArnsOf<string> {
  const { region, accountId } = names;
  const map = <T>(record: Readonly<Record<string, T>>, f: (name: string, spec: T) => unknown) =>
    Object.fromEntries(Object.entries(record).map(([name, spec]) => [name, f(name, spec)]));
  return {
    buckets: map(wiring.buckets, (name) => {
      const bucket = `arn:aws:s3:::${localPhysicalName(names, name, true)}`;
      return { bucket, objects: `${bucket}/*` };
    }) as ArnsOf<string>["buckets"],
    topics: map(
      wiring.topics,
      (name) => `arn:aws:sns:${region}:${accountId}:${localPhysicalName(names, name)}`,
    ) as ArnsOf<string>["topics"],
    // KMS is not emulated (the SNS emulator encrypts nothing): the IAM gateway checks a publisher's grants on it.
    topicKey: `arn:aws:kms:${region}:${accountId}:key/${localPhysicalName(names, "TopicKey", true)}`,
    streams: map(
      wiring.streams,
      (name) => `arn:aws:kinesis:${region}:${accountId}:stream/${localPhysicalName(names, name)}`,
    ) as ArnsOf<string>["streams"],
    tables: map(wiring.tables, (name, spec) => {
      const table = `arn:aws:dynamodb:${region}:${accountId}:table/${localPhysicalName(names, name)}`;
      return { table, indexes: `${table}/index/*`, ...(spec.stream ? { stream: `${table}/stream/*` } : {}) };
    }) as ArnsOf<string>["tables"],
    endpoints: map(
      wiring.endpoints ?? {},
      (name) =>
        `arn:aws:sagemaker:${region}:${accountId}:endpoint/${endpointPhysicalName(names.app.name, names.app.stage, name)}`,
    ) as ArnsOf<string>["endpoints"],
    catalogs: map(wiring.catalogs ?? {}, (_name, spec) => {
      const glue = `arn:aws:glue:${region}:${accountId}`;
      const databases = catalogDatabases(spec, catalogDatabasePrefix(names.app.name, names.app.stage));
      return {
        catalog: `${glue}:catalog`,
        databases: databases.map((database) => `${glue}:database/${database}`),
        tables: databases.map((database) => `${glue}:table/${database}/*`),
      };
    }) as ArnsOf<string>["catalogs"],
    account: { arn: (service, resource) => `arn:aws:${service}:${region}:${accountId}:${resource}`, app: names.app },
  };
}

/**
 * The KMS key of each topic, by topic ARN: every topic of the wiring is encrypted with the topics' key, as
 * infra/messaging.ts creates them.
 */
export function localTopicKeys(wiring: Wiring, names: LocalNames): Map<string, string> {
  const arns = localArns(wiring, names);
  return new Map(Object.values(arns.topics).map((topic) => [topic, arns.topicKey as string]));
}

/** The ARN of a function's dead-letter queue in the local cloud. */
export function localDeadLetterArn(names: LocalNames, functionName: string): string {
  return `arn:aws:sqs:${names.region}:${names.accountId}:${localPhysicalName(names, deadLetterQueueOf(functionName))}`;
}

/** Every function's policy document, by function name. */
export function localPolicies(wiring: Wiring, names: LocalNames): Record<string, PolicyDocument> {
  const arns = localArns(wiring, names);
  return Object.fromEntries(
    Object.entries(wiring.functions).map(([name, spec]) => [
      name,
      policyDocument(functionStatements(wiring, name, spec, arns, localDeadLetterArn(names, name))) as PolicyDocument,
    ]),
  );
}

/**
 * What Lambda itself checks in a function's role when its event sources and destinations are configured
 * (CreateEventSourceMapping, PutFunctionEventInvokeConfig): stream mappings need to read their stream, and failures
 * go to the on-failure queue with the function's role. AWS refuses such a configuration at deploy time; the local
 * cloud refuses to start with it. One sentence per problem.
 */
export function eventSourcePermissionProblems(
  wiring: Wiring,
  policies: Readonly<Record<string, PolicyDocument>>,
  names: LocalNames,
): string[] {
  const arns = localArns(wiring, names);
  const problems: string[] = [];
  for (const [name, spec] of Object.entries(wiring.functions)) {
    const policy = policies[name];
    if (!policy) continue;
    const need = (actions: readonly string[], resource: string, service: string) => {
      for (const action of actions) {
        if (evaluate(policy, { action, resource }).allowed) continue;
        problems.push(
          `${name}: the provided execution role does not have permissions to call ${action.split(":")[1]} on ${service} (${resource})`,
        );
      }
    };
    for (const trigger of spec.triggers) {
      if (trigger.kind === "kinesis") {
        const stream = arns.streams[trigger.stream] as string;
        need(
          ["kinesis:DescribeStream", "kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:ListShards"],
          stream,
          "Kinesis",
        );
      }
      if (trigger.kind === "dynamodb") {
        const stream = `${arns.tables[trigger.table]?.table}/stream/2026-01-01T00:00:00.000`;
        need(
          ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"],
          stream,
          "DynamoDB Streams",
        );
      }
    }
    if (spec.triggers.length > 0) need(["sqs:SendMessage"], localDeadLetterArn(names, name), "SQS");
  }
  return problems;
}
