/**
 * The JSON Lambda exchanges with stream sources, shaped exactly as AWS shapes it: the Kinesis and DynamoDB stream
 * records of an invocation event, the tumbling-window envelope, and the record sent to an on-failure destination
 * when a batch is discarded. Pure functions: `stream-records.test.ts` compares them field by field with captured
 * AWS events.
 */
import type { AttributeValue, StreamRecord as DynamoDbStreamRecord } from "@aws-sdk/client-dynamodb-streams";

/** A record read from a shard, ready to be put in an event. */
export interface ShardRecord {
  sequenceNumber: string;
  /** Approximate arrival (Kinesis) or creation (DynamoDB) time, epoch ms: drives windows and record age. */
  arrivalMs: number;
  /** The record as the function receives it. */
  event: unknown;
  /** Approximate size in the invocation payload (bytes of JSON). */
  size: number;
}

/** `arn:aws:kinesis:<region>:<account>:stream/<name>` */
export function kinesisStreamArn(region: string, accountId: string, streamName: string): string {
  return `arn:aws:kinesis:${region}:${accountId}:stream/${streamName}`;
}

/** A Kinesis record as read by GetRecords (SDK v3 shape). */
export interface KinesisRecordInput {
  SequenceNumber?: string;
  ApproximateArrivalTimestamp?: Date;
  Data?: Uint8Array;
  PartitionKey?: string;
}

/** One entry of `event.Records` for a Kinesis stream. */
export function kinesisEventRecord(
  record: KinesisRecordInput,
  context: { shardId: string; region: string; eventSourceArn: string; invokeIdentityArn: string },
) {
  const sequenceNumber = record.SequenceNumber ?? "";
  const arrival = record.ApproximateArrivalTimestamp?.getTime() ?? Date.now();
  return {
    kinesis: {
      kinesisSchemaVersion: "1.0",
      partitionKey: record.PartitionKey ?? "",
      sequenceNumber,
      data: Buffer.from(record.Data ?? new Uint8Array()).toString("base64"),
      // Epoch seconds with the millisecond fraction, e.g. 1545084650.987.
      approximateArrivalTimestamp: arrival / 1000,
    },
    eventSource: "aws:kinesis",
    eventVersion: "1.0",
    eventID: `${context.shardId}:${sequenceNumber}`,
    eventName: "aws:kinesis:record",
    invokeIdentityArn: context.invokeIdentityArn,
    awsRegion: context.region,
    eventSourceARN: context.eventSourceArn,
  };
}

/** A DynamoDB stream record as read by GetRecords (SDK v3 shape). */
export interface DynamoDbRecordInput {
  eventID?: string;
  eventName?: string;
  eventVersion?: string;
  dynamodb?: DynamoDbStreamRecord;
  userIdentity?: { PrincipalId?: string; Type?: string };
}

/**
 * One entry of `event.Records` for a DynamoDB stream. `creationSeconds` is the record's creation time in whole epoch
 * seconds (AWS's precision). Event ids are 32 hex digits on AWS; DynamoDB Local's UUIDs are turned into that form.
 */
export function dynamodbEventRecord(
  record: DynamoDbRecordInput,
  context: { region: string; eventSourceArn: string; creationSeconds: number },
) {
  const stream = record.dynamodb ?? {};
  const dynamodb: Record<string, unknown> = { ApproximateCreationDateTime: context.creationSeconds };
  if (stream.Keys) dynamodb.Keys = toWireItem(stream.Keys);
  if (stream.NewImage) dynamodb.NewImage = toWireItem(stream.NewImage);
  if (stream.OldImage) dynamodb.OldImage = toWireItem(stream.OldImage);
  dynamodb.SequenceNumber = stream.SequenceNumber ?? "";
  dynamodb.SizeBytes = stream.SizeBytes ?? 0;
  dynamodb.StreamViewType = stream.StreamViewType ?? "NEW_AND_OLD_IMAGES";
  const event: Record<string, unknown> = {
    eventID: (record.eventID ?? "").replaceAll("-", ""),
    eventName: record.eventName ?? "",
    eventVersion: record.eventVersion ?? "1.1",
    eventSource: "aws:dynamodb",
    awsRegion: context.region,
    dynamodb,
    eventSourceARN: context.eventSourceArn,
  };
  // TTL deletions carry the service identity.
  if (record.userIdentity) {
    event.userIdentity = { type: record.userIdentity.Type, principalId: record.userIdentity.PrincipalId };
  }
  return event;
}

/** Attribute values in their wire (and Lambda event) form: binary as base64 strings. */
export function toWireItem(item: Record<string, AttributeValue>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(item)) out[name] = toWireValue(value);
  return out;
}

function toWireValue(value: AttributeValue): unknown {
  if (value.B !== undefined) return { B: Buffer.from(value.B).toString("base64") };
  if (value.BS !== undefined) return { BS: value.BS.map((b) => Buffer.from(b).toString("base64")) };
  if (value.M !== undefined) return { M: toWireItem(value.M) };
  if (value.L !== undefined) return { L: value.L.map(toWireValue) };
  const { $unknown: _, ...rest } = value as AttributeValue & { $unknown?: unknown };
  return rest;
}

/** The tumbling window (ISO-8601 start and end, whole seconds) a record that arrived at `arrivalMs` falls into. */
export function windowOf(arrivalMs: number, windowSeconds: number): { startMs: number; endMs: number } {
  const size = windowSeconds * 1000;
  const startMs = Math.floor(arrivalMs / size) * size;
  return { startMs, endMs: startMs + size };
}

/** `2020-12-09T07:04:00Z`: the format of `window.start` / `window.end`. */
export function isoSeconds(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

/** The invocation event of a stream mapping with a tumbling window. */
export function windowEvent(input: {
  records: readonly unknown[];
  window: { startMs: number; endMs: number };
  state: unknown;
  shardId: string;
  eventSourceArn: string;
  isFinalInvokeForWindow: boolean;
  isWindowTerminatedEarly: boolean;
}) {
  return {
    Records: input.records,
    window: { start: isoSeconds(input.window.startMs), end: isoSeconds(input.window.endMs) },
    state: input.state,
    shardId: input.shardId,
    eventSourceARN: input.eventSourceArn,
    isFinalInvokeForWindow: input.isFinalInvokeForWindow,
    isWindowTerminatedEarly: input.isWindowTerminatedEarly,
  };
}

export type FailureCondition = "RetryAttemptsExhausted" | "RecordAgeExceeded";

/** What AWS sends to a stream mapping's on-failure destination when it discards a batch. */
export interface StreamFailureRecord {
  requestContext: {
    requestId: string;
    functionArn: string;
    condition: FailureCondition;
    approximateInvokeCount: number;
  };
  responseContext: { statusCode: number; executedVersion: string; functionError?: string };
  version: "1.0";
  timestamp: string;
  KinesisBatchInfo?: StreamBatchInfo;
  DDBStreamBatchInfo?: StreamBatchInfo;
}

export interface StreamBatchInfo {
  shardId: string;
  startSequenceNumber: string;
  endSequenceNumber: string;
  approximateArrivalOfFirstRecord: string;
  approximateArrivalOfLastRecord: string;
  batchSize: number;
  streamArn: string;
}

/**
 * The on-failure record of discarded records (one contiguous run of a shard). Kinesis times carry milliseconds;
 * DynamoDB's are whole seconds, as AWS writes them.
 */
export function streamFailureRecord(input: {
  kind: "kinesis" | "dynamodb";
  records: readonly ShardRecord[];
  shardId: string;
  streamArn: string;
  functionArn: string;
  condition: FailureCondition;
  requestId: string;
  approximateInvokeCount: number;
  /** Set when the last invocation ended in a function error or timeout. */
  functionError?: string;
  now?: number;
}): StreamFailureRecord {
  const first = input.records[0];
  const last = input.records[input.records.length - 1];
  const time = (ms: number) => (input.kind === "kinesis" ? new Date(ms).toISOString() : isoSeconds(ms));
  const info: StreamBatchInfo = {
    shardId: input.shardId,
    startSequenceNumber: first?.sequenceNumber ?? "",
    endSequenceNumber: last?.sequenceNumber ?? "",
    approximateArrivalOfFirstRecord: time(first?.arrivalMs ?? 0),
    approximateArrivalOfLastRecord: time(last?.arrivalMs ?? 0),
    batchSize: input.records.length,
    streamArn: input.streamArn,
  };
  const responseContext: StreamFailureRecord["responseContext"] = { statusCode: 200, executedVersion: "$LATEST" };
  if (input.functionError) responseContext.functionError = input.functionError;
  return {
    requestContext: {
      requestId: input.requestId,
      functionArn: input.functionArn,
      condition: input.condition,
      approximateInvokeCount: input.approximateInvokeCount,
    },
    responseContext,
    version: "1.0",
    timestamp: time(input.now ?? Date.now()),
    ...(input.kind === "kinesis" ? { KinesisBatchInfo: info } : { DDBStreamBatchInfo: info }),
  };
}

/** Compares two stream sequence numbers (decimal strings of any length). */
export function compareSequenceNumbers(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
