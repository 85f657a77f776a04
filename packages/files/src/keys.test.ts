import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bareETag, copySourceOf } from "./keys.ts";

describe("copySourceOf", () => {
  it("encodes the key once, keeping slashes, so S3 decodes it back exactly (property)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", minLength: 1, maxLength: 60 }), (key) => {
        const source = copySourceOf("inbox-bucket", key);
        expect(decodeURIComponent(source)).toBe(`inbox-bucket/${key}`);
        expect(source).not.toMatch(/[ +]/);
      }),
    );
  });

  it("names a version", () => {
    expect(copySourceOf("b", "a b+c.csv", "3/L4kqtJl")).toBe("b/a%20b%2Bc.csv?versionId=3%2FL4kqtJl");
  });
});

describe("bareETag", () => {
  it.each([
    ['"abc"', "abc"],
    ["abc", "abc"],
    ['"abc-3"', "abc-3"],
    ['W/"abc"', "abc"],
  ])("%s -> %s", (input, expected) => expect(bareETag(input)).toBe(expected));
});
