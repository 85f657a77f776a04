import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_BATCHING, mapBounded, planInvocations } from "./batching.ts";
import {
  decodeModelAnswer,
  decodeModelRequest,
  encodeModelAnswer,
  encodeModelRequest,
  InvalidModelAnswer,
  MODEL_CONTENT_TYPES,
} from "./model-contract.ts";

const featuresArb = fc.record({
  views: fc.nat(1_000_000),
  clicks: fc.nat(1_000_000),
  addToCart: fc.nat(1_000_000),
  purchases: fc.nat(1_000_000),
  inventory: fc.nat(10_000_000),
});

describe.each(MODEL_CONTENT_TYPES)("model contract in %s", (contentType) => {
  it("round-trips several records and their answers, in order (property)", () => {
    fc.assert(
      fc.property(
        fc.array(featuresArb, { minLength: 1, maxLength: 50 }),
        fc.array(
          fc.oneof(
            fc.double({ min: -1, max: 1, noNaN: true }).map((x) => x + 0),
            fc.constant("bad input"),
          ),
          {
            minLength: 50,
          },
        ),
        (records, answers) => {
          expect(decodeModelRequest(encodeModelRequest(records, contentType), contentType)).toEqual(records);
          const predictions = records.map((_, i) =>
            typeof answers[i] === "string" ? { error: answers[i] as string } : { adjustment: answers[i] as number },
          );
          const body = encodeModelAnswer({ modelVersion: "v-7", predictions }, contentType);
          expect(decodeModelAnswer(body, contentType, records.length)).toEqual({ modelVersion: "v-7", predictions });
        },
      ),
    );
  });

  it("refuses an answer with the wrong number of predictions or no model version", () => {
    const body = encodeModelAnswer({ modelVersion: "v-7", predictions: [{ adjustment: 0.1 }] }, contentType);
    expect(() => decodeModelAnswer(body, contentType, 2)).toThrow(InvalidModelAnswer);
    const noVersion = encodeModelAnswer({ modelVersion: "", predictions: [{ adjustment: 0.1 }] }, contentType);
    expect(() => decodeModelAnswer(noVersion, contentType, 1)).toThrow(/model version/);
  });
});

describe("planInvocations", () => {
  it("packs every record once, in order, under both limits (property)", () => {
    fc.assert(
      fc.property(
        fc.array(featuresArb, { maxLength: 300 }),
        fc.constantFrom(...MODEL_CONTENT_TYPES),
        fc.integer({ min: 60, max: 5000 }),
        fc.integer({ min: 1, max: 120 }),
        (records, contentType, maxPayloadBytes, maxRecordsPerCall) => {
          const { calls, tooLarge } = planInvocations(records, contentType, { maxPayloadBytes, maxRecordsPerCall });
          expect([...calls.flat(), ...tooLarge].sort((a, b) => a - b)).toEqual(records.map((_, i) => i));
          expect(calls.flat()).toEqual([...calls.flat()].sort((a, b) => a - b));
          for (const call of calls) {
            expect(call.length).toBeGreaterThan(0);
            expect(call.length).toBeLessThanOrEqual(maxRecordsPerCall);
            const body = encodeModelRequest(
              call.map((i) => records[i] as (typeof records)[number]),
              contentType,
            );
            expect(Buffer.byteLength(body)).toBeLessThanOrEqual(maxPayloadBytes);
          }
        },
      ),
    );
  });

  it("makes one call for a 100-record batch by default", () => {
    const records = Array.from({ length: 100 }, () => ({
      views: 5000,
      clicks: 1500,
      addToCart: 600,
      purchases: 300,
      inventory: 12,
    }));
    expect(planInvocations(records, "application/json", DEFAULT_BATCHING).calls).toHaveLength(1);
    expect(
      planInvocations(records, "text/csv", { maxPayloadBytes: 1000, maxRecordsPerCall: 100 }).calls.length,
    ).toBeGreaterThan(1);
  });
});

describe("mapBounded", () => {
  it("keeps at most `limit` in flight and returns results in order", async () => {
    let inFlight = 0;
    let peak = 0;
    const out = await mapBounded([5, 1, 4, 2, 3, 0], 2, async (n) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((resolve) => setTimeout(resolve, n));
      inFlight--;
      return n * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30, 0]);
    expect(peak).toBe(2);
  });
});
