/**
 * `pnpm query` as a user runs it: help, a wrong option and a missing or stopped local cloud each end in a line or two
 * on stderr (no stack trace), and leave no scratch directory behind.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { freePort } from "../packages/local/src/emulators/ports.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Runs the script with its own TMPDIR (to see what it leaves there) and no local cloud unless `extra` names one. */
function run(args: string[], extra: Record<string, string> = {}) {
  const scratch = mkdtempSync(path.join(tmpdir(), "sluice-query-test-"));
  const result = spawnSync(process.execPath, ["--import", "tsx", "scripts/query.ts", ...args], {
    cwd: root,
    encoding: "utf8",
    timeout: 60_000,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: scratch,
      TMPDIR: scratch,
      SLUICE_STATE_DIR: path.join(scratch, "no-cloud"),
      AWS_EC2_METADATA_DISABLED: "true",
      ...extra,
    },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, left: () => readdirSync(scratch) };
}

describe("pnpm query", () => {
  it.each([["--help"], ["-h"]])("prints its usage on stdout for %s and exits 0", (flag) => {
    const { status, stdout, stderr } = run([flag]);
    expect(stderr).toBe("");
    expect(stdout).toMatch(/^usage: pnpm query "<SQL>"/);
    expect(status).toBe(0);
  });

  it("refuses an unknown option with one line and the usage, exit 2", () => {
    const { status, stderr } = run(["select 1", "--bogus"]);
    expect(stderr).toBe(
      "pnpm query: Unknown option '--bogus'\n" +
        'usage: pnpm query "<SQL>" [--target <dir>] [--tables config/cdc-tables.json] [--json]\n',
    );
    expect(status).toBe(2);
  });

  it("without a local cloud, says to start one and leaves no scratch directory behind", () => {
    const { status, stderr, left } = run(["select 1"]);
    expect(stderr).toMatch(/^no local cloud: .*pnpm local/);
    expect(status).toBe(2);
    expect(left().filter((name) => name.startsWith("sluice-query-"))).toEqual([]);
  });

  it("with a stopped local cloud, says so in one line and leaves no scratch directory behind", async () => {
    const port = await freePort();
    const state = mkdtempSync(path.join(tmpdir(), "sluice-query-state-"));
    writeFileSync(
      path.join(state, "local.env"),
      [
        "export AWS_REGION='us-east-1'",
        "export AWS_ACCESS_KEY_ID='local'",
        "export AWS_SECRET_ACCESS_KEY='local'",
        `export AWS_ENDPOINT_URL_S3='http://127.0.0.1:${port}'`,
        `export AWS_ENDPOINT_URL_GLUE='http://127.0.0.1:${port}'`,
        `export SST_RESOURCE_App='{"name":"sluice","stage":"local"}'`,
        `export SST_RESOURCE_Curated='{"name":"sluice-local-curated","type":"sst.aws.Bucket"}'`,
        `export SST_RESOURCE_CdcCatalog='{"name":"sluice_local"}'`,
      ].join("\n"),
    );
    const { status, stderr, left } = run(["select 1"], { SLUICE_STATE_DIR: state });
    expect(stderr).toMatch(
      new RegExp(
        `^pnpm query: cannot reach the local cloud \\(.*ECONNREFUSED 127\\.0\\.0\\.1:${port}.*\\)\\. Is \`pnpm local\` still running\\?.*\\n$`,
      ),
    );
    expect(stderr.split("\n")).toHaveLength(2);
    expect(status).toBe(1);
    expect(left().filter((name) => name.startsWith("sluice-query-"))).toEqual([]);
  });

  it("ends its table with a newline after the row count", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "sluice-query-empty-"));
    const { status, stdout } = run(["select 1 as a union all select 2 order by a", "--target", dir]);
    expect(stdout).toBe("a\n-\n1\n2\n(2 rows)\n");
    expect(status).toBe(0);
  });
});
