/**
 * Compares what the infra code registered (a `Synth`) with what a wiring says, and lists every difference as a
 * sentence. Expectations are restated here from the wiring's plain data, not computed by the infra code under test,
 * so a divergence on either side shows up. Each check returns `[]` when deployment and wiring agree.
 */

import { readFileSync } from "node:fs";
import path from "node:path";
import { ownerTopicActions } from "../../infra/messaging.ts";
import {
  defaultLinkActions,
  dynamoStreamPollActions,
  kinesisPollActions,
  topicKeyActions,
} from "../../infra/permissions.ts";
import {
  DEAD_LETTER_QUEUE_URL,
  deadLetterQueueOf,
  type FunctionSpec,
  type StreamBatchOptions,
  type Wiring,
} from "../../infra/wiring.ts";
import { accountId, app, parsePolicy, type Registered, region, repoRoot, type Synth } from "./harness.ts";

const T = {
  bucket: "aws:s3/bucket:Bucket",
  versioning: "aws:s3/bucketVersioning:BucketVersioning",
  encryption: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
  publicAccessBlock: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
  bucketPolicy: "aws:s3/bucketPolicy:BucketPolicy",
  cors: "aws:s3/bucketCorsConfiguration:BucketCorsConfiguration",
  lifecycle: "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
  notification: "aws:s3/bucketNotification:BucketNotification",
  topic: "aws:sns/topic:Topic",
  topicPolicy: "aws:sns/topicPolicy:TopicPolicy",
  key: "aws:kms/key:Key",
  subscription: "aws:sns/topicSubscription:TopicSubscription",
  stream: "aws:kinesis/stream:Stream",
  table: "aws:dynamodb/table:Table",
  queue: "aws:sqs/queue:Queue",
  queuePolicy: "aws:sqs/queuePolicy:QueuePolicy",
  alarm: "aws:cloudwatch/metricAlarm:MetricAlarm",
  fn: "aws:lambda/function:Function",
  role: "aws:iam/role:Role",
  invokeConfig: "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig",
  permission: "aws:lambda/permission:Permission",
  mapping: "aws:lambda/eventSourceMapping:EventSourceMapping",
  recursion: "aws:lambda/functionRecursionConfig:FunctionRecursionConfig",
} as const;

/** The runtime the functions must run on: the major of the Node the local cloud runs handlers with. */
export function expectedRuntime(nodeVersion: string): string {
  return `nodejs${nodeVersion.split(".")[0]}.x`;
}

/** Physical names and ARNs the synthesized resources got, looked up by wiring name. */
export class Deployed {
  constructor(readonly synth: Synth) {}
  private state(type: string, name: string) {
    return this.synth.get(type, name).state;
  }
  bucketName = (name: string) => this.state(T.bucket, `${name}Bucket`).bucket as string;
  bucketArn = (name: string) => this.state(T.bucket, `${name}Bucket`).arn as string;
  topicArn = (name: string) => this.state(T.topic, `${name}Topic`).arn as string;
  topicKeyArn = () => this.state(T.key, "TopicKey").arn as string;
  streamName = (name: string) => this.state(T.stream, `${name}Stream`).name as string;
  streamArn = (name: string) => this.state(T.stream, `${name}Stream`).arn as string;
  tableName = (name: string) => this.state(T.table, `${name}Table`).name as string;
  tableArn = (name: string) => this.state(T.table, `${name}Table`).arn as string;
  tableStreamArn = (name: string) => this.state(T.table, `${name}Table`).streamArn as string;
  functionArn = (name: string) => this.state(T.fn, `${name}Function`).arn as string;
  functionName = (name: string) => this.state(T.fn, `${name}Function`).name as string;
  dlqArn = (name: string) => this.state(T.queue, `${deadLetterQueueOf(name)}Queue`).arn as string;
  dlqUrl = (name: string) => this.state(T.queue, `${deadLetterQueueOf(name)}Queue`).url as string;
  dlqName = (name: string) => this.state(T.queue, `${deadLetterQueueOf(name)}Queue`).name as string;
}

const show = (value: unknown) => JSON.stringify(value);
const sorted = <T>(values: readonly T[]) => [...values].sort();

function same(what: string, actual: unknown, expected: unknown): string[] {
  return show(actual) === show(expected) ? [] : [`${what}: expected ${show(expected)}, got ${show(actual)}`];
}

function kindOf(wiring: Wiring, resource: string): "bucket" | "topic" | "stream" | "table" | "endpoint" | "catalog" {
  if (resource in wiring.buckets) return "bucket";
  if (resource in (wiring.catalogs ?? {})) return "catalog";
  if (resource in wiring.topics) return "topic";
  if (resource in wiring.streams) return "stream";
  if (resource in (wiring.endpoints ?? {})) return "endpoint";
  return "table";
}

/** A wiring endpoint's name and ARN in the synthesized stage (restated: `<app>-<stage>-<name>`, lower case). */
const endpointName = (name: string) => `${app.name}-${app.stage}-${name}`.toLowerCase();
const endpointArn = (name: string) => `arn:aws:sagemaker:${region}:${accountId}:endpoint/${endpointName(name)}`;

/**
 * A wiring catalog's Glue ARNs in the synthesized stage (restated: one database `<app>_<stage>_<schema>` per schema of
 * its table configuration file): the catalog, each database, the tables of each.
 */
export function catalogArns(wiring: Wiring, name: string): { catalog: string; databases: string[]; tables: string[] } {
  const spec = wiring.catalogs?.[name];
  if (!spec) throw new Error(`no catalog ${name}`);
  const file = JSON.parse(readFileSync(path.join(repoRoot, spec.tables), "utf8")) as { tables: object };
  const schemas = [...new Set(Object.keys(file.tables).map((table) => table.split(".")[0]))].sort();
  const glue = `arn:aws:glue:${region}:${accountId}`;
  const databases = schemas.map((schema) => `${app.name}_${app.stage}_${schema}`);
  return {
    catalog: `${glue}:catalog`,
    databases: databases.map((database) => `${glue}:database/${database}`),
    tables: databases.map((database) => `${glue}:table/${database}/*`),
  };
}

/** Handler, runtime, architecture, timeout, memory, description, environment. */
export function functionConfigProblems(wiring: Wiring, synth: Synth, name: string, runtime: string): string[] {
  const spec = wiring.functions[name] as FunctionSpec;
  const fn = synth.get(T.fn, `${name}Function`).inputs;
  const env = ((fn.environment as { variables?: Record<string, string> })?.variables ?? {}) as Record<string, string>;
  const ownEnv = Object.fromEntries(Object.entries(env).filter(([key]) => !key.startsWith("SST_")));
  const builds = synth.builds.filter((b) => b.functionID === name);
  return [
    ...same(`${name} runtime`, fn.runtime, runtime),
    ...same(`${name} architectures`, fn.architectures, ["arm64"]),
    ...same(`${name} timeout`, fn.timeout, spec.timeout),
    ...same(`${name} memory`, fn.memorySize, spec.memory),
    ...same(`${name} description`, fn.description, spec.description),
    ...same(
      `${name} environment`,
      ownEnv,
      Object.fromEntries(
        Object.entries({ ...spec.environment, [DEAD_LETTER_QUEUE_URL]: new Deployed(synth).dlqUrl(name) }).sort(),
      ),
    ),
    ...same(`${name} builds`, builds.length, 1),
    ...same(`${name} handler built`, builds[0]?.handler, spec.handler),
    ...same(`${name} runtime built for`, builds[0]?.runtime, runtime),
  ];
}

/** Recursive loops allowed exactly for the functions the wiring marks self-continuing (Lambda's default: stopped). */
export function recursionProblems(wiring: Wiring, synth: Synth, name: string): string[] {
  const spec = wiring.functions[name] as FunctionSpec;
  const fnName = new Deployed(synth).functionName(name);
  const configs = synth
    .ofType(T.recursion)
    .filter((r) => r.inputs.functionName === fnName)
    .map((r) => r.inputs.recursiveLoop);
  return same(`${name} recursive loop configs`, configs, spec.selfContinuing ? ["Allow"] : []);
}

/**
 * The links SST embeds in the bundle (what `Resource.<Name>` returns at runtime): exactly the wiring's links, with
 * the properties the local cloud also gives (`name` for buckets, streams, tables; `arn` for topics).
 */
export function linkProblems(wiring: Wiring, synth: Synth, name: string): string[] {
  const spec = wiring.functions[name] as FunctionSpec;
  const deployed = new Deployed(synth);
  const build = synth.builds.find((b) => b.functionID === name);
  const properties = {
    bucket: (link: string) => ({ name: deployed.bucketName(link), type: "sst.aws.Bucket" }),
    topic: (link: string) => ({ arn: deployed.topicArn(link), type: "sst.aws.SnsTopic" }),
    stream: (link: string) => ({ name: deployed.streamName(link), type: "sst.aws.KinesisStream" }),
    table: (link: string) => ({ name: deployed.tableName(link), type: "sst.aws.Dynamo" }),
    endpoint: (link: string) => ({ name: endpointName(link), type: "sst.sst.Linkable" }),
    catalog: (_link: string) => ({ name: `${app.name}_${app.stage}`, type: "sst.sst.Linkable" }),
  };
  const expected = Object.fromEntries(sorted(spec.links).map((link) => [link, properties[kindOf(wiring, link)](link)]));
  const actual = Object.fromEntries(Object.entries(build?.links ?? {}).sort(([a], [b]) => a.localeCompare(b)));
  return same(`${name} links`, actual, expected);
}

/** `<Function>Dlq` (14 days, encrypted) and the async on-failure destination. */
export function deadLetterProblems(wiring: Wiring, synth: Synth, name: string): string[] {
  const spec = wiring.functions[name] as FunctionSpec;
  const deployed = new Deployed(synth);
  const dlq = deadLetterQueueOf(name);
  const queue = synth.get(T.queue, `${dlq}Queue`).inputs;
  const problems = [
    ...same(`${dlq} retention`, queue.messageRetentionSeconds, 1_209_600),
    ...same(`${dlq} encryption`, queue.sqsManagedSseEnabled, true),
  ];
  // Its policy: the topics the function is subscribed to may send it what they cannot deliver (and nothing else
  // may, beyond the account's IAM); no policy without an SNS trigger.
  const topics = spec.triggers.flatMap((t) => (t.kind === "sns" ? [deployed.topicArn(t.topic)] : []));
  const policies = synth.ofType(T.queuePolicy).filter((r) => r.name === `${dlq}Policy`);
  problems.push(
    ...same(
      `${dlq} policy`,
      policies.map((r) => JSON.parse(r.inputs.policy as string)),
      topics.length === 0
        ? []
        : [
            {
              Version: "2012-10-17",
              Statement: [
                {
                  Sid: "TopicsSendUndeliverable",
                  Effect: "Allow",
                  Principal: { Service: "sns.amazonaws.com" },
                  Action: "sqs:SendMessage",
                  Resource: deployed.dlqArn(name),
                  Condition: { ArnEquals: { "aws:SourceArn": topics } },
                },
              ],
            },
          ],
    ),
  );
  const configs = synth.ofType(T.invokeConfig).filter((r) => r.inputs.functionName === deployed.functionName(name));
  if (!spec.async) return [...problems, ...same(`${name} async invoke configs`, configs.length, 0)];
  return [
    ...problems,
    ...same(
      `${name} async invoke config`,
      configs.map((c) => c.inputs),
      [
        {
          destinationConfig: { onFailure: { destination: deployed.dlqArn(name) } },
          functionName: deployed.functionName(name),
          maximumEventAgeInSeconds: spec.async.maximumEventAgeInSeconds,
          maximumRetryAttempts: spec.async.maximumRetryAttempts,
        },
      ],
    ),
  ];
}

/** The alarm fields checked: what it watches, when it fires, whom it notifies. */
function alarmShape(inputs: Record<string, unknown>) {
  return {
    namespace: inputs.namespace,
    metricName: inputs.metricName,
    dimensions: inputs.dimensions,
    statistic: inputs.statistic,
    period: inputs.period,
    evaluationPeriods: inputs.evaluationPeriods,
    comparisonOperator: inputs.comparisonOperator,
    threshold: inputs.threshold,
    treatMissingData: inputs.treatMissingData,
    alarmActions: inputs.alarmActions,
    okActions: inputs.okActions,
  };
}

/**
 * A function's alarms, restated: its dead-letter queue holding messages (depth), and receiving a new one in the last 5
 * minutes (so a second failure while the first waits is not silent); Lambda failing to deliver a discarded event to
 * that queue (a function with an on-failure destination: async invocations or a stream mapping); a stream-triggered
 * function's records waiting more than 5 minutes (IteratorAge); any function throttled in 5 minutes (Throttles: the
 * account's concurrency used up, or the function's reservation). Each notifies `alarmTopic` (alarm and back to OK).
 */
export function alarmProblems(wiring: Wiring, synth: Synth, name: string, alarmTopic?: string): string[] {
  const spec = wiring.functions[name] as FunctionSpec;
  const d = new Deployed(synth);
  const dlq = deadLetterQueueOf(name);
  const actions = alarmTopic ? [d.topicArn(alarmTopic)] : [];
  const notify = { alarmActions: actions, okActions: actions };
  const queue = { QueueName: d.dlqName(name) };
  const fn = { FunctionName: d.functionName(name) };
  const streamTriggered = spec.triggers.some((t) => t.kind === "kinesis" || t.kind === "dynamodb");
  // Any of `metricName` in 5 minutes: the shape of every alarm but the depth and the iterator age.
  const anyIn5Minutes = (namespace: string, metricName: string, dimensions: Record<string, string>) => ({
    namespace,
    metricName,
    dimensions,
    statistic: "Sum",
    period: 300,
    evaluationPeriods: 1,
    comparisonOperator: "GreaterThanThreshold",
    threshold: 0,
    treatMissingData: "notBreaching",
    ...notify,
  });
  const expected: Record<string, ReturnType<typeof alarmShape>> = {
    [`${dlq}Alarm`]: {
      namespace: "AWS/SQS",
      metricName: "ApproximateNumberOfMessagesVisible",
      dimensions: queue,
      statistic: "Maximum",
      period: 60,
      evaluationPeriods: 1,
      comparisonOperator: "GreaterThanThreshold",
      threshold: 0,
      treatMissingData: "notBreaching",
      ...notify,
    },
    [`${dlq}NewMessagesAlarm`]: anyIn5Minutes("AWS/SQS", "NumberOfMessagesSent", queue),
    [`${name}ThrottlesAlarm`]: anyIn5Minutes("AWS/Lambda", "Throttles", fn),
    ...(spec.async || streamTriggered
      ? { [`${name}DeliveryFailuresAlarm`]: anyIn5Minutes("AWS/Lambda", "DestinationDeliveryFailures", fn) }
      : {}),
    ...(streamTriggered
      ? {
          [`${name}IteratorAgeAlarm`]: {
            namespace: "AWS/Lambda",
            metricName: "IteratorAge",
            dimensions: fn,
            statistic: "Maximum",
            period: 300,
            evaluationPeriods: 1,
            comparisonOperator: "GreaterThanThreshold",
            // Milliseconds: 5 minutes.
            threshold: 300_000,
            treatMissingData: "ignore",
            ...notify,
          },
        }
      : {}),
  };
  const mine = synth.ofType(T.alarm).filter((a) => {
    const dims = (a.inputs.dimensions ?? {}) as Record<string, unknown>;
    return dims.QueueName === queue.QueueName || dims.FunctionName === fn.FunctionName;
  });
  const names = (list: { name: string }[]) => sorted(list.map((a) => a.name));
  return [
    ...same(`${name} alarms`, names(mine), sorted(Object.keys(expected))),
    ...mine.flatMap((a) => {
      const want = expected[a.name];
      const problems = want ? same(`${a.name}`, alarmShape(a.inputs), want) : [];
      const described = typeof a.inputs.alarmDescription === "string" && a.inputs.alarmDescription.includes(name);
      return [
        ...problems,
        ...(described ? [] : [`${a.name}: its description does not name ${name}`]),
        ...same(`${a.name} physical name`, String(a.inputs.name).startsWith(`${app.name}-${app.stage}-`), true),
      ];
    }),
  ];
}

/** What a stream mapping must be: the wiring's batch options, exactly, and the function's DLQ on failure. */
function expectedMapping(batch: StreamBatchOptions, source: string, fnArn: string, dlqArn: string) {
  return {
    batchSize: batch.batchSize,
    bisectBatchOnFunctionError: batch.bisectBatchOnFunctionError,
    destinationConfig: { onFailure: { destinationArn: dlqArn } },
    eventSourceArn: source,
    functionName: fnArn,
    functionResponseTypes: batch.reportBatchItemFailures ? ["ReportBatchItemFailures"] : [],
    maximumBatchingWindowInSeconds: batch.maximumBatchingWindowInSeconds,
    maximumRecordAgeInSeconds: batch.maximumRecordAgeInSeconds,
    maximumRetryAttempts: batch.maximumRetryAttempts,
    ...(batch.parallelizationFactor !== undefined ? { parallelizationFactor: batch.parallelizationFactor } : {}),
    startingPosition: batch.startingPosition,
    ...(batch.tumblingWindowInSeconds !== undefined ? { tumblingWindowInSeconds: batch.tumblingWindowInSeconds } : {}),
  };
}

const canonical = (value: unknown): unknown =>
  Array.isArray(value)
    ? value.map(canonical)
    : value && typeof value === "object"
      ? Object.fromEntries(
          Object.entries(value)
            .filter(([, v]) => v !== undefined)
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([k, v]) => [k, canonical(v)]),
        )
      : value;

const byJson = (a: unknown, b: unknown) => show(a).localeCompare(show(b));

/** SNS subscriptions (+ invoke permissions), S3 notifications (+ permissions), stream mappings: all and only these. */
export function triggerProblems(wiring: Wiring, synth: Synth, name: string): string[] {
  const spec = wiring.functions[name] as FunctionSpec;
  const d = new Deployed(synth);
  const fnArn = d.functionArn(name);
  const mine = (r: Registered) => r.inputs.endpoint === fnArn || r.inputs.functionName === fnArn;

  const expectedSubscriptions = spec.triggers.flatMap((t) =>
    t.kind === "sns"
      ? [
          canonical({
            endpoint: fnArn,
            protocol: "lambda",
            topic: d.topicArn(t.topic),
            filterPolicy: t.filterPolicy,
            ...(t.filterPolicyScope ? { filterPolicyScope: t.filterPolicyScope } : {}),
            // What SNS cannot deliver goes to the function's dead-letter queue.
            redrivePolicy: { deadLetterTargetArn: d.dlqArn(name) },
          }),
        ]
      : [],
  );
  const subscriptions = synth
    .ofType(T.subscription)
    .filter(mine)
    .map((s) =>
      canonical({
        ...s.inputs,
        filterPolicy: typeof s.inputs.filterPolicy === "string" ? JSON.parse(s.inputs.filterPolicy) : undefined,
        redrivePolicy: typeof s.inputs.redrivePolicy === "string" ? JSON.parse(s.inputs.redrivePolicy) : undefined,
      }),
    );

  const expectedMappings = spec.triggers.flatMap((t) =>
    t.kind === "kinesis"
      ? [canonical(expectedMapping(t.batch, d.streamArn(t.stream), fnArn, d.dlqArn(name)))]
      : t.kind === "dynamodb"
        ? [canonical(expectedMapping(t.batch, d.tableStreamArn(t.table), fnArn, d.dlqArn(name)))]
        : [],
  );
  const mappings = synth
    .ofType(T.mapping)
    .filter(mine)
    .map((m) => canonical(m.inputs));

  const expectedNotifications = spec.triggers.flatMap((t) =>
    t.kind === "s3"
      ? [
          canonical({
            bucket: d.bucketName(t.bucket),
            events: sorted(t.events),
            filterPrefix: t.filterPrefix,
            filterSuffix: t.filterSuffix,
          }),
        ]
      : [],
  );
  const notifications = synth.ofType(T.notification).flatMap((n) =>
    ((n.inputs.lambdaFunctions ?? []) as Record<string, unknown>[])
      .filter((l) => l.lambdaFunctionArn === fnArn)
      .map((l) =>
        canonical({
          bucket: n.inputs.bucket,
          events: sorted(l.events as string[]),
          filterPrefix: l.filterPrefix,
          filterSuffix: l.filterSuffix,
        }),
      ),
  );

  const permissions = synth
    .ofType(T.permission)
    .filter((p) => p.inputs.function === fnArn)
    .map((p) => canonical({ principal: p.inputs.principal, sourceArn: p.inputs.sourceArn, action: p.inputs.action }));
  const expectedPermissions = spec.triggers.flatMap((t) =>
    t.kind === "sns"
      ? [canonical({ principal: "sns.amazonaws.com", sourceArn: d.topicArn(t.topic), action: "lambda:InvokeFunction" })]
      : t.kind === "s3"
        ? [
            canonical({
              principal: "s3.amazonaws.com",
              sourceArn: d.bucketArn(t.bucket),
              action: "lambda:InvokeFunction",
            }),
          ]
        : [],
  );

  return [
    ...same(`${name} SNS subscriptions`, subscriptions.sort(byJson), expectedSubscriptions.sort(byJson)),
    ...same(`${name} S3 notifications`, notifications.sort(byJson), expectedNotifications.sort(byJson)),
    ...same(`${name} stream mappings`, mappings.sort(byJson), expectedMappings.sort(byJson)),
    ...same(`${name} invoke permissions`, permissions.sort(byJson), expectedPermissions.sort(byJson)),
  ];
}

/** `action resource` pairs the role must grant, restated from the wiring. */
function expectedGrants(wiring: Wiring, d: Deployed, name: string): string[] {
  const spec = wiring.functions[name] as FunctionSpec;
  const grants: string[] = [];
  let publishes = false;
  const grant = (actions: readonly string[], resource: string) => {
    for (const action of actions) grants.push(`${action} ${resource}`);
  };
  for (const link of spec.links) {
    const kind = kindOf(wiring, link);
    const entries = spec.access?.[link] ?? defaultLinkActions[kind];
    const actions = entries.filter((entry): entry is string => typeof entry === "string");
    if (kind === "bucket") {
      for (const action of actions) {
        grant([action], /^s3:[A-Za-z]*Bucket/.test(action) ? d.bucketArn(link) : `${d.bucketArn(link)}/*`);
      }
      // `{ actions, prefixes }`: those actions on the objects under each prefix only.
      for (const entry of entries) {
        if (typeof entry === "string") continue;
        for (const prefix of entry.prefixes) grant(entry.actions, `${d.bucketArn(link)}/${prefix}*`);
      }
    }
    if (kind === "topic") grant(actions, d.topicArn(link));
    if (kind === "topic" && actions.includes("sns:Publish")) publishes = true;
    if (kind === "stream") grant(actions, d.streamArn(link));
    if (kind === "table") {
      grant(actions, d.tableArn(link));
      grant(actions, `${d.tableArn(link)}/index/*`);
    }
    if (kind === "endpoint") grant(actions, endpointArn(link));
    if (kind === "catalog") {
      const arns = catalogArns(wiring, link);
      for (const resource of [arns.catalog, ...arns.databases, ...arns.tables]) grant(actions, resource);
    }
  }
  // The topics are encrypted: publishing needs a data key from their KMS key (granted once).
  if (publishes) grant(topicKeyActions, d.topicKeyArn());
  for (const t of spec.triggers) {
    if (t.kind === "kinesis") grant(kinesisPollActions, d.streamArn(t.stream));
    if (t.kind === "dynamodb") grant(dynamoStreamPollActions, d.tableStreamArn(t.table));
  }
  // The CDC maintenance: Athena on the stage's workgroup, Glue on the catalog, the CDC databases and their tables.
  if (spec.cdcMaintenance) {
    const account = `${region}:${accountId}`;
    grant(
      ["athena:StartQueryExecution", "athena:ListQueryExecutions", "athena:BatchGetQueryExecution"],
      `arn:aws:athena:${account}:workgroup/${app.name}-${app.stage}-cdc-maintenance`,
    );
    for (const resource of ["catalog", "database/sluice_test_sales", "table/sluice_test_sales/*"])
      grant(
        ["glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:UpdateTable"],
        `arn:aws:glue:${account}:${resource}`,
      );
  }
  grant(["sqs:SendMessage"], d.dlqArn(name));
  return sorted(grants);
}

/**
 * The function's role: exactly the expected grants (links with their access, stream polling, its own DLQ), nothing
 * with a wildcard action, nothing on a resource it is not wired to, trusted by Lambda only, logging via AWS's
 * managed basic execution policy.
 */
export function iamProblems(wiring: Wiring, synth: Synth, name: string): string[] {
  const spec = wiring.functions[name] as FunctionSpec;
  const d = new Deployed(synth);
  const role = synth.get(T.role, `${name}Role`).inputs;
  const inline = (role.inlinePolicies ?? []) as { name: string; policy: string }[];
  const statements = inline.flatMap((p) => parsePolicy(p.policy).Statement);
  const grants = sorted(
    statements.flatMap((s) => {
      if (s.Effect !== "Allow") return [`unexpected ${s.Effect}`];
      return s.Action.flatMap((action) => s.Resource.map((resource) => `${action} ${resource}`));
    }),
  );
  // `kms:GenerateDataKey*` is AWS's documented grant for publishers to encrypted topics (data-key actions only).
  const wildcards = grants.filter((g) => g.split(" ")[0]?.includes("*") && !g.startsWith("kms:GenerateDataKey* "));

  const wired = new Set<string>([d.dlqArn(name)]);
  for (const link of spec.links) {
    const kind = kindOf(wiring, link);
    if (kind === "bucket") wired.add(d.bucketArn(link));
    if (kind === "topic") wired.add(d.topicArn(link)).add(d.topicKeyArn());
    if (kind === "stream") wired.add(d.streamArn(link));
    if (kind === "table") wired.add(d.tableArn(link));
    if (kind === "endpoint") wired.add(endpointArn(link));
    if (kind === "catalog") {
      const arns = catalogArns(wiring, link);
      for (const resource of [arns.catalog, ...arns.databases, ...arns.tables]) wired.add(resource);
    }
  }
  for (const t of spec.triggers) {
    if (t.kind === "kinesis") wired.add(d.streamArn(t.stream));
    if (t.kind === "dynamodb") wired.add(d.tableArn(t.table));
  }
  if (spec.cdcMaintenance) {
    wired.add(`arn:aws:athena:${region}:${accountId}:workgroup/${app.name}-${app.stage}-cdc-maintenance`);
    wired.add(`arn:aws:glue:${region}:${accountId}:`);
  }
  const unwired = grants.filter((g) => ![...wired].some((arn) => g.split(" ")[1]?.startsWith(arn)));

  return [
    ...same(`${name} role grants`, grants, expectedGrants(wiring, d, name)),
    ...(wildcards.length > 0 ? [`${name} role grants wildcard actions: ${wildcards.join(", ")}`] : []),
    ...(unwired.length > 0 ? [`${name} role reaches resources it is not wired to: ${unwired.join(", ")}`] : []),
    ...same(`${name} role trust`, JSON.parse(role.assumeRolePolicy as string), {
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" }],
    }),
    ...same(`${name} managed policies`, role.managedPolicyArns, [
      "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    ]),
  ];
}

/** Encrypted with the stage's topic key; one topic policy: the owner account's default access, publish over TLS only. */
export function topicProblems(synth: Synth, name: string): string[] {
  const d = new Deployed(synth);
  const topic = synth.get(T.topic, `${name}Topic`).inputs;
  const arn = d.topicArn(name);
  const policies = synth
    .ofType(T.topicPolicy)
    .filter((p) => p.inputs.arn === arn)
    .map((p) => JSON.parse(p.inputs.policy as string));
  return [
    ...same(`${name} encryption key`, topic.kmsMasterKeyId, d.topicKeyArn()),
    ...same(`${name} topic policies`, policies, [
      {
        Version: "2012-10-17",
        Statement: [
          {
            Sid: "OwnerAccountDefaultAccess",
            Effect: "Allow",
            Principal: { AWS: "*" },
            Action: [...ownerTopicActions],
            Resource: arn,
            Condition: { StringEquals: { "AWS:SourceOwner": accountId } },
          },
          {
            Sid: "DenyPublishWithoutTls",
            Effect: "Deny",
            Principal: "*",
            Action: "sns:Publish",
            Resource: arn,
            Condition: { Bool: { "aws:SecureTransport": "false" } },
          },
        ],
      },
    ]),
  ];
}

/** One customer-managed key for the topics: rotated, administered by the account, usable by CloudWatch alarms. */
export function topicKeyProblems(synth: Synth): string[] {
  const keys = synth.ofType(T.key);
  const key = keys[0]?.inputs ?? {};
  return [
    ...same(
      "KMS keys",
      keys.map((k) => k.name),
      ["TopicKey"],
    ),
    ...same("TopicKey rotation", key.enableKeyRotation, true),
    ...same("TopicKey policy", JSON.parse((key.policy as string | undefined) ?? "null"), {
      Version: "2012-10-17",
      Statement: [
        {
          Sid: "AccountAdministersTheKeyAndGrantsItsUseThroughIam",
          Effect: "Allow",
          Principal: { AWS: `arn:aws:iam::${accountId}:root` },
          Action: "kms:*",
          Resource: "*",
        },
        {
          Sid: "CloudWatchAlarmsPublishToEncryptedTopics",
          Effect: "Allow",
          Principal: { Service: "cloudwatch.amazonaws.com" },
          Action: ["kms:GenerateDataKey*", "kms:Decrypt"],
          Resource: "*",
          // Confused deputy: CloudWatch may use the key for this account's alarms only.
          Condition: { StringEquals: { "aws:SourceAccount": accountId } },
        },
      ],
    }),
    ...same("topic policies", synth.ofType(T.topicPolicy).length, synth.ofType(T.topic).length),
  ];
}

/** SSE-S3, all public access blocked, TLS-only policy, versioning as wired, no CORS. */
export function bucketProblems(wiring: Wiring, synth: Synth, name: string): string[] {
  const spec = wiring.buckets[name];
  const d = new Deployed(synth);
  const bucket = d.bucketName(name);
  const forBucket = (type: string) => synth.ofType(type).filter((r) => r.inputs.bucket === bucket);
  const encryption = forBucket(T.encryption).map((r) => r.inputs.rules);
  const blocks = forBucket(T.publicAccessBlock).map((r) => {
    const { bucket: _, ...flags } = r.inputs;
    return flags;
  });
  const policies = forBucket(T.bucketPolicy).map((r) => parsePolicy(r.inputs.policy).Statement);
  const versioning = forBucket(T.versioning).map((r) => r.inputs.versioningConfiguration);
  return [
    ...same(`${name} encryption`, encryption, [[{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }]]),
    ...same(`${name} public access block`, blocks, [
      { blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true },
    ]),
    ...same(`${name} bucket policy`, policies, [
      [
        {
          Effect: "Deny",
          Action: ["s3:*"],
          Resource: [d.bucketArn(name), `${d.bucketArn(name)}/*`],
          Principal: [{ identifiers: ["*"], type: "*" }],
          Condition: [{ test: "Bool", values: ["false"], variable: "aws:SecureTransport" }],
        },
      ],
    ]),
    ...same(`${name} versioning`, versioning, spec?.versioning ? [{ status: "Enabled" }] : []),
    ...same(`${name} CORS rules`, forBucket(T.cors).length, 0),
    // One lifecycle configuration (S3 keeps one per bucket: a second resource would replace the first), whose first
    // rule aborts, bucket-wide, multipart uploads left incomplete for a day (a copy killed by the Lambda timeout).
    ...same(`${name} lifecycle configurations`, forBucket(T.lifecycle).length, 1),
    ...same(
      `${name} abort-incomplete-multipart-uploads rule`,
      canonical((forBucket(T.lifecycle)[0]?.inputs.rules as unknown[] | undefined)?.[0]),
      canonical({
        id: "abort-incomplete-multipart-uploads",
        status: "Enabled",
        filter: {},
        abortIncompleteMultipartUpload: { daysAfterInitiation: 1 },
      }),
    ),
  ];
}

/** Topics, streams (shards, encryption) and tables (keys, stream, time to live) exactly as wired. */
export function dataProblems(wiring: Wiring, synth: Synth): string[] {
  const streamModes: Record<string, string> = {
    "new-image": "NEW_IMAGE",
    "old-image": "OLD_IMAGE",
    "new-and-old-images": "NEW_AND_OLD_IMAGES",
    "keys-only": "KEYS_ONLY",
  };
  return [
    ...same(
      "buckets",
      sorted(synth.ofType(T.bucket).map((r) => r.name)),
      sorted(Object.keys(wiring.buckets).map((n) => `${n}Bucket`)),
    ),
    ...same(
      "topics",
      sorted(synth.ofType(T.topic).map((r) => r.name)),
      sorted(Object.keys(wiring.topics).map((n) => `${n}Topic`)),
    ),
    ...same(
      "streams",
      sorted(synth.ofType(T.stream).map((r) => r.name)),
      sorted(Object.keys(wiring.streams).map((n) => `${n}Stream`)),
    ),
    ...same(
      "tables",
      sorted(synth.ofType(T.table).map((r) => r.name)),
      sorted(Object.keys(wiring.tables).map((n) => `${n}Table`)),
    ),
    ...same(
      "functions",
      sorted(synth.ofType(T.fn).map((r) => r.name)),
      sorted(Object.keys(wiring.functions).map((n) => `${n}Function`)),
    ),
    ...Object.entries(wiring.streams).flatMap(([name, spec]) => {
      const s = synth.get(T.stream, `${name}Stream`).inputs;
      return same(
        `${name} stream`,
        {
          shardCount: s.shardCount,
          mode: s.streamModeDetails,
          encryptionType: s.encryptionType,
          retentionPeriod: s.retentionPeriod,
        },
        // 24 hours: Kinesis's default, spelled out (a longer retention is billed per shard-hour).
        {
          shardCount: spec.shardCount,
          mode: { streamMode: "PROVISIONED" },
          encryptionType: "KMS",
          retentionPeriod: 24,
        },
      );
    }),
    ...Object.entries(wiring.tables).flatMap(([name, spec]) => {
      const t = synth.get(T.table, `${name}Table`).inputs;
      return same(
        `${name} table`,
        {
          hashKey: t.hashKey,
          rangeKey: t.rangeKey,
          streamEnabled: t.streamEnabled,
          view: t.streamViewType,
          ttl: t.ttl,
        },
        {
          hashKey: spec.hashKey,
          rangeKey: spec.rangeKey,
          streamEnabled: Boolean(spec.stream),
          view: spec.stream ? streamModes[spec.stream] : undefined,
          ttl: spec.ttl ? { attributeName: spec.ttl, enabled: true } : undefined,
        },
      );
    }),
  ];
}

/** Nothing is triggered (or allowed to loop) that the wiring does not list (counts over the whole stack). */
export function strayTriggerProblems(wiring: Wiring, synth: Synth): string[] {
  const triggers = Object.values(wiring.functions).flatMap((f) => f.triggers);
  const count = (kind: string) => triggers.filter((t) => t.kind === kind).length;
  const notificationEntries = synth
    .ofType(T.notification)
    .flatMap((n) => (n.inputs.lambdaFunctions ?? []) as unknown[]);
  const bucketsNotified = new Set(triggers.flatMap((t) => (t.kind === "s3" ? [t.bucket] : [])));
  return [
    ...same("SNS subscriptions", synth.ofType(T.subscription).length, count("sns")),
    ...same("S3 notification entries", notificationEntries.length, count("s3")),
    ...same("bucket notification configurations", synth.ofType(T.notification).length, bucketsNotified.size),
    ...same("stream mappings", synth.ofType(T.mapping).length, count("kinesis") + count("dynamodb")),
    ...same(
      "recursive loop configs",
      synth.ofType(T.recursion).length,
      Object.values(wiring.functions).filter((f) => f.selfContinuing).length,
    ),
  ];
}
