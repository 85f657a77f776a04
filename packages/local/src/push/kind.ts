/**
 * What a push kind is: a name, its help, its options (`node:util` `parseArgs` config) and a `run` that pushes
 * through the context it is given. The frame (`cli.ts`) parses the command line, resolves the target and builds
 * the context; a kind only reads its arguments and calls a sink (`sinks/*`).
 *
 * Adding a kind (a generator such as `clickstream`, `dms` or `inference-requests`) is one file under `kinds/` that
 * exports `defineKind({...})`, plus its line in `kinds/index.ts`.
 */
import type { Readable } from "node:stream";
import type { parseArgs } from "node:util";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { KinesisClient } from "@aws-sdk/client-kinesis";
import type { S3Client } from "@aws-sdk/client-s3";
import type { SNSClient } from "@aws-sdk/client-sns";
import type { Target } from "../cli/env.ts";
import type { Progress, ProgressStream } from "./progress.ts";
import type { ResolvedResource, ResourceKind } from "./resources.ts";

export type OptionsConfig = NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>["options"]>;

/** The parsed values of a kind's options, typed from its config. */
export type ValuesOf<O extends OptionsConfig> = ReturnType<
  typeof parseArgs<{ options: O; allowPositionals: true; strict: true }>
>["values"];

export interface KindArgs<O extends OptionsConfig> {
  values: ValuesOf<O>;
  positionals: string[];
}

export interface OutputStream {
  write(text: string): unknown;
}

export interface PushContext {
  target: Target;
  /** Where relative paths given by the user resolve (the directory `pnpm push` was typed in). */
  cwd: string;
  stdin: Readable;
  stdout: OutputStream;
  stderr: ProgressStream;
  /** Component name -> physical name or ARN, for this target. */
  resolve(kind: ResourceKind, component: string): ResolvedResource;
  /** Progress on stderr (drawn only when it is a terminal and `--quiet` is not set). */
  progress(label: string, unit: string, total?: number): Progress;
  clients: {
    s3(): S3Client;
    sns(): SNSClient;
    kinesis(): KinesisClient;
    dynamodb(): DynamoDBClient;
  };
}

export interface PushKind<O extends OptionsConfig = OptionsConfig> {
  /** The word after `pnpm push`. */
  name: string;
  /** One line for `pnpm push --help`. */
  summary: string;
  /** The synopsis: `file <path> [--bucket Inbox] [--key <key or prefix/>]`. */
  usage: string;
  /** The rest of `--help`: what it does, each option, examples. */
  help: string;
  options: O;
  /** Positional arguments accepted: `[min, max]`. Default `[0, 0]`. */
  positionals?: readonly [min: number, max: number];
  /** Pushes, and returns the summary line the frame prints on stdout. */
  run(context: PushContext, args: KindArgs<O>): Promise<string>;
}

/** A kind as the registry holds it, its option types erased. */
export interface RegisteredKind extends Omit<PushKind, "run"> {
  run(context: PushContext, args: { values: Record<string, unknown>; positionals: string[] }): Promise<string>;
}

/** Declares a kind with its option types inferred from `options`. */
export function defineKind<const O extends OptionsConfig>(kind: PushKind<O>): RegisteredKind {
  return kind as unknown as RegisteredKind;
}
