/**
 * The errors `pnpm push` (and `pnpm logs`) report to a user. Each one carries a message that says what to do;
 * the CLI frame prints it without a stack trace and exits with {@link PushError.exitCode}.
 */

/** Base class: an expected failure with a message meant for the user. */
export class PushError extends Error {
  override name = "PushError";
  readonly exitCode: number = 1;
}

/** Wrong command line: unknown kind or option, missing or conflicting arguments. Exit code 2. */
export class UsageError extends PushError {
  override name = "UsageError";
  override readonly exitCode = 2;
  constructor(
    message: string,
    /** The kind whose `--help` the user should read, when known. */
    readonly kind?: string,
  ) {
    super(message);
  }
}

/** No `SST_RESOURCE_*` in the environment and no env file of a running local cloud. */
export class LocalCloudNotRunning extends PushError {
  override name = "LocalCloudNotRunning";
  constructor(readonly envFile: string) {
    super(
      `no local cloud: ${envFile} does not exist. Start the local cloud with \`pnpm local\` (it writes that file ` +
        "when ready), or push to a deployed stage with `sst shell --stage <stage> -- pnpm push ...`.",
    );
  }
}

/** A resource name that is not among the linked resources of the target (or is another kind of resource). */
export class UnknownResource extends PushError {
  override name = "UnknownResource";
}

/** Input data that cannot be pushed as it is (bad JSON line, invalid event, missing key, oversized message). */
export class InvalidInput extends PushError {
  override name = "InvalidInput";
}

/** Entries that the service kept refusing after every retry. Nothing else was lost: the message says which. */
export class PushFailed extends PushError {
  override name = "PushFailed";
}
