import { STRONG_DEMAND, WEAK_DEMAND } from "@sluice/testing";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { featureError, MAX_MODEL_ADJUSTMENT, suggestAdjustment } from "./reference-model.ts";
import type { DemandFeatures } from "./schemas.ts";

const featuresArb = fc.record({
  views: fc.integer({ min: 0, max: 100_000 }),
  clicks: fc.integer({ min: 0, max: 100_000 }),
  addToCart: fc.integer({ min: 0, max: 50_000 }),
  purchases: fc.integer({ min: 0, max: 20_000 }),
  inventory: fc.integer({ min: 0, max: 1_000_000 }),
});

describe("reference demand model", () => {
  it("raises for strong demand and low stock, cuts for weak demand and high stock", () => {
    expect(suggestAdjustment(STRONG_DEMAND)).toBeGreaterThan(0.1);
    expect(suggestAdjustment(WEAK_DEMAND)).toBeLessThan(-0.1);
  });

  it.each([
    ["clicks", 1],
    ["addToCart", 1],
    ["purchases", 1],
    ["views", -1],
    ["inventory", -1],
  ] as const)("is monotonic in %s (direction %i) (property)", (feature, direction) => {
    fc.assert(
      fc.property(featuresArb, fc.integer({ min: 1, max: 100_000 }), (features, more) => {
        const before = suggestAdjustment(features);
        const after = suggestAdjustment({ ...features, [feature]: features[feature] + more } as DemandFeatures);
        if (direction > 0) expect(after).toBeGreaterThanOrEqual(before);
        else expect(after).toBeLessThanOrEqual(before);
      }),
      { numRuns: 500 },
    );
  });

  it("stays within its documented range (property)", () => {
    fc.assert(
      fc.property(featuresArb, (features) => {
        const a = suggestAdjustment(features);
        expect(Number.isFinite(a)).toBe(true);
        expect(Math.abs(a)).toBeLessThanOrEqual(MAX_MODEL_ADJUSTMENT);
      }),
    );
  });

  it("names what it cannot score", () => {
    expect(featureError({ views: 1, clicks: 1, addToCart: 1, purchases: 1, inventory: 1 })).toBeUndefined();
    expect(featureError({ views: 1, clicks: Number.NaN, addToCart: 1, purchases: 1, inventory: 1 })).toMatch(/clicks/);
    expect(featureError({ views: 1, clicks: 1, addToCart: -1, purchases: 1, inventory: 1 })).toMatch(/addToCart/);
    expect(featureError({ views: 1, clicks: 1, addToCart: 1, purchases: 1 })).toMatch(/inventory/);
  });
});
