import { describe, expect, it } from "vitest";
import { decodeClickstreamRecord, decodeKinesisJson, UndecodableRecord } from "./kinesis.ts";

const event = {
  eventId: "e-1",
  ts: "2026-03-01T12:34:56.789Z",
  site: "café.example",
  page: "/p/1",
  productId: "p-1",
  action: "click",
  sessionId: "s-1",
};

/** Record data as Lambda hands it over: the record's bytes, base64. */
const data = (text: string) => Buffer.from(text, "utf8").toString("base64");

describe("Kinesis record data", () => {
  it("decodes a clickstream event (UTF-8), extra fields kept", () => {
    expect(decodeClickstreamRecord(data(JSON.stringify({ ...event, referrer: "x" })))).toEqual({
      ...event,
      referrer: "x",
    });
  });

  it("decodes any JSON value", () => {
    expect(decodeKinesisJson(data("[1,2]"))).toEqual([1, 2]);
  });

  it("says a record is not JSON, with its first 80 characters", () => {
    const text = `{oops ${"x".repeat(100)}`;
    expect(() => decodeKinesisJson(data(text))).toThrow(new UndecodableRecord(`not JSON: "{oops ${"x".repeat(74)}"`));
  });

  it("says a record is not a clickstream event, with every issue", () => {
    const record = data(JSON.stringify({ ...event, site: undefined, action: "view" }));
    expect(() => decodeClickstreamRecord(record)).toThrow(
      new UndecodableRecord(
        'not a clickstream event: site: missing; action: "view" is not one of impression, click, add_to_cart, purchase',
      ),
    );
    expect(() => decodeClickstreamRecord(record)).toThrow(UndecodableRecord);
  });
});
