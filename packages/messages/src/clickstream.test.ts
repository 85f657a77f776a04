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
  });
});
