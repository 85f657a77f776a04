/**
 * The records the pricing pipeline reads: inference requests (the `InferenceRequests` table, one per product per
 * demand window) and catalog items (the `Catalog` table). Validated with zod at the edge of the domain, so a
 * poison request is refused with a reason instead of failing somewhere deeper.
 */
import { MAX_KEY_BYTES, maxUtf8Bytes } from "@sluice/messages";
import * as z from "zod/mini";

/**
 * A count is a safe integer: one beyond 2^53 is refused as such, whether it arrives as a bigint (the stream
 * adapter's reading of a larger integer) or as a number (`1E+20`): `views: 100000000000000000000 is not a safe
 * integer`, not "must be a number".
 */
const count = z
  .number({
    error: (issue) => (typeof issue.input === "bigint" ? `${issue.input} is not a safe integer` : "must be a number"),
  })
  .check(
    z.int({
      error: (issue) => (issue.code === "invalid_type" ? "must be an integer" : `${issue.input} is not a safe integer`),
    }),
    z.nonnegative("must be >= 0"),
  );
/**
 * Longest window instant: to the nanosecond (`2026-12-05T09:55:00.123456789Z`). The window end is part of the price
 * history's sort key, so its length is bounded as the request id's is.
 */
export const MAX_INSTANT_LENGTH = 30;
const isoInstant = z.iso
  .datetime({ offset: false, error: "must be an ISO-8601 UTC instant (…Z)" })
  .check(z.maxLength(MAX_INSTANT_LENGTH, "must be an ISO-8601 UTC instant (…Z) to the nanosecond at most"));

/** DynamoDB's longest sort key, in bytes. */
const MAX_SORT_KEY_BYTES = 1024;

/**
 * Longest request id, in UTF-8 bytes: the price history's sort key is `<windowEnd>#<requestId>` and DynamoDB takes
 * at most 1 024 bytes of it, so 1 024 - 1 - {@link MAX_INSTANT_LENGTH} = 993. A longer one would be refused by
 * DynamoDB on every retry of its batch.
 */
export const MAX_REQUEST_ID_BYTES = MAX_SORT_KEY_BYTES - 1 - MAX_INSTANT_LENGTH;

/** A non-empty string of at most `max` bytes of UTF-8 (`994 bytes long, more than 993 (it is part of ...)`). */
const keyText = (max: number, partOf: string) =>
  z.string({ error: "must be a string" }).check(z.minLength(1), maxUtf8Bytes(max, partOf));

/** One inference request: the demand features of one product over one event-time window. */
export const inferenceRequestSchema = z
  .object({
    requestId: keyText(MAX_REQUEST_ID_BYTES, "the price history's key"),
    /** The clickstream contract's bound: the product id is part of the pipeline's table keys. */
    productId: keyText(MAX_KEY_BYTES, "table keys"),
    windowStart: isoInstant,
    windowEnd: isoInstant,
    views: count,
    clicks: count,
    addToCart: count,
    purchases: count,
    inventory: count,
  })
  .check(
    z.refine((r) => Date.parse(r.windowStart) < Date.parse(r.windowEnd), {
      message: "windowStart must be before windowEnd",
      path: ["windowEnd"],
    }),
  );

export type InferenceRequest = z.infer<typeof inferenceRequestSchema>;

/** The demand features the model sees (the request without its identity). */
export type DemandFeatures = Pick<InferenceRequest, "views" | "clicks" | "addToCart" | "purchases" | "inventory">;

export const FEATURE_NAMES = ["views", "clicks", "addToCart", "purchases", "inventory"] as const;

/**
 * An amount is positive and at most 2^53 - 1: beyond, a number is not exact (the catalog adapter reads a number
 * DynamoDB holds there, which the SDK refuses to read, as the closest one, for this to refuse it with why).
 */
const money = z.number({ error: "must be a number" }).check(
  z.positive("must be > 0"),
  z.lte(Number.MAX_SAFE_INTEGER, {
    error: (issue) => `${issue.input} is more than ${Number.MAX_SAFE_INTEGER} (2^53 - 1): not an exact amount`,
  }),
);
/** A well-formed ISO 4217 code; its minor unit comes from Intl (2 digits for codes Intl does not know). */
const currencyCode = z.string().check(z.regex(/^[A-Z]{3}$/, "must be an ISO 4217 code such as USD"));

/**
 * A catalog item as the pricing pipeline reads it. `version` is the optimistic-concurrency counter every writer
 * increments; the `last*` fields are what the pipeline records when it applies a change.
 */
export const catalogItemSchema = z.looseObject({
  productId: z.string().check(z.minLength(1)),
  name: z.optional(z.string()),
  price: money,
  currency: currencyCode,
  cost: money,
  minPrice: money,
  maxPrice: money,
  version: z._default(z.number().check(z.int(), z.nonnegative()), 0),
  updatedAt: z.optional(z.string()),
  /** The inference request whose change is the current price. */
  lastRequestId: z.optional(z.string()),
  /** When the pipeline last changed the price (ISO instant): the cooldown runs from here. */
  lastChangedAt: z.optional(z.string()),
  /** End of the demand window of the last applied request: older requests are stale. */
  lastWindowEnd: z.optional(z.string()),
  modelVersion: z.optional(z.string()),
});

export type CatalogItem = z.infer<typeof catalogItemSchema>;

/** Why a value is not a valid request: one line per issue (`views: must be an integer`). */
export function describeIssues(error: z.core.$ZodError): string {
  return error.issues.map((i) => `${i.path.join(".") || "request"}: ${i.message}`).join("; ");
}

/** Parses an inference request, or says why it is poison. */
export function parseInferenceRequest(
  value: unknown,
): { ok: true; request: InferenceRequest } | { ok: false; reason: string } {
  const parsed = inferenceRequestSchema.safeParse(value);
  return parsed.success ? { ok: true, request: parsed.data } : { ok: false, reason: describeIssues(parsed.error) };
}
