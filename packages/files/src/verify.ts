/**
 * Verify-before-delete: the source is deleted only when the copy provably holds the same bytes.
 */
import { bareETag } from "./keys.ts";
import type { Checksum } from "./ports.ts";

export interface CopyEvidence {
  /** The copy's ETag and checksum as the copy response reported them. */
  receipt: { eTag: string; checksum?: Checksum };
  /** HeadObject of the destination, when it was read. */
  destination?: { size: number; eTag: string; checksum?: Checksum };
}

export type Verification =
  | { verdict: "verified"; by: "checksum" | "etag" | "size-and-receipt" }
  | { verdict: "mismatch"; reason: string }
  /** Nothing comparable yet: read the destination's size (HeadObject) and ask again. */
  | { verdict: "inconclusive" };

function comparableChecksums(a?: Checksum, b?: Checksum): boolean {
  return a !== undefined && b !== undefined && a.algorithm === b.algorithm && a.type === b.type;
}

/** `-N` suffix of a multipart ETag, or 0 for a single-part one. */
function partsOf(eTag: string): number {
  const m = /-(\d+)$/.exec(eTag);
  return m ? Number(m[1]) : 0;
}

/**
 * Compares a copy with its source, strongest evidence first:
 * 1. sizes, when the destination was read: different sizes are a mismatch;
 * 2. checksums of the same algorithm and type (full-object CRC/SHA): equal or mismatch;
 * 3. ETags of the same shape (both single-part MD5s, or both multipart of the same part count): equal proves it;
 *    two different single-part MD5s are a mismatch;
 * 4. otherwise (e.g. a multipart source copied in one CopyObject gets a new single-part ETag), the destination's
 *    size must equal the source's and its ETag the one our copy produced: S3 copied a source pinned by
 *    `CopySourceIfMatch`, and the destination is still what that copy wrote.
 */
export function verifyCopy(
  source: { size: number; eTag: string; checksum?: Checksum },
  evidence: CopyEvidence,
): Verification {
  const dest = evidence.destination;
  if (dest && dest.size !== source.size) {
    return { verdict: "mismatch", reason: `size ${dest.size} in the destination, ${source.size} in the source` };
  }
  const destChecksum = dest?.checksum ?? evidence.receipt.checksum;
  if (comparableChecksums(source.checksum, destChecksum)) {
    return source.checksum?.value === destChecksum?.value
      ? { verdict: "verified", by: "checksum" }
      : {
          verdict: "mismatch",
          reason: `${source.checksum?.algorithm} ${destChecksum?.value} in the destination, ${source.checksum?.value} in the source`,
        };
  }
  const sourceETag = bareETag(source.eTag);
  const destETag = bareETag(dest?.eTag ?? evidence.receipt.eTag);
  if (partsOf(sourceETag) === partsOf(destETag)) {
    if (sourceETag === destETag) return { verdict: "verified", by: "etag" };
    if (partsOf(sourceETag) === 0) {
      return { verdict: "mismatch", reason: `ETag ${destETag} in the destination, ${sourceETag} in the source` };
    }
  }
  if (!dest) return { verdict: "inconclusive" };
  if (bareETag(dest.eTag) !== bareETag(evidence.receipt.eTag)) {
    return { verdict: "mismatch", reason: "the destination changed after the copy (ETag differs from the copy's)" };
  }
  return { verdict: "verified", by: "size-and-receipt" };
}
