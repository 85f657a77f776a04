/**
 * Delete requests: parsing and validation. A request that is malformed, names a bucket outside the allow-list, or
 * asks for a whole bucket without `confirm` is refused, with the reasons, and deletes nothing.
 */
import { z } from "zod";

/** Where delete requests are dropped in the Inbox, and where their reports go. */
export const DELETE_REQUESTS_PREFIX = "requests/delete/";
export const DELETE_REPORTS_PREFIX = "reports/delete/";
/** Continuations of a deletion too large for one invocation (see README: "Continuation"). */
export const CONTINUATIONS_PREFIX = `${DELETE_REQUESTS_PREFIX}.continue/`;

const MAX_KEY_BYTES = 1024;
const key = z
  .string()
  .min(1)
  .refine((k) => Buffer.byteLength(k) <= MAX_KEY_BYTES, "a key is at most 1024 bytes");

export const deleteRequestSchema = z
  .object({
    /** Bucket component name (`Lake`) or physical name. */
    bucket: z.string().min(1),
    keys: z.array(key).max(100_000).default([]),
    /** `""` is the whole bucket and needs `confirm`. */
    prefixes: z
      .array(z.string().refine((k) => Buffer.byteLength(k) <= MAX_KEY_BYTES, "a prefix is at most 1024 bytes"))
      .max(1_000)
      .default([]),
    /** Every version and delete marker too (ListObjectVersions), not only the current objects. */
    allVersions: z.boolean().default(false),
    /** List what would be deleted, delete nothing. */
    dryRun: z.boolean().default(false),
    /** Why: kept in the report and the audit trail. */
    reason: z.string().trim().min(1).max(2_000),
    /** The bucket's name again: required when a prefix is empty (the whole bucket). */
    confirm: z.string().optional(),
    /** Report name for direct invocations (S3-triggered requests are named by their key). */
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._\-/]{0,199}$/, "letters, digits, . _ - / only")
      .optional(),
  })
  .strict()
  .refine((r) => r.keys.length + r.prefixes.length > 0, { message: "give at least one key or prefix" });

export type DeleteRequestInput = z.input<typeof deleteRequestSchema>;
export type DeleteRequest = z.output<typeof deleteRequestSchema>;

export type RefusalCode = "malformed" | "bucket-not-allowed" | "confirm-required";

export interface Refusal {
  code: RefusalCode;
  message: string;
  issues?: string[];
}

/** A request that passed every check, its bucket resolved and its targets normalised. */
export interface AcceptedRequest extends DeleteRequest {
  /** Component name of the bucket (the allow-list entry). */
  bucketName: string;
  /** Physical bucket name. */
  physicalBucket: string;
  /** Entries dropped as duplicates or covered by a prefix. */
  dropped: number;
}

export type ValidatedRequest = { ok: true; request: AcceptedRequest } | { ok: false; refusal: Refusal };

/**
 * Validates a delete request. `allowList` maps bucket component names to physical names (the function's linked
 * data buckets). Keys and prefixes are normalised so that nothing is listed or deleted twice: duplicate keys,
 * prefixes inside other prefixes and keys under a prefix are dropped (and counted).
 */
export function validateDeleteRequest(input: unknown, allowList: Readonly<Record<string, string>>): ValidatedRequest {
  const parsed = deleteRequestSchema.safeParse(input);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.length ? `${i.path.join(".")}: ` : ""}${i.message}`);
    return {
      ok: false,
      refusal: { code: "malformed", message: `malformed request: ${issues.join("; ")}`, issues },
    };
  }
  const request = parsed.data;
  const entry = Object.entries(allowList).find(
    ([name, physical]) => request.bucket === name || request.bucket === physical,
  );
  if (!entry) {
    return {
      ok: false,
      refusal: {
        code: "bucket-not-allowed",
        message: `bucket "${request.bucket}" is not one of the system's data buckets (${Object.keys(allowList).join(", ")})`,
      },
    };
  }
  const [bucketName, physicalBucket] = entry;
  if (request.prefixes.includes("") && request.confirm !== bucketName && request.confirm !== physicalBucket) {
    return {
      ok: false,
      refusal: {
        code: "confirm-required",
        message: `an empty prefix deletes the whole bucket: set "confirm" to the bucket's name (${bucketName} or ${physicalBucket})`,
      },
    };
  }
  const prefixes = [...new Set(request.prefixes)]
    .sort()
    .filter((p, i, sorted) => !sorted.slice(0, i).some((q) => p.startsWith(q)));
  const keys = [...new Set(request.keys)].filter((k) => !prefixes.some((p) => k.startsWith(p)));
  const dropped = request.keys.length - keys.length + request.prefixes.length - prefixes.length;
  return { ok: true, request: { ...request, keys, prefixes, bucketName, physicalBucket, dropped } };
}

/** The report name of a request object: its key under `requests/delete/`, without `.json`. */
export function requestNameOf(key: string): string {
  const base = key.startsWith(DELETE_REQUESTS_PREFIX) ? key.slice(DELETE_REQUESTS_PREFIX.length) : key;
  return base.endsWith(".json") ? base.slice(0, -".json".length) : base;
}

export function reportKeyOf(name: string): string {
  return `${DELETE_REPORTS_PREFIX}${name}.json`;
}

export function continuationKeyOf(name: string, step: number): string {
  return `${CONTINUATIONS_PREFIX}${name}/${String(step).padStart(6, "0")}.json`;
}

/** What a continuation object holds: which request, which step. The cursor itself lives in the report. */
export const continuationSchema = z
  .object({ continuation: z.object({ name: z.string().min(1), step: z.number().int().positive() }).strict() })
  .strict();
export type Continuation = z.infer<typeof continuationSchema>["continuation"];
