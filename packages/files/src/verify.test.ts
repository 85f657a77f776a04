import { describe, expect, it } from "vitest";
import type { Checksum } from "./ports.ts";
import { verifyCopy } from "./verify.ts";

const crc = (value: string, type: Checksum["type"] = "FULL_OBJECT"): Checksum => ({
  algorithm: "CRC64NVME",
  value,
  type,
});

describe("verifyCopy", () => {
  it("verifies by checksum of the same algorithm and type", () => {
    expect(
      verifyCopy({ size: 5, eTag: "a-2", checksum: crc("x") }, { receipt: { eTag: "b", checksum: crc("x") } }),
    ).toEqual({
      verdict: "verified",
      by: "checksum",
    });
  });

  it("fails on a different checksum even if the ETags agree", () => {
    expect(
      verifyCopy({ size: 5, eTag: "a", checksum: crc("x") }, { receipt: { eTag: "a", checksum: crc("y") } }).verdict,
    ).toBe("mismatch");
  });

  it("verifies single-part copies by their MD5 ETags, and fails when they differ", () => {
    expect(verifyCopy({ size: 5, eTag: '"abc"' }, { receipt: { eTag: "abc" } })).toEqual({
      verdict: "verified",
      by: "etag",
    });
    expect(verifyCopy({ size: 5, eTag: "abc" }, { receipt: { eTag: "abd" } }).verdict).toBe("mismatch");
  });

  it("fails on a different size whatever else agrees", () => {
    expect(
      verifyCopy({ size: 5, eTag: "abc" }, { receipt: { eTag: "abc" }, destination: { size: 6, eTag: "abc" } }).verdict,
    ).toBe("mismatch");
  });

  it("needs the destination's size when nothing is comparable (multipart source, single-part copy)", () => {
    const source = { size: 5, eTag: "aaa-2" };
    expect(verifyCopy(source, { receipt: { eTag: "bbb" } })).toEqual({ verdict: "inconclusive" });
    expect(verifyCopy(source, { receipt: { eTag: "bbb" }, destination: { size: 5, eTag: "bbb" } })).toEqual({
      verdict: "verified",
      by: "size-and-receipt",
    });
    expect(verifyCopy(source, { receipt: { eTag: "bbb" }, destination: { size: 5, eTag: "ccc" } }).verdict).toBe(
      "mismatch",
    );
  });

  it("does not compare checksums of different types (composite vs full object)", () => {
    expect(
      verifyCopy(
        { size: 5, eTag: "a-2", checksum: crc("x-2", "COMPOSITE") },
        { receipt: { eTag: "b", checksum: crc("y") } },
      ),
    ).toEqual({ verdict: "inconclusive" });
  });

  it("proves a copy by equal composite checksums, and takes different ones for another part layout, not a mismatch", () => {
    const sha = (value: string, type: Checksum["type"] = "COMPOSITE"): Checksum => ({
      algorithm: "SHA256",
      value,
      type,
    });
    const source = { size: 6 * 1024 ** 3, eTag: "s-700", checksum: sha("AAA=-700") };

    expect(verifyCopy(source, { receipt: { eTag: "c-48", checksum: sha("AAA=-700") } })).toEqual({
      verdict: "verified",
      by: "checksum",
    });
    expect(verifyCopy(source, { receipt: { eTag: "c-48", checksum: sha("BBB=-48") } })).toEqual({
      verdict: "inconclusive",
    });
    expect(verifyCopy(source, { receipt: { eTag: "c-700", checksum: sha("BBB=-700") } })).toEqual({
      verdict: "inconclusive",
    });
    // The fallback: the destination read back, its size the source's, its ETag the one the copy wrote.
    const destination = { size: source.size, eTag: "c-48", checksum: sha("BBB=-48") };
    expect(verifyCopy(source, { receipt: { eTag: "c-48" }, destination })).toEqual({
      verdict: "verified",
      by: "size-and-receipt",
    });
    expect(verifyCopy(source, { receipt: { eTag: "c-48" }, destination: { ...destination, size: 1 } }).verdict).toBe(
      "mismatch",
    );
  });

  it("fails on different full-object checksums whatever the part layouts", () => {
    expect(
      verifyCopy({ size: 5, eTag: "a-700", checksum: crc("x") }, { receipt: { eTag: "b-48", checksum: crc("y") } })
        .verdict,
    ).toBe("mismatch");
  });
});
