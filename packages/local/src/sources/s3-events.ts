/**
 * S3 event notification records, built the way S3 builds them for a Lambda destination.
 */
import type { S3EventName } from "@sluice/infra/wiring";

/** What the S3 gateway observed: one object-level change. `key` is the raw (decoded) object key. */
export interface ObjectChange {
  bucket: string;
  key: string;
  /** e.g. `ObjectCreated:Put`, `ObjectCreated:CompleteMultipartUpload`, `ObjectRemoved:Delete`. */
  eventName: string;
  size?: number;
  /** Without the surrounding quotes, as S3 puts it in events. */
  eTag?: string;
  versionId?: string;
  sequencer: string;
  eventTime: Date;
  sourceIp: string;
  requestId: string;
}

/**
 * Encodes an object key as S3 does in event notifications: form URL encoding (space as `+`, `+` as `%2B`,
 * UTF-8 bytes percent-encoded), with `/` left as is. Unreserved characters are those of Java's URLEncoder:
 * letters, digits and `-_.*`. Handlers decode with `decodeS3EventKey` (`@sluice/messages`).
 */
export function encodeS3EventKey(key: string): string {
  let out = "";
  for (const char of key) {
    if (/[A-Za-z0-9\-_.*/]/.test(char)) out += char;
    else if (char === " ") out += "+";
    else {
      for (const byte of Buffer.from(char, "utf8")) out += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
    }
  }
  return out;
}

/** Whether a notification configured for `configured` events fires for `eventName` (e.g. `ObjectCreated:Put`). */
export function eventMatches(configured: readonly S3EventName[], eventName: string): boolean {
  return configured.some((pattern) => {
    const name = pattern.replace(/^s3:/, "");
    return name.endsWith(":*") ? eventName.startsWith(name.slice(0, -1)) : name === eventName;
  });
}

/** Whether a key passes a notification's prefix and suffix filters (S3 matches them on the raw key). */
export function keyMatches(key: string, filterPrefix?: string, filterSuffix?: string): boolean {
  return (!filterPrefix || key.startsWith(filterPrefix)) && (!filterSuffix || key.endsWith(filterSuffix));
}

let sequence = 0n;

/** A sequencer that increases with every event, as S3's does for events on one key. */
export function nextSequencer(): string {
  sequence += 1n;
  return (BigInt(Date.now()) * 1_000_000n + (sequence % 1_000_000n)).toString(16).toUpperCase().padStart(18, "0");
}

/** The `Records[0]` element of the event S3 sends to a Lambda function. */
export function s3EventRecord(change: ObjectChange, options: { region: string; configurationId: string }) {
  const object: Record<string, unknown> = { key: encodeS3EventKey(change.key) };
  if (change.size !== undefined) object.size = change.size;
  if (change.eTag !== undefined) object.eTag = change.eTag;
  if (change.versionId !== undefined) object.versionId = change.versionId;
  object.sequencer = change.sequencer;
  return {
    eventVersion: "2.1",
    eventSource: "aws:s3",
    awsRegion: options.region,
    eventTime: change.eventTime.toISOString(),
    eventName: change.eventName,
    userIdentity: { principalId: "AWS:SLUICELOCALUSER" },
    requestParameters: { sourceIPAddress: change.sourceIp },
    responseElements: {
      "x-amz-request-id": change.requestId,
      "x-amz-id-2": Buffer.from(change.requestId).toString("base64"),
    },
    s3: {
      s3SchemaVersion: "1.0",
      configurationId: options.configurationId,
      bucket: {
        name: change.bucket,
        ownerIdentity: { principalId: "SLUICELOCALOWNER" },
        arn: `arn:aws:s3:::${change.bucket}`,
      },
      object,
    },
  };
}
