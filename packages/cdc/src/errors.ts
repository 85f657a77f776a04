/**
 * Named errors of the CDC merge. Handlers and the CLI map them to outcomes in one place: an `InvalidCdcFile` is
 * reported and skipped (the table is unchanged by it); a `CommitConflict` that outlives its retries fails the merge
 * so the event is retried.
 */

/** A DMS file that cannot be merged as a whole: unknown Op, wrong field count, unparsable value, truncated quote. */
export class InvalidCdcFile extends Error {
  override readonly name = "InvalidCdcFile";
  constructor(
    /** The file's path (relative to the source root, or the S3 key). */
    readonly file: string,
    /** 1-based data row (a header row is not counted); 0 when the file as a whole is unreadable. */
    readonly row: number,
    readonly reason: string,
  ) {
    super(`${file}: row ${row}: ${reason}`);
  }
}

/** The table configuration file is not valid. */
export class InvalidTableConfig extends Error {
  override readonly name = "InvalidTableConfig";
}

/**
 * An Iceberg table's current snapshot was written by another writer (a compaction by Athena or S3 Tables rewriting
 * data files): the merge's key index names rows by data file and position, so it refuses to merge until it can follow
 * the rewrite.
 */
export class ForeignSnapshot extends Error {
  override readonly name = "ForeignSnapshot";
}

/** Another merge committed the same table first, more times than we were willing to retry. */
export class CommitConflict extends Error {
  override readonly name = "CommitConflict";
}

/** A conditional write found the object already there (IfNoneMatch) or changed (IfMatch): HTTP 412. */
export class PreconditionFailed extends Error {
  override readonly name = "PreconditionFailed";
}

/** Another invocation holds the table's merge lease, and this one has too little time left to wait for it. */
export class TableBusy extends Error {
  override readonly name = "TableBusy";
}
