import { clickstreamEventIssues } from "@sluice/messages";
import { catalogItemSchema, inferenceRequestSchema } from "@sluice/pricing";
import { suggestAdjustment } from "@sluice/pricing/reference-model";
import { siteNames } from "@sluice/testing/clickstream";
import { describe, expect, it } from "vitest";
import { sampleCatalog } from "./catalog.ts";
import { DEMAND_SITE, demandEvents } from "./demand.ts";
import { DEMAND_PROFILES, requestFromOptions } from "./inference-request.ts";

describe("pricing push kinds", () => {
  it("samples catalog items that the pricing schema accepts, with a price inside their own bounds", () => {
    const items = sampleCatalog(50);
    expect(new Set(items.map((i) => i.productId)).size).toBe(50);
    for (const item of items) {
      const parsed = catalogItemSchema.parse(item);
      expect(parsed.price).toBeGreaterThanOrEqual(Math.max(parsed.minPrice, parsed.cost * 1.1));
      expect(parsed.price).toBeLessThanOrEqual(parsed.maxPrice);
    }
  });

  it("builds requests from a demand profile, with overrides, on the current 5-minute boundary", () => {
    const now = new Date("2026-11-23T10:07:30.000Z");
    const strong = requestFromOptions({ product: "fs-0001", "request-id": "r1" }, now);
    expect(inferenceRequestSchema.parse(strong)).toEqual({
      requestId: "r1",
      productId: "fs-0001",
      windowStart: "2026-11-23T10:00:00.000Z",
      windowEnd: "2026-11-23T10:05:00.000Z",
      ...DEMAND_PROFILES.strong,
    });
    expect(requestFromOptions({ product: "p", demand: "weak", inventory: "7" }, now)).toMatchObject({
      ...DEMAND_PROFILES.weak,
      inventory: 7,
    });
    // Kept as text so that --unchecked can send it, and the schema refuses it.
    const poison = requestFromOptions({ product: "p", views: "lots" }, now);
    expect(inferenceRequestSchema.safeParse(poison).success).toBe(false);
    expect(() => requestFromOptions({ product: "p", demand: "medium" }, now)).toThrow(/strong or weak/);
  });

  it("generates valid clickstream events for one window in the profile's proportions, and a closing event", () => {
    const start = Date.parse("2026-11-23T07:00:00.000Z");
    const events = demandEvents({
      productId: "fs-1",
      profile: "strong",
      scale: 0.1,
      windowStartMs: start,
      close: true,
    });
    expect(events.flatMap((e) => clickstreamEventIssues(e))).toEqual([]);
    const inWindow = events.filter((e) => Date.parse(e.ts as string) < start + 5 * 60_000);
    const count = (action: string) => inWindow.filter((e) => e.action === action).length;
    expect([count("impression"), count("click"), count("add_to_cart"), count("purchase")]).toEqual([500, 150, 60, 30]);
    expect(events.at(-1)?.ts).toBe("2026-11-23T07:07:00.000Z");
    // On a site of their own, which `pnpm push clickstream` never generates: AnomalyAlert counts them apart from
    // the simulated storefronts (an alert on it names what pushed it).
    expect(new Set(events.map((e) => e.site))).toEqual(new Set(["push-demand.example"]));
    expect(siteNames(100)).not.toContain(DEMAND_SITE);
    // What hydration makes of it still reads as strong demand to the reference model.
    expect(suggestAdjustment({ views: 500, clicks: 150, addToCart: 60, purchases: 30, inventory: 58 })).toBeGreaterThan(
      0.1,
    );
  });
});
