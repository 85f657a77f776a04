import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeS3EventKey, eventMatches, keyMatches, s3EventRecord } from "./s3-events.ts";

/** How AWS documents decoding an S3 event key in a handler. */
const decode = (key: string) => decodeURIComponent(key.replace(/\+/g, " "));

describe("S3 event keys", () => {
  it.each([
    ["incoming/sales/2026 report.csv", "incoming/sales/2026+report.csv"],
    ["a+b.txt", "a%2Bb.txt"],
    ["100%.txt", "100%25.txt"],
    ["raw/dt=2026-11-23/x.json", "raw/dt%3D2026-11-23/x.json"],
    ["données/été.csv", "donn%C3%A9es/%C3%A9t%C3%A9.csv"],
    ["emoji/😀.txt", "emoji/%F0%9F%98%80.txt"],
    ["plain/key-1_2.3*.gz", "plain/key-1_2.3*.gz"],
  ])("encodes %j as S3 does: %j", (key, encoded) => {
    expect(encodeS3EventKey(key)).toBe(encoded);
    expect(decode(encoded)).toBe(key);
  });

  it("round-trips any key through the documented decoding", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 60 }), (key) => {
        expect(decode(encodeS3EventKey(key))).toBe(key);
      }),
    );
  });
});

describe("notification matching", () => {
  it.each([
    [["s3:ObjectCreated:*"], "ObjectCreated:Put", true],
    [["s3:ObjectCreated:*"], "ObjectCreated:CompleteMultipartUpload", true],
    [["s3:ObjectCreated:*"], "ObjectRemoved:Delete", false],
    [["s3:ObjectRemoved:Delete"], "ObjectRemoved:Delete", true],
    [["s3:ObjectCreated:Put"], "ObjectCreated:Copy", false],
  ] as const)("%j fires for %s: %s", (configured, eventName, expected) => {
    expect(eventMatches(configured, eventName)).toBe(expected);
  });

  it("filters on the raw key's prefix and suffix", () => {
    expect(keyMatches("requests/delete/a b.json", "requests/delete/", ".json")).toBe(true);
    expect(keyMatches("requests/delete/a.txt", "requests/delete/", ".json")).toBe(false);
    expect(keyMatches("incoming/x", "requests/", undefined)).toBe(false);
    expect(keyMatches("anything", undefined, undefined)).toBe(true);
  });
});

describe("S3 event record", () => {
  it("has the fields and shape S3 sends to Lambda", () => {
    const record = s3EventRecord(
      {
        bucket: "sluice-local-inbox",
        key: "incoming/my file.csv",
        eventName: "ObjectCreated:Put",
        size: 42,
        eTag: "0123456789abcdef0123456789abcdef",
        sequencer: "0055AED6DCD90281E5",
        eventTime: new Date("2026-11-23T10:00:00.000Z"),
        sourceIp: "127.0.0.1",
        requestId: "C3D13FE58DE4C810",
      },
      { region: "us-east-1", configurationId: "FileMover-Inbox" },
    );
    expect(record).toEqual({
      eventVersion: "2.1",
      eventSource: "aws:s3",
      awsRegion: "us-east-1",
      eventTime: "2026-11-23T10:00:00.000Z",
      eventName: "ObjectCreated:Put",
      userIdentity: { principalId: expect.any(String) },
      requestParameters: { sourceIPAddress: "127.0.0.1" },
      responseElements: { "x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": expect.any(String) },
      s3: {
        s3SchemaVersion: "1.0",
        configurationId: "FileMover-Inbox",
        bucket: {
          name: "sluice-local-inbox",
          ownerIdentity: { principalId: expect.any(String) },
          arn: "arn:aws:s3:::sluice-local-inbox",
        },
        object: {
          key: "incoming/my+file.csv",
          size: 42,
          eTag: "0123456789abcdef0123456789abcdef",
          sequencer: "0055AED6DCD90281E5",
        },
      },
    });
  });
});
