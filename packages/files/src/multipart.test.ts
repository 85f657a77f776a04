import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { GiB, MAX_PART_BYTES, MAX_PARTS, MIN_PART_BYTES, MiB, planMultipartCopy, TiB } from "./multipart.ts";

const size = fc.oneof(
  fc.integer({ min: 1, max: 100 * GiB }),
  fc.integer({ min: 100 * GiB, max: 5 * TiB }),
  fc.constantFrom(1, 5 * GiB + 1, 5 * TiB, 5 * TiB - 1, 128 * MiB, 128 * MiB + 1),
);

describe("planMultipartCopy", () => {
  it("covers the object exactly with contiguous parts within S3's limits (property)", () => {
    fc.assert(
      fc.property(size, fc.integer({ min: 1, max: 64 }), (bytes, maxParallelParts) => {
        const plan = planMultipartCopy(bytes, { maxParallelParts });
        expect(plan.parts.length).toBeGreaterThan(0);
        expect(plan.parts.length).toBeLessThanOrEqual(MAX_PARTS);
        // Plain checks per part (10,000 expect() calls per run would make this test take a minute).
        let expectedStart = 0;
        const problems: string[] = [];
        plan.parts.forEach((part, i) => {
          const length = part.end - part.start + 1;
          const last = i === plan.parts.length - 1;
          if (part.partNumber !== i + 1) problems.push(`part ${i} numbered ${part.partNumber}`);
          if (part.start !== expectedStart)
            problems.push(`part ${i + 1} starts at ${part.start}, not ${expectedStart}`);
          if (length < 1 || length > MAX_PART_BYTES) problems.push(`part ${i + 1} has ${length} bytes`);
          if (!last && (length !== plan.partBytes || length < MIN_PART_BYTES))
            problems.push(`part ${i + 1}: ${length}`);
          expectedStart = part.end + 1;
        });
        expect(problems).toEqual([]);
        expect(expectedStart).toBe(bytes);
        expect(plan.parallelism).toBe(Math.min(maxParallelParts, plan.parts.length));
      }),
      { numRuns: 200 },
    );
  });

  it("plans a 50 GB object in 373 parts of 128 MiB, 16 at a time", () => {
    const plan = planMultipartCopy(50 * 1000 ** 3);
    expect(plan.partBytes).toBe(128 * MiB);
    expect(plan.parts).toHaveLength(373);
    expect(plan.parallelism).toBe(16);
  });

  it("raises the part size for a 5 TiB object to stay within 10,000 parts", () => {
    const plan = planMultipartCopy(5 * TiB);
    expect(plan.parts.length).toBeLessThanOrEqual(MAX_PARTS);
    expect(plan.partBytes % MiB).toBe(0);
    expect(plan.partBytes).toBe(525 * MiB);
  });

  it.each([0, -1, 5 * TiB + 1, 1.5])("refuses %s bytes", (bytes) => {
    expect(() => planMultipartCopy(bytes)).toThrow(RangeError);
  });
});
