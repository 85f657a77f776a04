/**
 * The Lambda functions of the wiring, each with its dead-letter queue, its alarms, its async-invoke
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
/** A stream-triggered function whose records waited longer than this (IteratorAge, milliseconds) raises an alarm. */
export const iteratorAgeAlarmMs = 5 * 60_000;

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
  /** The function's alarms (see `createAlarms`). */
  alarms: FunctionAlarms;
  /** `recursiveLoop: "Allow"`, for a function the wiring marks `selfContinuing`. */
  recursion?: aws.lambda.FunctionRecursionConfig;
}

export interface FunctionAlarms {
  /** In ALARM while the dead-letter queue holds a message (until it is drained). */
  deadLetters: aws.cloudwatch.MetricAlarm;
  /** In ALARM for 5 minutes after each new dead letter: a failure while older ones wait is not silent. */
  newDeadLetters: aws.cloudwatch.MetricAlarm;
  /** Lambda could not deliver a discarded event to the dead-letter queue (a function with async or stream triggers). */
  deliveryFailures?: aws.cloudwatch.MetricAlarm;
  /** A stream-triggered function's records waited more than 5 minutes: its shard is stuck or behind. */
  iteratorAge?: aws.cloudwatch.MetricAlarm;
  /** Lambda refused to run the function (Throttles > 0 in 5 minutes): no concurrency left for it. */
  throttles: aws.cloudwatch.MetricAlarm;
}

export interface FunctionOptions {
  /** Topic the functions' alarms notify (alarm and back to OK); none when absent. */
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
    ...(spec.reservedConcurrency !== undefined ? { concurrency: { reserved: spec.reservedConcurrency } } : {}),
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

/**
 * A function's alarms, each notifying `topic` when it fires and when it is back to OK:
 * - `<Function>Dlq` holds a message (`ApproximateNumberOfMessagesVisible` > 0): stays in ALARM until the queue is
 *   drained, so on its own a second failure meanwhile would be silent; hence
 * - a new message reached `<Function>Dlq` in the last 5 minutes (`NumberOfMessagesSent` > 0; Lambda's on-failure
 *   destinations and Scheduler's dead-letter queue send with SendMessage, which this metric counts);
 * - Lambda failed to deliver a discarded event to that queue (`DestinationDeliveryFailures` > 0): the event is then
 *   lost, not dead-lettered; for a function with an on-failure destination (async invocations or a stream mapping);
 * - a stream-triggered function's oldest record was more than 5 minutes old when its batch was invoked (`IteratorAge`
 *   Maximum): a stuck shard (a failing record being retried, the function throttled or failing) before anything
 *   reaches the DLQ. IteratorAge is only reported when the function is invoked: missing data keeps the alarm's state
 *   (a quiet stream stays OK, a stuck one stays in ALARM);
 * - Lambda throttled the function (`Throttles` Sum > 0 in 5 minutes): nothing reserves concurrency, so the account's
 *   concurrency limit was used up (or the function's own reservation, where the wiring sets one). A throttled stream
 *   consumer's shard waits, failing nothing and dead-lettering nothing (`MaximumRecordAgeInSeconds` -1); a throttled
 *   async event is retried by Lambda up to its maximum event age, then dead-lettered. Missing data: not breaching.
 */
function createAlarms(
  name: string,
  spec: FunctionSpec,
  fn: sst.aws.Function,
  dlq: sst.aws.Queue,
  topic: sst.aws.SnsTopic | undefined,
): FunctionAlarms {
  const dlqName = deadLetterQueueOf(name);
  const actions = topic ? [topic.arn] : [];
  // Every alarm: above the threshold in one period; the same notifications, alarm and back to OK.
  type Common = "name" | "comparisonOperator" | "evaluationPeriods" | "alarmActions" | "okActions";
  const alarm = (logical: string, suffix: string, args: Omit<aws.cloudwatch.MetricAlarmArgs, Common>) =>
    new aws.cloudwatch.MetricAlarm(logical, {
      name: `${$app.name}-${$app.stage}-${suffix}`,
      comparisonOperator: "GreaterThanThreshold",
      evaluationPeriods: 1,
      alarmActions: actions,
      okActions: actions,
      ...args,
    });
  const queue = { QueueName: dlq.nodes.queue.name };
  const streamTriggered = spec.triggers.some((t) => t.kind === "kinesis" || t.kind === "dynamodb");
  const hasDestination = spec.async !== undefined || streamTriggered;
  return {
    deadLetters: alarm(`${dlqName}Alarm`, dlqName, {
      alarmDescription: `${name} gave up on events: they wait in ${dlqName} (in ALARM until it is drained). Inspect, fix, redrive.`,
      namespace: "AWS/SQS",
      metricName: "ApproximateNumberOfMessagesVisible",
      dimensions: queue,
      statistic: "Maximum",
      period: 60,
      threshold: 0,
      treatMissingData: "notBreaching",
    }),
    newDeadLetters: alarm(`${dlqName}NewMessagesAlarm`, `${dlqName}-new`, {
      alarmDescription: `${name} gave up on more events in the last 5 minutes: new messages in ${dlqName}, whatever waits there already.`,
      namespace: "AWS/SQS",
      metricName: "NumberOfMessagesSent",
      dimensions: queue,
      statistic: "Sum",
      period: 300,
      threshold: 0,
      treatMissingData: "notBreaching",
    }),
    throttles: alarm(`${name}ThrottlesAlarm`, `${name}-throttles`, {
      alarmDescription: `Lambda throttled ${name} in the last 5 minutes: the account's concurrency (or the function's reservation) was used up. Its stream shards wait and its async events are retried meanwhile. Check ConcurrentExecutions and the account's Lambda quota.`,
      namespace: "AWS/Lambda",
      metricName: "Throttles",
      dimensions: { FunctionName: fn.name },
      statistic: "Sum",
      period: 300,
      threshold: 0,
      treatMissingData: "notBreaching",
    }),
    ...(hasDestination
      ? {
          deliveryFailures: alarm(`${name}DeliveryFailuresAlarm`, `${name}-destination-delivery-failures`, {
            alarmDescription: `Lambda could not send events ${name} gave up on to ${dlqName}: those events are lost. Check the queue and the function's sqs:SendMessage.`,
            namespace: "AWS/Lambda",
            metricName: "DestinationDeliveryFailures",
            dimensions: { FunctionName: fn.name },
            statistic: "Sum",
            period: 300,
            threshold: 0,
            treatMissingData: "notBreaching",
          }),
        }
      : {}),
    ...(streamTriggered
      ? {
          iteratorAge: alarm(`${name}IteratorAgeAlarm`, `${name}-iterator-age`, {
            alarmDescription: `${name} is more than 5 minutes behind its stream: a record failing again and again, or the function throttled or failing. Records are kept for the stream's retention (24 h).`,
            namespace: "AWS/Lambda",
            metricName: "IteratorAge",
            dimensions: { FunctionName: fn.name },
            statistic: "Maximum",
            period: 300,
            threshold: iteratorAgeAlarmMs,
            treatMissingData: "ignore",
          }),
        }
      : {}),
  };
}

/** Creates each function with its dead-letter queue and its alarms. */
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
    const alarms = createAlarms(name, spec, fn, dlq, options.alarmTopic);
    // Lambda stops a chain of invocations through S3, SNS or SQS after about 16 hops unless told otherwise.
    const recursion = spec.selfContinuing
      ? new aws.lambda.FunctionRecursionConfig(`${name}Recursion`, { functionName: fn.name, recursiveLoop: "Allow" })
      : undefined;
    deployed[name] = { fn, dlq, alarms, ...(recursion ? { recursion } : {}) };
  }
  return deployed;
}

/** A dead-letter queue's policy: the topics a function is subscribed to may send it what they cannot deliver. */
export function deadLetterQueuePolicy(queueArn: string, topicArns: readonly string[]) {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "TopicsSendUndeliverable",
        Effect: "Allow",
        Principal: { Service: "sns.amazonaws.com" },
        Action: "sqs:SendMessage",
        Resource: queueArn,
        Condition: { ArnEquals: { "aws:SourceArn": [...topicArns] } },
      },
    ],
  };
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
  /** The topics each function is subscribed to: they may send to its dead-letter queue (the redrive policy). */
  const topicsOf = new Map<string, $util.Output<string>[]>();
  for (const [name, spec] of Object.entries(wiring.functions)) {
    const { fn, dlq } = required(deployed[name], `function ${name}`);
    for (const trigger of spec.triggers) {
      const subscriber = nameFor(sourceOf(trigger), name);
      switch (trigger.kind) {
        case "sns": {
          const topic = required(resources.topics[trigger.topic], `topic ${trigger.topic}`);
          topic.subscribe(subscriber, fn.arn, {
            filter: trigger.filterPolicy,
            transform: {
              subscription: {
                ...(trigger.filterPolicyScope ? { filterPolicyScope: trigger.filterPolicyScope } : {}),
                // A message SNS cannot hand to Lambda (the invoke refused: a permission or the function gone, which SNS
                // does not retry; or retries exhausted) goes to the function's dead-letter queue, not nowhere.
                redrivePolicy: dlq.arn.apply((arn) => JSON.stringify({ deadLetterTargetArn: arn })),
              },
            },
          });
          topicsOf.set(name, [...(topicsOf.get(name) ?? []), topic.arn]);
          break;
        }
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
  for (const [name, topicArns] of topicsOf) {
    const { dlq } = required(deployed[name], `function ${name}`);
    new aws.sqs.QueuePolicy(`${deadLetterQueueOf(name)}Policy`, {
      queueUrl: dlq.url,
      policy: $resolve([dlq.arn, ...topicArns]).apply(([queueArn, ...topics]) =>
        JSON.stringify(deadLetterQueuePolicy(queueArn as string, topics as string[])),
      ),
    });
  }
}
