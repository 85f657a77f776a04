/**
 * The reference demand-based pricing model, the one the container in `model/` serves. Dependency-free so the
 * container needs nothing but Node. Data scientists replace it with their own container that follows the same
 * contract (`model-contract.ts`); the pipeline does not change.
 *
 * The model sees one product's demand features over one window and suggests a relative price change
 * (`adjustment`, `+0.08` = raise 8 %). It never sees the price: guardrails turn the suggestion into a price.
 *
 * - engagement = (clicks + 5 * addToCart + 20 * purchases) / max(views, 1): how strongly visitors act on what
 *   they see; 0.25 is neutral.
 * - cover = inventory / max(purchases, 0.5): how many windows of sales the stock lasts at this window's pace;
 *   50 windows is neutral.
 * - demand = clamp(log2(engagement / 0.25) / 3, -1, 1); stock = clamp(log2(cover / 50) / 5, -1, 1).
 * - adjustment = 0.20 * (0.6 * demand - 0.4 * stock), within [-0.20, +0.20].
 *
 * Monotonic by construction: more clicks, add-to-carts or purchases never lower the suggestion; more views (for
 * the same actions) or more inventory never raise it.
 */
import type { DemandFeatures } from "./schemas.ts";

export const REFERENCE_MODEL_VERSION = "demand-v1";

/** The largest change the model suggests either way; guardrails clamp it further (10 % by default). */
export const MAX_MODEL_ADJUSTMENT = 0.2;

const NEUTRAL_ENGAGEMENT = 0.25;
const NEUTRAL_COVER_WINDOWS = 50;
const DEMAND_WEIGHT = 0.6;
const STOCK_WEIGHT = 0.4;

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}

/** Why features cannot be scored (the model's per-record error), or undefined when they can. */
export function featureError(features: Record<string, unknown>): string | undefined {
  for (const name of ["views", "clicks", "addToCart", "purchases", "inventory"]) {
    const value = features[name];
    if (typeof value !== "number" || !Number.isFinite(value)) return `${name} is not a number`;
    if (value < 0) return `${name} is negative`;
  }
  return undefined;
}

/** The suggested relative price change for one product's demand features. */
export function suggestAdjustment(features: DemandFeatures): number {
  const engagement = (features.clicks + 5 * features.addToCart + 20 * features.purchases) / Math.max(features.views, 1);
  const cover = features.inventory / Math.max(features.purchases, 0.5);
  // log2(0) is -Infinity: clamp turns it into the strongest signal, which is what zero engagement/stock means.
  const demand = clamp(Math.log2(engagement / NEUTRAL_ENGAGEMENT) / 3, -1, 1);
  const stock = clamp(Math.log2(cover / NEUTRAL_COVER_WINDOWS) / 5, -1, 1);
  const adjustment = MAX_MODEL_ADJUSTMENT * (DEMAND_WEIGHT * demand - STOCK_WEIGHT * stock);
  // Six decimals are plenty for a price change and keep CSV answers short.
  return Math.round(adjustment * 1e6) / 1e6;
}
