/**
 * `pnpm test:stage`: it stops at once, exit code 2 and one line, without what it needs (run as a user runs it, with
 * an empty HOME and no AWS_* credentials in the environment); and the pure parts that build the run.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { absolutePath, localEndpoints, parseArguments, STAGE_CONFIG, stageCommand } from "./test-stage.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/**
 * Runs the script with nothing but PATH, an empty HOME (no ~/.aws) and `extra`. `AWS_EC2_METADATA_DISABLED` keeps
 * the credential chain from asking an instance metadata service: this machine is not in AWS, and tests talk to
 * loopback only.
 */
function run(args: string[], extra: Record<string, string> = {}) {
  const home = mkdtempSync(path.join(tmpdir(), "sluice-empty-home-"));
  const result = spawnSync(process.execPath, ["--import", "tsx", "scripts/test-stage.ts", ...args], {
    cwd: root,
    encoding: "utf8",
    timeout: 60_000,
    env: { PATH: process.env.PATH ?? "", HOME: home, AWS_EC2_METADATA_DISABLED: "true", ...extra },
  });
  return { status: result.status, stdout: result.stdout, lines: result.stderr.trimEnd().split("\n") };
}

describe("pnpm test:stage without what it needs", () => {
  it("stops with exit code 2 and one line when no AWS credentials can be found", () => {
    const { status, stdout, lines } = run(["--stage", "e2e-check"]);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^test:stage: needs AWS credentials \(AWS_PROFILE, .*\), found none: .+/);
    expect(status).toBe(2);
    expect(stdout).toBe("");
  });

  it("stops with exit code 2 and one line without --stage, and never runs on production", () => {
    for (const args of [[], ["--stage"], ["files"], ["--stage", "--reporter=dot"]]) {
      const { status, lines } = run(args);
      expect(lines, args.join(" ")).toEqual([expect.stringMatching(/^test:stage: needs --stage <name>: /)]);
      expect(status).toBe(2);
    }
    const { status, lines } = run(["--stage=production"]);
    expect(lines).toEqual([expect.stringMatching(/^test:stage: refuses --stage production: /)]);
    expect(status).toBe(2);
  });

  it("stops with exit code 2 and one line where the local cloud's endpoints are set", () => {
    const { status, lines } = run(["--stage", "e2e-check"], {
      AWS_ENDPOINT_URL_S3: "http://127.0.0.1:4567",
      AWS_ENDPOINT_URL_SNS: "http://127.0.0.1:4566",
      AWS_ACCESS_KEY_ID: "local",
      AWS_SECRET_ACCESS_KEY: "local",
    });
    expect(lines).toEqual([
      "test:stage: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_SNS set (is .sluice/local.env sourced?): a stage run must reach AWS, unset them",
    ]);
    expect(status).toBe(2);
  });
});

describe("the stage run", () => {
  it("runs npx sst shell around vitest with the stage target selected, a PATH sst accepts, and its exit code", () => {
    // An `npx` of this test's own, first on PATH, records how it was called; sst itself needs AWS.
    const bin = mkdtempSync(path.join(tmpdir(), "sluice-fake-npx-"));
    const record = path.join(bin, "call.json");
    writeFileSync(
      path.join(bin, "npx"),
      `#!/bin/sh\nnode -e 'require("fs").writeFileSync(process.argv[1], JSON.stringify({ args: process.argv.slice(2), target: process.env.SLUICE_E2E_TARGET, path: process.env.PATH, cwd: process.cwd() }))' "${record}" "$@"\nexit 7\n`,
    );
    chmodSync(path.join(bin, "npx"), 0o755);
    const { status, stdout } = run(["--stage", "ci-42", "files"], {
      PATH: `./node_modules/.bin:${bin}:${process.env.PATH}`,
      AWS_ACCESS_KEY_ID: "AKIAEXAMPLE",
      AWS_SECRET_ACCESS_KEY: "example",
    });
    expect(status).toBe(7);
    expect(stdout).toContain("test:stage: npx sst shell --stage ci-42 -- ");
    const call = JSON.parse(readFileSync(record, "utf8"));
    expect(call.args).toEqual(stageCommand("ci-42", ["files"], root).args);
    expect(call.target).toBe("stage");
    expect(call.path.split(path.delimiter).every((entry: string) => path.isAbsolute(entry))).toBe(true);
    expect(call.cwd).toBe(root);
  });

  it("takes the stage in either form and passes every other argument to vitest", () => {
    expect(parseArguments(["--stage", "ci-42"])).toEqual({ stage: "ci-42", vitestArgs: [] });
    expect(parseArguments(["--", "--stage=ci-42", "files", "-t", "duplicate"])).toEqual({
      stage: "ci-42",
      vitestArgs: ["files", "-t", "duplicate"],
    });
  });

  it("runs vitest with the stage configuration under npx sst shell", () => {
    expect(stageCommand("ci-42", ["files"], "/repo")).toEqual({
      command: "npx",
      args: ["sst", "shell", "--stage", "ci-42", "--", "/repo/node_modules/.bin/vitest", "run"].concat([
        "--config",
        STAGE_CONFIG,
        "files",
      ]),
    });
  });

  it("gives sst a PATH of absolute entries, the repository's binaries first", () => {
    expect(absolutePath("./node_modules/.bin:/repo/node_modules/.bin:node_modules/.bin::/usr/bin", "/repo")).toBe(
      "/repo/node_modules/.bin:/repo/node_modules/.bin:/usr/bin",
    );
  });

  it("sees the variables that would send the SDK to local endpoints", () => {
    expect(localEndpoints({ AWS_ENDPOINT_URL: "http://x", AWS_ENDPOINT_URL_SQS: "", AWS_REGION: "eu-west-1" })).toEqual(
      ["AWS_ENDPOINT_URL"],
    );
  });
});
