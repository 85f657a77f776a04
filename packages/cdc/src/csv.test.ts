import fc from "fast-check";
import { describe, expect, it } from "vitest";
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
});
