import { spawnSync } from "node:child_process";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { main } from "./cli.ts";
import { parseTablesConfig } from "./config.ts";
import { icebirdRows } from "./fixtures/iceberg.ts";

const fixtures = fileURLToPath(new URL("./fixtures/", import.meta.url));

let dir: string;
let out: string[];
let err: string[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "cdc-cli-"));
  await cp(join(fixtures, "source"), join(dir, "source"), { recursive: true });
  out = [];
  err = [];
  vi.spyOn(process.stdout, "write").mockImplementation((s) => out.push(String(s)) > 0);
  vi.spyOn(process.stderr, "write").mockImplementation((s) => err.push(String(s)) > 0);
});

afterEach(async () => {
  vi.restoreAllMocks();
  await rm(dir, { recursive: true, force: true });
});

const args = () => [
  "--source",
  join(dir, "source"),
  "--target",
  join(dir, "target"),
  "--tables",
  join(fixtures, "tables.json"),
];
const run = () => main(args());

/** The table's rows as icebird (a third-party Iceberg reader) reads the target's file catalog. */
async function table(name: string) {
  const config = parseTablesConfig(JSON.parse(await readFile(join(fixtures, "tables.json"), "utf8"))).tables.get(name);
  if (!config) throw new Error(name);
  return icebirdRows(join(dir, "target"), config);
}

const orders = [
  // the 12:00 file's stale update (committed 10:30) loses to the 11:00 one
  ["1", 'Ann "the first", Jr.', "12.50", "2026-11-01 11:00:00.000000"],
  ["3", "", "0.00", "2026-11-01 10:00:00.000000"],
  ["4", "multi\nline café 🙂", null, "2026-11-01 12:00:05.000000"],
];
const customers = [
  ["10", "Zoë", "true"],
  ["11", null, "false"],
];

describe("cdc-merge CLI", () => {
  it("merges every table, reports the corrupt file with file/row/reason, exits 1, and is safe to re-run", async () => {
    expect(await run()).toBe(1);
    const text = out.join("");
    expect(text).toContain("merged   sales.orders dms/sales/orders/LOAD00000001.csv: 3 rows");
    expect(text).toContain(
      'refused sales.orders dms/sales/orders/20261101-1300000000.csv: row 2: column amount: not a decimal: "12,5"',
    );
    expect(text).toContain("merged   crm.customers dms/crm/customers/20261101-1200000000.csv.gz");
    expect(text).toMatch(/5 merged, 0 already applied, 1 refused\n$/);
    expect(err.join("")).toContain("row 2: column amount");
    expect(await table("sales.orders")).toEqual(orders);
    expect(await table("crm.customers")).toEqual(customers);
    expect(await readFile(join(dir, "target/sales/orders/metadata/version-hint.text"), "utf8")).toBe("1");

    out = [];
    expect(await run()).toBe(1);
    expect(out.join("")).toMatch(/0 merged, 5 already applied, 1 refused\n$/);
    expect(await table("sales.orders")).toEqual(orders);
    expect(await readFile(join(dir, "target/sales/orders/metadata/version-hint.text"), "utf8")).toBe("1");
  });

  it("applies the corrected file on the next run, in change order", async () => {
    await run();
    await writeFile(
      join(dir, "source/dms/sales/orders/20261101-1300000000.csv"),
      'U,1,"Ann ""the first"", Jr.",13.00,2026-11-01 13:00:00.000000\nD,3,"",0.00,2026-11-01 13:00:00.000000\n',
    );
    out = [];
    expect(await run()).toBe(0);
    expect(out.join("")).toMatch(/1 merged, 5 already applied, 0 refused\n$/);
    const expected = [
      ["1", 'Ann "the first", Jr.', "13.00", "2026-11-01 13:00:00.000000"],
      ["4", "multi\nline café 🙂", null, "2026-11-01 12:00:05.000000"],
    ];
    expect(await table("sales.orders")).toEqual(expected);
  });

  it("runs as `pnpm --silent cdc-merge`: output on stdout, rejection on stderr, exit code 1", async () => {
    const run = spawnSync(
      "pnpm",
      [
        "--silent",
        "cdc-merge",
        "--source",
        join(dir, "source"),
        "--target",
        join(dir, "target"),
        "--tables",
        join(fixtures, "tables.json"),
      ],
      { cwd: fileURLToPath(new URL("../../..", import.meta.url)), encoding: "utf8" },
    );
    expect(run.status).toBe(1);
    expect(run.stdout).toMatch(/^merged {3}crm\.customers dms\/crm\/customers\/LOAD00000001\.csv: 3 rows/);
    expect(run.stdout).toMatch(/5 merged, 0 already applied, 1 refused\n$/);
    expect(run.stderr).toBe(
      'refused sales.orders dms/sales/orders/20261101-1300000000.csv: row 2: column amount: not a decimal: "12,5"\n',
    );
    expect(await readFile(join(dir, "target/sales/orders/metadata/version-hint.text"), "utf8")).toBe("1");
  });

  it.each([[["--help"]], [["-h"]], [["--source", "x", "--help"]]])(
    "%j prints the usage on stdout and exits 0",
    async (argv) => {
      expect(await main(argv)).toBe(0);
      expect(out.join("")).toMatch(/^usage: cdc-merge --source <dir in DMS layout> .*\n$/);
      expect(err).toEqual([]);
    },
  );

  it("exits 2 with usage on missing arguments or a bad configuration", async () => {
    expect(await main(["--source", "x"])).toBe(2);
    expect(err.join("")).toContain("usage: cdc-merge");
    // Iceberg is the only table format: the former --format option is unknown.
    expect(await main([...args(), "--format", "parquet"])).toBe(2);
    expect(err.join("")).toContain("Unknown option '--format'");
    const bad = join(dir, "bad.json");
    await writeFile(
      bad,
      JSON.stringify({ tables: { "a.b": { primaryKey: ["id"], columns: [{ name: "id", type: "int" }] } } }),
    );
    expect(await main(["--source", dir, "--target", dir, "--tables", bad])).toBe(2);
    expect(err.join("")).toContain("tables.a.b.columns.0.type");
  });
});
