/**
 * `pnpm logs <Function> [--no-follow] [--lines N] [--all-runs]`: the last N lines of `.sluice/logs/<Function>.log`
 * (what CloudWatch Logs would hold for that function in the local cloud; of the current run of `pnpm local` only,
 * from the marker line it starts with, unless --all-runs), then every new line as it is written, like
 * `tail -F`: it survives the file being truncated, removed or recreated (a restart of `pnpm local`).
 *
 * On a terminal each JSON line is shown compactly (time, level, message, the fields that matter); piped, lines
 * pass through untouched for `jq` and friends. For a deployed stage it says where the logs are instead.
 */
import { closeSync, existsSync, fstatSync, openSync, readSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { functions } from "@sluice/infra/wiring";
import { repoRoot } from "../paths.ts";
import { isRunMarker, parseRunMarker } from "../runtime/run-marker.ts";
import { type Env, hasSstResources } from "./env.ts";

export interface OutputStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

// ---------------------------------------------------------------------------------------------------------------
// Reading and following a file

/** Reads bytes `[start, end)` of an open file. */
function readRange(fd: number, start: number, end: number): Buffer {
  const buffer = Buffer.alloc(end - start);
  let done = 0;
  while (done < buffer.length) {
    const n = readSync(fd, buffer, done, buffer.length - done, start + done);
    if (n === 0) break;
    done += n;
  }
  return buffer.subarray(0, done);
}

export interface Tail {
  /** The last complete lines (at most the number asked for). */
  lines: string[];
  /** Where the complete lines end: following resumes here (a trailing partial line is read again then). */
  position: number;
  /** Text after the last newline (a line still being written). */
  partial: string;
}

/** The last `count` complete lines of a file, reading backwards from its end in chunks (big files stay cheap). */
export function tailLines(file: string, count: number): Tail {
  const fd = openSync(file, "r");
  try {
    const size = fstatSync(fd).size;
    const chunk = 64 * 1024;
    let start = size;
    let text = "";
    // One newline more than lines wanted: the text before the first one kept may be a cut line.
    while (start > 0 && (text.match(/\n/g)?.length ?? 0) <= count) {
      const from = Math.max(0, start - chunk);
      text = readRange(fd, from, start).toString("utf8") + text;
      start = from;
    }
    const lastNewline = text.lastIndexOf("\n");
    const partial = text.slice(lastNewline + 1);
    const complete = lastNewline >= 0 ? text.slice(0, lastNewline).split("\n") : [];
    if (start > 0) complete.shift();
    return {
      lines: count > 0 ? complete.slice(-count) : [],
      position: size - Buffer.byteLength(partial),
      partial,
    };
  } finally {
    closeSync(fd);
  }
}

export interface FollowOptions {
  /** Byte offset to start from (e.g. {@link Tail.position}); default 0. */
  from?: number;
  onLine: (line: string) => void;
  /** Told when the file is truncated, removed or recreated. */
  onNotice?: (text: string) => void;
  pollMs?: number;
  signal?: AbortSignal;
}

/**
 * Follows a file by name, as `tail -F` does: polls its size and inode, emits each complete new line, starts over
 * from the beginning when it shrinks (truncated) or is replaced (new inode), and waits when it does not exist.
 * Polling rather than `fs.watch`: watchers miss renames and recreations on some file systems. Resolves on abort.
 */
export async function followFile(file: string, options: FollowOptions): Promise<void> {
  const pollMs = options.pollMs ?? 200;
  let position = options.from ?? 0;
  let inode: number | undefined;
  let partial = "";
  let missingNoticed = false;
  const initial = existsSync(file) ? statSync(file) : undefined;
  if (initial) inode = initial.ino;

  const poll = () => {
    let stats: ReturnType<typeof statSync>;
    try {
      stats = statSync(file);
    } catch {
      if (!missingNoticed) options.onNotice?.(`${file} is gone; waiting for it to come back`);
      missingNoticed = true;
      inode = undefined;
      return;
    }
    if (inode !== stats.ino) {
      if (missingNoticed || inode !== undefined) options.onNotice?.(`${file} was recreated; following the new file`);
      else if (initial === undefined) options.onNotice?.(`${file} appeared; following it`);
      missingNoticed = false;
      inode = stats.ino;
      position = 0;
      partial = "";
    } else if (stats.size < position) {
      options.onNotice?.(`${file} was truncated; following from its start`);
      position = 0;
      partial = "";
    }
    if (stats.size <= position) return;
    const fd = openSync(file, "r");
    try {
      // Read up to the current size only: what is written meanwhile is read on the next poll.
      const end = fstatSync(fd).size;
      const text = partial + readRange(fd, position, end).toString("utf8");
      position = end;
      const lines = text.split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) options.onLine(line);
    } finally {
      closeSync(fd);
    }
  };

  while (!options.signal?.aborted) {
    poll();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, pollMs);
      options.signal?.addEventListener(
        "abort",
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
    });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Pretty printing

/** Fields every Powertools record carries: shown in the prefix or not at all. */
const NOISE = new Set([
  "level",
  "message",
  "timestamp",
  "time",
  "service",
  "cold_start",
  "function_arn",
  "function_memory_size",
  "function_name",
  "function_request_id",
  "sampling_rate",
  "xray_trace_id",
]);

const ansi = {
  dim: (s: string) => `\x1b[2m${s}\x1b[22m`,
  bold: (s: string) => `\x1b[1m${s}\x1b[22m`,
  red: (s: string) => `\x1b[31m${s}\x1b[39m`,
  yellow: (s: string) => `\x1b[33m${s}\x1b[39m`,
  green: (s: string) => `\x1b[32m${s}\x1b[39m`,
  cyan: (s: string) => `\x1b[36m${s}\x1b[39m`,
};
const plain = Object.fromEntries(Object.keys(ansi).map((k) => [k, (s: string) => s])) as typeof ansi;

const MAX_VALUE = 100;

function clip(text: string, max = MAX_VALUE): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function timeOf(value: unknown): string {
  if (typeof value === "number") return new Date(value).toISOString().slice(11, 23);
  if (typeof value === "string" && /^\d{4}-\d{2}-\d{2}T/.test(value)) return value.slice(11, 23);
  return "            ";
}

/** ARNs are long and repeat a name shown next to them (`topic`, `function_name`): left to the raw view. */
function isArnKey(key: string): boolean {
  return /(^a|A)rn$/.test(key);
}

/** `key=value` pairs of the fields worth a glance, nested objects flattened one level (`sns.topic=...`). */
function keyFields(record: Record<string, unknown>): string[] {
  const out: string[] = [];
  const show = (key: string, value: unknown) => {
    if (value === undefined) return;
    out.push(`${key}=${clip(typeof value === "string" ? value : JSON.stringify(value))}`);
  };
  for (const [key, value] of Object.entries(record)) {
    if (NOISE.has(key) || isArnKey(key)) continue;
    if (key === "error" && value && typeof value === "object") {
      const e = value as { name?: unknown; message?: unknown; location?: unknown };
      show("error", `${e.name ?? "Error"}: ${e.message ?? ""}${e.location ? ` (${e.location})` : ""}`);
    } else if (value && typeof value === "object" && !Array.isArray(value)) {
      for (const [inner, v] of Object.entries(value)) if (!isArnKey(inner)) show(`${key}.${inner}`, v);
    } else {
      show(key, value);
    }
  }
  return out;
}

/**
 * One log line for a terminal: Powertools records as `time LEVEL message key=value...`, the runtime's
 * `platform.start`/`platform.report` records as START/REPORT, EMF metric records as METRIC; other lines unchanged.
 */
export function formatLogLine(line: string, options: { color?: boolean } = {}): string {
  const c = options.color ? ansi : plain;
  let record: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(line);
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) return line;
    record = parsed as Record<string, unknown>;
  } catch {
    return line;
  }
  const type = record.type;
  const marker = parseRunMarker(line);
  if (marker) return c.bold(`──── pnpm local started ${marker.time} (pid ${marker.pid}): a new run ────`);
  if (type === "platform.start" || type === "platform.report") {
    const r = (record.record ?? {}) as { requestId?: string; status?: string; metrics?: Record<string, number> };
    const id = String(r.requestId ?? "").slice(0, 8);
    if (type === "platform.start") return c.dim(`${timeOf(record.time)} START  ${id}`);
    const m = r.metrics ?? {};
    const status = r.status === "success" ? c.green("success") : c.red(String(r.status));
    const details = [
      m.durationMs !== undefined ? `${m.durationMs} ms` : undefined,
      m.billedDurationMs !== undefined ? `billed ${m.billedDurationMs} ms` : undefined,
      m.memorySizeMB !== undefined ? `${m.memorySizeMB} MB` : undefined,
      m.initDurationMs !== undefined ? `init ${m.initDurationMs} ms` : undefined,
    ].filter(Boolean);
    return `${c.dim(`${timeOf(record.time)} REPORT ${id}`)} ${status} ${c.dim(details.join(", "))}`;
  }
  if (record._aws && typeof record._aws === "object") {
    const aws = record._aws as {
      Timestamp?: number;
      CloudWatchMetrics?: Array<{ Metrics?: Array<{ Name?: string; Unit?: string }>; Dimensions?: string[][] }>;
    };
    const directives = aws.CloudWatchMetrics ?? [];
    const metrics = directives
      .flatMap((d) => d.Metrics ?? [])
      .map(
        (m) => `${m.Name}=${JSON.stringify(record[m.Name ?? ""])}${m.Unit && m.Unit !== "None" ? ` ${m.Unit}` : ""}`,
      );
    const dimensions = [...new Set(directives.flatMap((d) => (d.Dimensions ?? []).flat()))].map(
      (d) => `${d}=${String(record[d])}`,
    );
    return c.dim(
      `${timeOf(aws.Timestamp)} METRIC ${metrics.join(" ")}${dimensions.length ? ` {${dimensions.join(", ")}}` : ""}`,
    );
  }
  if (typeof record.level === "string" || typeof record.message === "string") {
    const level = String(record.level ?? "").toUpperCase();
    const paint =
      level === "ERROR" || level === "CRITICAL"
        ? c.red
        : level === "WARN"
          ? c.yellow
          : level === "DEBUG" || level === "TRACE"
            ? c.dim
            : c.green;
    const id = typeof record.function_request_id === "string" ? `${record.function_request_id.slice(0, 8)} ` : "";
    const fields = keyFields(record);
    return `${c.dim(`${timeOf(record.timestamp ?? record.time)} ${id}`)}${paint(level.padEnd(5))} ${c.bold(String(record.message ?? ""))}${fields.length ? ` ${c.cyan(fields.join(" "))}` : ""}`;
  }
  return line;
}

// ---------------------------------------------------------------------------------------------------------------
// The command

export const LOGS_HELP = `Usage: pnpm logs <Function> [--no-follow] [--lines N] [--all-runs]

Prints the last N lines of a function's log in the local cloud (.sluice/logs/<Function>.log: what CloudWatch
Logs would hold; of the current run of \`pnpm local\` only, unless --all-runs) and follows it like \`tail -F\`
(surviving truncation and recreation) until Ctrl-C.
On a terminal, JSON lines are shown compactly (time, level, message, key fields); piped, they are raw.

Functions: ${Object.keys(functions).join(", ")}

Options:
  -n, --lines <N>      lines to show first (default 20)
  --no-follow          print and exit
  --all-runs           the last N lines whatever run wrote them (by default, only those of the current run of
                       \`pnpm local\`, from the marker line it writes when it starts; the file keeps every run)
  --raw                never pretty-print
  --state-dir <dir>    the local cloud's state directory (default .sluice, or $SLUICE_STATE_DIR)
  --stage <stage>      a deployed stage: prints how to read its CloudWatch logs
  -h, --help           this help`;

export interface LogsIo {
  env?: Env;
  stdout?: OutputStream;
  stderr?: OutputStream;
  signal?: AbortSignal;
  pollMs?: number;
}

function stageOf(env: Env): string | undefined {
  try {
    const stage = (JSON.parse(env.SST_RESOURCE_App ?? "null") as { stage?: unknown } | null)?.stage;
    return typeof stage === "string" ? stage : undefined;
  } catch {
    return undefined;
  }
}

/** Where a deployed function's logs are (CloudWatch Logs), for `--stage` or a run under `sst shell`. */
export function deployedHint(functionName: string, stage: string, env: Env): string {
  let physical: string | undefined;
  try {
    const link = JSON.parse(env[`SST_RESOURCE_${functionName}`] ?? "null") as { name?: unknown } | null;
    if (typeof link?.name === "string") physical = link.name;
  } catch {
    physical = undefined;
  }
  const name = physical ?? "<function name>";
  const lines = [
    `${functionName} on stage "${stage}" runs in AWS Lambda: its logs are in CloudWatch Logs, not in .sluice/logs.`,
    "",
    `  live, with breakpoints in your local code:   sst dev --stage ${stage}`,
    `  follow the deployed function:                aws logs tail /aws/lambda/${name} --follow --format short`,
  ];
  if (!physical) {
    lines.push(
      "",
      "  find <function name> with:",
      `    aws lambda list-functions --query "Functions[?contains(FunctionName, '${stage}') && contains(FunctionName, '${functionName}')].FunctionName" --output text`,
    );
  }
  return lines.join("\n");
}

/**
 * Calls `then` when writing to `stream` fails with EPIPE (its reader has gone), and swallows that error; any other
 * error is thrown as before. Streams without events (test captures) are left alone.
 */
function onBrokenPipe(stream: OutputStream, then: () => void): void {
  const events = stream as OutputStream & { on?: (event: "error", listener: (err: Error) => void) => unknown };
  if (typeof events.on !== "function") return;
  events.on("error", (err: Error & { code?: string }) => {
    if (err.code !== "EPIPE") throw err;
    then();
  });
}

/** Runs `pnpm logs` with these arguments; resolves with the exit code (after Ctrl-C, or at once with --no-follow). */
export async function runLogs(argv: readonly string[], io: LogsIo = {}): Promise<number> {
  const env = io.env ?? process.env;
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  let values: {
    lines: string;
    "no-follow": boolean;
    "all-runs": boolean;
    raw: boolean;
    "state-dir"?: string;
    stage?: string;
    help: boolean;
  };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv[0] === "--" ? argv.slice(1) : [...argv],
      options: {
        lines: { type: "string", short: "n", default: "20" },
        "no-follow": { type: "boolean", default: false },
        "all-runs": { type: "boolean", default: false },
        raw: { type: "boolean", default: false },
        "state-dir": { type: "string" },
        stage: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
      allowPositionals: true,
      strict: true,
    }));
  } catch (err) {
    stderr.write(`pnpm logs: ${(err as Error).message.replace(/\. To specify a positional.*$/s, "")}\n${LOGS_HELP}\n`);
    return 2;
  }
  if (values.help) {
    stdout.write(`${LOGS_HELP}\n`);
    return 0;
  }
  const names = Object.keys(functions);
  const [functionName, extra] = positionals;
  if (!functionName || extra !== undefined) {
    stderr.write(`pnpm logs: give one function name: ${names.join(", ")}\n`);
    return 2;
  }
  if (!names.includes(functionName)) {
    const alike = names.find((n) => n.toLowerCase() === functionName.toLowerCase());
    stderr.write(
      `pnpm logs: unknown function "${functionName}"${alike ? ` (did you mean ${alike}?)` : ""}; functions: ${names.join(", ")}\n`,
    );
    return 2;
  }
  const count = Number(values.lines);
  if (!Number.isInteger(count) || count < 0) {
    stderr.write(`pnpm logs: --lines must be a whole number, got "${values.lines}"\n`);
    return 2;
  }
  const envStage = hasSstResources(env) ? stageOf(env) : undefined;
  const stage = values.stage ?? (envStage && envStage !== "local" ? envStage : undefined);
  if (stage && stage !== "local") {
    stdout.write(`${deployedHint(functionName, stage, env)}\n`);
    return 0;
  }

  const stateDir = path.resolve(
    env.INIT_CWD ?? process.cwd(),
    values["state-dir"] ?? env.SLUICE_STATE_DIR ?? path.join(repoRoot, ".sluice"),
  );
  const file = path.join(stateDir, "logs", `${functionName}.log`);
  const pretty = !values.raw && stdout.isTTY === true;
  const color = pretty && !env.NO_COLOR;
  const controller = new AbortController();
  // A reader that stopped reading (`| head -1`) is done with us: stop quietly, exit 0, as `tail` and `cat` do.
  let readerGone = false;
  onBrokenPipe(stdout, () => {
    readerGone = true;
    controller.abort();
  });
  const print = (line: string) => {
    if (!readerGone) stdout.write(`${pretty ? formatLogLine(line, { color }) : line}\n`);
  };

  let from = 0;
  if (existsSync(file)) {
    const tail = tailLines(file, count);
    // The file holds every run of `pnpm local`: the lines before the current run's marker are left out.
    const lastRun = values["all-runs"] ? -1 : tail.lines.findLastIndex(isRunMarker);
    for (const line of tail.lines.slice(Math.max(0, lastRun))) print(line);
    from = tail.position;
    if (values["no-follow"]) {
      if (tail.partial) print(tail.partial);
      return 0;
    }
  } else if (values["no-follow"]) {
    stderr.write(
      `pnpm logs: no log for ${functionName} at ${file}. It is created when \`pnpm local\` starts; start the local cloud, then push something that triggers ${functionName}.\n`,
    );
    return 1;
  } else {
    stderr.write(`pnpm logs: waiting for ${file} (start the local cloud with \`pnpm local\`)\n`);
  }

  if (readerGone) return 0;
  const stop = () => controller.abort();
  io.signal?.addEventListener("abort", stop, { once: true });
  if (!io.signal) {
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  }
  await followFile(file, {
    from,
    onLine: print,
    onNotice: (text) => stderr.write(`pnpm logs: ${text}\n`),
    signal: controller.signal,
    ...(io.pollMs !== undefined ? { pollMs: io.pollMs } : {}),
  });
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await runLogs(process.argv.slice(2));
}
