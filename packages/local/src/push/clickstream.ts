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
 * Every field is a non-empty string; `ts` must be a real UTC instant written with `Z` (no offsets, so that
 * windows computed by different consumers agree). Other fields are allowed and ignored by consumers, so
 * producers can add context (user agent, referrer) without breaking anyone. Records are at most 1 MiB (Kinesis).
 *
 * Pure TypeScript with no dependencies, so it can move to the domain package that owns the schema.
 */

export const CLICKSTREAM_ACTIONS = ["impression", "click", "add_to_cart", "purchase"] as const;

export type ClickstreamAction = (typeof CLICKSTREAM_ACTIONS)[number];

export interface ClickstreamEvent {
  /** Unique per event (a UUID); the default Kinesis partition key. */
  eventId: string;
  /** ISO-8601 UTC instant, e.g. `2026-03-01T12:34:56.789Z`. */
  ts: string;
  site: string;
  page: string;
  productId: string;
  action: ClickstreamAction;
  sessionId: string;
}

const STRING_FIELDS = ["eventId", "ts", "site", "page", "productId", "action", "sessionId"] as const;

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

/** Everything wrong with `value` as a clickstream event (empty when it is one), one phrase per problem. */
export function clickstreamEventIssues(value: unknown): string[] {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return [
      `expected a JSON object, got ${value === null ? "null" : Array.isArray(value) ? "an array" : typeof value}`,
    ];
  }
  const event = value as Record<string, unknown>;
  const issues: string[] = [];
  for (const field of STRING_FIELDS) {
    const v = event[field];
    if (v === undefined) issues.push(`${field}: missing`);
    else if (typeof v !== "string") issues.push(`${field}: expected a string, got ${v === null ? "null" : typeof v}`);
    else if (v.trim() === "") issues.push(`${field}: empty`);
  }
  if (typeof event.ts === "string" && event.ts.trim() !== "" && !isIsoUtcTimestamp(event.ts)) {
    issues.push(`ts: "${event.ts}" is not an ISO-8601 UTC timestamp like 2026-03-01T12:34:56.789Z`);
  }
  if (
    typeof event.action === "string" &&
    event.action.trim() !== "" &&
    !(CLICKSTREAM_ACTIONS as readonly string[]).includes(event.action)
  ) {
    issues.push(`action: "${event.action}" is not one of ${CLICKSTREAM_ACTIONS.join(", ")}`);
  }
  return issues;
}

export function isClickstreamEvent(value: unknown): value is ClickstreamEvent {
  return clickstreamEventIssues(value).length === 0;
}

export class InvalidClickstreamEvent extends Error {
  override name = "InvalidClickstreamEvent";
  constructor(readonly issues: readonly string[]) {
    super(`invalid clickstream event: ${issues.join("; ")}`);
  }
}

/** Returns `value` typed as a clickstream event, or throws {@link InvalidClickstreamEvent} listing every issue. */
export function parseClickstreamEvent(value: unknown): ClickstreamEvent {
  const issues = clickstreamEventIssues(value);
  if (issues.length > 0) throw new InvalidClickstreamEvent(issues);
  return value as ClickstreamEvent;
}

/** The same contract as a JSON Schema (draft 2020-12), for tools outside TypeScript. */
export const clickstreamEventJsonSchema = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  title: "Sluice clickstream event",
  type: "object",
  required: [...STRING_FIELDS],
  properties: {
    eventId: { type: "string", minLength: 1, description: "Unique per event; the default partition key" },
    ts: { type: "string", format: "date-time", pattern: ISO_UTC.source, description: "ISO-8601 UTC instant" },
    site: { type: "string", minLength: 1 },
    page: { type: "string", minLength: 1 },
    productId: { type: "string", minLength: 1 },
    action: { enum: [...CLICKSTREAM_ACTIONS] },
    sessionId: { type: "string", minLength: 1 },
  },
  additionalProperties: true,
} as const;
