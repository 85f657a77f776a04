import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import * as wiring from "@sluice/infra/wiring";
import { afterAll, describe, expect, it } from "vitest";
import { type BuiltFunction, buildFunctions, contributorOf, entryOf, runBuild } from "./build.ts";

const temp = mkdtempSync(path.join(os.tmpdir(), "sluice-build-test-"));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

/** Dummy links for every resource, so a handler that reads `Resource.X` at module load can be imported. */
function dummyLinks(): Record<string, string> {
  const env: Record<string, string> = { SST_RESOURCE_App: JSON.stringify({ name: "sluice", stage: "test" }) };
  const named = [wiring.buckets, wiring.streams, wiring.tables, wiring.endpoints].flatMap((r) => Object.keys(r));
  for (const name of named) {
    env[`SST_RESOURCE_${name}`] = JSON.stringify({ name: `test-${name}` });
  }
  for (const name of Object.keys(wiring.topics)) {
    env[`SST_RESOURCE_${name}`] = JSON.stringify({ arn: `arn:aws:sns:us-east-1:123456789012:test-${name}` });
  }
  return env;
}

/** Imports a bundle in a fresh Node process, as the Lambda runtime would, and returns the type of each export. */
function importInChild(
  file: string,
  call?: string,
  environment: Readonly<Record<string, string>> = {},
): { status: number | null; exports: Record<string, string>; stderr: string; called?: unknown } {
  const script = `
    const m = await import(${JSON.stringify(pathToFileURL(file).href)});
    const exports = Object.fromEntries(Object.entries(m).map(([k, v]) => [k, typeof v]));
    const called = ${call ? `await m[${JSON.stringify(call)}]({})` : "undefined"};
    console.log(JSON.stringify({ exports, called }));`;
  const child = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    // What Lambda gives the function: its configured environment and its links.
    env: { PATH: process.env.PATH, AWS_REGION: "us-east-1", ...environment, ...dummyLinks() },
    encoding: "utf8",
    timeout: 30_000,
  });
  const parsed = child.status === 0 ? JSON.parse(child.stdout.trim().split("\n").pop() ?? "{}") : {};
  return { status: child.status, exports: parsed.exports ?? {}, called: parsed.called, stderr: child.stderr };
}

describe("pnpm build: every function of infra/wiring.ts", () => {
  const outdir = path.join(temp, "wiring");
  const names = Object.keys(wiring.functions);

  it("builds each one into <outdir>/<Function>/index.mjs", async () => {
    const results = await buildFunctions({ outdir });

    expect(results.map((r) => r.name).sort()).toEqual([...names].sort());
    for (const r of results) expect(r.ok ? "built" : `${r.name}: ${r.error}`).toBe("built");
  });

  it.each(names)("%s is a valid ESM bundle that exports its handler, with a linked source map", (name) => {
    const spec = wiring.functions[name as wiring.FunctionName];
    const { exportName } = entryOf(spec.handler);
    const file = path.join(outdir, name, "index.mjs");
    expect(existsSync(file)).toBe(true);

    const code = readFileSync(file, "utf8");
    expect(code.trimEnd().endsWith("//# sourceMappingURL=index.mjs.map")).toBe(true);
    const map = JSON.parse(readFileSync(`${file}.map`, "utf8")) as { version: number; sources: string[] };
    expect(map.version).toBe(3);
    expect(map.sources.some((s) => s.endsWith(entryOf(spec.handler).entry))).toBe(true);

    // What sst deploy adds to its wiring environment: the URL of its own dead-letter queue.
    const imported = importInChild(file, undefined, {
      ...spec.environment,
      [wiring.DEAD_LETTER_QUEUE_URL]: `https://sqs.us-east-1.amazonaws.com/123456789012/${wiring.deadLetterQueueOf(name)}`,
    });
    expect(imported.stderr).not.toMatch(/Error/);
    expect(imported.status).toBe(0);
    expect(imported.exports[exportName]).toBe("function");
  });
});

describe("pnpm build: fixtures", () => {
  const root = path.join(temp, "fixtures");
  const outdir = path.join(root, "out");
  mkdirSync(root, { recursive: true });
  const write = (file: string, text: string) => writeFileSync(path.join(root, file), text);

  it("bundles CommonJS dependencies that require Node built-ins, and the handler runs", async () => {
    write("legacy.cjs", 'const os = require("node:os");\nmodule.exports = { platform: () => os.platform() };\n');
    write(
      "good.ts",
      'import legacy from "./legacy.cjs";\nexport const handler = async () => ({ platform: legacy.platform() });\n',
    );

    const [result] = await buildFunctions({ functions: { Good: { handler: "good.handler" } }, root, outdir });

    expect(result?.ok).toBe(true);
    const built = result as BuiltFunction;
    expect(built.exports).toEqual(["handler"]);
    expect(built.bytes).toBeGreaterThan(0);
    expect(built.gzipBytes).toBeGreaterThan(0);
    expect(built.contributors[0]?.name).toMatch(/good\.ts|legacy\.cjs/);
    // Without the createRequire banner this import fails with "Dynamic require of "node:os" is not supported".
    const imported = importInChild(built.outfile, "handler");
    expect(imported.stderr).toBe("");
    expect(imported.called).toEqual({ platform: process.platform });
  });

  it("fails a function with a syntax error, names the file and line, and still builds the others", async () => {
    write("good.ts", "export const handler = async () => 'ok';\n");
    write("broken.ts", "export const handler = async () => {\n  return 'oops'\n;;}}\n");
    const printed: string[] = [];

    const code = await runBuild(
      { functions: { Good: { handler: "good.handler" }, Broken: { handler: "broken.handler" } }, root, outdir },
      (text) => printed.push(text),
    );
    const results = await buildFunctions({
      functions: { Good: { handler: "good.handler" }, Broken: { handler: "broken.handler" } },
      root,
      outdir,
    });

    expect(code).toBe(1);
    const broken = results.find((r) => r.name === "Broken");
    expect(broken?.ok).toBe(false);
    expect(broken?.ok === false && broken.error).toMatch(/broken\.ts:3:\d+: /);
    expect(results.find((r) => r.name === "Good")?.ok).toBe(true);
    expect(printed.join("\n")).toMatch(/Broken +FAILED/);
    expect(printed.join("\n")).toMatch(/1\/2 functions built .* \(1 failed\)/);
  });

  it("fails a function whose file does not export the handler the wiring names", async () => {
    write("other.ts", "export const main = async () => 'ok';\n");

    const [result] = await buildFunctions({ functions: { Other: { handler: "other.handler" } }, root, outdir });

    expect(result?.ok).toBe(false);
    expect(result?.ok === false && result.error).toBe("other.ts does not export `handler` (it exports: main)");
  });

  it("fails a function whose entry file does not exist", async () => {
    const code = await runBuild(
      { functions: { Missing: { handler: "nowhere/index.handler" } }, root, outdir },
      () => {},
    );

    expect(code).toBe(1);
  });
});

describe("contributorOf", () => {
  it.each([
    [
      "node_modules/.pnpm/@aws-sdk+client-s3@3.1/node_modules/@aws-sdk/client-s3/dist-es/index.js",
      "@aws-sdk/client-s3",
    ],
    ["node_modules/.pnpm/tslib@2/node_modules/tslib/tslib.es6.mjs", "tslib"],
    ["packages/observability/src/logger.ts", "packages/observability"],
    ["functions/sns-logger/index.ts", "functions/sns-logger"],
    ["good.ts", "good.ts"],
  ])("%s -> %s", (input, expected) => {
    expect(contributorOf(input)).toBe(expected);
  });
});
