/**
 * A streaming RFC 4180 CSV reader with DMS's NULL rule: an empty unquoted field is NULL (`null`), a quoted empty
 * field `""` is the empty string. Quoted fields may hold commas, doubled quotes, CR/LF and any unicode. Records end
 * at LF or CRLF. Feed text chunks with `push`, then call `end`; each returns the records it completed.
 */
import { isAscii } from "node:buffer";

export type CsvRecord = (string | null)[];

/** A syntax error at a 1-based record number. */
export class CsvSyntaxError extends Error {
  override readonly name = "CsvSyntaxError";
  constructor(
    readonly record: number,
    reason: string,
  ) {
    super(reason);
  }
}

const COMMA = 44;
const QUOTE = 34;
const LF = 10;
const CR = 13;

/**
 * The fields of one record as bounds into `text` (no string per field until asked): `kind` 0 unquoted, 1 quoted
 * (the value is `text.slice(start, end)`), 2 quoted with doubled quotes (the value is `unescaped[i]`). Valid only
 * during the callback that received it.
 */
export class CsvFields {
  text = "";
  count = 0;
  start = new Int32Array(16);
  end = new Int32Array(16);
  kind = new Uint8Array(16);
  unescaped: string[] = [];

  grow(): void {
    const grow = <T extends Int32Array | Uint8Array>(a: T): T => {
      const next = new (a.constructor as new (n: number) => T)(a.length * 2);
      next.set(a as never);
      return next;
    };
    this.start = grow(this.start);
    this.end = grow(this.end);
    this.kind = grow(this.kind);
  }

  /** Field `i` as a string; NULL (an empty unquoted field) is `null`. */
  value(i: number): string | null {
    const kind = this.kind[i];
    if (kind === 2) return this.unescaped[i] as string;
    const start = this.start[i] as number;
    const end = this.end[i] as number;
    if (kind === 0 && start === end) return null;
    return this.text.slice(start, end);
  }

  record(): CsvRecord {
    const out: CsvRecord = new Array(this.count);
    for (let i = 0; i < this.count; i++) out[i] = this.value(i);
    return out;
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Bytes of the UTF-8 sequence a lead byte starts (1 for a continuation byte: the decoder then rejects it). */
function sequenceLength(lead: number): number {
  return lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
}

/** UTF-8 to text; invalid UTF-8 throws. ASCII (most DMS files) is copied as Latin-1, several times faster. */
function decodeUtf8(bytes: Uint8Array): string {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return isAscii(buffer) ? buffer.toString("latin1") : utf8.decode(buffer);
}

export class CsvReader {
  private carry = "";
  /** `scanBytes`: an incomplete UTF-8 sequence at the end of the last chunk. */
  private tail: Uint8Array | undefined;
  private records = 0;
  private started = false;
  private readonly fields = new CsvFields();

  /** Number of records completed so far. */
  get count(): number {
    return this.records;
  }

  /** Parses what `chunk` completes; an unfinished record waits for the next chunk. */
  push(chunk: string): CsvRecord[] {
    const out: CsvRecord[] = [];
    this.scan(chunk, (f) => out.push(f.record()));
    return out;
  }

  /** Parses the rest; an unterminated quoted field is an error here. */
  end(): CsvRecord[] {
    const out: CsvRecord[] = [];
    this.finish((f) => out.push(f.record()));
    return out;
  }

  /** Like `push`, handing each completed record's field bounds to `onRecord` (no array or string per field). */
  scan(chunk: string, onRecord: (fields: CsvFields) => void): void {
    this.feed(this.carry + chunk, false, onRecord);
  }

  /** Like `end`, with a callback. */
  finish(onRecord: (fields: CsvFields) => void): void {
    const text = this.carry;
    this.carry = "";
    this.feed(text, true, onRecord);
  }

  /**
   * Like `scan`, from UTF-8 bytes (invalid UTF-8 throws the decoder's TypeError). Each chunk is decoded on its own
   * into one flat string, which the parser reads characters from directly (on a concatenated or sliced string every
   * character read goes through an indirection, about 4x slower). The unfinished record before the chunk is
   * completed from a small string: itself plus the chunk's text up to its first line feed.
   */
  scanBytes(chunk: Uint8Array, onRecord: (fields: CsvFields) => void): void {
    let bytes = chunk;
    let prefix = "";
    if (this.tail) {
      // Complete the UTF-8 sequence the previous chunk ended inside.
      const need = sequenceLength(this.tail[0] as number) - this.tail.length;
      const joined = Buffer.concat([this.tail, chunk.subarray(0, need)]);
      if (chunk.length < need) {
        this.tail = joined;
        return;
      }
      this.tail = undefined;
      prefix = utf8.decode(joined);
      bytes = chunk.subarray(need);
    }
    // Hold back an incomplete UTF-8 sequence at the end for the next chunk.
    let cut = bytes.length;
    let k = cut - 1;
    while (k >= 0 && cut - k < 4 && ((bytes[k] as number) & 0xc0) === 0x80) k--;
    if (k >= 0 && sequenceLength(bytes[k] as number) > cut - k) cut = k;
    if (cut < bytes.length) this.tail = Uint8Array.prototype.slice.call(bytes, cut);
    const text = decodeUtf8(bytes.subarray(0, cut));
    const carry = this.carry + prefix;
    this.carry = "";
    if (carry.length === 0) {
      this.feed(text, false, onRecord);
      return;
    }
    const lf = text.indexOf("\n");
    if (lf === -1) {
      this.carry = carry + text; // no record ends in this chunk
      return;
    }
    this.feed(carry + text.slice(0, lf + 1), false, onRecord);
    if (this.carry.length > 0) {
      // That line feed was inside a quoted field: parse on with the rest of the chunk (rare).
      const rest = this.carry + text.slice(lf + 1);
      this.carry = "";
      this.parse(rest, false, onRecord);
    } else this.parse(text, false, onRecord, lf + 1);
  }

  /** Like `finish`, after `scanBytes`. */
  finishBytes(onRecord: (fields: CsvFields) => void): void {
    if (this.tail) {
      const tail = this.tail;
      this.tail = undefined;
      this.carry += utf8.decode(tail); // an incomplete sequence at the end of the file: throws
    }
    this.finish(onRecord);
  }

  private feed(text: string, final: boolean, onRecord: (fields: CsvFields) => void): void {
    if (!this.started && text.length > 0) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    this.parse(text, final, onRecord);
  }

  private parse(text: string, final: boolean, onRecord: (fields: CsvFields) => void, from = 0): void {
    // Hot loop (every byte of every file): typed arrays in locals, fields added inline.
    const fields = this.fields;
    fields.text = text;
    let starts = fields.start;
    let ends = fields.end;
    let kinds = fields.kind;
    let capacity = starts.length;
    const length = text.length;
    let i = from;
    records: while (i < length) {
      const recordStart = i;
      let count = 0;
      for (;;) {
        if (count === capacity) {
          fields.grow();
          starts = fields.start;
          ends = fields.end;
          kinds = fields.kind;
          capacity = starts.length;
        }
        if (text.charCodeAt(i) === QUOTE) {
          const start = i + 1;
          let value: string | undefined;
          let j = start;
          for (;;) {
            const k = text.indexOf('"', j);
            if (k === -1 || (k === length - 1 && !final)) {
              if (final) throw new CsvSyntaxError(this.records + 1, "unterminated quoted field (truncated quote)");
              this.carry = text.slice(recordStart);
              return;
            }
            if (text.charCodeAt(k + 1) === QUOTE) {
              value = `${value ?? ""}${text.slice(j, k)}"`;
              j = k + 2;
              continue;
            }
            starts[count] = start;
            ends[count] = k;
            if (value === undefined) kinds[count] = 1;
            else {
              kinds[count] = 2;
              fields.unescaped[count] = value + text.slice(j, k);
            }
            count++;
            i = k + 1;
            break;
          }
          const next = text.charCodeAt(i);
          if (i < length && next !== COMMA && next !== LF && next !== CR)
            throw new CsvSyntaxError(this.records + 1, "unexpected character after a closing quote");
        } else {
          let k = i;
          let quote = false;
          while (k < length) {
            // One comparison for most characters: the delimiters and the quote are all below 45.
            const c = text.charCodeAt(k);
            if (c < 45) {
              if (c === COMMA || c === LF || c === CR) break;
              if (c === QUOTE) quote = true;
            }
            k++;
          }
          if (k === length && !final) {
            this.carry = text.slice(recordStart);
            return;
          }
          if (quote) throw new CsvSyntaxError(this.records + 1, "a quote inside an unquoted field");
          starts[count] = i;
          ends[count] = k;
          kinds[count] = 0;
          count++;
          i = k;
        }
        // i is at a delimiter or at the end of the text
        if (i >= length) {
          // only when final: the last record had no line ending
          fields.count = count;
          this.records++;
          onRecord(fields);
          break records;
        }
        const c = text.charCodeAt(i);
        if (c === COMMA) {
          i++;
          if (i >= length && !final) {
            this.carry = text.slice(recordStart);
            return;
          }
          continue; // at the very end (final): the loop adds the trailing NULL field and ends the record
        }
        if (c === CR) {
          if (i + 1 >= length && !final) {
            this.carry = text.slice(recordStart);
            return;
          }
          i += text.charCodeAt(i + 1) === LF ? 2 : 1;
        } else i++; // LF
        fields.count = count;
        this.records++;
        onRecord(fields);
        continue records;
      }
    }
    this.carry = "";
  }
}

/** Parses a whole CSV text (tests and small files). */
export function parseCsv(text: string): CsvRecord[] {
  const reader = new CsvReader();
  return [...reader.push(text), ...reader.end()];
}

/** Formats one field for DMS-style CSV: NULL as an empty field, everything else quoted when it must be. */
export function formatCsvField(value: string | null): string {
  if (value === null) return "";
  if (value === "" || /[",\r\n]/.test(value) || value.trim() !== value) return `"${value.replace(/"/g, '""')}"`;
  return value;
}

/** Formats one record followed by LF. */
export function formatCsvRecord(record: readonly (string | null)[]): string {
  return `${record.map(formatCsvField).join(",")}\n`;
}
