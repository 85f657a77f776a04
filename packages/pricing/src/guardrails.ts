/**
 * Guardrails: the business rules a model suggestion has to pass before it becomes a price. They are applied in
 * integer minor units of the item's currency (cents for USD, yen for JPY), so rounding never pushes a price out
 * of its bounds.
 *
 * Defaults ({@link DEFAULT_GUARDRAILS}): at most 10 % change per adjustment; never outside
 * `[minPrice, maxPrice]`; never below `cost * 1.10`; changes under 1 % ignored; at most one change per product
 * per 15 minutes; prices rounded to the currency's minor unit.
 *
 * A price that satisfies every bound may not exist (the current price is already far outside its band, or the
 * item's own bounds contradict each other): then nothing changes and the decision says why, because a bound the
 * pipeline breaks "a little" is a bound nobody can rely on.
 */
import type { CatalogItem } from "./schemas.ts";

export interface Guardrails {
  /** Largest relative change of one adjustment (0.10 = 10 %). */
  maxChangeRatio: number;
  /** Lowest price as a multiple of cost (1.10 = cost + 10 %). */
  minMarginRatio: number;
  /** Changes smaller than this ratio of the current price are ignored (0.01 = 1 %). */
  minChangeRatio: number;
  /** Minimum time between two changes of one product, ms. */
  cooldownMs: number;
}

export const DEFAULT_GUARDRAILS: Readonly<Guardrails> = Object.freeze({
  maxChangeRatio: 0.1,
  minMarginRatio: 1.1,
  minChangeRatio: 0.01,
  cooldownMs: 15 * 60_000,
});

/** Digits after the decimal point of a currency's minor unit (2 for USD, 0 for JPY, 3 for KWD). */
export function minorUnitDigits(currency: string): number {
  return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits ?? 2;
}

export type GuardedOutcome =
  | { kind: "change"; price: number; clampedBy: string[] }
  | { kind: "none"; reason: GuardReason; detail: string };

export type GuardReason = "cooldown" | "below-threshold" | "infeasible-bounds" | "no-suggestion";

/**
 * The price a suggestion may become under the guardrails, or why it may not change. Pure and total: for any
 * input the returned price (if any) is within every bound, rounded to the minor unit.
 */
export function guardPrice(
  item: Pick<CatalogItem, "price" | "currency" | "cost" | "minPrice" | "maxPrice" | "lastChangedAt">,
  adjustment: number,
  now: Date,
  rails: Guardrails = DEFAULT_GUARDRAILS,
): GuardedOutcome {
  if (!Number.isFinite(adjustment))
    return { kind: "none", reason: "no-suggestion", detail: "adjustment is not a number" };
  if (item.lastChangedAt !== undefined) {
    const since = now.getTime() - Date.parse(item.lastChangedAt);
    if (Number.isFinite(since) && since < rails.cooldownMs) {
      return {
        kind: "none",
        reason: "cooldown",
        detail: `last change ${Math.round(since / 1000)} s ago, cooldown ${rails.cooldownMs / 1000} s`,
      };
    }
  }
  const scale = 10 ** minorUnitDigits(item.currency);
  const current = Math.round(item.price * scale);
  // Each bound rounded inwards, so that any integer between low and high satisfies the bound exactly.
  const bounds = [
    { name: "max-change-up", high: Math.floor(item.price * (1 + rails.maxChangeRatio) * scale + 1e-9) },
    { name: "max-change-down", low: Math.ceil(item.price * (1 - rails.maxChangeRatio) * scale - 1e-9) },
    { name: "min-price", low: Math.ceil(item.minPrice * scale - 1e-9) },
    { name: "max-price", high: Math.floor(item.maxPrice * scale + 1e-9) },
    { name: "min-margin", low: Math.ceil(item.cost * rails.minMarginRatio * scale - 1e-9) },
  ];
  let low = Number.NEGATIVE_INFINITY;
  let high = Number.POSITIVE_INFINITY;
  for (const b of bounds) {
    if (b.low !== undefined) low = Math.max(low, b.low);
    if (b.high !== undefined) high = Math.min(high, b.high);
  }
  if (low > high) {
    return {
      kind: "none",
      reason: "infeasible-bounds",
      detail: `no price satisfies every bound (from ${low / scale} to ${high / scale}): fix the item's price or bounds`,
    };
  }
  const wanted = Math.round(item.price * (1 + adjustment) * scale);
  const target = Math.min(high, Math.max(low, wanted));
  const clampedBy =
    target === wanted
      ? []
      : bounds.filter((b) => (target > wanted ? b.low === target : b.high === target)).map((b) => b.name);
  const ratio = Math.abs(target - current) / current;
  if (target === current || ratio < rails.minChangeRatio) {
    return {
      kind: "none",
      reason: "below-threshold",
      detail: `change of ${(ratio * 100).toFixed(2)} % is under ${(rails.minChangeRatio * 100).toFixed(2)} %`,
    };
  }
  return { kind: "change", price: target / scale, clampedBy };
}
