/**
 * Reads one DMS file (CSV, optionally gzip, with or without header; or Parquet) into typed changes. Any problem
 * (unknown Op, wrong field count, unparsable value, truncated quote, NULL key) rejects the file as a whole with an
 * `InvalidCdcFile` naming the file, the row and the reason.
 */
import { createGunzip } from "node:zlib";
import type { TableConfig } from "./config.ts";
import { type CsvFields, CsvReader, type CsvRecord, CsvSyntaxError } from "./csv.ts";
import { InvalidCdcFile } from "./errors.ts";
import { fileOrderKey, isFullLoadFile } from "./position.ts";
import { type ColumnData, RowSet } from "./rows.ts";
import { formatValue, InvalidValue, parseNumberAt, parseValue, type Value } from "./values.ts";

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

/**
 * The file's bytes, gunzipped when they start with gzip's magic (whatever the name). A file named `.gz` whose bytes do
 * not is rejected whole: read as text it would fail on its first record with a misleading reason.
 */
async function* gunzipIfNeeded(chunks: AsyncIterable<Uint8Array>, file: DmsFileRef): AsyncGenerator<Uint8Array> {
  const iterator = chunks[Symbol.asyncIterator]();
  const first = await iterator.next();
  if (first.done) return;
  const rest: AsyncIterable<Uint8Array> = {
    [Symbol.asyncIterator]: () => iterator,
  };
  const gzip = first.value[0] === GZIP_MAGIC[0] && first.value[1] === GZIP_MAGIC[1];
  if (!gzip && /\.gz$/i.test(file.relPath))
    throw new InvalidCdcFile(file.displayName, 0, "named .gz but not gzip (it does not start with gzip's bytes 1f 8b)");
  if (gzip) {
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
  /** Data rows read for this batch: `rows.size`, plus those a `ChangeSink` took directly. */
  rowsRead: number;
}

/**
 * Where the decoder may put a change directly, skipping the batch: the set that holds the change's key (its bucket's
 * changes). The decoder appends the row to that set and `settle`s it there. Integer keys only; other rows go to
 * the batch.
 */
export interface ChangeSink {
  setFor(key: number): RowSet;
  /** Called with true when the change was the first for its key. */
  settled(newKey: boolean): void;
}

const INTERN_LIMIT = 1024;

/** Turns raw records into changes, checking Op, field count, values and keys. */
export class ChangeDecoder {
  private readonly hasOp: boolean;
  private readonly fullLoad: boolean;
  private headerPending: boolean;
  private row = 0;

  /** Per string column, its values seen so far while there are few (`INTERN_LIMIT`); then undefined. */
  private readonly interned: (Map<string, string> | undefined)[];

  /** The key column when the key is one integer column (rows can then go straight to a `ChangeSink`). */
  private readonly directKey: number | undefined;
  private readonly orderKey: string;

  constructor(
    private readonly config: TableConfig,
    private readonly file: DmsFileRef,
  ) {
    this.interned = config.columns.map(() => new Map());
    const key = config.keyIndexes.length === 1 ? (config.keyIndexes[0] as number) : undefined;
    const kind = key === undefined ? undefined : config.columns[key]?.type.kind;
    this.directKey = kind === "int64" || kind === "int32" ? key : undefined;
    this.orderKey = fileOrderKey(file.relPath);
    this.fullLoad = isFullLoadFile(file.relPath);
    this.hasOp = !this.fullLoad || config.includeOpForFullLoad;
    this.headerPending = config.header;
  }

  /** Data rows decoded so far. */
  get rowsDecoded(): number {
    return this.row;
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

  /**
   * Decodes one CSV record (a header record first when configured) from its field bounds: integer-like columns are
   * parsed in place (`parseNumberAt`) and written to the column arrays; anything else goes through `parseValue`.
   */
  decodeFields(fields: CsvFields, out: ChangeBatch, sink?: ChangeSink): void {
    if (this.headerPending) {
      this.headerPending = false;
      this.checkHeader(fields.record());
      return;
    }
    const columns = this.config.columns;
    const width = columns.length + (this.hasOp ? 1 : 0);
    this.row++;
    if (fields.count !== width) this.fail(`expected ${width} fields, found ${fields.count}`);
    const text = fields.text;
    let op: Op = "I";
    if (this.hasOp) {
      const start = fields.start[0] as number;
      const c = fields.end[0] === start + 1 && fields.kind[0] === 0 ? text.charCodeAt(start) : 0;
      if (c === 73) op = "I";
      else if (c === 85) op = "U";
      else if (c === 68) op = "D";
      else this.fail(`unknown Op ${JSON.stringify(fields.value(0))}`);
    }
    const offset = this.hasOp ? 1 : 0;
    // An integer key read first: the row then goes straight into the set of its bucket.
    let key: number | undefined;
    const keyColumn = this.directKey;
    if (sink && keyColumn !== undefined) {
      const f = keyColumn + offset;
      if (fields.kind[f] !== 2 && fields.end[f] !== fields.start[f])
        key = parseNumberAt(
          (columns[keyColumn] as (typeof columns)[number]).type,
          text,
          fields.start[f] as number,
          fields.end[f] as number,
        );
    }
    const rows = key !== undefined ? (sink as ChangeSink).setFor(key) : out.rows;
    const at = rows.appendRow(false);
    for (let i = 0; i < columns.length; i++) {
      const f = i + offset;
      const start = fields.start[f] as number;
      const end = fields.end[f] as number;
      const kind = fields.kind[f] as number;
      const storage = rows.columns[i] as ColumnData;
      if (kind === 0 && start === end) {
        // NULL
        storage.nulls[at] = 1;
        if (storage.storage === "any") (storage.values as Value[])[at] = null;
        continue;
      }
      const column = columns[i] as (typeof columns)[number];
      if (kind !== 2 && (storage.storage === "i64" || storage.storage === "i32")) {
        const v = parseNumberAt(column.type, text, start, end);
        if (v !== undefined) {
          storage.nulls[at] = 0;
          if (storage.storage === "i32") (storage.values as Int32Array)[at] = v;
          else {
            const words = storage.words as Int32Array;
            const hi = Math.floor(v / 4294967296);
            words[2 * at] = (v - hi * 4294967296) | 0;
            words[2 * at + 1] = hi;
          }
          continue;
        }
      }
      if (storage.storage === "any" && column.type.kind === "string") {
        // Strings of a column with few distinct values (statuses, codes) are held once, not once per row.
        const text = fields.value(f) as string;
        const intern = this.interned[i];
        let held = intern?.get(text);
        if (held === undefined) {
          held = text;
          if (intern) {
            // A copy: a slice of the chunk's text would keep the whole chunk alive for as long as it is interned.
            held = Buffer.from(text, "utf8").toString("utf8");
            intern.set(held, held);
            if (intern.size > INTERN_LIMIT) this.interned[i] = undefined;
          }
        }
        storage.nulls[at] = 0;
        (storage.values as string[])[at] = held;
        continue;
      }
      try {
        rows.set(at, i, parseValue(column.type, fields.value(f)));
      } catch (error) {
        if (error instanceof InvalidValue) this.fail(`column ${column.name}: ${error.message}`);
        throw error;
      }
    }
    if (key === undefined) {
      this.finishRow(out, at, op);
      return;
    }
    rows.r[at] = this.row;
    rows.live[at] = op === "D" ? 0 : 1;
    rows.f[at] = rows.fileId(this.orderKey);
    (sink as ChangeSink).settled(rows.settle(key, at));
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
  decodeObjects(
    rows: readonly Record<string, unknown>[],
    out: ChangeBatch,
    decimalScales: ReadonlyMap<string, number> = new Map(),
  ): void {
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
          const scale = decimalScales.get(column.name);
          const value = object[column.name];
          const text = scale === undefined ? parquetText(value) : decimalText(value, scale);
          out.rows.set(at, i, parseValue(column.type, text));
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

/**
 * A Parquet DECIMAL's exact text from its physical value (INT32, INT64, or big-endian two's complement bytes) and
 * the file's scale. hyparquet would hand DECIMAL over as a float, which is not exact.
 */
function decimalText(value: unknown, scale: number): string | null {
  if (value === null || value === undefined) return null;
  let unscaled: bigint;
  if (value instanceof Uint8Array) {
    unscaled = 0n;
    for (const byte of value) unscaled = (unscaled << 8n) | BigInt(byte);
    if (value.length > 0 && ((value[0] as number) & 0x80) !== 0) unscaled -= 1n << BigInt(8 * value.length);
  } else unscaled = BigInt(value as number | bigint);
  return formatValue({ kind: "decimal", precision: 76, scale }, unscaled);
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
  sink?: ChangeSink,
  /**
   * Parquet only: decode just the configured columns (a table's own data files read for some of their columns: the
   * key columns of files another writer rewrote), not every column of the file. DMS files are read whole.
   */
  options: { configuredColumnsOnly?: boolean } = {},
): AsyncGenerator<ChangeBatch> {
  const decoder = new ChangeDecoder(config, file);
  let read = 0;
  const newBatch = (): ChangeBatch => ({
    rows: new RowSet(config, sink ? 1024 : batchSize),
    ops: [],
    rowsRead: 0,
  });
  /** The batch, with the rows read since the last one. */
  const take = (batch: ChangeBatch) => {
    batch.rowsRead = decoder.rowsDecoded - read;
    read = decoder.rowsDecoded;
    return batch;
  };
  if (isParquet(file.relPath)) {
    const parts: Uint8Array[] = [];
    for await (const chunk of gunzipIfNeeded(chunks, file)) parts.push(chunk);
    const bytes = Buffer.concat(parts);
    const { parquetMetadata, parquetReadObjects } = await import("hyparquet");
    // Every codec Parquet writers use (Athena writes ZSTD by default; DMS GZIP), not only hyparquet's own Snappy.
    const { compressors } = await import("hyparquet-compressors");
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    parts.length = 0;
    const unreadable = (error: unknown) =>
      new InvalidCdcFile(file.displayName, 0, `not a readable Parquet file: ${(error as Error).message}`);
    let metadata: ReturnType<typeof parquetMetadata>;
    try {
      metadata = parquetMetadata(buffer);
    } catch (error) {
      throw unreadable(error);
    }
    // DECIMAL columns are read as their physical values and converted exactly here (`decimalText`).
    const decimalScales = new Map<string, number>();
    for (const element of metadata.schema) {
      const logical = element.logical_type;
      if (element.converted_type !== "DECIMAL" && logical?.type !== "DECIMAL") continue;
      decimalScales.set(element.name, element.scale ?? (logical?.type === "DECIMAL" ? logical.scale : 0) ?? 0);
      element.converted_type = undefined;
      element.logical_type = undefined;
    }
    // One row group's rows at a time (as objects): memory is the file's bytes plus one decoded row group.
    let start = 0;
    for (const group of metadata.row_groups) {
      const end = start + Number(group.num_rows);
      let rows: Record<string, unknown>[];
      try {
        rows = await parquetReadObjects({
          file: buffer,
          metadata,
          rowStart: start,
          rowEnd: end,
          utf8: true,
          compressors,
          ...(options.configuredColumnsOnly ? { columns: config.columns.map((c) => c.name) } : {}),
          // Dates and timestamps in DMS's text forms: the values then go through the same parsing as CSV.
          parsers: {
            timestampFromMicroseconds: (micros: bigint) => formatMicros(micros),
            timestampFromMilliseconds: (millis: bigint) => formatMicros(BigInt(millis) * 1000n),
            timestampFromNanoseconds: (nanos: bigint) => formatMicros(BigInt(nanos) / 1000n),
            dateFromDays: (days: number) => formatValue({ kind: "date" }, days),
          } as never,
        });
      } catch (error) {
        throw unreadable(error);
      }
      for (let i = 0; i < rows.length; i += batchSize) {
        const out = newBatch();
        decoder.decodeObjects(rows.slice(i, i + batchSize), out, decimalScales);
        yield take(out);
      }
      start = end;
    }
    return;
  }
  const reader = new CsvReader();
  let out = newBatch();
  const decode = (fields: CsvFields) => decoder.decodeFields(fields, out, sink);
  try {
    for await (const chunk of gunzipIfNeeded(chunks, file)) {
      reader.scanBytes(chunk, decode);
      if (decoder.rowsDecoded - read >= batchSize) {
        yield take(out);
        out = newBatch();
      }
    }
    reader.finishBytes(decode);
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
  if (decoder.rowsDecoded > read) yield take(out);
}

function formatMicros(micros: bigint): string {
  const ms = (micros - (((micros % 1000n) + 1000n) % 1000n)) / 1000n; // floor: before 1970 too
  const frac = ((micros % 1_000_000n) + 1_000_000n) % 1_000_000n;
  const iso = new Date(Number(ms)).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}.${frac.toString().padStart(6, "0")}`;
}
