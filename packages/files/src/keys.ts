/**
 * Object keys in S3 requests: the `x-amz-copy-source` of a copy, and ETags as events and responses carry them. (Keys
 * in event notifications are decoded by `decodeS3EventKey` of `@sluice/messages`.)
 */

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
