/**
 * A change the catalog repository refuses (DynamoDB's ValidationError for one record's transaction: a key or an
 * attribute it does not take) is that record's refusal, with the repository's reason, kept by `keepRefused` (the
 * function's dead-letter queue): the rest of the batch goes on, nothing is retried.
 */
import type { AuditMessage } from "@sluice/messages";
import { catalogItem, STRONG_DEMAND as STRONG } from "@sluice/testing";
import { describe, expect, it } from "vitest";
import { createInProcessModel, createMemoryCatalog } from "./fixtures/in-memory.ts";
import { priceRequests, type RequestRecord } from "./inference.ts";
import type { CatalogRepository } from "./ports.ts";

const window = { windowStart: "2026-11-23T09:50:00.000Z", windowEnd: "2026-11-23T09:55:00.000Z" };
const record = (itemIdentifier: string, requestId: string, productId: string): RequestRecord => ({
  itemIdentifier,
  image: { requestId, productId, ...window, ...STRONG },
});

describe("priceRequests with a change the catalog refuses", () => {
  it("refuses that record with the reason, dead-lettered by keepRefused; the others are applied", async () => {
    const memory = createMemoryCatalog([catalogItem("a"), catalogItem("b")]);
    const catalog: CatalogRepository = {
      ...memory,
      applyChange: async (change) =>
        change.productId === "a"
          ? { refused: "price history record refused by DynamoDB: ValidationError: key too large" }
          : memory.applyChange(change),
    };
    const audit: AuditMessage[] = [];
    const kept: unknown[] = [];
    const result = await priceRequests([record("1", "r-1", "a"), record("2", "r-2", "b")], {
      model: createInProcessModel(),
      catalog,
      audit: { publishAll: async (m) => void audit.push(...m) },
      now: () => new Date("2026-11-23T10:00:00.000Z"),
      async keepRefused(refused) {
        kept.push(...refused);
        return new Map(refused.map((r) => [r.itemIdentifier, { kept: true, fields: { deadLetterMessageId: "dl-1" } }]));
      },
    });
    expect(result.failures).toEqual([]);
    expect(result.outcomes.map((o) => [o.itemIdentifier, o.kind])).toEqual([
      ["1", "refused"],
      ["2", "applied"],
    ]);
    expect(kept).toEqual([
      { itemIdentifier: "1", reason: "price history record refused by DynamoDB: ValidationError: key too large" },
    ]);
    expect(audit.find((m) => m.sequenceNumber === "1")).toMatchObject({
      outcome: "refused",
      requestId: "r-1",
      productId: "a",
      deadLetterMessageId: "dl-1",
    });
    expect(memory.items.get("b")).toMatchObject({ price: 110 });
    expect(memory.items.get("a")).toMatchObject({ price: 100 });
  });
});
