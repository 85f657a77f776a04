/**
 * Lambda's event-source mapping for Kinesis data streams and DynamoDB streams: one engine, two record adapters
 * (`stream-sources.ts`), a poller per shard (`shard-poller.ts`) and the settlement of each invocation's batch
 * (`batch-settlement.ts`), following what AWS documents for stream sources:
 *
 * - one poller per shard, processing one batch at a time, so records of a shard reach the function in order;
 *   shards appearing later (resharding) are found and started once their parents are fully processed;
 * - starting position `TRIM_HORIZON` or `LATEST`; batch size; batching window (records are gathered for up to
 *   `maximumBatchingWindowInSeconds` unless the batch fills first); the 6 MB payload limit;
 * - `ReportBatchItemFailures`: the checkpoint moves to just before the lowest failed sequence number and the rest is
 *   retried; an empty, null or unknown `itemIdentifier` fails the whole batch;
 * - function errors and timeouts: retried up to `maximumRetryAttempts` (-1: until the records expire); with
 *   `bisectBatchOnFunctionError` a failed batch is split in two and each half retried, which does not count as a
 *   retry; records older than `maximumRecordAgeInSeconds` are not invoked again;
 * - discarded records go to the on-failure destination as the record AWS sends there (shard, sequence range,
 *   arrival times, condition), and processing continues past them;
 * - tumbling windows aligned on record arrival time, `state` carried from one invocation of a window to the next,
 *   and a final invocation (`isFinalInvokeForWindow`, no records) when the window ends.
 */

import { randomUUID } from "node:crypto";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBStreamsClient } from "@aws-sdk/client-dynamodb-streams";
import type { KinesisClient } from "@aws-sdk/client-kinesis";
import type { StreamBatchOptions } from "@sluice/infra/wiring";
import { createKinesisClient } from "../emulators/kinesalite.ts";
import type { DeadLetterSink, InvokeResult, Invoker } from "../runtime/types.ts";
import { type Discard, onFailureRecord } from "./batch-settlement.ts";
import { ShardPoller, type ShardPollerHost } from "./shard-poller.ts";
import {
  dynamodbSource,
  kinesisSource,
  type ShardInfo,
  type ShardPosition,
  type StreamSource,
} from "./stream-sources.ts";

export interface StreamMappingOptions {
  kind: "kinesis" | "dynamodb";
  /** Physical name of the Kinesis stream, or of the DynamoDB table whose stream is read. */
  source: string;
  /** The function to invoke (its name for the {@link Invoker}). */
  functionName: string;
  batch: StreamBatchOptions;
  invoker: Invoker;
  deadLetter: DeadLetterSink;
  /** On-failure destination (queue name for the {@link DeadLetterSink}); absent: discarded records are dropped. */
  dlqName?: string;
  region: string;
  accountId: string;
  /** Endpoints, used to build clients not given in `clients`. */
  kinesisEndpoint?: string;
  dynamodbEndpoint?: string;
  /** Default: `dynamodbEndpoint` (DynamoDB Local serves both APIs). */
  dynamodbStreamsEndpoint?: string;
  /**
   * Credentials the stream is read with: the function's, as Lambda polls with the function's role. The table lookup
   * that finds a DynamoDB stream is configuration, not polling, and uses the local cloud's own. Default: those.
   */
  pollCredentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  clients?: { kinesis?: KinesisClient; dynamodb?: DynamoDBClient; dynamodbStreams?: DynamoDBStreamsClient };
  /** `invokeIdentityArn` of Kinesis records. Default `arn:aws:iam::<account>:role/<functionName>-role`. */
  invokeIdentityArn?: string;
  timing?: StreamMappingTiming;
  /** Where problems of the mapping itself are reported. Default `console.error`. */
  onError?: (message: string) => void;
}

export interface StreamMappingTiming {
  /** Pause between reads of a caught-up shard. AWS polls Kinesis once a second and DynamoDB 4 times. Default 200. */
  pollIntervalMs?: number;
  /** How often shards are listed, to find new ones. Default 1000. */
  discoveryIntervalMs?: number;
  /** First delay before retrying a failed batch; doubles on each retry. Default 200. */
  retryDelayMs?: number;
  /** Cap of the retry delay. Default 5000. */
  maxRetryDelayMs?: number;
}

export interface StreamMapping {
  /** The stream ARN events carry. */
  eventSourceArn: string;
  /**
   * Resolves when every shard is caught up: every record written before the call has been handed to the function
   * (or discarded to the on-failure destination) and nothing is in flight. With `closeWindows`, it also waits for
   * open tumbling windows to end and for their final invocation.
   */
  idle(options?: { closeWindows?: boolean }): Promise<void>;
  /** Stops polling; waits for an invocation in flight. */
  stop(): Promise<void>;
}

/**
 * Starts an event-source mapping from a Kinesis stream or a DynamoDB table's stream to a function. Resolves once the
 * shards have been listed and their iterators taken, so records written afterwards are seen even with `LATEST`.
 */
export async function startStreamMapping(options: StreamMappingOptions): Promise<StreamMapping> {
  const owned: Array<{ destroy(): void }> = [];
  const source = await openSource(options, owned);
  const mapping = new StreamMappingEngine(options, source, () => {
    for (const client of owned) client.destroy();
  });
  try {
    await mapping.start();
  } catch (err) {
    await mapping.stop();
    throw err;
  }
  return {
    eventSourceArn: source.eventSourceArn,
    idle: (idleOptions) => mapping.idle(idleOptions?.closeWindows ?? false),
    stop: () => mapping.stop(),
  };
}

async function openSource(options: StreamMappingOptions, owned: Array<{ destroy(): void }>): Promise<StreamSource> {
  const credentials = { accessKeyId: "local", secretAccessKey: "local" };
  const pollCredentials = options.pollCredentials ?? credentials;
  if (options.kind === "kinesis") {
    let client = options.clients?.kinesis;
    if (!client) {
      if (!options.kinesisEndpoint)
        throw new Error("a Kinesis stream mapping needs `clients.kinesis` or `kinesisEndpoint`");
      client = createKinesisClient(options.kinesisEndpoint, { region: options.region, credentials: pollCredentials });
      owned.push(client);
    }
    return kinesisSource({
      client,
      streamName: options.source,
      region: options.region,
      accountId: options.accountId,
      invokeIdentityArn:
        options.invokeIdentityArn ?? `arn:aws:iam::${options.accountId}:role/${options.functionName}-role`,
    });
  }
  let dynamodb = options.clients?.dynamodb;
  let streams = options.clients?.dynamodbStreams;
  const endpoint = options.dynamodbEndpoint;
  if (!dynamodb) {
    if (!endpoint) throw new Error("a DynamoDB stream mapping needs `clients.dynamodb` or `dynamodbEndpoint`");
    dynamodb = new DynamoDBClient({ region: options.region, endpoint, credentials });
    owned.push(dynamodb);
  }
  if (!streams) {
    const streamsEndpoint = options.dynamodbStreamsEndpoint ?? endpoint;
    if (!streamsEndpoint) throw new Error("a DynamoDB stream mapping needs `clients.dynamodbStreams` or an endpoint");
    streams = new DynamoDBStreamsClient({
      region: options.region,
      endpoint: streamsEndpoint,
      credentials: pollCredentials,
    });
    owned.push(streams);
  }
  return dynamodbSource({ dynamodb, streams, tableName: options.source, region: options.region });
}

/** Finds a stream's shards, runs a poller for each, and is what the pollers call to leave their shard. */
class StreamMappingEngine implements ShardPollerHost {
  readonly pollers = new Map<string, ShardPoller>();
  private readonly known = new Map<string, ShardInfo>();
  private readonly initialShards = new Set<string>();
  private stopped = false;
  private discoveryTimer?: NodeJS.Timeout;
  private discovering?: Promise<void>;
  private rediscovery?: Promise<void>;
  readonly timing: Required<StreamMappingTiming>;

  constructor(
    readonly options: StreamMappingOptions,
    readonly source: StreamSource,
    private readonly release: () => void,
  ) {
    this.timing = {
      pollIntervalMs: options.timing?.pollIntervalMs ?? 200,
      discoveryIntervalMs: options.timing?.discoveryIntervalMs ?? 1000,
      retryDelayMs: options.timing?.retryDelayMs ?? 200,
      maxRetryDelayMs: options.timing?.maxRetryDelayMs ?? 5000,
    };
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  get batch(): StreamBatchOptions {
    return this.options.batch;
  }

  shardFinished(): void {
    void this.discover(false);
  }

  report(message: string): void {
    const line = `[sluice] ${this.options.functionName} <- ${this.options.kind}:${this.options.source}: ${message}`;
    (this.options.onError ?? console.error)(line);
  }

  async start(): Promise<void> {
    // A stream that is still being created answers "not found" or "in use" for a moment.
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        await this.discover(true);
        break;
      } catch (err) {
        const name = (err as Error).name;
        const transient = name === "ResourceNotFoundException" || name === "ResourceInUseException";
        if (!transient || Date.now() > deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    const tick = () => {
      this.discoveryTimer = setTimeout(() => {
        void this.discover(false).finally(() => {
          if (!this.stopped) tick();
        });
      }, this.timing.discoveryIntervalMs);
    };
    tick();
  }

  /** Lists shards and starts a poller for each new shard whose parents have been fully processed. */
  discover(initial: boolean): Promise<void> {
    // A call during a listing runs again after it: the caller may know of a shard that just finished.
    if (this.discovering) {
      this.rediscovery ??= this.discovering.then(() => {
        this.rediscovery = undefined;
        return this.discover(false);
      });
      return this.rediscovery;
    }
    this.discovering = (async () => {
      try {
        const shards = await this.source.listShards();
        for (const shard of shards) {
          if (this.known.has(shard.shardId)) continue;
          this.known.set(shard.shardId, shard);
          if (initial) this.initialShards.add(shard.shardId);
        }
        for (const shard of this.known.values()) {
          if (this.pollers.has(shard.shardId) || this.stopped) continue;
          const parents = [shard.parentShardId, shard.adjacentParentShardId].filter(
            (id): id is string => id !== undefined && this.known.has(id),
          );
          if (!parents.every((id) => this.pollers.get(id)?.finished)) continue;
          // Shards found later (children of a reshard) are read from their start, as Lambda does.
          const position: ShardPosition = this.initialShards.has(shard.shardId)
            ? { type: this.options.batch.startingPosition }
            : { type: "TRIM_HORIZON" };
          const poller = new ShardPoller(this, shard.shardId, position);
          await poller.open();
          if (this.stopped) return;
          this.pollers.set(shard.shardId, poller);
          poller.run();
        }
      } catch (err) {
        if (initial) throw err;
        if (!this.stopped) this.report(`listing shards failed: ${(err as Error).message}`);
      } finally {
        this.discovering = undefined;
      }
    })();
    return this.discovering;
  }

  async idle(closeWindows: boolean): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      await this.discover(false);
      const started = this.pollers.size;
      await Promise.all([...this.pollers.values()].map((poller) => poller.caughtUp(closeWindows)));
      await this.discover(false);
      if (this.pollers.size === started) return;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.discoveryTimer);
    await this.discovering?.catch(() => {});
    await Promise.all([...this.pollers.values()].map((poller) => poller.stop()));
    this.release();
  }

  async discard(shardId: string, discard: Discard): Promise<void> {
    const { options } = this;
    const failure = onFailureRecord(discard, {
      kind: options.kind,
      shardId,
      streamArn: this.source.eventSourceArn,
      functionArn: options.invoker.functionArn(options.functionName),
      requestId: randomUUID(),
    });
    if (!options.dlqName) {
      const count = discard.batch.records.length;
      this.report(`discarded ${count} record(s) of ${shardId} (${discard.condition}); no on-failure destination`);
      return;
    }
    try {
      await options.deadLetter.send(options.dlqName, failure);
    } catch (err) {
      this.report(`could not send a failure record to ${options.dlqName}: ${(err as Error).message}`);
    }
  }

  async invoke(event: unknown): Promise<InvokeResult> {
    try {
      return await this.options.invoker.invoke(this.options.functionName, event);
    } catch (err) {
      return {
        requestId: randomUUID(),
        status: "error",
        error: { errorType: "ServiceException", errorMessage: (err as Error).message },
        durationMs: 0,
      };
    }
  }
}
