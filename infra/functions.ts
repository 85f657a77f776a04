/**
 * The Lambda functions of the wiring, each with its dead-letter queue, the alarm on that queue, its async-invoke
 * configuration, its recursive-loop setting (self-continuing functions), and its triggers (SNS subscriptions, S3 notifications, Kinesis and DynamoDB stream mappings).
 *
 * Each function is built ONCE and every trigger subscribes it by ARN: giving a subscriber `FunctionArgs` would make
 * SST build one more function per trigger. Subscribing by ARN also means SST grants nothing on the source, so the
 * stream-polling permissions come from infra/permissions.ts with the rest of the role.
 */
import type { DeployedCatalog } from "./catalog.ts";
import { type ArnsOf, functionStatements } from "./permissions.ts";
import type { DeployedEndpoint } from "./pricing.ts";
import {
  DEAD_LETTER_QUEUE_URL,
  deadLetterQueueOf,
  type FunctionSpec,
  type ResourceName,
  type S3EventName,
  type StreamBatchOptions,
  type Trigger,
  type Wiring,
} from "./wiring.ts";

/** Same major as the Node the local cloud runs handlers on (root package.json `node` devDependency). */
export const lambdaRuntime = "nodejs22.x";
/** Graviton: about 20% cheaper per GB-second than x86_64, and the handlers are plain JavaScript. */
export const lambdaArchitecture = "arm64";
/** A dead-letter queue keeps what it receives for SQS's maximum, 14 days: time to notice, fix and redrive. */
export const deadLetterRetentionSeconds = 1_209_600;

type Arn = $util.Input<string>;

/** The data resources functions are linked to and triggered by, keyed by wiring (component) name. */
export interface DataResources {
  buckets: Readonly<Record<string, sst.aws.Bucket>>;
  topics: Readonly<Record<string, sst.aws.SnsTopic>>;
  /** The KMS key the topics are encrypted with (publishers need it). */
  topicKey?: aws.kms.Key;
  streams: Readonly<Record<string, sst.aws.KinesisStream>>;
  tables: Readonly<Record<string, sst.aws.Dynamo>>;
  endpoints: Readonly<Record<string, DeployedEndpoint>>;
  /** Glue catalogs (their databases); absent when the wiring has none. */
  catalogs?: Readonly<Record<string, DeployedCatalog>>;
}

export interface DeployedFunction {
  fn: sst.aws.Function;
  /** `<Function>Dlq`: on-failure destination of async invocations and of stream mappings. */
  dlq: sst.aws.Queue;
  /** Fires as soon as the dead-letter queue holds a message. */
  alarm: aws.cloudwatch.MetricAlarm;
  /** `recursiveLoop: "Allow"`, for a function the wiring marks `selfContinuing`. */
  recursion?: aws.lambda.FunctionRecursionConfig;
}

export interface FunctionOptions {
  /** Topic the dead-letter alarms notify (alarm and back to OK); none when absent. */
  alarmTopic?: sst.aws.SnsTopic;
}

/** The ARNs IAM statements may name, from the created resources. */
export function resourceArns(resources: DataResources): ArnsOf<Arn> {
  const map = <T, R>(record: Readonly<Record<string, T>>, f: (value: T) => R) =>
    Object.fromEntries(Object.entries(record).map(([name, value]) => [name, f(value)]));
  return {
    buckets: map(resources.buckets, (bucket) => ({
      bucket: bucket.arn,
      objects: $interpolate`${bucket.arn}/*`,
      objectsUnder: (prefix: string) => $interpolate`${bucket.arn}/${prefix}*`,
    })),
    topics: map(resources.topics, (topic) => topic.arn),
    ...(resources.topicKey ? { topicKey: resources.topicKey.arn } : {}),
    streams: map(resources.streams, (stream) => stream.arn),
    tables: map(resources.tables, (table) => ({
      table: table.arn,
      indexes: $interpolate`${table.arn}/index/*`,
      stream: table.nodes.table.streamArn,
    })),
    endpoints: map(resources.endpoints, (endpoint) => endpoint.arn),
    catalogs: map(resources.catalogs ?? {}, (catalog) => catalog.arns),
    account: {
      arn: (service, resource) =>
        $interpolate`arn:${aws.getPartitionOutput().partition}:${service}:${aws.getRegionOutput().region}:${aws.getCallerIdentityOutput().accountId}:${resource}`,
      app: { name: $app.name, stage: $app.stage },
    },
  };
}

function linkableOf(resources: DataResources, name: ResourceName): unknown {
  const found =
    resources.buckets[name] ??
    resources.topics[name] ??
    resources.streams[name] ??
    resources.tables[name] ??
    resources.endpoints[name]?.link ??
    resources.catalogs?.[name]?.link;
  if (!found) throw new Error(`no resource named ${name} was created`);
  return found;
}

/**
 * The `sst.aws.Function` arguments of one wiring function: everything but the bundle comes from the wiring, and its
 * dead-letter queue (`dlq`: its ARN for the role and the on-failure destination, its URL in `DEAD_LETTER_QUEUE_URL`).
 */
export function functionArgs(
  wiring: Wiring,
  name: string,
  spec: FunctionSpec,
  resources: DataResources,
  dlq: { arn: Arn; url: Arn },
): sst.aws.FunctionArgs {
  const dlqArn = dlq.arn;
  return {
    handler: spec.handler,
    description: spec.description,
    runtime: lambdaRuntime,
    architecture: lambdaArchitecture,
    timeout: `${spec.timeout} seconds`,
    memory: `${spec.memory} MB`,
    environment: { ...spec.environment, [DEAD_LETTER_QUEUE_URL]: dlq.url },
    link: spec.links.map((resource) => linkableOf(resources, resource)),
    permissions: functionStatements(wiring, name, spec, resourceArns(resources), dlqArn),
    // `retries` makes SST create the aws.lambda.FunctionEventInvokeConfig; the transform completes it.
    ...(spec.async ? { retries: spec.async.maximumRetryAttempts } : {}),
    transform: {
      role: lambdaOnlyTrust,
      ...(spec.async
        ? {
            eventInvokeConfig: {
              maximumEventAgeInSeconds: spec.async.maximumEventAgeInSeconds,
              destinationConfig: { onFailure: { destination: dlqArn } },
            },
          }
        : {}),
    },
  };
}

/** Only the Lambda service may assume a function's role. */
export const lambdaTrustPolicy = {
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" }],
};

/**
 * SST's role trust also lets the account root assume every function role, always (it tests `!dev` on an Output,
 * which is never falsy). `sst dev` needs that (the local worker runs with the function's role); a deployed stage
 * does not, so outside `sst dev` the trust is the Lambda service alone.
 */
function lambdaOnlyTrust(args: aws.iam.RoleArgs): undefined {
  if (!$dev) args.assumeRolePolicy = JSON.stringify(lambdaTrustPolicy);
  return undefined;
}

/** A stream mapping's AWS settings, exactly the wiring's batch options, failing over to `dlqArn`. */
export function eventSourceMappingArgs(
  batch: StreamBatchOptions,
  dlqArn: Arn,
): Partial<aws.lambda.EventSourceMappingArgs> {
  return {
    batchSize: batch.batchSize,
    maximumBatchingWindowInSeconds: batch.maximumBatchingWindowInSeconds,
    startingPosition: batch.startingPosition,
    bisectBatchOnFunctionError: batch.bisectBatchOnFunctionError,
    maximumRetryAttempts: batch.maximumRetryAttempts,
    maximumRecordAgeInSeconds: batch.maximumRecordAgeInSeconds,
    functionResponseTypes: batch.reportBatchItemFailures ? ["ReportBatchItemFailures"] : [],
    ...(batch.tumblingWindowInSeconds !== undefined ? { tumblingWindowInSeconds: batch.tumblingWindowInSeconds } : {}),
    ...(batch.parallelizationFactor !== undefined ? { parallelizationFactor: batch.parallelizationFactor } : {}),
    destinationConfig: { onFailure: { destinationArn: dlqArn } },
  };
}

/** Creates each function with its dead-letter queue and the alarm on it. */
export function createFunctions(
  wiring: Wiring,
  resources: DataResources,
  options: FunctionOptions = {},
): Record<string, DeployedFunction> {
  const deployed: Record<string, DeployedFunction> = {};
  for (const [name, spec] of Object.entries(wiring.functions)) {
    const dlqName = deadLetterQueueOf(name);
    const dlq = new sst.aws.Queue(dlqName, {
      transform: { queue: { messageRetentionSeconds: deadLetterRetentionSeconds, sqsManagedSseEnabled: true } },
    });
    const fn = new sst.aws.Function(name, functionArgs(wiring, name, spec, resources, { arn: dlq.arn, url: dlq.url }));
    const actions = options.alarmTopic ? [options.alarmTopic.arn] : [];
    const alarm = new aws.cloudwatch.MetricAlarm(`${dlqName}Alarm`, {
      name: `${$app.name}-${$app.stage}-${dlqName}`,
      alarmDescription: `${name} failed on events it has given up on: they wait in ${dlqName}. Inspect, fix, redrive.`,
      namespace: "AWS/SQS",
      metricName: "ApproximateNumberOfMessagesVisible",
      dimensions: { QueueName: dlq.nodes.queue.name },
      statistic: "Maximum",
      period: 60,
      evaluationPeriods: 1,
      threshold: 0,
      comparisonOperator: "GreaterThanThreshold",
      treatMissingData: "notBreaching",
      alarmActions: actions,
      okActions: actions,
    });
    // Lambda stops a chain of invocations through S3, SNS or SQS after about 16 hops unless told otherwise.
    const recursion = spec.selfContinuing
      ? new aws.lambda.FunctionRecursionConfig(`${name}Recursion`, { functionName: fn.name, recursiveLoop: "Allow" })
      : undefined;
    deployed[name] = { fn, dlq, alarm, ...(recursion ? { recursion } : {}) };
  }
  return deployed;
}

/** Subscriber names: the function's name, numbered when it subscribes to the same source more than once. */
function subscriberNamer() {
  const seen = new Map<string, number>();
  return (source: string, fn: string) => {
    const count = (seen.get(`${source}/${fn}`) ?? 0) + 1;
    seen.set(`${source}/${fn}`, count);
    return count === 1 ? fn : `${fn}${count}`;
  };
}

function sourceOf(trigger: Trigger): string {
  switch (trigger.kind) {
    case "s3":
      return trigger.bucket;
    case "sns":
      return trigger.topic;
    case "kinesis":
      return trigger.stream;
    case "dynamodb":
      return trigger.table;
  }
}

interface BucketNotification {
  name: string;
  function: Arn;
  events: S3EventName[];
  filterPrefix?: string;
  filterSuffix?: string;
}

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what} was not created`);
  return value;
}

/**
 * Wires every trigger of every function. S3 notifications are collected per bucket and set with ONE `notify` call
 * (a bucket has a single notification configuration; SST refuses a second call).
 */
export function subscribeTriggers(
  wiring: Wiring,
  resources: DataResources,
  deployed: Readonly<Record<string, DeployedFunction>>,
): void {
  const nameFor = subscriberNamer();
  const notifications = new Map<string, BucketNotification[]>();
  for (const [name, spec] of Object.entries(wiring.functions)) {
    const { fn, dlq } = required(deployed[name], `function ${name}`);
    for (const trigger of spec.triggers) {
      const subscriber = nameFor(sourceOf(trigger), name);
      switch (trigger.kind) {
        case "sns":
          required(resources.topics[trigger.topic], `topic ${trigger.topic}`).subscribe(subscriber, fn.arn, {
            filter: trigger.filterPolicy,
            ...(trigger.filterPolicyScope
              ? { transform: { subscription: { filterPolicyScope: trigger.filterPolicyScope } } }
              : {}),
          });
          break;
        case "s3": {
          notifications.set(trigger.bucket, [
            ...(notifications.get(trigger.bucket) ?? []),
            {
              name: subscriber,
              function: fn.arn,
              events: [...trigger.events],
              filterPrefix: trigger.filterPrefix,
              filterSuffix: trigger.filterSuffix,
            },
          ]);
          break;
        }
        case "kinesis":
          required(resources.streams[trigger.stream], `stream ${trigger.stream}`).subscribe(subscriber, fn.arn, {
            transform: { eventSourceMapping: eventSourceMappingArgs(trigger.batch, dlq.arn) },
          });
          break;
        case "dynamodb":
          required(resources.tables[trigger.table], `table ${trigger.table}`).subscribe(subscriber, fn.arn, {
            transform: { eventSourceMapping: eventSourceMappingArgs(trigger.batch, dlq.arn) },
          });
          break;
      }
    }
  }
  for (const [bucket, list] of notifications) {
    required(resources.buckets[bucket], `bucket ${bucket}`).notify({ notifications: list });
  }
}
