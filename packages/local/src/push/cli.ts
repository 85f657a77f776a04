/**
 * The `pnpm push <kind> ...` frame: picks the kind, parses its options (`node:util` `parseArgs`, strict), resolves
 * the target (a deployed stage under `sst shell`, or the local cloud's env file), builds the context the kind runs
 * in, and turns failures into one clear line and an exit code (2 for usage errors, 1 for the rest).
 */
import { existsSync } from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import { parseArgs } from "node:util";
import { buckets, streams, tables, topics } from "@sluice/infra/wiring";
import { type Env, resolveTarget, type Target } from "../cli/env.ts";
import { createDynamoDbClient, createKinesisClient, createS3Client, createSnsClient } from "./clients.ts";
import { PushError, UsageError } from "./errors.ts";
import type { OutputStream, PushContext, RegisteredKind } from "./kind.ts";
import { pushKinds } from "./kinds/index.ts";
import { type ProgressStream, startProgress } from "./progress.ts";
import { resolveResource } from "./resources.ts";

export interface PushIo {
  env?: Env;
  /** Where relative paths resolve. Default `$INIT_CWD` (the directory `pnpm` was run from), else the process's. */
  cwd?: string;
  stdin?: Readable;
  stdout?: OutputStream;
  stderr?: ProgressStream;
  kinds?: readonly RegisteredKind[];
}

const commonOptions = {
  "cloud-env": { type: "string" },
  "env-file": { type: "string" },
  quiet: { type: "boolean", short: "q", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const;

const COMMON_HELP = `Common options:
  --cloud-env <path> push into the local cloud this env file describes (default .sluice/local.env,
                     or $SLUICE_STATE_DIR/local.env), even when SST_RESOURCE_* variables are set
  --env-file <path>  the same (its earlier name); Node itself also reads --env-file, wherever it stands, and
                     stops with "node: <path>: not found" (exit 9) before pnpm push runs when the file is missing
  -q, --quiet        no progress line on stderr (it is drawn only when stderr is a terminal anyway)
  -h, --help         this help`;

/** `pnpm push --help` */
export function generalHelp(kinds: readonly RegisteredKind[] = pushKinds): string {
  const width = Math.max(...kinds.map((k) => k.name.length));
  return `Usage: pnpm push <kind> [options]

Pushes files, messages, records and items into the Sluice local cloud, or into a deployed stage.

Kinds:
${kinds.map((k) => `  ${k.name.padEnd(width)}  ${k.summary}`).join("\n")}

Where it pushes:
  Under \`sst shell --stage <stage> -- pnpm push ...\`, into that stage: SST provides the resources
  (SST_RESOURCE_* variables) and the AWS credentials. Otherwise into the local cloud, through the env file
  \`pnpm local\` writes when it is ready (.sluice/local.env).
  Resources are named by their SST component names:
    buckets ${Object.keys(buckets).join(", ")}; topics ${Object.keys(topics).join(", ")};
    streams ${Object.keys(streams).join(", ")}; tables ${Object.keys(tables).join(", ")}

${COMMON_HELP}

Run \`pnpm push <kind> --help\` for a kind's options and examples.`;
}

/** `pnpm push <kind> --help` */
export function kindHelp(kind: RegisteredKind): string {
  return `Usage: pnpm push ${kind.usage}

${kind.help}

${COMMON_HELP}`;
}

interface ParsedCommand {
  kind: RegisteredKind;
  values: Record<string, unknown>;
  positionals: string[];
}

/** Parses `argv` (after `pnpm push`) into a kind and its arguments; `help` when help was asked for. */
export function parseCommand(
  argv: readonly string[],
  kinds: readonly RegisteredKind[] = pushKinds,
): ParsedCommand | { help: string } {
  const args = argv[0] === "--" ? argv.slice(1) : [...argv];
  const [first, ...rest] = args;
  if (first === undefined) throw new UsageError(`which kind? one of ${kinds.map((k) => k.name).join(", ")}`);
  if (first === "--help" || first === "-h" || first === "help") {
    const named = kinds.find((k) => k.name === rest[0]);
    return { help: named ? kindHelp(named) : generalHelp(kinds) };
  }
  const kind = kinds.find((k) => k.name === first);
  if (!kind) {
    const hint = first.startsWith("-") ? " (the kind comes first: pnpm push <kind> [options])" : "";
    throw new UsageError(`unknown kind "${first}"${hint}; kinds: ${kinds.map((k) => k.name).join(", ")}`);
  }
  // Help wins over whatever else is on the line (`pnpm push file -h --whatever`).
  if (rest.includes("--help") || rest.includes("-h")) return { help: kindHelp(kind) };
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({
      args: rest,
      options: { ...kind.options, ...commonOptions },
      allowPositionals: true,
      strict: true,
    }) as typeof parsed;
  } catch (err) {
    // parseArgs says e.g. "Unknown option '--bukcet'. To specify a positional argument starting with a '-', ...".
    const message = (err as Error).message.replace(/\. To specify a positional.*$/s, "");
    throw new UsageError(message, kind.name);
  }
  if (parsed.values.help) return { help: kindHelp(kind) };
  const [min, max] = kind.positionals ?? [0, 0];
  if (parsed.positionals.length < min) throw new UsageError(`missing argument: pnpm push ${kind.usage}`, kind.name);
  if (parsed.positionals.length > max) {
    throw new UsageError(`unexpected argument "${parsed.positionals[max]}"`, kind.name);
  }
  return { kind, values: parsed.values, positionals: parsed.positionals };
}

function describeFailure(err: unknown, target: Target | undefined): string {
  if (err instanceof PushError) {
    const hint = err instanceof UsageError && err.kind ? `\n(see \`pnpm push ${err.kind} --help\`)` : "";
    return `${err.message}${hint}`;
  }
  const e = err as { name?: string; message?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  const refused = e.code === "ECONNREFUSED" || /ECONNREFUSED/.test(e.message ?? "");
  if (refused && target?.local) {
    const stale =
      target.source === "env-file"
        ? `${target.envFile} may be stale.`
        : "The endpoints come from the environment (a sourced local.env), which may be stale.";
    return `cannot reach the local cloud (${e.message}). Is \`pnpm local\` still running? ${stale}`;
  }
  const status = e.$metadata?.httpStatusCode ? ` (HTTP ${e.$metadata.httpStatusCode})` : "";
  return `${e.name ?? "Error"}: ${e.message ?? String(err)}${status}`;
}

/**
 * The env file named on the command line (`--cloud-env`, or its earlier name `--env-file`), checked to exist: a
 * missing file given explicitly is a wrong command line, not "no local cloud".
 */
function envFileOption(values: Record<string, unknown>, kind: string, cwd: string): string | undefined {
  const given = (["cloud-env", "env-file"] as const).filter((name) => typeof values[name] === "string");
  if (given.length > 1) throw new UsageError("--cloud-env and --env-file name the same thing: give one", kind);
  const option = given[0];
  if (!option) return undefined;
  const file = values[option] as string;
  if (!existsSync(path.resolve(cwd, file))) throw new UsageError(`--${option}: no such file: ${file}`, kind);
  return file;
}

/** Runs one `pnpm push` command line; resolves with the process exit code. */
export async function runPush(argv: readonly string[], io: PushIo = {}): Promise<number> {
  const env = io.env ?? process.env;
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const cwd = io.cwd ?? env.INIT_CWD ?? process.cwd();
  const destroyers: Array<() => void> = [];
  let target: Target | undefined;
  try {
    const command = parseCommand(argv, io.kinds);
    if ("help" in command) {
      stdout.write(`${command.help}\n`);
      return 0;
    }
    const envFile = envFileOption(command.values, command.kind.name, cwd);
    // Resolved on first use, so that a kind's own argument checks come before "start the local cloud".
    const targetOf = (): Target => {
      target ??= resolveTarget({ env, cwd, ...(typeof envFile === "string" ? { envFile } : {}) });
      return target;
    };
    const lazy = <T extends { destroy(): void }>(create: (target: Target) => T): (() => T) => {
      let client: T | undefined;
      return () => {
        if (!client) {
          const created = create(targetOf());
          destroyers.push(() => created.destroy());
          client = created;
        }
        return client;
      };
    };
    const context: PushContext = {
      get target() {
        return targetOf();
      },
      cwd,
      stdin: io.stdin ?? process.stdin,
      stdout,
      stderr,
      resolve: (kind, component) => {
        const t = targetOf();
        const where = t.envFile ? `the local cloud (${path.relative(cwd, t.envFile) || t.envFile})` : t.description;
        return resolveResource(t.env, kind, component, where);
      },
      progress: (label, unit, total) =>
        startProgress({
          stream: stderr,
          label,
          unit,
          ...(total !== undefined ? { total } : {}),
          enabled: !command.values.quiet && stderr.isTTY === true,
        }),
      clients: {
        s3: lazy((t) => createS3Client(t.env)),
        sns: lazy((t) => createSnsClient(t.env)),
        kinesis: lazy((t) => createKinesisClient(t.env)),
        dynamodb: lazy((t) => createDynamoDbClient(t.env)),
      },
    };
    const summary = await command.kind.run(context, { values: command.values, positionals: command.positionals });
    stdout.write(target ? `${summary} [${target.description}]\n` : `${summary}\n`);
    return 0;
  } catch (err) {
    stderr.write(`pnpm push: ${describeFailure(err, target)}\n`);
    return err instanceof PushError ? err.exitCode : 1;
  } finally {
    for (const destroy of destroyers) destroy();
  }
}
