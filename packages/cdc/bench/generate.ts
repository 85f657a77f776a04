/**
 * Benchmark data: a DMS full-load file and a change file for `sales.orders` of config/cdc-tables.json
 * (order_id, customer_id, status, amount decimal(12,2), ordered_on, updated_at, dms_commit_ts), about 100 bytes
 * a row, written in chunks so that generating 10 M rows takes little memory.
 */

import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { seededRandom } from "@sluice/testing";

const statuses = ["new", "paid", "shipped", "delivered", '"returned, partly"', "cancelled"];

function pad2(n: number) {
  return n < 10 ? `0${n}` : String(n);
}

function orderRow(id: number, rnd: () => number, commit: string): string {
  const customer = 1 + Math.floor(rnd() * 1_000_000);
  const status = statuses[Math.floor(rnd() * statuses.length)];
  const cents = Math.floor(rnd() * 10_000_000);
  const day = 1 + (id % 28);
  return `${id},${customer},${status},${Math.floor(cents / 100)}.${pad2(cents % 100)},2026-10-${pad2(day)},2026-10-${pad2(day)} 12:34:56.123456,${commit}\n`;
}

async function writeLines(path: string, count: number, line: (i: number) => string): Promise<number> {
  await mkdir(dirname(path), { recursive: true });
  const out = createWriteStream(path);
  let bytes = 0;
  let chunk = "";
  for (let i = 0; i < count; i++) {
    chunk += line(i);
    if (chunk.length > 1 << 20) {
      bytes += Buffer.byteLength(chunk);
      if (!out.write(chunk)) await once(out, "drain");
      chunk = "";
    }
  }
  bytes += Buffer.byteLength(chunk);
  out.end(chunk);
  await once(out, "finish");
  return bytes;
}

/** Full load: ids 1..rows. */
export function writeFullLoad(path: string, rows: number): Promise<number> {
  const rnd = seededRandom(1);
  return writeLines(path, rows, (i) => orderRow(i + 1, rnd, "2026-11-01 00:00:00.000000"));
}

/**
 * The same full load (the same rows, in the same order) split as DMS splits a table larger than its `MaxFileSize`:
 * `LOAD00000001.csv` ... in `dir`, `files` files of about equal row counts. Returns the total bytes.
 */
export async function writeSplitFullLoad(dir: string, rows: number, files: number): Promise<number> {
  const rnd = seededRandom(1);
  let bytes = 0;
  let start = 0;
  for (let f = 1; f <= files; f++) {
    const end = Math.round((rows * f) / files);
    const name = `LOAD${f.toString(16).toUpperCase().padStart(8, "0")}.csv`;
    const first = start;
    bytes += await writeLines(`${dir}/${name}`, end - start, (i) =>
      orderRow(first + i + 1, rnd, "2026-11-01 00:00:00.000000"),
    );
    start = end;
  }
  return bytes;
}

/**
 * A file DMS never writes but a merge must reject: valid full-load rows up to about `bytes`, with a quote opened in
 * the first row and never closed (`hostile`), or the same rows without it.
 */
export function writeUnterminatedQuote(path: string, bytes: number, hostile: boolean): Promise<number> {
  const rnd = seededRandom(3);
  const rows = Math.ceil(bytes / 95);
  return writeLines(path, rows, (i) => {
    // No other quote in the file: the open one runs to its end.
    const row = orderRow(i + 1, rnd, "2026-11-01 00:00:00.000000").replace('"returned, partly"', "returned");
    return i === 0 && hostile ? row.replace(/^(\d+,\d+,)/, '$1"') : row;
  });
}

/**
 * A change file: 20 % inserts of new ids, 70 % updates, 10 % deletes. `skew`: the share of updates and deletes
 * hitting the newest `recentShare` of the table (default 5 %: recent orders change most), the rest uniform. `seed`
 * varies the changes between files of one run.
 */
export function writeChanges(
  path: string,
  tableRows: number,
  changes: number,
  skew: number,
  { recentShare = 0.05, seed = 2 }: { recentShare?: number; seed?: number } = {},
): Promise<number> {
  const rnd = seededRandom(seed);
  let next = tableRows + 1;
  const pick = () =>
    rnd() < skew ? tableRows - Math.floor(rnd() * tableRows * recentShare) : 1 + Math.floor(rnd() * tableRows);
  return writeLines(path, changes, (i) => {
    const commit = `2026-11-02 ${pad2(Math.floor(i / 3600) % 24)}:${pad2(Math.floor(i / 60) % 60)}:${pad2(i % 60)}.000000`;
    const r = rnd();
    if (r < 0.2) return `I,${orderRow(next++, rnd, commit)}`;
    if (r < 0.9) return `U,${orderRow(pick(), rnd, commit)}`;
    return `D,${orderRow(pick(), rnd, commit)}`;
  });
}
