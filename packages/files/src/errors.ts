/**
 * Named errors of the file pipelines. Adapters translate S3's answers into these, so the domain decides what a
 * failure means (skip, retry, report) without knowing S3's error codes.
 */

/** A conditional request failed: the object is not (any more) the version the request named (HTTP 412). */
export class PreconditionFailed extends Error {
  override readonly name = "PreconditionFailed";
}

/** The copy could not be verified against its source: the source is kept. */
export class VerificationFailed extends Error {
  override readonly name = "VerificationFailed";
  constructor(
    message: string,
    readonly from: string,
    readonly to: string,
  ) {
    super(message);
  }
}

/**
 * A copy that could not be done before the invocation's deadline: not started, or (multipart) stopped before a part
 * that would have ended after it, its upload aborted. The source is kept; the message says how far it got and why.
 */
export class CopyOutOfTime extends Error {
  override readonly name = "CopyOutOfTime";
  constructor(
    message: string,
    readonly from: string,
    readonly to: string,
  ) {
    super(message);
  }
}

/** Routing rules that cannot be used (unknown token, a destination that is the source bucket...). */
export class InvalidRoutingRules extends Error {
  override readonly name = "InvalidRoutingRules";
}

/**
 * A version listing that contradicts the object listing: ListObjectVersions found nothing where ListObjectsV2
 * finds objects (an S3 endpoint without versioning support, such as some emulators). Permanent: retrying cannot
 * help, and reporting "0 deleted" would be a lie.
 */
export class InconsistentListing extends Error {
  override name = "InconsistentListing";
}

/** An object larger than the reader accepts: refused before its body is read. */
export class ObjectTooLarge extends Error {
  override readonly name = "ObjectTooLarge";
  constructor(
    readonly key: string,
    readonly size: number,
    readonly limit: number,
  ) {
    super(`${key} is ${size} bytes, more than the ${limit} bytes accepted`);
  }
}

/**
 * The step is claimed by an invocation whose lease lasts longer than this one may wait for it (a report written when
 * a claim lasted a whole invocation): thrown so that Lambda retries the event later, and after its retries the event
 * is in the dead-letter queue, rather than the request being left unfinished without a trace.
 */
export class LeaseHeld extends Error {
  override readonly name = "LeaseHeld";
}
