import fc from "fast-check";
import { snappyUncompress } from "hyparquet";
import { describe, expect, it } from "vitest";
import { snappyCompress } from "./snappy.ts";

function roundTrip(input: Uint8Array): Uint8Array {
  const compressed = snappyCompress(input);
  const output = new Uint8Array(input.length);
  snappyUncompress(compressed, output);
  return output;
}

describe("snappyCompress", () => {
  it("round-trips any bytes through a Snappy decoder (hyparquet's)", () => {
    const repetitive = fc
      .tuple(fc.uint8Array({ minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 5000 }))
      .map(([unit, times]) => {
        const out = new Uint8Array(unit.length * times);
        for (let i = 0; i < times; i++) out.set(unit, i * unit.length);
        return out;
      });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300_000 }), repetitive), (input) => {
        expect(roundTrip(input)).toEqual(input);
      }),
      { numRuns: 60 },
    );
  });

  it("compresses repetitive data and stays within the bound on random data", () => {
    const zeros = new Uint8Array(1 << 20);
    expect(snappyCompress(zeros).length).toBeLessThan(60_000);
    const random = new Uint8Array(200_000).map(() => Math.floor(Math.random() * 256));
    expect(snappyCompress(random).length).toBeLessThanOrEqual(32 + random.length + random.length / 6);
    expect(roundTrip(random)).toEqual(random);
  });
});
