/**
 * Reads one DMS file (CSV, optionally gzip, with or without header; or Parquet) into typed changes. Any problem
 * (unknown Op, wrong field count, unparsable value, truncated quote, NULL key) rejects the file as a whole with an
 * `InvalidCdcFile` naming the file, the row and the reason.
 */
import { createGunzip } from "node:zlib";
import type { TableConfig } from "./config.ts";
import { CsvReader, type CsvRecord, CsvSyntaxError } from "./csv.ts";
import { InvalidCdcFile } from "./errors.ts";
import { isFullLoadFile } from "./position.ts";
import { RowSet } from "./rows.ts";
import { InvalidValue, parseValue, type Value } from "./values.ts";

export type Op = "I" | "U" | "D";

export interface Change {
  op: Op;
  values: Value[];
  /** 1-based data row in the file. */
  row: number;
}

export interface DmsFileRef {
  /** Path below the table's folder (`LOAD00000001.csv`, `2026/11/01/20261101-1200000000.csv.gz`). */
  relPath: string;
  /** How the file is named in reports (source-relative path or S3 key). */
  displayName: string;
}

const GZIP_MAGIC = [0x1f, 0x8b];

function isParquet(relPath: string): boolean {
  return /\.parquet(\.gz)?$/i.test(relPath);
}

async function* gunzipIfNeeded(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const iterator = chunks[Symbol.asyncIterator]();
  const first = await iterator.next();
  if (first.done) return;
  const rest: AsyncIterable<Uint8Array> = {
    [Symbol.asyncIterator]: () => iterator,
  };
  if (first.value[0] === GZIP_MAGIC[0] && first.value[1] === GZIP_MAGIC[1]) {
    const gunzip = createGunzip();
    const feed = (async () => {
      try {
        if (!gunzip.write(first.value)) await new Promise((r) => gunzip.once("drain", r));
        for await (const chunk of rest) {
          if (!gunzip.write(chunk)) await new Promise((r) => gunzip.once("drain", r));
        }
        gunzip.end();
      } catch (error) {
        gunzip.destroy(error as Error);
      }
    })();
    for await (const chunk of gunzip) yield chunk as Uint8Array;
    await feed;
    return;
  }
  yield first.value;
  for await (const chunk of rest) yield chunk;
}

/** A decoded batch as one object per change (tests and tools; the engine works on the `RowSet`). */
export function changesOf(batch: RowSet, ops: readonly Op[]): Change[] {
  const out: Change[] = [];
  for (let i = 0; i < batch.size; i++) out.push({ op: ops[i] as Op, values: batch.row(i), row: batch.r[i] as number });
  return out;
}

/**
 * A batch of decoded changes: one row per change in file order, `live` 0 for a D, `r` the 1-based data row; `ops`
 * keeps the Op letter of each row.
 */
export interface ChangeBatch {
  rows: RowSet;
  ops: Op[];
}

/** Turns raw records into changes, checking Op, field count, values and keys. */
export class ChangeDecoder {
  private readonly hasOp: boolean;
  private readonly fullLoad: boolean;
  private headerPending: boolean;
  private row = 0;
  private readonly lastRaw: (string | null | undefined)[] = [];
  private readonly lastValue: Value[] = [];

  constructor(
    private readonly config: TableConfig,
    private readonly file: DmsFileRef,
  ) {
    this.fullLoad = isFullLoadFile(file.relPath);
    this.hasOp = !this.fullLoad || config.includeOpForFullLoad;
    this.headerPending = config.header;
  }

  private fail(reason: string, row = this.row): never {
    throw new InvalidCdcFile(this.file.displayName, row, reason);
  }

  private checkHeader(record: CsvRecord): void {
    const expected = [...(this.hasOp ? ["Op"] : []), ...this.config.columns.map((c) => c.name)];
    const got = record.map((f) => (f ?? "").trim());
    if (got.length !== expected.length || got.some((name, i) => name.toLowerCase() !== expected[i]?.toLowerCase()))
      this.fail(`header ${JSON.stringify(got)} does not match the configured columns ${JSON.stringify(expected)}`, 0);
  }

  /** Decodes raw text records (a header record first when configured). */
  decodeRecords(records: readonly CsvRecord[], out: ChangeBatch): void {
    const columns = this.config.columns;
    const width = columns.length + (this.hasOp ? 1 : 0);
    for (const record of records) {
      if (this.headerPending) {
        this.headerPending = false;
        this.checkHeader(record);
        continue;
      }
      this.row++;
      if (record.length !== width) this.fail(`expected ${width} fields, found ${record.length}`);
      let op: Op = "I";
      if (this.hasOp) {
        const raw = record[0];
        if (raw !== "I" && raw !== "U" && raw !== "D") this.fail(`unknown Op ${JSON.stringify(raw)}`);
        op = raw;
      }
      const offset = this.hasOp ? 1 : 0;
      const rows = out.rows;
      const at = rows.appendRow();
      for (let i = 0; i < columns.length; i++) {
        const column = columns[i] as (typeof columns)[number];
        const raw = record[i + offset] as string | null;
        // DMS files repeat values down a column (commit timestamps, dates, statuses): parse each run once.
        if (raw === this.lastRaw[i] && raw !== undefined) {
          rows.set(at, i, this.lastValue[i] as Value);
          continue;
        }
        try {
          const value = parseValue(column.type, raw);
          rows.set(at, i, value);
          this.lastRaw[i] = raw;
          this.lastValue[i] = value;
        } catch (error) {
          if (error instanceof InvalidValue) this.fail(`column ${column.name}: ${error.message}`);
          throw error;
        }
      }
      this.finishRow(out, at, op);
    }
  }

  private finishRow(out: ChangeBatch, at: number, op: Op): void {
    const rows = out.rows;
    for (const k of this.config.keyIndexes) {
      if ((rows.columns[k] as { nulls: Uint8Array }).nulls[at])
        this.fail(`primary key column ${this.config.columns[k]?.name} is NULL`);
    }
    rows.r[at] = this.row;
    rows.live[at] = op === "D" ? 0 : 1;
    out.ops.push(op);
  }

  /** Decodes typed rows (Parquet input): values are converted through their text form. */
  decodeObjects(rows: readonly Record<string, unknown>[], out: ChangeBatch): void {
    const columns = this.config.columns;
    for (const object of rows) {
      this.row++;
      let op: Op = "I";
      if (this.hasOp) {
        const raw = object.Op ?? object.op;
        if (raw !== "I" && raw !== "U" && raw !== "D") this.fail(`unknown Op ${JSON.stringify(raw)}`);
        op = raw;
      }
      const at = out.rows.appendRow();
      for (let i = 0; i < columns.length; i++) {
        const column = columns[i] as (typeof columns)[number];
        if (!(column.name in object)) this.fail(`column ${column.name} is missing`);
        try {
          out.rows.set(at, i, parseValue(column.type, parquetText(object[column.name])));
        } catch (error) {
          if (error instanceof InvalidValue) this.fail(`column ${column.name}: ${error.message}`);
          throw error;
        }
      }
      this.finishRow(out, at, op);
    }
  }

  /** After the last record: a file whose header never came is corrupt. */
  finish(): void {
    if (this.headerPending) this.fail("the file is empty but a header row is configured", 0);
  }
}

function parquetText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value.toISOString().replace("T", " ").replace("Z", "");
  if (typeof value === "bigint" || typeof value === "number" || typeof value === "boolean") return String(value);
  if (typeof value === "string") return value;
  if (value instanceof Uint8Array) return new TextDecoder().decode(value);
  return JSON.stringify(value);
}

/**
 * Streams a DMS file's changes in batches of about `batchSize` rows. Throws `InvalidCdcFile` on the first problem;
 * the caller must not commit anything of a file that threw.
 */
export async function* readDmsFile(
  config: TableConfig,
  file: DmsFileRef,
  chunks: AsyncIterable<Uint8Array>,
  batchSize = 50_000,
): AsyncGenerator<ChangeBatch> {
  const decoder = new ChangeDecoder(config, file);
  const newBatch = (): ChangeBatch => ({ rows: new RowSet(config, batchSize), ops: [] });
  if (isParquet(file.relPath)) {
    const parts: Uint8Array[] = [];
    for await (const chunk of gunzipIfNeeded(chunks)) parts.push(chunk);
    const bytes = Buffer.concat(parts);
    const { parquetReadObjects } = await import("hyparquet");
    let rows: Record<string, unknown>[];
    try {
      rows = await parquetReadObjects({
        file: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
        utf8: true,
        parsers: { timestampFromMicroseconds: (micros: bigint) => formatMicros(micros) } as never,
      });
    } catch (error) {
      throw new InvalidCdcFile(file.displayName, 0, `not a readable Parquet file: ${(error as Error).message}`);
    }
    for (let i = 0; i < rows.length; i += batchSize) {
      const out = newBatch();
      decoder.decodeObjects(rows.slice(i, i + batchSize), out);
      yield out;
    }
    return;
  }
  const reader = new CsvReader();
  const text = new TextDecoder("utf-8", { fatal: true });
  let out = newBatch();
  const decode = (records: CsvRecord[]) => decoder.decodeRecords(records, out);
  try {
    for await (const chunk of gunzipIfNeeded(chunks)) {
      decode(reader.push(text.decode(chunk, { stream: true })));
      if (out.rows.size >= batchSize) {
        yield out;
        out = newBatch();
      }
    }
    decode(reader.push(text.decode()));
    decode(reader.end());
    decoder.finish();
  } catch (error) {
    if (error instanceof CsvSyntaxError)
      throw new InvalidCdcFile(file.displayName, error.record - (config.header ? 1 : 0), error.message);
    if (error instanceof TypeError && /encoded data|decode/i.test(error.message))
      throw new InvalidCdcFile(file.displayName, reader.count + 1, "not valid UTF-8");
    if (error instanceof Error && "code" in error && String(error.code).startsWith("Z_"))
      throw new InvalidCdcFile(file.displayName, reader.count + 1, `gzip: ${error.message}`);
    throw error;
  }
  if (out.rows.size > 0) yield out;
}

function formatMicros(micros: bigint): string {
  const ms = (micros - (((micros % 1000n) + 1000n) % 1000n)) / 1000n; // floor: before 1970 too
  const frac = ((micros % 1_000_000n) + 1_000_000n) % 1_000_000n;
  const iso = new Date(Number(ms)).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}.${frac.toString().padStart(6, "0")}`;
}
