import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { writeEnvFile } from "../cloud.ts";
import { LocalCloudNotRunning } from "../push/errors.ts";
import { defaultEnvFile, parseEnvFile, resolveTarget } from "./env.ts";

const dir = mkdtempSync(path.join(os.tmpdir(), "sluice-env-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const localEnv = {
  AWS_REGION: "us-east-1",
  AWS_ACCESS_KEY_ID: "local",
  AWS_SECRET_ACCESS_KEY: "local",
  AWS_ENDPOINT_URL_S3: "http://127.0.0.1:4567",
  SST_RESOURCE_App: JSON.stringify({ name: "sluice", stage: "local" }),
  SST_RESOURCE_Inbox: JSON.stringify({ name: "sluice-local-inbox", type: "sst.aws.Bucket" }),
  SST_RESOURCE_Odd: `{"name":"it's \\"quoted\\" $HOME \`x\`"}`,
};

describe("parseEnvFile", () => {
  it("reads back exactly what `pnpm local` writes (writeEnvFile), quotes and all", () => {
    const file = path.join(dir, "roundtrip.env");
    writeEnvFile(file, localEnv);

    expect(parseEnvFile(readFileSync(file, "utf8"))).toEqual(localEnv);
  });

  it.each([
    ["KEY=plain", "plain"],
    ["export KEY='single quoted # not a comment'", "single quoted # not a comment"],
    ['KEY="double \\"escaped\\" \\$x"', 'double "escaped" $x'],
    ["KEY='it'\"'\"'s'", "it's"],
    ["KEY=value # a comment", "value"],
    ["KEY=", ""],
  ])("%s", (line, expected) => {
    expect(parseEnvFile(`# comment\n\n${line}\n`)).toEqual({ KEY: expected });
  });

  it("names the line it cannot read", () => {
    expect(() => parseEnvFile("A=1\nnot a variable\n")).toThrow(/line 2: expected KEY=value/);
    expect(() => parseEnvFile("A='open\n")).toThrow(/line 1: unterminated single quote/);
  });
});

describe("resolveTarget", () => {
  const envFile = path.join(dir, "local.env");
  writeEnvFile(envFile, localEnv);

  it("uses SST_RESOURCE_* already in the environment (sst shell), without reading any file", () => {
    const env = {
      SST_RESOURCE_App: JSON.stringify({ name: "sluice", stage: "dev" }),
      SST_RESOURCE_Inbox: JSON.stringify({ name: "sluice-dev-inboxbucket-abc", type: "sst.aws.Bucket" }),
      SLUICE_STATE_DIR: path.join(dir, "nowhere"),
    };

    const target = resolveTarget({ env });

    expect(target.source).toBe("environment");
    expect(target.stage).toBe("dev");
    expect(target.description).toBe("stage dev");
    expect(target.env.SST_RESOURCE_Inbox).toContain("sluice-dev-inboxbucket-abc");
  });

  it("takes SST_RESOURCE_* with loopback endpoints (a sourced local.env) for the local cloud, a stage otherwise", () => {
    const sourced = { ...localEnv, SLUICE_STATE_DIR: path.join(dir, "nowhere") };
    const deployed = { ...sourced, AWS_ENDPOINT_URL_S3: undefined, SST_RESOURCE_App: '{"stage":"dev"}' };
    const remote = { ...sourced, AWS_ENDPOINT_URL_S3: "https://s3.example.com" };

    const target = resolveTarget({ env: sourced });

    expect(target).toMatchObject({ source: "environment", local: true, stage: "local" });
    expect(target.description).toBe("local cloud (from the environment)");
    expect(resolveTarget({ env: deployed })).toMatchObject({ local: false, description: "stage dev" });
    expect(resolveTarget({ env: remote })).toMatchObject({ local: false, description: "stage local" });
  });

  it("otherwise loads $SLUICE_STATE_DIR/local.env, whose values win over the environment's", () => {
    const env = {
      SLUICE_STATE_DIR: dir,
      AWS_REGION: "eu-west-1",
      AWS_PROFILE: "prod",
      AWS_SESSION_TOKEN: "t",
      PATH: "/bin",
    };

    const target = resolveTarget({ env, cwd: dir });

    expect(target.source).toBe("env-file");
    expect(target.envFile).toBe(envFile);
    expect(target.stage).toBe("local");
    expect(target.env.AWS_REGION).toBe("us-east-1");
    expect(target.env.AWS_ENDPOINT_URL_S3).toBe("http://127.0.0.1:4567");
    // A real account's profile or session must not leak into requests to the emulators.
    expect(target.env.AWS_PROFILE).toBeUndefined();
    expect(target.env.AWS_SESSION_TOKEN).toBeUndefined();
    expect(target.env.PATH).toBe("/bin");
    expect(target.description).toBe("local cloud (local.env)");
    expect(target.local).toBe(true);
  });

  it("an explicit env file wins over SST_RESOURCE_* in the environment, whose links are dropped", () => {
    const env = { SST_RESOURCE_Stale: JSON.stringify({ name: "x" }) };

    const target = resolveTarget({ env, envFile: envFile, cwd: dir });

    expect(target.source).toBe("env-file");
    expect(target.env.SST_RESOURCE_Stale).toBeUndefined();
    expect(target.env.SST_RESOURCE_Inbox).toBeDefined();
  });

  it("fails with LocalCloudNotRunning, saying to start `pnpm local`, when there is no env file", () => {
    const env = { SLUICE_STATE_DIR: path.join(dir, "missing") };

    expect(() => resolveTarget({ env })).toThrow(LocalCloudNotRunning);
    expect(() => resolveTarget({ env })).toThrow(/start the local cloud with `pnpm local`/i);
    expect(() => resolveTarget({ env })).toThrow(path.join(dir, "missing", "local.env"));
  });

  it("defaults to <repo>/.sluice/local.env", () => {
    expect(defaultEnvFile({})).toMatch(/\.sluice\/local\.env$/);
  });

  it("reports an unreadable env file as a usage error naming the line", () => {
    const bad = path.join(dir, "bad.env");
    writeFileSync(bad, "export A='1'\n%%%\n");

    expect(() => resolveTarget({ env: {}, envFile: bad })).toThrow(/bad\.env: line 2/);
  });
});
