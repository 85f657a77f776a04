import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import { type CsvFields, CsvReader, CsvSyntaxError, formatCsvRecord, parseCsv } from "./csv.ts";

describe("parseCsv", () => {
  it.each([
    ["plain fields", "a,b,c\n", [["a", "b", "c"]]],
    ['NULL is an empty unquoted field, "" an empty string', 'a,,""\n', [["a", null, ""]]],
    ["trailing NULL", "a,\n", [["a", null]]],
    [
      "trailing NULL at the very end",
      "a,b\nc,",
      [
        ["a", "b"],
        ["c", null],
      ],
    ],
    ["a lone empty line is one NULL field", "a\n\nb\n", [["a"], [null], ["b"]]],
    [
      "embedded comma, quote and newlines",
      '"x,y","say ""hi""","l1\nl2\r\nl3"\n',
      [["x,y", 'say "hi"', "l1\nl2\r\nl3"]],
    ],
    [
      "CRLF records",
      "a,b\r\nc,d\r\n",
      [
        ["a", "b"],
        ["c", "d"],
      ],
    ],
    [
      "no final newline",
      "a,b\nc,d",
      [
        ["a", "b"],
        ["c", "d"],
      ],
    ],
    ["unicode", "日本,ünï,🙂\n", [["日本", "ünï", "🙂"]]],
    ["a byte-order mark is dropped", "\ufeffa,b\n", [["a", "b"]]],
    ["spaces are kept", " a , b \n", [[" a ", " b "]]],
  ])("%s", (_, text, expected) => {
    expect(parseCsv(text)).toEqual(expected);
  });

  it.each([
    ["truncated quote", 'a,"bc\n', 1, /unterminated/],
    ["text after a closing quote", 'a\n"b"c,d\n', 2, /after a closing quote/],
    ["quote in an unquoted field", 'a\nb"c\n', 2, /quote inside/],
  ])("rejects %s with the record number", (_, text, record, reason) => {
    const error = (() => {
      try {
        parseCsv(text);
      } catch (e) {
        return e;
      }
    })() as CsvSyntaxError;
    expect(error).toBeInstanceOf(CsvSyntaxError);
    expect(error.record).toBe(record);
    expect(error.message).toMatch(reason);
  });

  it("round-trips any records, split into chunks anywhere", () => {
    const field = fc.option(fc.string({ unit: "grapheme", maxLength: 8 }), { nil: null });
    const record = fc.array(field, { minLength: 2, maxLength: 5 });
    fc.assert(
      fc.property(
        fc.array(record, { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (records, cuts) => {
          const text = records.map(formatCsvRecord).join("");
          const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
          const reader = new CsvReader();
          const out = [];
          let last = 0;
          for (const p of points) {
            out.push(...reader.push(text.slice(last, p)));
            last = p;
          }
          out.push(...reader.push(text.slice(last)), ...reader.end());
          expect(out).toEqual(records);
        },
      ),
    );
  });

  it("reads UTF-8 bytes split anywhere, inside a character too (scanBytes)", () => {
    const field = fc.option(fc.string({ unit: "grapheme", maxLength: 8 }), { nil: null });
    const record = fc.array(field, { minLength: 2, maxLength: 5 });
    fc.assert(
      fc.property(
        fc.array(record, { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.boolean(),
        (records, cuts, bom) => {
          fc.pre(!records[0]?.[0]?.startsWith("\ufeff")); // a leading U+FEFF is a byte-order mark
          const bytes = new TextEncoder().encode(`${bom ? "\ufeff" : ""}${records.map(formatCsvRecord).join("")}`);
          const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
          const reader = new CsvReader();
          const out: (string | null)[][] = [];
          const collect = (f: CsvFields) => out.push(f.record());
          let last = 0;
          for (const p of [...points, bytes.length]) {
            reader.scanBytes(bytes.subarray(last, p), collect);
            last = p;
          }
          reader.finishBytes(collect);
          expect(out).toEqual(records);
        },
      ),
    );
    const reader = new CsvReader();
    reader.scanBytes(new Uint8Array([0x61, 0x2c, 0xe6, 0x97]), () => undefined);
    expect(() => reader.finishBytes(() => undefined)).toThrow(TypeError);
  });

  it("reads any text, corrupt too, split anywhere, exactly as the whole text: same records or same error", () => {
    const field = fc.option(fc.string({ unit: "grapheme", maxLength: 8 }), { nil: null });
    const record = fc.array(field, { minLength: 1, maxLength: 4 });
    const outcome = (read: () => (string | null)[][]) => {
      try {
        return { records: read() };
      } catch (e) {
        return { error: e instanceof CsvSyntaxError ? [e.record, e.message] : String(e) };
      }
    };
    fc.assert(
      fc.property(
        fc.array(record, { minLength: 1, maxLength: 6 }),
        // corruption: characters inserted at positions (quotes, CR, LF, commas)
        fc.array(fc.tuple(fc.nat(), fc.constantFrom('"', "\r", "\n", ",", "x")), { maxLength: 3 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (records, inserts, cuts) => {
          let text = records.map(formatCsvRecord).join("");
          for (const [at, c] of inserts) {
            const p = at % (text.length + 1);
            text = text.slice(0, p) + c + text.slice(p);
          }
          const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
          const chunked = () => {
            const reader = new CsvReader();
            const out: (string | null)[][] = [];
            let last = 0;
            for (const p of [...points, text.length]) {
              out.push(...reader.push(text.slice(last, p)));
              last = p;
            }
            return [...out, ...reader.end()];
          };
          expect(outcome(chunked)).toEqual(outcome(() => parseCsv(text)));
        },
      ),
      { numRuns: 500 },
    );
  });
});

/**
 * Characters the reader examines: what its scanning methods are handed beyond their start (`parse(text, final,
 * onRecord, from)`, `findRecordEnd(text, from)`), counted through spies on the prototype. A method renamed or gone
 * fails the test (it would count nothing).
 */
function countScanned(run: () => void): number {
  const proto = CsvReader.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
  let scanned = 0;
  const scanners = ["parse", "findRecordEnd"];
  expect(scanners.filter((name) => typeof proto[name] !== "function")).toEqual([]);
  const spies = scanners.map((name) => {
    const original = proto[name] as (...args: unknown[]) => unknown;
    const fromIndex = name === "parse" ? 3 : 1;
    return vi.spyOn(proto, name).mockImplementation(function (this: unknown, ...args: unknown[]) {
      scanned += (args[0] as string).length - ((args[fromIndex] as number | undefined) ?? 0);
      return original.apply(this, args);
    });
  });
  try {
    run();
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
  return scanned;
}

describe("rejecting an unterminated quote", () => {
  /** Valid rows, then a field whose quote never closes, followed by `mb` MB of lines, fed in 64 KB chunks. */
  const hostile = (mb: number) => {
    const line = "I,12345,some text,12.50,2026-11-01 12:00:00.000000\n";
    const body = line.repeat(Math.ceil((mb * 2 ** 20) / line.length));
    return new TextEncoder().encode(`${line.repeat(10)}I,1,"never closed,1.00,x\n${body}`);
  };
  const reject = (bytes: Uint8Array) => {
    const reader = new CsvReader();
    let error: unknown;
    const work = countScanned(() => {
      try {
        for (let i = 0; i < bytes.length; i += 1 << 16) reader.scanBytes(bytes.subarray(i, i + (1 << 16)), () => {});
        reader.finishBytes(() => {});
      } catch (e) {
        error = e;
      }
    });
    expect(error).toBeInstanceOf(CsvSyntaxError);
    expect(error).toMatchObject({ record: 11, message: expect.stringMatching(/unterminated/) });
    return work;
  };

  it("examines each character a bounded number of times: work grows linearly with the file", () => {
    const small = hostile(2);
    const large = hostile(4);
    const smallWork = reject(small);
    const largeWork = reject(large);
    // Every character examined (the quote never closes: the reader must see the end), each a bounded number of times.
    expect(smallWork).toBeGreaterThanOrEqual(small.length);
    expect(largeWork).toBeGreaterThanOrEqual(large.length);
    expect(smallWork / small.length).toBeLessThan(4);
    expect(largeWork / large.length).toBeLessThan(4);
    expect(largeWork / smallWork).toBeLessThan(2.5);
  });

  it("the same through the text interface (push)", () => {
    const text = new TextDecoder().decode(hostile(2));
    const reader = new CsvReader();
    const work = countScanned(() => {
      expect(() => {
        for (let i = 0; i < text.length; i += 1 << 16) reader.push(text.slice(i, i + (1 << 16)));
        reader.end();
      }).toThrow(/unterminated/);
    });
    expect(work).toBeGreaterThanOrEqual(text.length);
    expect(work / text.length).toBeLessThan(4);
  });
});
