/**
 * Reading what users push: JSON Lines files streamed line by line (with line numbers for error messages), whole
 * JSON documents, and `@file` / `@-` (stdin) arguments. Input is validated completely before anything is sent,
 * so a bad line 90,000 does not leave 89,999 records half pushed.
 */
import { createReadStream, existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { InvalidInput, UsageError } from "./errors.ts";

export type JsonLine =
  | { line: number; text: string; ok: true; value: unknown }
  | { line: number; text: string; ok: false; error: string };

/** Fails with a usage error unless `file` is a readable regular file. */
export function assertFile(file: string, option: string): void {
  if (!existsSync(file)) throw new UsageError(`${option}: no such file: ${file}`);
  if (!statSync(file).isFile()) throw new UsageError(`${option}: not a file: ${file}`);
}

/** The non-blank lines of a JSON Lines file, parsed, numbered from 1 (a UTF-8 BOM is ignored). */
export async function* readJsonLines(file: string): AsyncGenerator<JsonLine> {
  const lines = createInterface({
    input: createReadStream(file, { encoding: "utf8" }),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  let line = 0;
  for await (const raw of lines) {
    line++;
    const text = (line === 1 ? raw.replace(/^\uFEFF/, "") : raw).trim();
    if (!text) continue;
    try {
      yield { line, text, ok: true, value: JSON.parse(text) };
    } catch (err) {
      yield { line, text, ok: false, error: `not JSON (${(err as Error).message})` };
    }
  }
}

/** JSON values given inline (`--data '{...}'`, repeatable), numbered as "lines" 1..n for error messages. */
export function inlineJson(values: readonly string[]): JsonLine[] {
  return values.map((text, index) => {
    try {
      return { line: index + 1, text: text.trim(), ok: true as const, value: JSON.parse(text) };
    } catch (err) {
      return { line: index + 1, text, ok: false as const, error: `not JSON (${(err as Error).message})` };
    }
  });
}

export interface Problem {
  line: number;
  message: string;
}

/** Collects input problems and turns them into one {@link InvalidInput} listing the first few by line. */
export class ProblemList {
  readonly problems: Problem[] = [];
  total = 0;
  constructor(
    private readonly source: string,
    /** `records are`, `items are` */
    private readonly unit: string,
    /** How an entry is numbered: `line` (files), `item` (array elements), `--data` (inline values). */
    private readonly label = "line",
    private readonly shown = 10,
  ) {}

  add(line: number, message: string): void {
    this.total++;
    if (this.problems.length < this.shown) this.problems.push({ line, message });
  }

  /** Throws when any problem was found; `checked` is how many entries were read. */
  throwIfAny(checked: number): void {
    if (this.total === 0) return;
    const more = this.total > this.problems.length ? [`  ... and ${this.total - this.problems.length} more`] : [];
    throw new InvalidInput(
      [
        `${this.source}: ${this.total} of ${checked} ${this.unit} invalid, nothing was pushed:`,
        ...this.problems.map((p) => `  ${this.label} ${p.line}: ${p.message}`),
        ...more,
      ].join("\n"),
    );
  }
}

/**
 * The text of a `--message`-style argument: `@path` reads a file, `@-` reads stdin, `@@text` is the literal
 * `@text`, anything else is the text itself.
 */
export async function textArgument(value: string, cwd: string, stdin: Readable): Promise<string> {
  if (value.startsWith("@@")) return value.slice(1);
  if (value === "@-") {
    const chunks: Buffer[] = [];
    for await (const chunk of stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
    return Buffer.concat(chunks).toString("utf8");
  }
  if (value.startsWith("@")) {
    const file = path.resolve(cwd, value.slice(1));
    assertFile(file, "@file");
    return readFileSync(file, "utf8");
  }
  return value;
}
