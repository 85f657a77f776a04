/**
 * Object keys as S3 puts them in event notifications: form-URL-encoded (a space is `+`, a literal `+` is `%2B`,
 * every other byte outside `[A-Za-z0-9-_.*]` and `/` is percent-encoded UTF-8).
 */

/** An S3 event key that is not valid form-URL-encoding. */
export class InvalidEventKey extends Error {
  override readonly name = "InvalidEventKey";
  constructor(readonly encodedKey: string) {
    super(`S3 event key is not valid percent-encoding: ${encodedKey}`);
  }
}

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
