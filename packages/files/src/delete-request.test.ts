import { describe, expect, it } from "vitest";
import { continuationKeyOf, reportKeyOf, requestNameOf, validateDeleteRequest } from "./delete-request.ts";

const allowList = { Lake: "sluice-local-lake", Inbox: "sluice-local-inbox" };

describe("validateDeleteRequest", () => {
  it("accepts a request by component or physical name, with defaults", () => {
    for (const bucket of ["Lake", "sluice-local-lake"]) {
      const result = validateDeleteRequest({ bucket, prefixes: ["raw/x/"], reason: "GDPR #12" }, allowList);
      expect(result).toEqual({
        ok: true,
        request: {
          bucket,
          bucketName: "Lake",
          physicalBucket: "sluice-local-lake",
          keys: [],
          prefixes: ["raw/x/"],
          allVersions: false,
          rawPrefixes: false,
          dryRun: false,
          reason: "GDPR #12",
          dropped: 0,
        },
      });
    }
  });

  it.each([
    ["not an object", "delete everything"],
    ["no reason", { bucket: "Lake", prefixes: ["a/"] }],
    ["nothing to delete", { bucket: "Lake", reason: "r" }],
    ["an unknown field", { bucket: "Lake", prefixes: ["a/"], reason: "r", recursive: true }],
    ["a wrong type", { bucket: "Lake", prefixes: "a/", reason: "r" }],
    ["an empty key", { bucket: "Lake", keys: [""], reason: "r" }],
    ["allVersions as a string", { bucket: "Lake", keys: ["a"], reason: "r", allVersions: "yes" }],
  ])("refuses a malformed request: %s", (_, input) => {
    const result = validateDeleteRequest(input, allowList);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.refusal.code).toBe("malformed");
  });

  it.each([
    [
      "an unknown field",
      { bucket: "Lake", prefixes: ["a/"], reason: "r", recursive: true },
      'Unrecognized key: "recursive"',
    ],
    ["keys as a string", { bucket: "Lake", keys: "raw/x", reason: "r" }, "keys: expected array, received string"],
    ["no reason", { bucket: "Lake", prefixes: ["a/"] }, "reason: expected string, received undefined"],
    [
      "allVersions as a string",
      { bucket: "Lake", keys: ["a"], reason: "r", allVersions: "yes" },
      "allVersions: expected boolean, received string",
    ],
    ["not an object", "delete everything", "expected object, received string"],
  ])("says what is wrong with a malformed request: %s", (_, input, issue) => {
    const result = validateDeleteRequest(input, allowList);
    expect(result).toEqual({
      ok: false,
      refusal: { code: "malformed", message: `malformed request: ${issue}`, issues: [issue] },
    });
  });

  it("refuses a bucket outside the allow-list", () => {
    const result = validateDeleteRequest({ bucket: "someone-elses-bucket", prefixes: ["a/"], reason: "r" }, allowList);
    expect(result).toMatchObject({ ok: false, refusal: { code: "bucket-not-allowed" } });
  });

  it("refuses an empty prefix without confirm, or with the wrong bucket's name", () => {
    for (const confirm of [undefined, "Inbox", "yes"]) {
      const result = validateDeleteRequest(
        { bucket: "Lake", prefixes: [""], reason: "r", ...(confirm ? { confirm } : {}) },
        allowList,
      );
      expect(result).toMatchObject({ ok: false, refusal: { code: "confirm-required" } });
    }
    expect(
      validateDeleteRequest({ bucket: "Lake", prefixes: [""], reason: "r", confirm: "sluice-local-lake" }, allowList)
        .ok,
    ).toBe(true);
  });

  it("drops duplicate keys, nested prefixes and keys under a prefix, so nothing is listed twice", () => {
    const result = validateDeleteRequest(
      { bucket: "Lake", keys: ["a/1", "a/1", "b/1", "c"], prefixes: ["a/", "a/x/", "b/", "a/"], reason: "r" },
      allowList,
    );
    expect(result).toMatchObject({ ok: true, request: { keys: ["c"], prefixes: ["a/", "b/"], dropped: 5 } });
  });
});

describe("names", () => {
  it("names a request by its key and places its report and continuations", () => {
    expect(requestNameOf("requests/delete/gdpr/2026-11-23.json")).toBe("gdpr/2026-11-23");
    expect(reportKeyOf("gdpr/2026-11-23")).toBe("reports/delete/gdpr/2026-11-23.json");
    expect(continuationKeyOf("gdpr/x", 3)).toBe("requests/delete/.continue/gdpr/x/000003.json");
  });
});

describe("prefixes", () => {
  it("refuses a prefix that does not end in /, unless rawPrefixes says so", () => {
    const folder = validateDeleteRequest({ bucket: "Lake", prefixes: ["raw/c-42/"], reason: "r" }, allowList);
    const bare = validateDeleteRequest({ bucket: "Lake", prefixes: ["raw/c-42/", "raw/c-42"], reason: "r" }, allowList);
    const raw = validateDeleteRequest(
      { bucket: "Lake", prefixes: ["raw/c-42"], rawPrefixes: true, reason: "r" },
      allowList,
    );
    const whole = validateDeleteRequest({ bucket: "Lake", prefixes: [""], confirm: "Lake", reason: "r" }, allowList);

    expect(folder.ok).toBe(true);
    expect(bare).toMatchObject({ ok: false, refusal: { code: "prefix-not-folder" } });
    expect(raw).toMatchObject({ ok: true, request: { prefixes: ["raw/c-42"], rawPrefixes: true } });
    expect(whole.ok).toBe(true);
  });
});
