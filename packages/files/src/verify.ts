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

/**
 * What two checksums of the same algorithm and type say. FULL_OBJECT checksums (CRC64NVME, CRC32, CRC32C of the whole
 * object, or any checksum of a single-part object) depend on the bytes only: equal or a mismatch. COMPOSITE ones
 * (SHA-1/SHA-256 of a multipart upload, composite CRCs) are a checksum of the parts' checksums, so they depend on
 * the part layout too: equal values prove equal bytes (the same parts, each with the same checksum), different
 * values prove nothing when the copy was made in other parts than the source (a source over 5 GiB uploaded in 8 MiB
 * parts, copied in 128 MiB ones), even with the same part count: inconclusive, never a mismatch.
 */
function compareChecksums(source: Checksum, copy: Checksum): Verification | undefined {
  if (source.value === copy.value) return { verdict: "verified", by: "checksum" };
  if (source.type === "COMPOSITE") return undefined;
  return {
    verdict: "mismatch",
    reason: `${source.algorithm} ${copy.value} in the destination, ${source.value} in the source`,
  };
}

/** `-N` suffix of a multipart ETag, or 0 for a single-part one. */
function partsOf(eTag: string): number {
  const m = /-(\d+)$/.exec(eTag);
  return m ? Number(m[1]) : 0;
}

/**
 * Compares a copy with its source, strongest evidence first:
 * 1. sizes, when the destination was read: different sizes are a mismatch;
 * 2. checksums of the same algorithm and type: full-object ones are equal or a mismatch; composite ones prove the
 *    copy when equal and are inconclusive when not (see {@link compareChecksums});
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
  if (source.checksum && destChecksum && comparableChecksums(source.checksum, destChecksum)) {
    const compared = compareChecksums(source.checksum, destChecksum);
    if (compared) return compared;
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
