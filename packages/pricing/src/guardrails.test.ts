import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_GUARDRAILS, guardPrice, minorUnitDigits } from "./guardrails.ts";

const now = new Date("2026-11-23T10:00:00.000Z");
const base = { price: 100, currency: "USD", cost: 60, minPrice: 80, maxPrice: 130 };

/** Catalog items with consistent-or-not bounds, in several currencies. */
const itemArb = fc
  .record({
    cost: fc.double({ min: 0.5, max: 5000, noNaN: true }),
    priceOverCost: fc.double({ min: 0.5, max: 3, noNaN: true }),
    minOverCost: fc.double({ min: 0.5, max: 2, noNaN: true }),
    spread: fc.double({ min: 0, max: 2, noNaN: true }),
    currency: fc.constantFrom("USD", "EUR", "JPY", "KWD"),
  })
  .map(({ cost, priceOverCost, minOverCost, spread, currency }) => {
    const scale = 10 ** minorUnitDigits(currency);
    const round = (n: number) => Math.max(1, Math.round(n * scale)) / scale;
    const minPrice = round(cost * minOverCost);
    return {
      cost: round(cost),
      price: round(cost * priceOverCost),
      minPrice,
      maxPrice: round(minPrice * (1 + spread)),
      currency,
    };
  });

const railsArb = fc.record({
  maxChangeRatio: fc.double({ min: 0.01, max: 0.5, noNaN: true }),
  minMarginRatio: fc.double({ min: 1, max: 1.5, noNaN: true }),
  minChangeRatio: fc.double({ min: 0, max: 0.05, noNaN: true }),
  cooldownMs: fc.constant(0),
});

const EPS = 1e-9;

describe("guardPrice", () => {
  it("never returns a price outside any bound (property)", () => {
    fc.assert(
      fc.property(itemArb, fc.double({ min: -5, max: 5, noNaN: true }), railsArb, (item, adjustment, rails) => {
        const out = guardPrice(item, adjustment, now, rails);
        if (out.kind === "none") return;
        const scale = 10 ** minorUnitDigits(item.currency);
        expect(Math.abs(out.price * scale - Math.round(out.price * scale))).toBeLessThan(1e-6);
        expect(out.price).toBeGreaterThanOrEqual(item.minPrice - EPS);
        expect(out.price).toBeLessThanOrEqual(item.maxPrice + EPS);
        expect(out.price).toBeGreaterThanOrEqual(item.cost * rails.minMarginRatio - EPS);
        expect(Math.abs(out.price - item.price)).toBeLessThanOrEqual(item.price * rails.maxChangeRatio + EPS);
        expect(Math.abs(out.price - item.price)).toBeGreaterThanOrEqual(item.price * rails.minChangeRatio - EPS);
        expect(out.price).not.toBe(item.price);
      }),
      { numRuns: 2000 },
    );
  });

  it("moves in the direction of the suggestion, never past it (property)", () => {
    fc.assert(
      fc.property(itemArb, fc.double({ min: -1, max: 1, noNaN: true }), (item, adjustment) => {
        const out = guardPrice(item, adjustment, now, { ...DEFAULT_GUARDRAILS, cooldownMs: 0 });
        if (out.kind === "none") return;
        const wanted = item.price * (1 + adjustment);
        // Only a bound the current price already violates can push the price against the suggestion.
        const inBand =
          item.price >= Math.max(item.minPrice, item.cost * DEFAULT_GUARDRAILS.minMarginRatio) &&
          item.price <= item.maxPrice;
        if (inBand && adjustment > 0) expect(out.price).toBeGreaterThan(item.price);
        if (inBand && adjustment < 0) expect(out.price).toBeLessThan(item.price);
        if (inBand && out.clampedBy.length === 0) {
          expect(Math.abs(out.price - wanted)).toBeLessThanOrEqual(10 ** -minorUnitDigits(item.currency) / 2 + EPS);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it.each([
    { adjustment: 0.2, price: 110, clampedBy: ["max-change-up"] },
    { adjustment: 0.05, price: 105, clampedBy: [] },
    { adjustment: -0.2, price: 90, clampedBy: ["max-change-down"] },
    { adjustment: 0.005, reason: "below-threshold" },
    { adjustment: 0, reason: "below-threshold" },
  ])("price 100 (cost 60, min 80, max 130), suggestion $adjustment", ({ adjustment, price, clampedBy, reason }) => {
    const out = guardPrice(base, adjustment, now);
    if (reason) expect(out).toMatchObject({ kind: "none", reason });
    else expect(out).toEqual({ kind: "change", price, clampedBy });
  });

  it("never cuts below cost * 1.10", () => {
    expect(guardPrice({ ...base, price: 70, minPrice: 50 }, -0.2, now)).toEqual({
      kind: "change",
      price: 66,
      clampedBy: ["min-margin"],
    });
    expect(guardPrice({ ...base, price: 127 }, 0.2, now)).toEqual({
      kind: "change",
      price: 130,
      clampedBy: ["max-price"],
    });
  });

  it("rounds to the currency's minor unit (0 digits for JPY, 3 for KWD)", () => {
    expect(
      guardPrice({ ...base, currency: "JPY", price: 1000, cost: 500, minPrice: 600, maxPrice: 2000 }, 0.0333, now),
    ).toEqual({
      kind: "change",
      price: 1033,
      clampedBy: [],
    });
    expect(guardPrice({ ...base, currency: "KWD" }, 0.03333, now)).toEqual({
      kind: "change",
      price: 103.333,
      clampedBy: [],
    });
  });

  it("waits out the cooldown", () => {
    const recent = { ...base, lastChangedAt: new Date(now.getTime() - 14 * 60_000).toISOString() };
    expect(guardPrice(recent, 0.1, now)).toMatchObject({ kind: "none", reason: "cooldown" });
    const old = { ...base, lastChangedAt: new Date(now.getTime() - 15 * 60_000).toISOString() };
    expect(guardPrice(old, 0.1, now)).toMatchObject({ kind: "change", price: 110 });
  });

  it("changes nothing when no price satisfies every bound", () => {
    // Far below the margin floor: reaching it would take more than 10 %.
    expect(guardPrice({ ...base, price: 40 }, 0.1, now)).toMatchObject({ kind: "none", reason: "infeasible-bounds" });
    expect(guardPrice({ ...base, minPrice: 120, maxPrice: 110 }, 0.1, now)).toMatchObject({
      kind: "none",
      reason: "infeasible-bounds",
    });
  });
});
