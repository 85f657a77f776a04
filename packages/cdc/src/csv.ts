/**
 * A streaming RFC 4180 CSV reader with DMS's NULL rule: an empty unquoted field is NULL (`null`), a quoted empty
 * field `""` is the empty string. Quoted fields may hold commas, doubled quotes, CR/LF and any unicode. Records end
 * at LF or CRLF. Feed text chunks with `push`, then call `end`; each returns the records it completed.
 */

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

export class CsvReader {
  private carry = "";
  private records = 0;
  private started = false;

  /** Number of records completed so far. */
  get count(): number {
    return this.records;
  }

  /** Parses what `chunk` completes; an unfinished record waits for the next chunk. */
  push(chunk: string): CsvRecord[] {
    let text = this.carry + chunk;
    if (!this.started && text.length > 0) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    return this.parse(text, false);
  }

  /** Parses the rest; an unterminated quoted field is an error here. */
  end(): CsvRecord[] {
    const text = this.carry;
    this.carry = "";
    return this.parse(text, true);
  }

  private parse(text: string, final: boolean): CsvRecord[] {
    const out: CsvRecord[] = [];
    const length = text.length;
    let i = 0;
    records: while (i < length) {
      const recordStart = i;
      const fields: CsvRecord = [];
      for (;;) {
        if (text.charCodeAt(i) === QUOTE) {
          let value = "";
          let j = i + 1;
          for (;;) {
            const k = text.indexOf('"', j);
            if (k === -1 || (k === length - 1 && !final)) {
              if (final) throw new CsvSyntaxError(this.records + 1, "unterminated quoted field (truncated quote)");
              this.carry = text.slice(recordStart);
              return out;
            }
            value += text.slice(j, k);
            if (text.charCodeAt(k + 1) === QUOTE) {
              value += '"';
              j = k + 2;
              continue;
            }
            i = k + 1;
            break;
          }
          const next = text.charCodeAt(i);
          if (i < length && next !== COMMA && next !== LF && next !== CR)
            throw new CsvSyntaxError(this.records + 1, "unexpected character after a closing quote");
          fields.push(value);
        } else {
          let k = i;
          let c = 0;
          while (k < length) {
            c = text.charCodeAt(k);
            if (c === COMMA || c === LF || c === CR) break;
            k++;
          }
          if (k === length && !final) {
            this.carry = text.slice(recordStart);
            return out;
          }
          if (k === i) fields.push(null);
          else {
            const value = text.slice(i, k);
            if (value.includes('"')) throw new CsvSyntaxError(this.records + 1, "a quote inside an unquoted field");
            fields.push(value);
          }
          i = k;
        }
        // i is at a delimiter or at the end of the text
        if (i >= length) {
          // only when final: the last record had no line ending
          this.records++;
          out.push(fields);
          break records;
        }
        const c = text.charCodeAt(i);
        if (c === COMMA) {
          i++;
          if (i >= length) {
            if (!final) {
              this.carry = text.slice(recordStart);
              return out;
            }
            fields.push(null);
            this.records++;
            out.push(fields);
            break records;
          }
          continue;
        }
        if (c === CR) {
          if (i + 1 >= length && !final) {
            this.carry = text.slice(recordStart);
            return out;
          }
          i += text.charCodeAt(i + 1) === LF ? 2 : 1;
        } else i++; // LF
        this.records++;
        out.push(fields);
        continue records;
      }
    }
    this.carry = "";
    return out;
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
