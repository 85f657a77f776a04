import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_GUARDRAILS, type GuardedOutcome, type Guardrails, guardPrice, minorUnitDigits } from "./guardrails.ts";

const now = new Date("2026-11-23T10:00:00.000Z");
const base = { price: 100, currency: "USD", cost: 60, minPrice: 80, maxPrice: 130 };

const currencyArb = fc.constantFrom("USD", "EUR", "JPY", "KWD");

/**
 * A ratio from `min` to `max` in steps of 0.01 %, evenly spread. Not `fc.double`: it spreads over the doubles' bit
 * patterns, so that most of its draws in a range around 0 are within 1e-10 of 0 (a suggestion of no change); and
 * without fast-check's bias to the ends of the range (a price at its bound, a band of zero width), which made most
 * runs end in no change.
 */
const ratioArb = (min: number, max: number) =>
  fc.noBias(fc.integer({ min: Math.round(min * 10_000), max: Math.round(max * 10_000) })).map((n) => n / 10_000);

/**
 * Catalog items whose price is within all of its bounds, whatever the guardrails below (at or above `minPrice` and
 * `cost * 1.5`, at or below `maxPrice`): the common case. Amounts in whole minor units of their currency.
 */
const inBandItemArb = fc
  .record({
    cost: fc.double({ min: 0.5, max: 5000, noNaN: true }),
    minOverCost: ratioArb(0.5, 2),
    spread: ratioArb(0, 2),
    position: ratioArb(0, 1),
    currency: currencyArb,
  })
  .map(({ cost, minOverCost, spread, position, currency }) => {
    const scale = 10 ** minorUnitDigits(currency);
    const costUnits = Math.max(1, Math.round(cost * scale));
    const minUnits = Math.max(1, Math.round(costUnits * minOverCost));
    const floorUnits = Math.max(minUnits, Math.ceil(costUnits * 1.5));
    const maxUnits = Math.round(floorUnits * (1 + spread));
    return {
      cost: costUnits / scale,
      price: (floorUnits + Math.round(position * (maxUnits - floorUnits))) / scale,
      minPrice: minUnits / scale,
      maxPrice: maxUnits / scale,
      currency,
    };
  });

/** Catalog items with consistent-or-not bounds: a price outside them, bounds that contradict each other. */
const anyItemArb = fc
  .record({
    cost: fc.double({ min: 0.5, max: 5000, noNaN: true }),
    priceOverCost: fc.double({ min: 0.5, max: 3, noNaN: true }),
    minOverCost: fc.double({ min: 0.5, max: 2, noNaN: true }),
    spread: fc.double({ min: 0, max: 2, noNaN: true }),
    currency: currencyArb,
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

/** Four items in five within their bounds. */
const itemArb = fc.oneof({ arbitrary: inBandItemArb, weight: 4 }, { arbitrary: anyItemArb, weight: 1 });

/** Suggestions: mostly what a model says (up to 30 % either way), some up to `max` either way. */
const adjustmentArb = (max: number) =>
  fc.oneof({ arbitrary: ratioArb(-0.3, 0.3), weight: 4 }, { arbitrary: ratioArb(-max, max), weight: 1 });

const railsArb = fc.record({
  maxChangeRatio: ratioArb(0.01, 0.5),
  minMarginRatio: ratioArb(1, 1.5),
  minChangeRatio: ratioArb(0, 0.05),
  cooldownMs: fc.constant(0),
});

const EPS = 1e-9;

type Item = { price: number; currency: string; cost: number; minPrice: number; maxPrice: number };

/** Whether the item's current price is within every bound the guardrails set on the price itself. */
const inBand = (item: Item, rails: Guardrails) =>
  item.price >= Math.max(item.minPrice, item.cost * rails.minMarginRatio) && item.price <= item.maxPrice;

/**
 * That no change is justified: no cooldown or missing suggestion here; "infeasible-bounds" only when the current
 * price is itself outside its bounds (else it satisfies them all); "below-threshold" only when the suggestion, or the
 * room its bounds leave in its direction, is under the threshold (one minor unit of slack each for rounding).
 */
function expectJustified(out: GuardedOutcome & { kind: "none" }, item: Item, adjustment: number, rails: Guardrails) {
  expect(out.reason).toMatch(/^(infeasible-bounds|below-threshold)$/);
  if (out.reason === "infeasible-bounds") expect(inBand(item, rails)).toBe(false);
  if (out.reason === "below-threshold") {
    const unit = 10 ** -minorUnitDigits(item.currency);
    const threshold = item.price * rails.minChangeRatio + 2 * unit + EPS;
    const room =
      adjustment > 0
        ? Math.min(item.maxPrice, item.price * (1 + rails.maxChangeRatio)) - item.price
        : item.price -
          Math.max(item.minPrice, item.cost * rails.minMarginRatio, item.price * (1 - rails.maxChangeRatio));
    expect(Math.min(Math.abs(adjustment) * item.price, room)).toBeLessThan(threshold);
  }
}

/** How many runs of a property ended in each outcome. */
const tally = () => {
  const counts: Record<string, number> = {};
  return {
    counts,
    add: (out: GuardedOutcome) => {
      const key = out.kind === "change" ? "change" : out.reason;
      counts[key] = (counts[key] ?? 0) + 1;
    },
  };
};

describe("guardPrice", () => {
  it("never returns a price outside any bound, and changes nothing only with a reason (property)", () => {
    const outcomes = tally();
    fc.assert(
      fc.property(itemArb, adjustmentArb(5), railsArb, (item, adjustment, rails) => {
        const out = guardPrice(item, adjustment, now, rails);
        outcomes.add(out);
        if (out.kind === "none") return expectJustified(out, item, adjustment, rails);
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
    // The bounds were checked on most runs, and each reason for no change was met.
    expect(outcomes.counts.change).toBeGreaterThan(1000);
    expect(outcomes.counts["below-threshold"]).toBeGreaterThan(0);
    expect(outcomes.counts["infeasible-bounds"]).toBeGreaterThan(0);
  });

  it("moves in the direction of the suggestion, never past it (property)", () => {
    const rails = { ...DEFAULT_GUARDRAILS, cooldownMs: 0 };
    const outcomes = tally();
    let directionChecked = 0;
    fc.assert(
      fc.property(itemArb, adjustmentArb(1), (item, adjustment) => {
        const out = guardPrice(item, adjustment, now, rails);
        outcomes.add(out);
        if (out.kind === "none") return expectJustified(out, item, adjustment, rails);
        const wanted = item.price * (1 + adjustment);
        // Only a bound the current price already violates can push the price against the suggestion.
        if (!inBand(item, rails)) return;
        directionChecked++;
        if (adjustment > 0) expect(out.price).toBeGreaterThan(item.price);
        if (adjustment < 0) expect(out.price).toBeLessThan(item.price);
        if (out.clampedBy.length === 0) {
          expect(Math.abs(out.price - wanted)).toBeLessThanOrEqual(10 ** -minorUnitDigits(item.currency) / 2 + EPS);
        }
      }),
      { numRuns: 1000 },
    );
    expect(directionChecked).toBeGreaterThan(500);
    expect(outcomes.counts["below-threshold"]).toBeGreaterThan(0);
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
