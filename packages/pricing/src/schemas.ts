/**
 * The records the pricing pipeline reads: inference requests (the `InferenceRequests` table, one per product per
 * demand window) and catalog items (the `Catalog` table). Validated with zod at the edge of the domain, so a
 * poison request is refused with a reason instead of failing somewhere deeper.
 */
import { z } from "zod";

const count = z.number().int("must be an integer").nonnegative("must be >= 0").finite();
const isoInstant = z.iso.datetime({ offset: false, message: "must be an ISO-8601 UTC instant (…Z)" });

/** One inference request: the demand features of one product over one event-time window. */
export const inferenceRequestSchema = z
  .object({
    requestId: z.string().min(1).max(512),
    productId: z.string().min(1).max(512),
    windowStart: isoInstant,
    windowEnd: isoInstant,
    views: count,
    clicks: count,
    addToCart: count,
    purchases: count,
    inventory: count,
  })
  .refine((r) => Date.parse(r.windowStart) < Date.parse(r.windowEnd), {
    message: "windowStart must be before windowEnd",
    path: ["windowEnd"],
  });

export type InferenceRequest = z.infer<typeof inferenceRequestSchema>;

/** The demand features the model sees (the request without its identity). */
export type DemandFeatures = Pick<InferenceRequest, "views" | "clicks" | "addToCart" | "purchases" | "inventory">;

export const FEATURE_NAMES = ["views", "clicks", "addToCart", "purchases", "inventory"] as const;

const money = z.number().finite().positive("must be > 0");
const currencyCode = z
  .string()
  .regex(/^[A-Z]{3}$/, "must be an ISO 4217 code such as USD")
  .refine(isKnownCurrency, "is not a currency this runtime knows");

function isKnownCurrency(code: string): boolean {
  try {
    new Intl.NumberFormat("en", { style: "currency", currency: code });
    return true;
  } catch {
    return false;
  }
}

/**
 * A catalog item as the pricing pipeline reads it. `version` is the optimistic-concurrency counter every writer
 * increments; the `last*` fields are what the pipeline records when it applies a change.
 */
export const catalogItemSchema = z
  .object({
    productId: z.string().min(1),
    name: z.string().optional(),
    price: money,
    currency: currencyCode,
    cost: money,
    minPrice: money,
    maxPrice: money,
    version: z.number().int().nonnegative().default(0),
    updatedAt: z.string().optional(),
    /** The inference request whose change is the current price. */
    lastRequestId: z.string().optional(),
    /** When the pipeline last changed the price (ISO instant): the cooldown runs from here. */
    lastChangedAt: z.string().optional(),
    /** End of the demand window of the last applied request: older requests are stale. */
    lastWindowEnd: z.string().optional(),
    modelVersion: z.string().optional(),
  })
  .loose();

export type CatalogItem = z.infer<typeof catalogItemSchema>;

/** Why a value is not a valid request: one line per issue (`views: must be an integer`). */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join(".") || "request"}: ${i.message}`).join("; ");
}

/** Parses an inference request, or says why it is poison. */
export function parseInferenceRequest(
  value: unknown,
): { ok: true; request: InferenceRequest } | { ok: false; reason: string } {
  const parsed = inferenceRequestSchema.safeParse(value);
  return parsed.success ? { ok: true, request: parsed.data } : { ok: false, reason: describeIssues(parsed.error) };
}
