/**
 * `pnpm build`: bundles every function of `infra/wiring.ts` with esbuild, the way it runs on Lambda (`nodejs22.x`):
 * one self-contained ESM file per function, the AWS SDK included (the runtime's own SDK version is whatever AWS
 * ships that week; a bundle pins ours), minified, tree-shaken, with an external source map and a metafile.
 *
 * Output: `.sluice/build/<Function>/index.mjs` (+ `index.mjs.map`, `meta.json` for esbuild's bundle analyzer).
 * Prints one row per function (bundle size, gzip size, the three biggest contributors, build time) and exits
 * non-zero when any function fails to build.
 */
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { functions as wiredFunctions } from "@sluice/infra/wiring";
import { build, type Metafile } from "esbuild";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** The Lambda runtime the bundles target (infra/functions.ts deploys `nodejs22.x`). */
export const NODE_TARGET = "node22";

/**
 * ESM has no `require`; CommonJS dependencies bundled into an ESM file still call it for Node built-ins
 * (esbuild's `__require` shim throws "Dynamic require of X is not supported" without one).
 */
export const ESM_REQUIRE_BANNER =
  'import { createRequire as __sluiceCreateRequire } from "node:module"; const require = __sluiceCreateRequire(import.meta.url);';

export interface BuildOptions {
  /** Functions to build, by name (only `handler` is read). Default: every function of `infra/wiring.ts`. */
  functions?: Readonly<Record<string, { readonly handler: string }>>;
  /** Where `<Function>/index.mjs` goes. Default `<repo>/.sluice/build`. */
  outdir?: string;
  /** Handler paths are relative to it. Default the repository root. */
  root?: string;
}

export interface Contributor {
  /** A package name (`@aws-sdk/client-s3`) or a workspace folder (`packages/observability`). */
  name: string;
  bytes: number;
}

export interface BuiltFunction {
  ok: true;
  name: string;
  entry: string;
  exportName: string;
  outfile: string;
  sourcemap: string;
  bytes: number;
  gzipBytes: number;
  /** The biggest contributors to the bundle, biggest first. */
  contributors: Contributor[];
  /** Exports of the bundle, from the metafile. */
  exports: string[];
  ms: number;
}

export interface FailedFunction {
  ok: false;
  name: string;
  entry: string;
  exportName: string;
  error: string;
  ms: number;
}

export type FunctionBuildResult = BuiltFunction | FailedFunction;

/** `functions/sns-logger/index.handler` -> `{ entry: "functions/sns-logger/index.ts", exportName: "handler" }`. */
export function entryOf(handler: string): { entry: string; exportName: string } {
  const dot = handler.lastIndexOf(".");
  if (dot <= 0 || dot === handler.length - 1) {
    throw new Error(`handler "${handler}" must be "<path without extension>.<export>"`);
  }
  return { entry: `${handler.slice(0, dot)}.ts`, exportName: handler.slice(dot + 1) };
}

/**
 * Groups a metafile input path by what a reader would act on: the npm package it belongs to
 * (`node_modules/.pnpm/x/node_modules/@aws-sdk/client-s3/dist-es/...` -> `@aws-sdk/client-s3`), or else its
 * workspace folder (`packages/observability/src/logger.ts` -> `packages/observability`).
 */
export function contributorOf(input: string): string {
  const marker = "node_modules/";
  const at = input.lastIndexOf(marker);
  if (at >= 0) {
    const parts = input.slice(at + marker.length).split("/");
    const first = parts[0] ?? input;
    return first.startsWith("@") && parts[1] ? `${first}/${parts[1]}` : first;
  }
  const parts = input.split("/");
  return parts.length > 2 ? parts.slice(0, 2).join("/") : input;
}

function topContributors(metafile: Metafile, outfile: string, count: number, absWorkingDir: string): Contributor[] {
  const output = Object.entries(metafile.outputs).find(([file]) => path.resolve(absWorkingDir, file) === outfile)?.[1];
  if (!output) return [];
  const totals = new Map<string, number>();
  for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
    const name = contributorOf(input);
    totals.set(name, (totals.get(name) ?? 0) + bytesInOutput);
  }
  return [...totals.entries()]
    .map(([name, bytes]) => ({ name, bytes }))
    .sort((a, b) => b.bytes - a.bytes)
    .slice(0, count);
}

async function buildOne(name: string, handler: string, root: string, outdir: string): Promise<FunctionBuildResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  let entry = handler;
  let exportName = "";
  try {
    ({ entry, exportName } = entryOf(handler));
    const outfile = path.join(outdir, name, "index.mjs");
    rmSync(path.dirname(outfile), { recursive: true, force: true });
    const result = await build({
      absWorkingDir: root,
      entryPoints: [path.resolve(root, entry)],
      outfile,
      bundle: true,
      // Everything goes in, `@aws-sdk/*` included: only Node built-ins stay external (platform node).
      packages: "bundle",
      platform: "node",
      target: NODE_TARGET,
      format: "esm",
      // ESM entry points of dependencies first: the AWS SDK's `dist-es` tree-shakes, its CommonJS build does not.
      mainFields: ["module", "main"],
      minify: true,
      treeShaking: true,
      // An external `.map` file plus the `sourceMappingURL` comment that `--enable-source-maps` follows.
      sourcemap: "linked",
      metafile: true,
      // Licence comments go to `index.mjs.LEGAL.txt` instead of the bundle.
      legalComments: "linked",
      banner: { js: ESM_REQUIRE_BANNER },
      logLevel: "silent",
    });
    const exports = Object.values(result.metafile.outputs).find((o) => o.entryPoint)?.exports ?? [];
    if (!exports.includes(exportName)) {
      throw new Error(`${entry} does not export \`${exportName}\` (it exports: ${exports.join(", ") || "nothing"})`);
    }
    const code = readFileSync(outfile);
    writeFileSync(path.join(outdir, name, "meta.json"), JSON.stringify(result.metafile));
    return {
      ok: true,
      name,
      entry,
      exportName,
      outfile,
      sourcemap: `${outfile}.map`,
      bytes: statSync(outfile).size,
      gzipBytes: gzipSync(code, { level: 9 }).length,
      contributors: topContributors(result.metafile, outfile, 3, root),
      exports,
      ms: elapsed(),
    };
  } catch (err) {
    return { ok: false, name, entry, exportName, error: describeBuildError(err), ms: elapsed() };
  }
}

/** esbuild's failures carry located messages; keep them readable (`file:line:col: text`). */
function describeBuildError(err: unknown): string {
  const errors = (
    err as { errors?: Array<{ text: string; location?: { file: string; line: number; column: number } }> }
  ).errors;
  if (Array.isArray(errors) && errors.length > 0) {
    return errors
      .map((e) => (e.location ? `${e.location.file}:${e.location.line}:${e.location.column}: ${e.text}` : e.text))
      .join("\n");
  }
  return err instanceof Error ? err.message : String(err);
}

/** Bundles every function (in parallel) and reports each one; never throws for a function that fails to build. */
export async function buildFunctions(options: BuildOptions = {}): Promise<FunctionBuildResult[]> {
  const root = options.root ?? repoRoot;
  const outdir = path.resolve(root, options.outdir ?? path.join(repoRoot, ".sluice", "build"));
  mkdirSync(outdir, { recursive: true });
  const functions = options.functions ?? wiredFunctions;
  return Promise.all(Object.entries(functions).map(([name, spec]) => buildOne(name, spec.handler, root, outdir)));
}

function kb(bytes: number): string {
  return bytes < 1024 ? `${bytes} B` : `${(bytes / 1024).toFixed(1)} KB`;
}

/** The table `pnpm build` prints. */
export function formatReport(results: readonly FunctionBuildResult[]): string {
  const rows = results.map((r) =>
    r.ok
      ? [
          r.name,
          kb(r.bytes),
          kb(r.gzipBytes),
          r.contributors.map((c) => `${c.name} ${kb(c.bytes)}`).join(", "),
          `${r.ms}`,
        ]
      : [r.name, "FAILED", "", "", `${r.ms}`],
  );
  const header = ["function", "bundle", "gzip", "top contributors", "ms"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? "").length)));
  const right = new Set([1, 2, 4]);
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (right.has(i) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  const out = [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)];
  for (const r of results) {
    if (!r.ok) out.push("", `${r.name} (${r.entry}) failed to build:`, ...r.error.split("\n").map((l) => `  ${l}`));
  }
  return out.join("\n");
}

/** Builds, prints the report, and returns the exit code (1 when any function failed). */
export async function runBuild(
  options: BuildOptions = {},
  print: (text: string) => void = console.log,
): Promise<number> {
  const started = performance.now();
  const results = await buildFunctions(options);
  const failed = results.filter((r) => !r.ok).length;
  const outdir = path.relative(process.cwd(), options.outdir ?? path.join(repoRoot, ".sluice", "build")) || ".";
  print(formatReport(results));
  print(
    `\n${results.length - failed}/${results.length} functions built into ${outdir}/ in ${Math.round(performance.now() - started)} ms` +
      (failed ? ` (${failed} failed)` : ""),
  );
  return failed ? 1 : 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await runBuild();
}
