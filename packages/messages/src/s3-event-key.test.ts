import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeS3EventKey, InvalidEventKey } from "./s3-event-key.ts";

/** S3's event key encoding (form URL encoding, `/` kept), as AWS sends it. */
function encodeLikeS3(key: string): string {
  let out = "";
  for (const char of key) {
    if (/[A-Za-z0-9\-_.*/]/.test(char)) out += char;
    else if (char === " ") out += "+";
    else for (const byte of Buffer.from(char, "utf8")) out += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

describe("decodeS3EventKey", () => {
  it.each([
    ["incoming/orders/2026+report.csv", "incoming/orders/2026 report.csv"],
    ["incoming/a%2Bb.csv", "incoming/a+b.csv"],
    ["incoming/a%2520b.csv", "incoming/a%20b.csv"],
    ["incoming/caf%C3%A9/%E6%97%A5%E6%9C%AC.txt", "incoming/café/日本.txt"],
    ["incoming/%F0%9F%98%80+x", "incoming/😀 x"],
    ["incoming/100%25.csv", "incoming/100%.csv"],
    ["incoming/plain.csv", "incoming/plain.csv"],
  ])("decodes %s", (encoded, expected) => {
    expect(decodeS3EventKey(encoded)).toBe(expected);
  });

  it("rejects a key that is not percent-encoding", () => {
    expect(() => decodeS3EventKey("incoming/%zz")).toThrow(InvalidEventKey);
  });

  it("inverts S3's encoding for every key (property)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", minLength: 1, maxLength: 60 }), (key) => {
        expect(decodeS3EventKey(encodeLikeS3(key))).toBe(key);
      }),
      { numRuns: 500 },
    );
  });
});
