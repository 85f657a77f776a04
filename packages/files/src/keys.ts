/**
 * Object keys as S3 puts them in event notifications: form-URL-encoded (a space is `+`, a literal `+` is `%2B`,
 * every other byte outside `[A-Za-z0-9-_.*]` and `/` is percent-encoded UTF-8).
 */
import { InvalidEventKey } from "./errors.ts";

/**
 * The object key of an S3 event record: `+` back to a space first, then percent-decoding (UTF-8). The order
 * matters: a key containing a literal `+` arrives as `%2B`, which must survive as `+`.
 *
 * @throws InvalidEventKey when the key is not valid percent-encoding (S3 never sends such a key).
 */
export function decodeS3EventKey(encoded: string): string {
  try {
    return decodeURIComponent(encoded.replace(/\+/g, " "));
  } catch {
    throw new InvalidEventKey(encoded);
  }
}

/**
 * The `x-amz-copy-source` value of an object: `<bucket>/<key>` with the key URL-encoded (slashes kept), plus
 * `?versionId=` when a version is named. S3 decodes it once, so `+`, `%`, spaces and unicode arrive intact.
 */
export function copySourceOf(bucket: string, key: string, versionId?: string): string {
  const encodedKey = key.split("/").map(encodeURIComponent).join("/");
  return `${bucket}/${encodedKey}${versionId === undefined ? "" : `?versionId=${encodeURIComponent(versionId)}`}`;
}

/** An ETag without the double quotes S3 wraps it in (events carry it bare, responses quoted). */
export function bareETag(eTag: string): string {
  return eTag.replace(/^W\//, "").replace(/"/g, "");
}
