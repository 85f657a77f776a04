import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  byteLength,
  DEFAULT_MAX_LOG_BYTES,
  fitLogLine,
  LAMBDA_LOG_EVENT_MAX_BYTES,
  prefixWithinBytes,
  truncateRecord,
} from "./truncation.ts";

const powertoolsKeys = {
  level: "INFO",
  message: "SNS message",
  timestamp: "2026-08-20T10:00:00.000Z",
  service: "sns-logger",
  function_request_id: "c6af9ac6-7b61-11e6-9a41-93e812345678",
  correlation_id: "corr-1",
};

describe("limits", () => {
  it("keeps the default line size below the event size Lambda delivers to CloudWatch Logs, with a margin", () => {
    expect(DEFAULT_MAX_LOG_BYTES).toBeLessThanOrEqual(LAMBDA_LOG_EVENT_MAX_BYTES - 8 * 1024);
  });
});

describe("truncateRecord", () => {
  it("returns a small record untouched (same object, no marker)", () => {
    const record = { ...powertoolsKeys, sns: { topic: "Audit", message: "hello" } };

    expect(truncateRecord(record)).toBe(record);
  });

  it("cuts a 2 MB message to a prefix, keeps the rest of the record and marks it", () => {
    const message = `start-${"x".repeat(2 * 1024 * 1024)}-end`;
    const record = { ...powertoolsKeys, sns: { topic: "Audit", messageId: "m-1", message } };

    const output = truncateRecord(record) as typeof record;

    const size = byteLength(JSON.stringify(output));
    expect(size).toBeLessThanOrEqual(DEFAULT_MAX_LOG_BYTES);
    expect(size).toBeGreaterThan(DEFAULT_MAX_LOG_BYTES - 1024); // uses the room it has
    expect(output).toMatchObject({
      ...powertoolsKeys,
      truncated: true,
      originalBytes: byteLength(JSON.stringify(record)),
      truncatedFields: ["sns.message"],
      sns: { topic: "Audit", messageId: "m-1" },
    });
    expect(output.sns.message.startsWith("start-xxx")).toBe(true);
    expect(output.sns.message.endsWith("-end")).toBe(false);
  });

  it("turns an oversized object into the prefix of its JSON, at the deepest value that fixes the record", () => {
    const items = Array.from({ length: 50_000 }, (_, i) => ({ i, sku: `SKU-${i}`, qty: 1 }));
    const record = { ...powertoolsKeys, sns: { topic: "Audit", message: { batch: "b-1", items } } };

    const output = truncateRecord(record, 64 * 1024);

    expect(byteLength(JSON.stringify(output))).toBeLessThanOrEqual(64 * 1024);
    expect(output).toMatchObject({ truncatedFields: ["sns.message.items"], sns: { message: { batch: "b-1" } } });
    const { items: cut } = (output as { sns: { message: { items: unknown } } }).sns.message;
    expect(typeof cut).toBe("string");
    expect(String(cut).startsWith('[{"i":0,"sku":"SKU-0","qty":1}')).toBe(true);
  });

  it("counts bytes, not characters, and escapes (multi-byte text, quotes, newlines)", () => {
    const message = 'é"\n😀'.repeat(200_000);
    const record = { ...powertoolsKeys, message: "m", detail: message };

    const output = truncateRecord(record, 32 * 1024);

    const serialized = JSON.stringify(output);
    expect(byteLength(serialized)).toBeLessThanOrEqual(32 * 1024);
    expect(serialized).not.toContain("\uFFFD");
    expect(JSON.parse(serialized)).toMatchObject({ truncated: true, truncatedFields: ["detail"] });
  });

  it("falls back to the essential keys and a preview when no single value is to blame", () => {
    const record: Record<string, unknown> = { ...powertoolsKeys };
    for (let i = 0; i < 4_000; i++) record[`field${i}`] = "v".repeat(60);

    const output = truncateRecord(record, 16 * 1024);

    expect(byteLength(JSON.stringify(output))).toBeLessThanOrEqual(16 * 1024);
    expect(output).toMatchObject({ ...powertoolsKeys, truncated: true, truncatedFields: ["*"] });
    expect(String(output.preview).startsWith('{"level":"INFO"')).toBe(true);
  });

  it("always fits and stays valid JSON, whatever the shape (property)", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), fc.integer({ min: 4096, max: 20_000 }), (value, maxBytes) => {
        const record = { ...powertoolsKeys, payload: value, blob: "z".repeat(maxBytes) };

        const serialized = JSON.stringify(truncateRecord(record, maxBytes));

        expect(byteLength(serialized)).toBeLessThanOrEqual(maxBytes);
        expect(JSON.parse(serialized)).toMatchObject({ level: "INFO", truncated: true });
      }),
      { numRuns: 150 },
    );
  });
});

describe("fitLogLine", () => {
  it("returns a line that fits as it is", () => {
    const line = JSON.stringify({ ...powertoolsKeys, detail: "small" });

    expect(fitLogLine(line)).toBe(line);
  });

  it("wraps a line that is not a JSON object into a record with a preview", () => {
    const line = "not json ".repeat(100_000);

    const output = JSON.parse(fitLogLine(line, 8 * 1024));

    expect(output).toMatchObject({ truncated: true, originalBytes: byteLength(line) });
    expect(output.preview.startsWith("not json not json")).toBe(true);
  });
});

describe("prefixWithinBytes", () => {
  it("never splits a surrogate pair", () => {
    expect(prefixWithinBytes("😀😀😀", 2 + 4 + 3)).toBe("😀");
  });
});
