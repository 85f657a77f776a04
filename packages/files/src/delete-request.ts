/**
 * Delete requests: parsing and validation. A request that is malformed, names a bucket outside the allow-list, or
 * asks for a whole bucket without `confirm` is refused, with the reasons, and deletes nothing.
 */
// zod/mini: the same validation as zod, a tenth of the bundle (cold starts).
import * as z from "zod/mini";
import en from "zod/v4/locales/en.js";

// The English messages ("Unrecognized key: ...", "expected array, received string"): without them zod/mini says
// "Invalid input" for every issue, and a refusal would not say what to fix. (A global setting, as in @sluice/cdc.)
z.config(en());

/** Where delete requests are dropped in the Inbox, and where their reports go. */
export const DELETE_REQUESTS_PREFIX = "requests/delete/";
export const DELETE_REPORTS_PREFIX = "reports/delete/";
/** Continuations of a deletion too large for one invocation (see README: "Continuation"). */
export const CONTINUATIONS_PREFIX = `${DELETE_REQUESTS_PREFIX}.continue/`;

const MAX_KEY_BYTES = 1024;

/**
 * The largest request object the FileDeleter reads: 16 MiB (100,000 keys of 160 bytes). Checked on the object's
 * `Content-Length` before its body is read; a larger request is refused (`too-large`): split it. A 15.5 MB request
 * was handled in a process peaking at 240 MB (see the README), within a 512 MB function.
 */
export const MAX_REQUEST_BYTES = 16 * 1024 * 1024;

/** How many keys and prefixes of a request the report repeats (with their counts): the request object has them all. */
export const REPORTED_TARGETS = 10;
const withinKeyLimit = (what: string) =>
  z.refine<string>((k) => Buffer.byteLength(k) <= MAX_KEY_BYTES, `${what} is at most 1024 bytes`);

export const deleteRequestSchema = z
  .strictObject({
    /** Bucket component name (`Lake`) or physical name. */
    bucket: z.string().check(z.minLength(1)),
    keys: z._default(
      z.array(z.string().check(z.minLength(1), withinKeyLimit("a key"))).check(z.maxLength(100_000)),
      [],
    ),
    /**
     * Folders: each ends in `/` (`raw/customers/c-42/`), unless `rawPrefixes`. `""` is the whole bucket and needs
     * `confirm`.
     */
    prefixes: z._default(z.array(z.string().check(withinKeyLimit("a prefix"))).check(z.maxLength(1_000)), []),
    /**
     * The prefixes are raw string prefixes, not folders: `logs/2026-08-0` matches `logs/2026-08-01.gz` and
     * `logs/2026-08-09/x`, and `c-42` would match `c-420`. Say so explicitly, or end every prefix in `/`.
     */
    rawPrefixes: z._default(z.boolean(), false),
    /** Every version and delete marker too (ListObjectVersions), not only the current objects. */
    allVersions: z._default(z.boolean(), false),
    /** List what would be deleted, delete nothing. */
    dryRun: z._default(z.boolean(), false),
    /** Why: kept in the report and the audit trail. */
    reason: z.string().check(z.trim(), z.minLength(1), z.maxLength(2_000)),
    /** The bucket's name again: required when a prefix is empty (the whole bucket). */
    confirm: z.optional(z.string()),
    /** Report name for direct invocations (S3-triggered requests are named by their key). */
    name: z.optional(
      z.string().check(z.regex(/^[A-Za-z0-9][A-Za-z0-9._\-/]{0,199}$/, "letters, digits, . _ - / only")),
    ),
  })
  .check(z.refine((r) => r.keys.length + r.prefixes.length > 0, "give at least one key or prefix"));

export type DeleteRequestInput = z.input<typeof deleteRequestSchema>;
export type DeleteRequest = z.output<typeof deleteRequestSchema>;

/**
 * What a request's text parses to when it is not JSON: why not (the parser's message, or "empty"). Validation refuses
 * it with that reason, where a schema would only list the fields it lacks.
 */
export class NotJson {
  constructor(readonly reason: string) {}
}

/**
 * The JSON of a text the deleter reads (a request, a continuation, a report), or {@link NotJson}. A leading UTF-8
 * byte order mark is ignored, as RFC 8259 (8.1) allows: Windows editors (Notepad, PowerShell 5's `-Encoding UTF8`)
 * save one, and every step of a request reads its object again.
 */
export function parseJsonText(text: string): unknown {
  const json = text.startsWith("\uFEFF") ? text.slice(1) : text;
  if (json.trim() === "") return new NotJson("empty");
  try {
    return JSON.parse(json);
  } catch (err) {
    return new NotJson((err as Error).message);
  }
}

export type RefusalCode = "malformed" | "too-large" | "bucket-not-allowed" | "confirm-required" | "prefix-not-folder";

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

/**
 * What the report says about the request: everything but the full lists of keys and prefixes (the request object
 * holds those; a report rewritten after every batch must not copy 100,000 keys each time).
 */
export interface RequestSummary extends Omit<AcceptedRequest, "keys" | "prefixes"> {
  /** The first {@link REPORTED_TARGETS} keys (after normalisation). */
  keys: string[];
  keyCount: number;
  /** The first {@link REPORTED_TARGETS} prefixes (after normalisation). */
  prefixes: string[];
  prefixCount: number;
}

export function summarizeRequest(request: AcceptedRequest): RequestSummary {
  return {
    ...request,
    keys: request.keys.slice(0, REPORTED_TARGETS),
    keyCount: request.keys.length,
    prefixes: request.prefixes.slice(0, REPORTED_TARGETS),
    prefixCount: request.prefixes.length,
  };
}

export type ValidatedRequest = { ok: true; request: AcceptedRequest } | { ok: false; refusal: Refusal };

/**
 * Validates a delete request. `allowList` maps bucket component names to physical names (the function's linked
 * data buckets). Keys and prefixes are normalised so that nothing is listed or deleted twice: duplicate keys,
 * prefixes inside other prefixes and keys under a prefix are dropped (and counted).
 */
export function validateDeleteRequest(input: unknown, allowList: Readonly<Record<string, string>>): ValidatedRequest {
  if (input instanceof NotJson) {
    const issue = `not JSON: ${input.reason}`;
    return { ok: false, refusal: { code: "malformed", message: `malformed request: ${issue}`, issues: [issue] } };
  }
  const parsed = deleteRequestSchema.safeParse(input);
  if (!parsed.success) {
    // "keys: expected array, received string": the refusal already says the request is malformed.
    const issues = parsed.error.issues.map(
      (i) => `${i.path.length ? `${i.path.join(".")}: ` : ""}${i.message.replace(/^Invalid input: /, "")}`,
    );
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
  const notFolders = request.rawPrefixes ? [] : request.prefixes.filter((p) => p !== "" && !p.endsWith("/"));
  if (notFolders.length > 0) {
    const shown = notFolders
      .slice(0, 3)
      .map((p) => `"${p}"`)
      .join(", ");
    return {
      ok: false,
      refusal: {
        code: "prefix-not-folder",
        message:
          `prefix ${shown}${notFolders.length > 3 ? ` and ${notFolders.length - 3} more` : ""} does not end in "/": ` +
          `"${notFolders[0]}" would also delete "${notFolders[0]}0...", "${notFolders[0]}-old/..." and any key that ` +
          `starts with it. End each prefix in "/" to delete a folder, or set "rawPrefixes": true to delete every key ` +
          "starting with it",
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
export const continuationSchema = z.strictObject({
  continuation: z.strictObject({ name: z.string().check(z.minLength(1)), step: z.int().check(z.positive()) }),
});
export type Continuation = z.infer<typeof continuationSchema>["continuation"];
