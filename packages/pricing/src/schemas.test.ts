import { describe, expect, it } from "vitest";
import {
  catalogItemSchema,
  describeIssues,
  MAX_INSTANT_LENGTH,
  MAX_REQUEST_ID_BYTES,
  parseInferenceRequest,
} from "./schemas.ts";

const bytes = (text: string) => Buffer.byteLength(text, "utf8");
const request = {
  requestId: "r-1",
  productId: "p-1",
  windowStart: "2026-12-05T09:50:00.000Z",
  windowEnd: "2026-12-05T09:55:00.000Z",
  views: 1,
  clicks: 1,
  addToCart: 0,
  purchases: 0,
  inventory: 3,
};
/** The longest window end the schema takes: nanoseconds. */
const longestEnd = "2026-12-05T09:55:00.123456789Z";

describe("inference request limits (parts of DynamoDB keys)", () => {
  it("bounds the request id in UTF-8 bytes so the price history key <windowEnd>#<requestId> is at most 1 024", () => {
    expect(longestEnd.length).toBe(MAX_INSTANT_LENGTH);
    expect(MAX_REQUEST_ID_BYTES).toBe(1024 - 1 - MAX_INSTANT_LENGTH);
    const atLimit = `${"€".repeat(330)}abc`;
    expect(bytes(atLimit)).toBe(MAX_REQUEST_ID_BYTES);
    expect(bytes(`${longestEnd}#${atLimit}`)).toBe(1024);
    expect(parseInferenceRequest({ ...request, requestId: atLimit, windowEnd: longestEnd }).ok).toBe(true);

    expect(parseInferenceRequest({ ...request, requestId: `${atLimit}d` })).toEqual({
      ok: false,
      reason: `requestId: 994 bytes long, more than 993 (it is part of the price history's key): "${"€".repeat(40)}"...`,
    });
    // The reviewer's: 340 characters, 1 018 bytes.
    const reviewer = `C${"€".repeat(339)}`;
    expect(parseInferenceRequest({ ...request, requestId: reviewer })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^requestId: 1018 bytes long, more than 993/),
    });
  });

  it("bounds the product id to the clickstream contract's 200 bytes of UTF-8", () => {
    expect(parseInferenceRequest({ ...request, productId: "é".repeat(100) }).ok).toBe(true);
    expect(parseInferenceRequest({ ...request, productId: `${"é".repeat(100)}x` })).toEqual({
      ok: false,
      reason: `productId: 201 bytes long, more than 200 (it is part of table keys): "${"é".repeat(40)}"...`,
    });
  });

  it("takes window instants to the nanosecond, not longer", () => {
    expect(parseInferenceRequest({ ...request, windowEnd: longestEnd }).ok).toBe(true);
    expect(parseInferenceRequest({ ...request, windowEnd: "2026-12-05T09:55:00.1234567891Z" })).toEqual({
      ok: false,
      reason: "windowEnd: must be an ISO-8601 UTC instant (…Z) to the nanosecond at most",
    });
  });
});

describe("catalog item", () => {
  const item = { productId: "p-1", price: 100, currency: "USD", cost: 60, minPrice: 80, maxPrice: 130 };

  it("refuses an amount beyond 2^53 (a number the catalog adapter could only read as the closest one)", () => {
    expect(catalogItemSchema.safeParse({ ...item, maxPrice: Number.MAX_SAFE_INTEGER }).success).toBe(true);
    const parsed = catalogItemSchema.safeParse({ ...item, price: 12345678901234568 });
    expect(parsed.error && describeIssues(parsed.error)).toBe(
      "price: 12345678901234568 is more than 9007199254740991 (2^53 - 1): not an exact amount",
    );
  });
});
