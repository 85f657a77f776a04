/**
 * Pricing fixtures: a catalog item and two demand profiles, the same in the domain tests, the model container's tests
 * and the end-to-end flow.
 */

/** Demand that the reference model answers with a raise. */
export const STRONG_DEMAND = { views: 5000, clicks: 1500, addToCart: 600, purchases: 300, inventory: 12 } as const;

/** Demand that the reference model answers with a cut. */
export const WEAK_DEMAND = { views: 5000, clicks: 50, addToCart: 5, purchases: 1, inventory: 5000 } as const;

/** A catalog item at price 100 USD (cost 60, bounds 80..130, version 1), with `extra` over it. */
export function catalogItem(productId: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    productId,
    name: productId,
    price: 100,
    currency: "USD",
    cost: 60,
    minPrice: 80,
    maxPrice: 130,
    version: 1,
    ...extra,
  };
}
