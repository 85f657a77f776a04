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
  /**
   * The open record (started, not yet ended) as the pieces of text it arrived in. Each new text is scanned once, from
   * where the last one ended, for the record's end (`findRecordEnd`); only then is the record joined and parsed, once.
   * So a record spanning many chunks — a quote that never closes in a hostile file — costs linear time, not a rescan
   * of the whole open record per chunk.
   */
  private open: string[] = [];
  /** Over the open record's text: inside quotes (each quote toggles it, so `""` toggles twice). */
  private quoted = false;
  /** The open record's text ends with a CR outside quotes: it ended there, unless an LF follows (CRLF). */
  private crPending = false;
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
    this.scanText(chunk, onRecord);
  }

  /** Like `end`, with a callback. */
  finish(onRecord: (fields: CsvFields) => void): void {
    const text = this.open.join("");
    this.open = [];
    this.quoted = false;
    this.crPending = false;
    this.parse(text, true, onRecord);
  }

  /**
   * Like `scan`, from UTF-8 bytes (invalid UTF-8 throws the decoder's TypeError). Each chunk is decoded on its own
   * into one flat string, which the parser reads characters from directly (on a concatenated or sliced string every
   * character read goes through an indirection, about 4x slower).
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
    if (prefix.length > 0) this.scanText(prefix, onRecord);
    this.scanText(text, onRecord);
  }

  /** Like `finish`, after `scanBytes`. */
  finishBytes(onRecord: (fields: CsvFields) => void): void {
    if (this.tail) {
      const tail = this.tail;
      this.tail = undefined;
      this.open.push(utf8.decode(tail)); // an incomplete sequence at the end of the file: throws
    }
    this.finish(onRecord);
  }

  private scanText(text: string, onRecord: (fields: CsvFields) => void): void {
    if (text.length === 0) return;
    let from = 0;
    if (!this.started) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) from = 1;
    }
    if (this.open.length > 0) {
      const end = this.findRecordEnd(text, from);
      if (end === -1) {
        this.open.push(text);
        return;
      }
      // The open record ends in this text: joined and parsed once (it ends at its terminator, so as a final text).
      const record = this.open.join("") + text.slice(0, end);
      this.open = [];
      this.parse(record, true, onRecord);
      from = end;
    }
    this.parse(text, false, onRecord, from);
  }

  /**
   * Scans `text` from `from` for the end of the open record, continuing the quote state of its text so far: the index
   * just past its terminator (LF, CR or CRLF outside quotes), or -1 (the state then covers `text` too). On valid CSV
   * toggling on every quote tracks quoted fields exactly; on invalid CSV the record's parse throws within the text
   * found, at the same record.
   */
  private findRecordEnd(text: string, from: number): number {
    const length = text.length;
    if (from >= length) return -1;
    if (this.crPending) {
      this.crPending = false;
      return text.charCodeAt(from) === LF ? from + 1 : from;
    }
    let quoted = this.quoted;
    let i = from;
    while (i < length) {
      if (quoted) {
        const k = text.indexOf('"', i);
        if (k === -1) break;
        quoted = false;
        i = k + 1;
        continue;
      }
      const c = text.charCodeAt(i);
      if (c === QUOTE) quoted = true;
      else if (c === LF) {
        this.quoted = false;
        return i + 1;
      } else if (c === CR) {
        if (i + 1 < length) {
          this.quoted = false;
          return text.charCodeAt(i + 1) === LF ? i + 2 : i + 1;
        }
        this.crPending = true;
      }
      i++;
    }
    this.quoted = quoted;
    return -1;
  }

  /** The parse stopped inside a record that starts at `start`: hold its text for the next chunk. */
  private hold(text: string, start: number): void {
    const piece = text.slice(start);
    this.quoted = false;
    this.crPending = false;
    this.findRecordEnd(piece, 0); // no end in it (the parser found none): sets the quote and CR state
    this.open = [piece];
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
              this.hold(text, recordStart);
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
            this.hold(text, recordStart);
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
            this.hold(text, recordStart);
            return;
          }
          continue; // at the very end (final): the loop adds the trailing NULL field and ends the record
        }
        if (c === CR) {
          if (i + 1 >= length && !final) {
            this.hold(text, recordStart);
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
