/**
 * What each function may do in IAM, computed from the wiring alone. Pure: no SST globals, no Pulumi, so the
 * least-privilege rules can be read (and tested) without a deployment.
 *
 * A function's role gets exactly:
 * - on each linked resource (a Glue catalog: its catalog, databases and tables), the actions its wiring `access` lists, else its kind's `defaultLinkActions`; on a
 *   bucket, an `access` entry with `prefixes` allows its object-level actions under those key prefixes only;
 * - when it may publish to a topic, `topicKeyActions` on the topics' KMS key (SNS encrypts each message with a data
 *   key it asks KMS for with the publisher's credentials);
 * - on each stream or table stream it is triggered by, what Lambda's event-source mapping needs to poll it;
 * - `sqs:SendMessage` on its own dead-letter queue (the on-failure destination of async invocations and stream
 *   mappings: Lambda sends there with the function's role, and SST does not grant it).
 * Logging comes from AWS's managed `AWSLambdaBasicExecutionRole`, which SST attaches.
 */
import cdcTables from "../config/cdc-tables.json" with { type: "json" };
import {
  type AccessEntry,
  catalogDatabaseName,
  catalogDatabasePrefix,
  type FunctionSpec,
  type PrefixedAccess,
  type ResourceName,
  type Wiring,
} from "./wiring.ts";

export type ResourceKind = "bucket" | "topic" | "stream" | "table" | "endpoint" | "catalog";

/**
 * Actions granted on a linked resource when the wiring says nothing more precise: enough to read and write the
 * data, nothing that administers the resource (no `s3:PutBucketPolicy`, no `dynamodb:DeleteTable`...).
 */
export const defaultLinkActions: Readonly<Record<ResourceKind, readonly string[]>> = {
  bucket: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"],
  topic: ["sns:Publish"],
  stream: ["kinesis:PutRecord", "kinesis:PutRecords", "kinesis:DescribeStreamSummary", "kinesis:ListShards"],
  table: [
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
  ],
  endpoint: ["sagemaker:InvokeEndpoint"],
  // Read and write the catalog's tables; databases are the deployment's.
  catalog: ["glue:GetTable", "glue:CreateTable", "glue:UpdateTable"],
};

/** What Lambda needs to poll a Kinesis stream (AWS Lambda developer guide, "Kinesis event source mapping"). */
export const kinesisPollActions = [
  "kinesis:DescribeStream",
  "kinesis:DescribeStreamSummary",
  "kinesis:GetRecords",
  "kinesis:GetShardIterator",
  "kinesis:ListShards",
  "kinesis:SubscribeToShard",
] as const;

/** What Lambda needs to poll a DynamoDB stream (the same set SST grants its own stream subscribers). */
export const dynamoStreamPollActions = [
  "dynamodb:DescribeStream",
  "dynamodb:GetRecords",
  "dynamodb:GetShardIterator",
  "dynamodb:ListStreams",
] as const;

export const deadLetterActions = ["sqs:SendMessage"] as const;

/** What a publisher needs on the KMS key of an encrypted topic (Amazon SNS developer guide, "Key management"). */
export const topicKeyActions = ["kms:GenerateDataKey*", "kms:Decrypt"] as const;

/**
 * Whether an action pattern of a policy allows an action, as IAM matches them: case-insensitive, `*` any run of
 * characters, `?` exactly one (the local cloud's evaluator, packages/local/src/iam/policy.ts, matches the same way).
 */
export function actionAllows(pattern: string, action: string): boolean {
  const regex = pattern
    .split("")
    .map((c) => (c === "*" ? ".*" : c === "?" ? "." : c.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
    .join("");
  return new RegExp(`^${regex}$`, "is").test(action);
}

/**
 * The ARNs a function's statements may name, by resource. `A` is whatever carries an ARN (a string in tests, a
 * Pulumi `Output<string>` in the stacks), so this module never has to resolve one.
 */
export interface ArnsOf<A> {
  /**
   * `bucket`: the bucket itself (bucket-level actions); `objects`: `<bucket arn>/*`; `objectsUnder(prefix)`:
   * `<bucket arn>/<prefix>*` (prefixed `access`), derived from `objects` when absent and `objects` is a string.
   */
  buckets: Readonly<Record<string, { bucket: A; objects: A; objectsUnder?: (prefix: string) => A }>>;
  topics: Readonly<Record<string, A>>;
  /** The KMS key the topics are encrypted with (infra/messaging.ts); needed when a function may publish to one. */
  topicKey?: A;
  streams: Readonly<Record<string, A>>;
  /** `indexes`: `<table arn>/index/*`; `stream`: the table's stream ARN (tables with a stream). */
  tables: Readonly<Record<string, { table: A; indexes: A; stream?: A }>>;
  /** SageMaker endpoints: `arn:<partition>:sagemaker:<region>:<account>:endpoint/<name in lower case>`. */
  endpoints: Readonly<Record<string, A>>;
  /**
   * Glue catalogs: `catalog` (`arn:<partition>:glue:<region>:<account>:catalog`), each of their `databases`
   * (`...:database/<name>`) and the `tables` in them (`...:table/<database>/*`): Glue checks a table operation on all
   * three.
   */
  catalogs?: Readonly<Record<string, { catalog: A; databases: readonly A[]; tables: readonly A[] }>>;
  /**
   * Resources the stage does not create through the wiring, by name: `arn(service, resource)` is
   * `arn:<partition>:<service>:<region>:<account>:<resource>`; `app` the app and stage names. Needed by a function
   * with `cdcMaintenance`.
   */
  account?: { arn: (service: string, resource: string) => A; app: { name: string; stage: string } };
}

export interface Statement<A> {
  actions: string[];
  resources: A[];
}

/** The kind of a wiring resource, or an error naming the function that refers to an unknown one. */
export function kindOf(wiring: Wiring, resource: string, referredBy: string): ResourceKind {
  if (resource in wiring.buckets) return "bucket";
  if (resource in wiring.topics) return "topic";
  if (resource in wiring.streams) return "stream";
  if (resource in wiring.tables) return "table";
  if (resource in (wiring.endpoints ?? {})) return "endpoint";
  if (resource in (wiring.catalogs ?? {})) return "catalog";
  throw new Error(`${referredBy} refers to "${resource}", which the wiring does not define`);
}

/** S3 actions that act on the bucket (listing, bucket settings) rather than on its objects. */
function isBucketLevel(action: string): boolean {
  return /^s3:[A-Za-z]*Bucket/.test(action);
}

/** The ARN of a bucket's objects under a key prefix, `<bucket arn>/<prefix>*`. */
function objectsUnder<A>(bucket: ArnsOf<A>["buckets"][string], prefix: string, where: string): A {
  if (bucket.objectsUnder) return bucket.objectsUnder(prefix);
  if (typeof bucket.objects === "string" && bucket.objects.endsWith("/*")) {
    return `${bucket.objects.slice(0, -1)}${prefix}*` as A;
  }
  throw new Error(`${where}: no objectsUnder given to name the objects under "${prefix}"`);
}

/** Why a prefixed `access` entry cannot be granted as written, if it cannot. */
function prefixedProblem(entry: PrefixedAccess, kind: ResourceKind): string | undefined {
  if (kind !== "bucket") return "key prefixes apply to bucket objects only";
  if (entry.actions.length === 0 || entry.prefixes.length === 0) return "an entry needs actions and prefixes";
  const bucketLevel = entry.actions.filter(isBucketLevel);
  if (bucketLevel.length > 0) return `${bucketLevel.join(", ")} act on the bucket, not on objects under a prefix`;
  const bad = entry.prefixes.filter((prefix) => prefix === "" || /[*?]/.test(prefix));
  if (bad.length > 0) return `prefixes must be non-empty literal text without * or ?: ${JSON.stringify(bad)}`;
  return undefined;
}

/** The statements one link grants, split by the ARN each action applies to. */
function linkStatements<A>(
  wiring: Wiring,
  functionName: string,
  resource: ResourceName,
  entries: readonly AccessEntry[],
  arns: ArnsOf<A>,
): Statement<A>[] {
  const kind = kindOf(wiring, resource, `${functionName}'s links`);
  const where = `${functionName}'s access to ${resource}`;
  const need = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error(`no ARN given for ${kind} ${resource}`);
    return value;
  };
  const actions = entries.filter((entry): entry is string => typeof entry === "string");
  const prefixed = entries.filter((entry): entry is PrefixedAccess => typeof entry !== "string");
  for (const entry of prefixed) {
    const problem = prefixedProblem(entry, kind);
    if (problem) throw new Error(`${where}: ${problem}`);
  }
  switch (kind) {
    case "bucket": {
      const bucket = need(arns.buckets[resource]);
      const bucketActions = actions.filter(isBucketLevel);
      const objectActions = actions.filter((action) => !isBucketLevel(action));
      return [
        ...(bucketActions.length > 0 ? [{ actions: bucketActions, resources: [bucket.bucket] }] : []),
        ...(objectActions.length > 0 ? [{ actions: objectActions, resources: [bucket.objects] }] : []),
        ...prefixed.map((entry) => ({
          actions: [...entry.actions],
          resources: entry.prefixes.map((prefix) => objectsUnder(bucket, prefix, where)),
        })),
      ];
    }
    case "topic":
      return [{ actions: [...actions], resources: [need(arns.topics[resource])] }];
    case "stream":
      return [{ actions: [...actions], resources: [need(arns.streams[resource])] }];
    case "table": {
      const table = need(arns.tables[resource]);
      return [{ actions: [...actions], resources: [table.table, table.indexes] }];
    }
    case "endpoint":
      return [{ actions: [...actions], resources: [need(arns.endpoints[resource])] }];
    case "catalog": {
      const catalog = need(arns.catalogs?.[resource]);
      return [{ actions: [...actions], resources: [catalog.catalog, ...catalog.databases, ...catalog.tables] }];
    }
  }
}

/**
 * Every statement of a function's role, in a stable order: links (wiring order), the topics' key, stream triggers,
 * dead-letter queue. `dlq` is the ARN of the function's `<Function>Dlq`.
 */
export function functionStatements<A>(
  wiring: Wiring,
  functionName: string,
  spec: FunctionSpec,
  arns: ArnsOf<A>,
  dlq: A,
): Statement<A>[] {
  for (const resource of Object.keys(spec.access ?? {})) {
    if (!spec.links.includes(resource as ResourceName)) {
      throw new Error(`${functionName}'s access names "${resource}", which is not one of its links`);
    }
  }
  const statements: Statement<A>[] = [];
  let publishes = false;
  for (const resource of spec.links) {
    const kind = kindOf(wiring, resource, `${functionName}'s links`);
    const entries = spec.access?.[resource] ?? defaultLinkActions[kind];
    statements.push(...linkStatements(wiring, functionName, resource, entries, arns));
    if (kind === "topic" && entries.some((entry) => typeof entry === "string" && actionAllows(entry, "sns:Publish")))
      publishes = true;
  }
  if (publishes) {
    if (arns.topicKey === undefined)
      throw new Error(`no ARN given for the topics' KMS key (${functionName} publishes)`);
    statements.push({ actions: [...topicKeyActions], resources: [arns.topicKey] });
  }
  for (const trigger of spec.triggers) {
    if (trigger.kind === "kinesis") {
      const stream = arns.streams[trigger.stream];
      if (stream === undefined) throw new Error(`${functionName} is triggered by unknown stream ${trigger.stream}`);
      statements.push({ actions: [...kinesisPollActions], resources: [stream] });
    }
    if (trigger.kind === "dynamodb") {
      const stream = arns.tables[trigger.table]?.stream;
      if (stream === undefined) {
        throw new Error(`${functionName} is triggered by table ${trigger.table}, which has no stream`);
      }
      statements.push({ actions: [...dynamoStreamPollActions], resources: [stream] });
    }
  }
  if (spec.cdcMaintenance) {
    if (!arns.account) throw new Error(`no account ARNs given (${functionName} maintains the CDC tables)`);
    statements.push(...cdcMaintenanceStatements(arns.account.arn, arns.account.app));
  }
  statements.push({ actions: [...deadLetterActions], resources: [dlq] });
  return statements;
}

/** The Glue database of a DMS schema: per app and stage, so stages do not share tables (infra/catalog.ts). */
export function cdcDatabaseName(app: string, stage: string, schema: string): string {
  return catalogDatabaseName(catalogDatabasePrefix(app, stage), schema);
}

/** The Glue databases of the configured CDC tables (config/cdc-tables.json), one per DMS schema. */
export function cdcDatabases(app: { name: string; stage: string }): string[] {
  const schemas = Object.keys((cdcTables as { tables: Record<string, unknown> }).tables).map((n) => n.split(".")[0]);
  return [...new Set(schemas)].map((schema) => cdcDatabaseName(app.name, app.stage, schema as string));
}

/** The Athena workgroup of the CDC tables' maintenance in an app's stage (infra/maintenance.ts creates it). */
export function cdcMaintenanceWorkgroup(app: { name: string; stage: string }): string {
  return `${app.name}-${app.stage}-cdc-maintenance`;
}

/** Glue actions of the maintenance: listing the tables, and what Athena does with the caller's rights to rewrite one. */
export const cdcMaintenanceGlueActions = ["glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:UpdateTable"];

/**
 * What a `cdcMaintenance` function gets beside its links: start statements in the maintenance workgroup only, and the
 * Glue calls of the listing and of Athena's commits on the catalog, the CDC databases and their tables only.
 */
export function cdcMaintenanceStatements<A>(
  arn: (service: string, resource: string) => A,
  app: { name: string; stage: string },
): Statement<A>[] {
  const databases = cdcDatabases(app);
  return [
    {
      // Start the statements; read how the previous run's ended (the function does not wait for them).
      actions: ["athena:StartQueryExecution", "athena:ListQueryExecutions", "athena:BatchGetQueryExecution"],
      resources: [arn("athena", `workgroup/${cdcMaintenanceWorkgroup(app)}`)],
    },
    {
      actions: [...cdcMaintenanceGlueActions],
      resources: [
        arn("glue", "catalog"),
        ...databases.map((database) => arn("glue", `database/${database}`)),
        ...databases.map((database) => arn("glue", `table/${database}/*`)),
      ],
    },
  ];
}

/** A function role's policy document, as IAM receives it. */
export interface PolicyDocumentJson {
  Version: "2012-10-17";
  Statement: Array<{ Effect: "Allow"; Action: string | string[]; Resource: string | string[] }>;
}

/**
 * The policy document of a function's role, written as `sst deploy` writes it: SST passes the statements to
 * pulumi-aws's `getPolicyDocument` (terraform-provider-aws's `aws_iam_policy_document`), which renders a list of one
 * as a plain string and longer lists deduplicated, in reverse lexical order. The local cloud enforces exactly this
 * document, and `pnpm iam` prints it.
 */
export function policyDocument(statements: readonly Statement<string>[]): PolicyDocumentJson {
  const render = (values: readonly string[]): string | string[] => {
    const unique = [...new Set(values)];
    return unique.length === 1 ? (unique[0] as string) : unique.sort().reverse();
  };
  return {
    Version: "2012-10-17",
    Statement: statements.map((s) => ({ Effect: "Allow", Action: render(s.actions), Resource: render(s.resources) })),
  };
}
