import { describe, expect, it } from "vitest";
import {
  CLICKSTREAM_ACTIONS,
  clickstreamEventIssues,
  InvalidClickstreamEvent,
  isClickstreamEvent,
  isIsoUtcTimestamp,
  parseClickstreamEvent,
} from "./clickstream.ts";
import { clickstreamEventJsonSchema } from "./clickstream-json-schema.ts";

const event = {
  eventId: "0b9c2f8e-3f1d-4c55-9b7a-2f0a0e6d9c11",
  ts: "2026-03-01T12:34:56.789Z",
  site: "fast-sneakers.example",
  page: "/product/sku-123",
  productId: "sku-123",
  action: "click",
  sessionId: "s-4f1e",
};

describe("clickstream event", () => {
  it.each(CLICKSTREAM_ACTIONS)("accepts action %s", (action) => {
    expect(clickstreamEventIssues({ ...event, action })).toEqual([]);
    expect(parseClickstreamEvent({ ...event, action }).action).toBe(action);
  });

  it("tolerates extra fields (producers may add context)", () => {
    expect(isClickstreamEvent({ ...event, userAgent: "curl" })).toBe(true);
  });

  it.each([
    [{ ...event, action: "view" }, ['action: "view" is not one of impression, click, add_to_cart, purchase']],
    [
      { ...event, ts: "2026-03-01 12:34:56" },
      ['ts: "2026-03-01 12:34:56" is not an ISO-8601 UTC timestamp like 2026-03-01T12:34:56.789Z'],
    ],
    [{ ...event, eventId: undefined }, ["eventId: missing"]],
    [{ ...event, site: "  " }, ["site: empty"]],
    [{ ...event, productId: 123 }, ["productId: expected a string, got number"]],
    [{ ...event, sessionId: null }, ["sessionId: expected a string, got null"]],
    [[event], ["expected a JSON object, got an array"]],
    ["click", ["expected a JSON object, got string"]],
  ])("reports every issue: %j", (value, issues) => {
    expect(clickstreamEventIssues(value)).toEqual(issues);
  });

  it.each(["site", "productId"])("bounds %s, part of table keys, to 200 bytes of UTF-8", (field) => {
    expect(clickstreamEventIssues({ ...event, [field]: "x".repeat(200) })).toEqual([]);
    expect(clickstreamEventIssues({ ...event, [field]: "é".repeat(100) })).toEqual([]);
    expect(clickstreamEventIssues({ ...event, [field]: "é".repeat(101) })).toEqual([
      `${field}: 202 bytes long, more than 200 (it is part of table keys): "${"é".repeat(40)}"...`,
    ]);
    expect(clickstreamEventIssues({ ...event, [field]: "p".repeat(5000) })).toEqual([
      `${field}: 5000 bytes long, more than 200 (it is part of table keys): "${"p".repeat(40)}"...`,
    ]);
  });

  it("does not bound fields that are no table's key (eventId, page, sessionId): a record is at most 1 MiB", () => {
    for (const field of ["eventId", "page", "sessionId"]) {
      expect(clickstreamEventIssues({ ...event, [field]: "x".repeat(5000) })).toEqual([]);
    }
  });

  it("lists all issues at once", () => {
    expect(clickstreamEventIssues({ action: "buy" })).toHaveLength(7);
  });

  it("throws InvalidClickstreamEvent from parse", () => {
    expect(() => parseClickstreamEvent({ ...event, action: "buy" })).toThrow(InvalidClickstreamEvent);
  });

  it.each([
    ["2026-03-01T12:34:56Z", true],
    ["2026-03-01T12:34:56.1Z", true],
    ["2026-03-01T12:34:56.123456789Z", true],
    ["2024-02-29T00:00:00Z", true],
    ["2026-02-29T00:00:00Z", false],
    ["2026-02-30T00:00:00Z", false],
    ["2026-03-01T24:00:00Z", false],
    ["2026-03-01T12:34:60Z", false],
    ["2026-03-01T12:34:56+01:00", false],
    ["2026-03-01T12:34:56", false],
    ["2026-03-01", false],
    ["1772368496789", false],
  ])("ISO-8601 UTC: %s -> %s", (ts, valid) => {
    expect(isIsoUtcTimestamp(ts)).toBe(valid);
  });

  it("has a JSON Schema with the same required fields and actions", () => {
    expect(clickstreamEventJsonSchema.required).toEqual(Object.keys(event));
    expect(clickstreamEventJsonSchema.properties.action.enum).toEqual([...CLICKSTREAM_ACTIONS]);
    expect(new RegExp(clickstreamEventJsonSchema.properties.ts.pattern).test(event.ts)).toBe(true);
    // Characters, all JSON Schema can count: 200 bytes of UTF-8 are at most 200 characters.
    expect(clickstreamEventJsonSchema.properties.site?.maxLength).toBe(200);
    expect(clickstreamEventJsonSchema.properties.productId?.maxLength).toBe(200);
  });
});
