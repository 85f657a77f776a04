import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../emulators/ports.ts";
import { generalHelp, parseCommand, runPush } from "./cli.ts";
import { createKinesisClient, createS3Client, serviceConfig } from "./clients.ts";
import { InvalidInput, UsageError } from "./errors.ts";
import { planUploads } from "./kinds/file.ts";
import { pushKinds } from "./kinds/index.ts";
import { itemOf } from "./kinds/items.ts";
import { parseAttributes } from "./kinds/publish.ts";
import { partitionKeyOf, type RecordRules, recordProblems } from "./kinds/records.ts";

const dir = mkdtempSync(path.join(os.tmpdir(), "sluice-push-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Captures what a run prints. */
function io(env: Record<string, string> = { SLUICE_STATE_DIR: path.join(dir, "no-cloud") }) {
  const out: string[] = [];
  const err: string[] = [];
  return {
    env,
    cwd: dir,
    stdout: { write: (t: string) => out.push(t) },
    stderr: { write: (t: string) => err.push(t), isTTY: false },
    out: () => out.join(""),
    err: () => err.join(""),
  };
}

describe("parseCommand", () => {
  it("parses a kind's options, typed, with defaults", () => {
    const command = parseCommand(["file", "data/orders.csv", "--key", "incoming/", "--verbose"]);

    expect(command).toMatchObject({
      kind: { name: "file" },
      positionals: ["data/orders.csv"],
      values: { bucket: "Inbox", key: "incoming/", verbose: true, concurrency: "4", quiet: false },
    });
  });

  it("collects repeatable options", () => {
    const command = parseCommand([
      "publish",
      "--topic",
      "Audit",
      "--message",
      "hi",
      "--attr",
      "a=1",
      "--attr",
      "b:Number=2",
    ]);

    expect(command).toMatchObject({ values: { attr: ["a=1", "b:Number=2"] } });
  });

  it.each([
    [["--help"], /^Usage: pnpm push <kind> \[options\]/],
    [["-h"], /^Usage: pnpm push <kind>/],
    [["help", "records"], /^Usage: pnpm push records --stream <Name>/],
    [["items", "--help"], /^Usage: pnpm push items --table <Name>[\s\S]*--dynamodb-json[\s\S]*--cloud-env/],
    [["file", "--bogus", "-h"], /^Usage: pnpm push file <path>/],
  ])("help: %j", (argv, expected) => {
    const command = parseCommand(argv);

    expect("help" in command && command.help).toMatch(expected);
  });

  it.each([
    [[], /which kind\? one of file, publish, records, items/],
    [["upload"], /unknown kind "upload"; kinds: file, publish, records, items/],
    [["--topic", "Audit"], /the kind comes first/],
    [["file", "--bukcet", "Inbox", "x"], /^Unknown option '--bukcet'$/],
    [["file"], /missing argument: pnpm push file <path>/],
    [["file", "a", "b"], /unexpected argument "b"/],
    [["publish", "--topic"], /Option '--topic <value>' argument missing/],
    [["publish", "stray"], /Unexpected argument 'stray'|unexpected argument "stray"/],
  ])("usage error: %j", (argv, message) => {
    expect(() => parseCommand(argv)).toThrow(UsageError);
    expect(() => parseCommand(argv)).toThrow(message);
  });

  it("lists every registered kind and the wiring's resource names in the general help", () => {
    const help = generalHelp();

    for (const kind of pushKinds) expect(help).toContain(`  ${kind.name} `);
    expect(help).toContain("buckets Inbox, Lake, CdcRaw, Curated; topics Audit, Alerts;");
    expect(help).toContain("sst shell --stage <stage> -- pnpm push");
  });
});

describe("runPush", () => {
  it("prints help on stdout and exits 0, with no local cloud needed", async () => {
    const run = io();

    const code = await runPush(["records", "--help"], run);

    expect(code).toBe(0);
    expect(run.out()).toMatch(/^Usage: pnpm push records/);
  });

  it("exits 2 on a usage error, pointing at the kind's help", async () => {
    const run = io();

    const code = await runPush(["records", "--stream", "Clickstream", "--fiel", "x"], run);

    expect(code).toBe(2);
    expect(run.err()).toBe("pnpm push: Unknown option '--fiel'\n(see `pnpm push records --help`)\n");
  });

  it("exits 1 telling to start `pnpm local` when there is no local cloud and no SST links", async () => {
    const run = io();

    const code = await runPush(["publish", "--topic", "Audit", "--message", "hi"], run);

    expect(code).toBe(1);
    expect(run.err()).toMatch(
      /no local cloud: .*no-cloud\/local\.env does not exist\. Start the local cloud with `pnpm local`/,
    );
  });

  it("resolves component names through the links before calling AWS, and names the missing one", async () => {
    const run = io({
      SST_RESOURCE_App: '{"name":"sluice","stage":"dev"}',
      SST_RESOURCE_Audit: '{"arn":"arn:x","type":"sst.aws.SnsTopic"}',
    });

    const code = await runPush(["publish", "--topic", "Alerts", "--message", "hi"], run);

    expect(code).toBe(1);
    expect(run.err()).toBe('pnpm push: no topic named "Alerts" in stage dev; topics there: Audit\n');
  });

  it("says the local cloud is unreachable when the env file is stale (pnpm local stopped)", async () => {
    const closedPort = await freePort();
    const envFile = path.join(dir, "stale.env");
    writeFileSync(
      envFile,
      [
        "export AWS_REGION='us-east-1'",
        "export AWS_ACCESS_KEY_ID='local'",
        "export AWS_SECRET_ACCESS_KEY='local'",
        `export AWS_ENDPOINT_URL_SNS='http://127.0.0.1:${closedPort}'`,
        `export SST_RESOURCE_Audit='{"arn":"arn:aws:sns:us-east-1:000000000000:x","type":"sst.aws.SnsTopic"}'`,
      ].join("\n"),
    );
    const run = io({});

    const code = await runPush(["publish", "--topic", "Audit", "--message", "hi", "--env-file", envFile], run);

    expect(code).toBe(1);
    expect(run.err()).toBe(
      `pnpm push: cannot reach the local cloud (connect ECONNREFUSED 127.0.0.1:${closedPort}). Is \`pnpm local\` still running? ${envFile} may be stale.\n`,
    );
  });

  it("says the local cloud is unreachable after `source .sluice/local.env` once pnpm local stopped", async () => {
    const closedPort = await freePort();
    const run = io({
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "local",
      AWS_SECRET_ACCESS_KEY: "local",
      AWS_ENDPOINT_URL_SNS: `http://127.0.0.1:${closedPort}`,
      SST_RESOURCE_App: '{"name":"sluice","stage":"local"}',
      SST_RESOURCE_Audit: '{"arn":"arn:aws:sns:us-east-1:000000000000:x","type":"sst.aws.SnsTopic"}',
    });

    const code = await runPush(["publish", "--topic", "Audit", "--message", "hi"], run);

    expect(code).toBe(1);
    expect(run.err()).toBe(
      `pnpm push: cannot reach the local cloud (connect ECONNREFUSED 127.0.0.1:${closedPort}). Is \`pnpm local\` still running? The endpoints come from the environment (a sourced local.env), which may be stale.\n`,
    );
  });

  it.each([["--cloud-env"], ["--env-file"]])("refuses a missing %s file naming the option, exit 2", async (option) => {
    const run = io({});
    const missing = path.join(dir, "none.env");

    const code = await runPush(["publish", "--topic", "Audit", "--message", "hi", option, missing], run);

    expect(code).toBe(2);
    expect(run.err()).toBe(`pnpm push: ${option}: no such file: ${missing}\n(see \`pnpm push publish --help\`)\n`);
  });

  it("takes --cloud-env as --env-file (which Node itself also reads, wherever it stands), not both", async () => {
    const run = io({});

    const code = await runPush(
      ["publish", "--topic", "Audit", "--message", "hi", "--cloud-env", "a", "--env-file", "b"],
      run,
    );

    expect(code).toBe(2);
    expect(run.err()).toMatch(/^pnpm push: --cloud-env and --env-file name the same thing: give one/);
    expect(generalHelp()).toMatch(/--cloud-env <path>[\s\S]*--env-file <path>[\s\S]*Node/);
  });

  it("rejects a missing --message before resolving anything", async () => {
    const run = io();

    const code = await runPush(["publish", "--topic", "Audit"], run);

    expect(code).toBe(2);
    expect(run.err()).toMatch(/--message is required/);
  });
});

describe("publish --attr", () => {
  it("parses String (default), Number, String.Array and Binary attributes", () => {
    expect(
      parseAttributes([
        "severity=ERROR",
        "score:Number=0.97",
        'tags:String.Array=["a","b"]',
        "raw:Binary=aGk=",
        "eq=a=b",
      ]),
    ).toEqual({
      severity: { DataType: "String", StringValue: "ERROR" },
      score: { DataType: "Number", StringValue: "0.97" },
      tags: { DataType: "String.Array", StringValue: '["a","b"]' },
      raw: { DataType: "Binary", BinaryValue: Buffer.from("hi") },
      eq: { DataType: "String", StringValue: "a=b" },
    });
  });

  it.each([
    ["novalue", /expected key=value/],
    ["n:Number=abc", /"abc" is not a number/],
    ["t:String.Array=x", /a String\.Array is a JSON array/],
    ["x:Float=1", /type "Float" is not one of String, Number, String\.Array, Binary/],
    ["AWS.x=1", /invalid attribute name/],
  ])("%s is refused", (spec, message) => {
    expect(() => parseAttributes([spec])).toThrow(message);
  });

  it("refuses an attribute given twice", () => {
    expect(() => parseAttributes(["a=1", "a=2"])).toThrow(/given twice/);
  });
});

describe("file: keys of the objects to create", () => {
  const folder = path.join(dir, "export");
  mkdirSync(path.join(folder, "orders", "2026"), { recursive: true });
  writeFileSync(path.join(folder, "orders", "2026", "03.csv"), "a\n");
  writeFileSync(path.join(folder, "customers.json"), "{}");
  const single = path.join(folder, "customers.json");

  it.each([
    [undefined, "customers.json"],
    ["", "customers.json"],
    ["incoming/", "incoming/customers.json"],
    ["incoming/renamed.json", "incoming/renamed.json"],
  ])("a file with --key %j goes to %s", (key, expected) => {
    expect(planUploads(single, key).map((u) => u.key)).toEqual([expected]);
  });

  it.each([
    [undefined, ["customers.json", "orders/2026/03.csv"]],
    ["dms", ["dms/customers.json", "dms/orders/2026/03.csv"]],
    ["dms/", ["dms/customers.json", "dms/orders/2026/03.csv"]],
  ])("a folder with --key %j goes under that prefix", (key, expected) => {
    expect(planUploads(folder, key).map((u) => u.key)).toEqual(expected);
  });

  it("fails on a missing path and on an empty folder", () => {
    const empty = path.join(dir, "empty");
    mkdirSync(empty, { recursive: true });

    expect(() => planUploads(path.join(dir, "nope"), undefined)).toThrow(UsageError);
    expect(() => planUploads(empty, undefined)).toThrow(InvalidInput);
  });
});

describe("records: partition keys and checks", () => {
  const rules: RecordRules = {
    clickstream: false,
    partitionKeyField: "eventId",
    partitionKeyRequired: false,
    validate: true,
  };
  const line = (value: unknown) => ({ line: 1, text: JSON.stringify(value), ok: true as const, value });

  it("takes the key from the field, a random one when it is absent and not required", () => {
    expect(partitionKeyOf(line({ eventId: "e-1" }), rules)).toEqual({ key: "e-1" });
    expect(partitionKeyOf(line({ eventId: 42 }), rules)).toEqual({ key: "42" });
    const random = partitionKeyOf(line({ other: 1 }), rules);
    expect("key" in random && random.key).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("requires the field when it was named explicitly", () => {
    expect(
      recordProblems(line({ other: 1 }), { ...rules, partitionKeyField: "site", partitionKeyRequired: true }),
    ).toEqual(['no partition key: field "site" is missing or not a string or number']);
  });

  it("checks clickstream events on the Clickstream stream, and nothing with --no-validate", () => {
    const bad = { line: 3, text: "nope", ok: false as const, error: "not JSON" };

    expect(recordProblems(line({ eventId: "e" }), { ...rules, clickstream: true })).toContain("ts: missing");
    expect(recordProblems(bad, rules)).toEqual(["not JSON"]);
    expect(recordProblems(bad, { ...rules, clickstream: true, validate: false })).toEqual([]);
  });

  it("refuses a record over 1 MiB", () => {
    expect(recordProblems(line({ eventId: "e", blob: "x".repeat(1024 * 1024) }), rules)).toEqual([
      "record larger than 1 MiB (data and partition key)",
    ]);
  });
});

describe("clients", () => {
  const local = {
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "local",
    AWS_SECRET_ACCESS_KEY: "local",
    AWS_ENDPOINT_URL: "http://127.0.0.1:1",
    AWS_ENDPOINT_URL_S3: "http://127.0.0.1:4567",
  };

  it("takes the service's endpoint over the global one, and explicit credentials", () => {
    expect(serviceConfig(local, "S3")).toEqual({
      region: "us-east-1",
      endpoint: "http://127.0.0.1:4567",
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
    expect(serviceConfig(local, "SNS").endpoint).toBe("http://127.0.0.1:1");
    expect(serviceConfig({ AWS_DEFAULT_REGION: "eu-west-1" }, "SNS")).toEqual({ region: "eu-west-1" });
  });

  it("addresses a local S3 by path and computes checksums only when required; AWS keeps the defaults", async () => {
    const s3Local = createS3Client(local);
    const s3Aws = createS3Client({ AWS_REGION: "eu-west-1" });

    expect(s3Local.config.forcePathStyle).toBe(true);
    expect(await s3Local.config.requestChecksumCalculation()).toBe("WHEN_REQUIRED");
    expect(s3Aws.config.forcePathStyle).toBe(false);
    expect(await s3Aws.config.requestChecksumCalculation()).toBe("WHEN_SUPPORTED");
  });

  it("talks HTTP/1.1 to a local Kinesis", () => {
    const kinesis = createKinesisClient({ ...local, AWS_ENDPOINT_URL_KINESIS: "http://127.0.0.1:4569" });

    expect(kinesis.config.requestHandler.constructor.name).toBe("NodeHttpHandler");
  });
});

describe("items", () => {
  it("says to use --dynamodb-json for a number beyond the safe-integer range, not the SDK's NumberValue", () => {
    const text = '{"productId":"p1","stock":{"count":[12345678901234567890]}}';
    const line = { line: 3, text, ok: true as const, value: JSON.parse(text) };

    const result = itemOf(line, { key: ["productId"], dynamodbJson: false });

    expect(result).toEqual({
      problem:
        "number 12345678901234567000 is beyond the safe-integer range (±9007199254740991), where JSON numbers lose " +
        'digits: give the item as DynamoDB JSON with --dynamodb-json, the number as a string ({"N":"<digits>"})',
    });
  });
});
