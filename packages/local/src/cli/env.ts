/**
 * Where a CLI run points: at a deployed stage or at the local cloud.
 *
 * - Under `sst shell --stage X -- pnpm push ...`, SST has put one `SST_RESOURCE_<Name>` variable per resource into
 *   the environment (and AWS credentials for the account): use them as they are; the AWS SDK talks to real AWS.
 * - Otherwise, read the env file `pnpm local` writes when it is ready (`.sluice/local.env`): endpoints, dummy
 *   credentials and the same `SST_RESOURCE_<Name>` values, for the emulators.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { repoRoot } from "../paths.ts";
import { LocalCloudNotRunning, UsageError } from "../push/errors.ts";

export type Env = Readonly<Record<string, string | undefined>>;

/** The local cloud's env file: `$SLUICE_STATE_DIR/local.env`, default `<repo>/.sluice/local.env` (as `pnpm local`). */
export function defaultEnvFile(env: Env = process.env): string {
  return path.join(env.SLUICE_STATE_DIR ?? path.join(repoRoot, ".sluice"), "local.env");
}

/**
 * Parses a shell-sourceable env file: `export KEY='value'` (what `pnpm local` writes, with `'"'"'` for a quote),
 * `KEY=value`, `KEY="value"` with backslash escapes, comments and blank lines. No expansion of `$VAR`.
 */
export function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (!line || line.startsWith("#")) return;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!match?.[1]) throw new Error(`line ${index + 1}: expected KEY=value, got: ${line.slice(0, 80)}`);
    env[match[1]] = shellWord(match[2] ?? "", index + 1);
  });
  return env;
}

/** One shell word: concatenated unquoted, single-quoted and double-quoted parts, up to whitespace or `#`. */
function shellWord(text: string, line: number): string {
  let out = "";
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new Error(`line ${line}: unterminated single quote`);
      out += text.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      i++;
      for (;;) {
        if (i >= text.length) throw new Error(`line ${line}: unterminated double quote`);
        const d = text[i] as string;
        if (d === '"') break;
        if (d === "\\" && i + 1 < text.length && '"\\$`'.includes(text[i + 1] as string)) {
          out += text[i + 1];
          i += 2;
        } else {
          out += d;
          i++;
        }
      }
      i++;
    } else if (/\s/.test(c)) {
      const rest = text.slice(i).trim();
      if (rest && !rest.startsWith("#")) throw new Error(`line ${line}: unexpected text after the value: ${rest}`);
      break;
    } else if (c === "\\" && i + 1 < text.length) {
      out += text[i + 1];
      i += 2;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** Reads the local cloud's env file, or fails with {@link LocalCloudNotRunning} when it is not there. */
export function loadEnvFile(file: string): Record<string, string> {
  if (!existsSync(file)) throw new LocalCloudNotRunning(file);
  try {
    return parseEnvFile(readFileSync(file, "utf8"));
  } catch (err) {
    throw new UsageError(`cannot read the env file ${file}: ${(err as Error).message}`);
  }
}

export interface Target {
  /** `environment`: `SST_RESOURCE_*` came with the environment (`sst shell`); `env-file`: from the local cloud's file. */
  source: "environment" | "env-file";
  /** The environment to build clients and resolve resources from. */
  env: Env;
  /** The env file read, when `source` is `env-file`. */
  envFile?: string;
  /**
   * Whether this is a local cloud: the env file of one, or links whose endpoints are all on loopback (after
   * `source .sluice/local.env`).
   */
  local: boolean;
  /** `SST_RESOURCE_App.stage` (`local` for the local cloud), when known. */
  stage?: string;
  /** For humans: `local cloud (.sluice/local.env)`, `local cloud (from the environment)`, `stage dev`. */
  description: string;
}

/** True when the environment already holds SST links (`sst shell`, or a sourced env file). */
export function hasSstResources(env: Env): boolean {
  return Object.keys(env).some((key) => key.startsWith("SST_RESOURCE_") && key !== "SST_RESOURCE_App");
}

/**
 * Decides where to push: an explicit `envFile` wins; then `SST_RESOURCE_*` variables already in `env`; then the
 * local cloud's env file (whose values override `env`'s, so a stray `AWS_PROFILE` cannot send local data to AWS).
 */
export function resolveTarget(options: { env?: Env; envFile?: string; cwd?: string } = {}): Target {
  const env = options.env ?? process.env;
  if (!options.envFile && hasSstResources(env)) {
    const stage = stageOf(env);
    const local = hasLoopbackEndpoints(env);
    const description = local
      ? "local cloud (from the environment)"
      : stage
        ? `stage ${stage}`
        : "the linked resources";
    return { source: "environment", env, stage, local, description };
  }
  const file = path.resolve(options.cwd ?? process.cwd(), options.envFile ?? defaultEnvFile(env));
  const merged = { ...withoutTargetVariables(env), ...loadEnvFile(file) };
  const stage = stageOf(merged);
  const shown = path.relative(options.cwd ?? process.cwd(), file) || file;
  const local = stage === "local" || !stage || hasLoopbackEndpoints(merged);
  return {
    source: "env-file",
    env: merged,
    envFile: file,
    stage,
    local,
    description: local ? `local cloud (${shown})` : `stage ${stage} (${shown})`,
  };
}

/** True when the environment names AWS endpoints and every one of them is on this machine's loopback. */
export function hasLoopbackEndpoints(env: Env): boolean {
  const endpoints = Object.entries(env).filter(([key, value]) => key.startsWith("AWS_ENDPOINT_URL") && value);
  return endpoints.length > 0 && endpoints.every(([, value]) => isLoopbackUrl(value as string));
}

function isLoopbackUrl(url: string): boolean {
  try {
    const host = new URL(url).hostname.replace(/^\[|\]$/g, "");
    return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
  } catch {
    return false;
  }
}

/**
 * The inherited variables that would point a client somewhere else than the env file says: other links, a profile
 * or session token of a real account, a global endpoint.
 */
function withoutTargetVariables(env: Env): Env {
  const inherited = new Set(["AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"]);
  return Object.fromEntries(
    Object.entries(env).filter(([key]) => !key.startsWith("SST_RESOURCE_") && !inherited.has(key)),
  );
}

function stageOf(env: Env): string | undefined {
  try {
    const app = JSON.parse(env.SST_RESOURCE_App ?? "null") as { stage?: unknown } | null;
    return typeof app?.stage === "string" ? app.stage : undefined;
  } catch {
    return undefined;
  }
}
