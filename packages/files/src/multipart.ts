/**
 * Planning a server-side multipart copy (`UploadPartCopy`): S3 copies at most 5 GiB in one `CopyObject`, and a
 * multipart upload takes at most 10,000 parts of 5 MiB to 5 GiB each (the last part may be smaller).
 */

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;
export const TiB = 1024 * GiB;

/** The largest object one `CopyObject` can copy. */
export const MAX_SINGLE_COPY_BYTES = 5 * GiB;
/** The largest object S3 stores. */
export const MAX_OBJECT_BYTES = 5 * TiB;
export const MIN_PART_BYTES = 5 * MiB;
export const MAX_PART_BYTES = 5 * GiB;
export const MAX_PARTS = 10_000;

export interface MultipartPlanOptions {
  /** Part size used unless the object needs bigger parts to stay within 10,000. Default 128 MiB. */
  preferredPartBytes?: number;
  /** Parts copied at once. Default 16. */
  maxParallelParts?: number;
}

export interface PartRange {
  partNumber: number;
  /** Inclusive byte offsets, as in `x-amz-copy-source-range: bytes=start-end`. */
  start: number;
  end: number;
}

export interface MultipartPlan {
  size: number;
  partBytes: number;
  parts: PartRange[];
  /** Parts in flight at once: min(maxParallelParts, part count). */
  parallelism: number;
}

/**
 * The parts of a multipart copy of `size` bytes: contiguous, covering exactly `[0, size)`, at most 10,000, each
 * between 5 MiB and 5 GiB but the last. The part size is the preferred one, raised to a whole MiB when the object
 * would otherwise need more than 10,000 parts.
 *
 * @throws RangeError for an empty object or one above 5 TiB.
 */
export function planMultipartCopy(size: number, options: MultipartPlanOptions = {}): MultipartPlan {
  if (!Number.isSafeInteger(size) || size <= 0) throw new RangeError(`cannot plan a multipart copy of ${size} bytes`);
  if (size > MAX_OBJECT_BYTES) throw new RangeError(`${size} bytes is above S3's 5 TiB object limit`);
  const preferred = Math.min(Math.max(options.preferredPartBytes ?? 128 * MiB, MIN_PART_BYTES), MAX_PART_BYTES);
  const needed = Math.ceil(Math.ceil(size / MAX_PARTS) / MiB) * MiB;
  const partBytes = Math.min(Math.max(preferred, needed), MAX_PART_BYTES);
  const parts: PartRange[] = [];
  for (let start = 0, partNumber = 1; start < size; start += partBytes, partNumber++) {
    parts.push({ partNumber, start, end: Math.min(start + partBytes, size) - 1 });
  }
  const maxParallel = Math.max(1, Math.floor(options.maxParallelParts ?? 16));
  return { size, partBytes, parts, parallelism: Math.min(maxParallel, parts.length) };
}
