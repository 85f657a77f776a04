/**
 * `pnpm test:stage --stage <name> [vitest arguments]`: the end-to-end flows of test/e2e, the same files `pnpm test`
 * runs on the local cloud, against a deployed stage.
 *
 * It first checks what the run needs, and stops at once with exit code 2 and one line saying what is missing: a stage
 * name (never `production`: the flows write and delete data), no `AWS_ENDPOINT_URL_*` (a sourced `.sluice/local.env`
 * would send every call to the local emulators), and AWS credentials from the SDK's default chain (environment,
 * profile, SSO, instance or container role). Then it runs, with `SLUICE_E2E_TARGET=stage`:
 *
 *   npx sst shell --stage <name> -- vitest run --config test/e2e/stage.config.ts [vitest arguments]
 *
 * `sst shell` gives the command the stage's links (`SST_RESOURCE_<Name>`), credentials and region. It is started
 * through `npx` with a PATH of absolute entries only: under `pnpm` (`pnpm test:stage`, `pnpm exec sst`) the PATH starts
 * with the RELATIVE `./node_modules/.bin`, and the `sst` binary refuses to run the `node` it finds there ("cannot run
 * executable found relative to current directory"; see infra/README.md).
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { defaultProvider } from "@aws-sdk/credential-provider-node";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** The vitest configuration of a stage run (order, timeouts, reporter: see the file). */
export const STAGE_CONFIG = "test/e2e/stage.config.ts";

export type Parsed = { stage: string; vitestArgs: string[] } | { problem: string };

/** `--stage <name>` or `--stage=<name>`; every other argument goes to vitest (a file filter, `-t <pattern>`). */
export function parseArguments(argv: readonly string[]): Parsed {
  let stage: string | undefined;
  const vitestArgs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--" && i === 0) continue;
    if (arg === "--stage") stage = argv[++i];
    else if (arg.startsWith("--stage=")) stage = arg.slice("--stage=".length);
    else vitestArgs.push(arg);
  }
  if (!stage || stage.startsWith("-"))
    return { problem: "needs --stage <name>: the deployed stage to test (npx sst deploy --stage <name> makes one)" };
  if (stage === "production")
    return { problem: "refuses --stage production: the end-to-end flows write and delete data in the stage they test" };
  return { stage, vitestArgs };
}

/** The `AWS_ENDPOINT_URL*` variables that are set: each would redirect the SDK away from AWS. */
export function localEndpoints(env: Readonly<Record<string, string | undefined>>): string[] {
  return Object.keys(env)
    .filter((key) => key.startsWith("AWS_ENDPOINT_URL") && env[key])
    .sort();
}

/**
 * Resolves credentials through the SDK's default chain, each remote provider (instance or container metadata) given
 * one short try, the whole within `timeoutMs`. Returns why none were found, or undefined when some were.
 */
export async function missingCredentials(timeoutMs = 10_000): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs);
  });
  try {
    const credentials = await Promise.race([defaultProvider({ timeout: 1000, maxRetries: 0 })(), timedOut]);
    return credentials.accessKeyId ? undefined : "the chain returned an empty access key";
  } catch (err) {
    return (err as Error).message.split("\n")[0];
  } finally {
    clearTimeout(timer);
  }
}

/** PATH without relative entries, with the repository's own `node_modules/.bin` first, absolute. */
export function absolutePath(pathVariable: string | undefined, repoRoot: string): string {
  const entries = (pathVariable ?? "").split(path.delimiter).filter((entry) => path.isAbsolute(entry));
  return [path.join(repoRoot, "node_modules", ".bin"), ...entries].join(path.delimiter);
}

/** The command that runs the suite against `stage`: `npx sst shell` around vitest with the stage configuration. */
export function stageCommand(stage: string, vitestArgs: readonly string[], repoRoot: string) {
  const vitest = path.join(repoRoot, "node_modules", ".bin", "vitest");
  return {
    command: "npx",
    args: ["sst", "shell", "--stage", stage, "--", vitest, "run", "--config", STAGE_CONFIG, ...vitestArgs],
  };
}

function stop(problem: string): never {
  process.stderr.write(`test:stage: ${problem}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  const parsed = parseArguments(process.argv.slice(2));
  if ("problem" in parsed) stop(parsed.problem);
  const endpoints = localEndpoints(process.env);
  if (endpoints.length > 0)
    stop(`${endpoints.join(", ")} set (is .sluice/local.env sourced?): a stage run must reach AWS, unset them`);
  const missing = await missingCredentials();
  if (missing)
    stop(
      `needs AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, SSO, or an instance role), found none: ${missing}`,
    );

  const { command, args } = stageCommand(parsed.stage, parsed.vitestArgs, root);
  process.stdout.write(`test:stage: ${command} ${args.join(" ")}\n`);
  const child = spawn(command, args, {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, PATH: absolutePath(process.env.PATH, root), SLUICE_E2E_TARGET: "stage" },
  });
  child.on("error", (err) => stop(`could not start ${command}: ${err.message}`));
  child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
