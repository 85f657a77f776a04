/**
 * The clickstream event: one JSON object per Kinesis record on the `Clickstream` stream, shared by whoever
 * produces events (`pnpm push records --stream Clickstream`, the clickstream generator) and whoever consumes
 * them (anomaly alerting, pricing signals).
 *
 * ```json
 * {
 *   "eventId": "0b9c2f8e-3f1d-4c55-9b7a-2f0a0e6d9c11",  // unique per event; the default partition key
 *   "ts": "2026-03-01T12:34:56.789Z",                   // when it happened: ISO-8601, UTC ("Z"), ms optional
 *   "site": "fast-sneakers.example",                    // site (storefront) the page belongs to
 *   "page": "/product/sku-123",                         // page path within the site
 *   "productId": "sku-123",                             // product shown or acted on
 *   "action": "click",                                  // impression | click | add_to_cart | purchase
 *   "sessionId": "s-4f1e"                               // visitor session
 * }
 * ```
 *
 * Every field is a non-empty string; `site` and `productId`, parts of table keys, are at most 200 bytes of UTF-8
 * ({@link MAX_KEY_BYTES}); `ts` must be a real UTC instant written with `Z` (no offsets, so that
 * windows computed by different consumers agree). Other fields are allowed and ignored by consumers, so
 * producers can add context (user agent, referrer) without breaking anyone. Records are at most 1 MiB (Kinesis).
 * The JSON Schema for tools outside TypeScript is generated from {@link clickstreamEvent}
 * (`clickstream-json-schema.ts`).
 */
import * as z from "zod/mini";
import { issuePhrases } from "./issues.ts";

export const CLICKSTREAM_ACTIONS = ["impression", "click", "add_to_cart", "purchase"] as const;

export type ClickstreamAction = (typeof CLICKSTREAM_ACTIONS)[number];

/** `YYYY-MM-DDTHH:MM:SS[.fraction]Z` */
const ISO_UTC = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?Z$/;

/** Whether `text` is an ISO-8601 UTC timestamp of a day and time that exist (no 2026-02-30, no 24:00). */
export function isIsoUtcTimestamp(text: string): boolean {
  const m = ISO_UTC.exec(text);
  if (!m) return false;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  return (
    date.getUTCFullYear() === year &&
    date.getUTCMonth() === month - 1 &&
    date.getUTCDate() === day &&
    date.getUTCHours() === hour &&
    date.getUTCMinutes() === minute &&
    date.getUTCSeconds() === second
  );
}

const kindOf = (value: unknown) => (value === null ? "null" : Array.isArray(value) ? "an array" : typeof value);

/** A string with something in it: `missing`, `expected a string, got number`, `empty` (also for blanks). */
const text = () =>
  z
    .string({
      error: (issue) => (issue.input === undefined ? "missing" : `expected a string, got ${kindOf(issue.input)}`),
    })
    .check(
      z.minLength(1, { error: "empty", abort: true }),
      z.check<string>((ctx) => {
        if (ctx.value.trim() !== "") return;
        ctx.issues.push({
          code: "too_small",
          origin: "string",
          minimum: 1,
          inclusive: true,
          input: ctx.value,
          message: "empty",
          continue: false,
        });
      }),
    );

/**
 * Longest `site` and `productId`, in UTF-8 bytes: both become parts of DynamoDB keys (AnomalyAlert's state items,
 * DemandHydration's windows, the inference requests, the catalog and price history), which DynamoDB bounds (2 048
 * bytes for a partition key, 1 024 for a sort key): an event with a longer one would be refused by DynamoDB on every
 * retry of its batch. Identifiers this long are not identifiers; the other fields are no table's key.
 */
export const MAX_KEY_BYTES = 200;

/**
 * At most `max` bytes of UTF-8, for a string that becomes (part of) a DynamoDB key, whose bounds are in bytes:
 * `202 bytes long, more than 200 (it is part of table keys): "..."...`. Shared by every contract with such a key.
 */
export const maxUtf8Bytes = (max: number, partOf: string) =>
  z.check<string>((ctx) => {
    const bytes = Buffer.byteLength(ctx.value, "utf8");
    if (bytes <= max) return;
    ctx.issues.push({
      code: "too_big",
      origin: "string",
      maximum: max,
      inclusive: true,
      input: ctx.value,
      message: `${bytes} bytes long, more than ${max} (it is part of ${partOf}): ${JSON.stringify(ctx.value.slice(0, 40))}...`,
      continue: false,
    });
  });

/** A non-empty string of at most {@link MAX_KEY_BYTES} bytes of UTF-8 (`202 bytes long, more than 200 ...`). */
const keyText = () =>
  text().check(
    maxUtf8Bytes(MAX_KEY_BYTES, "table keys"),
    // Implied by the bytes (a character is at least one): what the JSON Schema can say.
    z.maxLength(MAX_KEY_BYTES),
  );

const notIsoUtc = (issue: { input?: unknown }) =>
  `"${issue.input}" is not an ISO-8601 UTC timestamp like 2026-03-01T12:34:56.789Z`;

/** The clickstream event's schema: the one definition producers check against and consumers parse with. */
export const clickstreamEvent = z.looseObject(
  {
    /** Unique per event (a UUID); the default Kinesis partition key. */
    eventId: text(),
    /** ISO-8601 UTC instant, e.g. `2026-03-01T12:34:56.789Z`. */
    ts: text().check(
      // The pattern is what the JSON Schema can say; the instant must also exist.
      z.regex(ISO_UTC, { error: notIsoUtc, abort: true }),
      z.refine(isIsoUtcTimestamp, { error: notIsoUtc }),
    ),
    /** At most {@link MAX_KEY_BYTES} bytes of UTF-8. */
    site: keyText(),
    page: text(),
    /** At most {@link MAX_KEY_BYTES} bytes of UTF-8. */
    productId: keyText(),
    action: z.pipe(
      text(),
      z.enum(CLICKSTREAM_ACTIONS, {
        error: (issue) => `"${issue.input}" is not one of ${CLICKSTREAM_ACTIONS.join(", ")}`,
      }),
    ),
    /** Visitor session. */
    sessionId: text(),
  },
  { error: (issue) => `expected a JSON object, got ${kindOf(issue.input)}` },
);

export type ClickstreamEvent = z.infer<typeof clickstreamEvent>;

/** Everything wrong with `value` as a clickstream event (empty when it is one), one phrase per problem. */
export function clickstreamEventIssues(value: unknown): string[] {
  const parsed = clickstreamEvent.safeParse(value);
  return parsed.success ? [] : issuePhrases(parsed.error);
}

export function isClickstreamEvent(value: unknown): value is ClickstreamEvent {
  return clickstreamEvent.safeParse(value).success;
}

export class InvalidClickstreamEvent extends Error {
  override name = "InvalidClickstreamEvent";
  constructor(readonly issues: readonly string[]) {
    super(`invalid clickstream event: ${issues.join("; ")}`);
  }
}

/** Returns `value` as a clickstream event, or throws {@link InvalidClickstreamEvent} listing every issue. */
export function parseClickstreamEvent(value: unknown): ClickstreamEvent {
  const parsed = clickstreamEvent.safeParse(value);
  if (!parsed.success) throw new InvalidClickstreamEvent(issuePhrases(parsed.error));
  return parsed.data;
}
