/**
 * Step of `startLocalCloud`: every trigger of the wiring connected to its function, as Lambda connects them: S3
 * bucket notifications (routed from the object changes the S3 gateway observes), SNS subscriptions, and Kinesis and
 * DynamoDB stream mappings.
 */
import { deadLetterQueueOf, type S3EventName, type Trigger } from "@sluice/infra/wiring";
import { ACCOUNT_ID, APP, REGION } from "../names.ts";
import type { Clients, CreatedResources, WiringResources } from "../resources.ts";
import type { AsyncInvokeConfig } from "../runtime/async-invoke.ts";
import { eventMatches, keyMatches, type ObjectChange, s3EventRecord } from "../sources/s3-events.ts";
import { startSnsSubscription } from "../sources/sns-subscription.ts";
import { startStreamMapping } from "../sources/stream-mapping.ts";
import type { CloudEndpoints } from "./emulators.ts";
import { serviceCredentialsOf } from "./identities.ts";
import type { FunctionRuntime } from "./runtime.ts";

export interface TriggerOptions {
  spec: WiringResources;
  endpoints: CloudEndpoints;
  clients: Clients;
  resources: CreatedResources;
  runtime: FunctionRuntime;
  /** Stream mappings' retry pauses (`LocalCloudOptions.streamRetryDelayMs`); default the mapping's own. */
  streamRetryDelayMs?: { firstMs: number; maxMs: number };
}

export interface WiredTriggers {
  /** One per subscription and mapping, in wiring order: each resolves when its source has delivered everything. */
  idlers: Array<() => Promise<void>>;
  /** Invokes the functions whose bucket notifications match an object change. */
  routeObjectChange: (change: ObjectChange) => void;
}

/** A bucket notification: which changes of a bucket invoke which function. */
interface S3Notification {
  bucket: string;
  functionName: string;
  events: readonly S3EventName[];
  filterPrefix?: string;
  filterSuffix?: string;
  configurationId: string;
  asyncConfig: AsyncInvokeConfig;
}

/** Starts every subscription and mapping; each stop is pushed onto `stops` as soon as its source runs. */
export async function wireTriggers(options: TriggerOptions, stops: Array<() => Promise<void>>): Promise<WiredTriggers> {
  const { spec, resources } = options;
  const idlers: Array<() => Promise<void>> = [];
  const s3Notifications: S3Notification[] = [];

  for (const [functionName, fn] of Object.entries(spec.functions)) {
    const asyncConfig = {
      maximumRetryAttempts: fn.async?.maximumRetryAttempts ?? 2,
      maximumEventAgeInSeconds: fn.async?.maximumEventAgeInSeconds ?? 21600,
      onFailure: deadLetterQueueOf(functionName),
    } as const;
    for (const trigger of fn.triggers) {
      if (trigger.kind === "s3") {
        const bucket = resources.buckets[trigger.bucket];
        if (!bucket) throw new Error(`${functionName}: unknown bucket ${trigger.bucket}`);
        s3Notifications.push({
          bucket,
          functionName,
          events: trigger.events,
          filterPrefix: trigger.filterPrefix,
          filterSuffix: trigger.filterSuffix,
          configurationId: `${functionName}-${trigger.bucket}`,
          asyncConfig,
        });
        continue;
      }
      const source = await startSource(options, functionName, trigger, asyncConfig);
      stops.push(() => source.stop());
      idlers.push(() => source.idle());
    }
  }

  return {
    idlers,
    routeObjectChange: (change) => {
      for (const n of s3Notifications) {
        if (n.bucket !== change.bucket) continue;
        if (!eventMatches(n.events, change.eventName) || !keyMatches(change.key, n.filterPrefix, n.filterSuffix))
          continue;
        const record = s3EventRecord(change, { region: REGION, configurationId: n.configurationId });
        options.runtime.asyncInvoker.invokeAsync(n.functionName, { Records: [record] }, n.asyncConfig);
      }
    },
  };
}

/** Subscribes the function to its topic, or maps its stream to it. */
async function startSource(
  options: TriggerOptions,
  functionName: string,
  trigger: Exclude<Trigger, { kind: "s3" }>,
  asyncConfig: AsyncInvokeConfig,
): Promise<{ stop(): Promise<void>; idle(): Promise<void> }> {
  const { resources, runtime, endpoints } = options;
  if (trigger.kind === "sns") {
    const topicArn = resources.topics[trigger.topic];
    if (!topicArn) throw new Error(`${functionName}: unknown topic ${trigger.topic}`);
    return startSnsSubscription({
      sns: options.clients.sns,
      sqs: options.clients.sqs,
      topicArn,
      functionName,
      filterPolicy: trigger.filterPolicy,
      filterPolicyScope: trigger.filterPolicyScope,
      asyncInvoker: runtime.asyncInvoker,
      asyncConfig,
      queuePrefix: `${APP.name}-${APP.stage}-sns-`,
    });
  }
  const source = trigger.kind === "kinesis" ? resources.streams[trigger.stream] : resources.tables[trigger.table];
  if (!source) throw new Error(`${functionName}: unknown ${trigger.kind} source`);
  return startStreamMapping({
    kind: trigger.kind,
    source,
    functionName,
    batch: trigger.batch,
    invoker: runtime.host,
    deadLetter: runtime.deadLetter,
    dlqName: deadLetterQueueOf(functionName),
    kinesisEndpoint: endpoints.kinesis,
    dynamodbEndpoint: endpoints.dynamodb,
    // Lambda polls a stream with the function's role.
    pollCredentials: serviceCredentialsOf(functionName),
    region: REGION,
    accountId: ACCOUNT_ID,
    ...(options.streamRetryDelayMs
      ? {
          timing: {
            retryDelayMs: options.streamRetryDelayMs.firstMs,
            maxRetryDelayMs: options.streamRetryDelayMs.maxMs,
          },
        }
      : {}),
  });
}
