import { Logger, type LogItem, LogLevelThreshold } from "@aws-lambda-powertools/logger";
import type { ConstructorOptions, LogItemExtraInput, LogItemMessage } from "@aws-lambda-powertools/logger/types";
import { createRedactingReplacer, defaultRedactionPolicy, type RedactionPolicy } from "./redaction.ts";
import { DEFAULT_MAX_LOG_BYTES, fitLogLine } from "./truncation.ts";

/** The levels a log record can carry (Powertools' names). */
export type LogLevelName = "DEBUG" | "INFO" | "WARN" | "ERROR" | "CRITICAL";

/** Powertools' options plus redaction and the line size limit. */
export type SluiceLoggerOptions = ConstructorOptions & {
  /** Applied to every printed line; `false` turns redaction off. Default: {@link defaultRedactionPolicy}. */
  redaction?: RedactionPolicy | false;
  /** Maximum size of one printed line in bytes. Default: {@link DEFAULT_MAX_LOG_BYTES}. */
  maxLogBytes?: number;
};

/**
 * The Powertools Logger with three guarantees on every line it prints:
 * - one line of compact JSON on stdout, whatever the level (Powertools sends WARN and above to stderr, and
 *   pretty-prints under `POWERTOOLS_DEV`; CloudWatch Logs and the local cloud's log files want one JSON line each);
 * - redacted by the policy (through Powertools' `jsonReplacerFn`, so it costs one serialization);
 * - no larger than `maxLogBytes`, truncated with a marker when it would be (see `truncateRecord`).
 *
 * Everything else (levels from `POWERTOOLS_LOG_LEVEL`, sampling from `POWERTOOLS_LOGGER_SAMPLE_RATE`, Lambda
 * context, correlation id, child loggers) is Powertools' own behaviour.
 */
export class SluiceLogger extends Logger {
  // Assigned after `super()`: Powertools prints its start-up messages from inside its constructor, before subclass
  // fields exist, hence the fallback in `printLog`.
  private maxLogBytes: number | undefined;

  constructor(options: SluiceLoggerOptions = {}) {
    const { redaction = defaultRedactionPolicy(), maxLogBytes, jsonReplacerFn, ...rest } = options;
    const redacting = redaction === false ? undefined : createRedactingReplacer(redaction);
    super({
      ...rest,
      jsonReplacerFn:
        redacting && jsonReplacerFn
          ? (key, value) => redacting(key, jsonReplacerFn(key, value))
          : (redacting ?? jsonReplacerFn),
    });
    this.maxLogBytes = maxLogBytes;
  }

  /**
   * Prints one record at `level` whatever the logger's level threshold and sampling: for data the function exists
   * to log (one SNS message is one record), which `POWERTOOLS_LOG_LEVEL` must not filter out.
   */
  emitRecord(level: LogLevelName, input: LogItemMessage, ...extraInput: LogItemExtraInput): void {
    const threshold = LogLevelThreshold[level];
    this.printLog(threshold, this.createAndPopulateLogItem(threshold, input, extraInput));
  }

  /**
   * Still an override of Powertools' protected `printLog` (2.36), because Powertools has no public hook between
   * serializing a record and writing it, and the size limit can only be applied there: the line's size is known
   * once the redacting replacer has run (a marker can be longer or shorter than what it replaces), and a
   * `logFormatter` sees the record before that. The same override writes every level to stdout as one compact line
   * (Powertools writes WARN and above to stderr, and indents under `POWERTOOLS_DEV`, which splits a record over
   * several lines of the local cloud's log files). Remove it if Powertools adds such a hook.
   */
  protected override printLog(_logLevel: number, log: LogItem): void {
    log.prepareForPrint();
    const line = JSON.stringify(log.getAttributes(), this.getJsonReplacer());
    process.stdout.write(`${fitLogLine(line, this.maxLogBytes ?? DEFAULT_MAX_LOG_BYTES)}\n`);
  }

  /**
   * Children (`createChild`) are Sluice loggers too, with the same replacer (already composed) and size limit.
   * `createLogger` is the factory Powertools documents for subclasses to override, so that `createChild` keeps its
   * own logic and returns the subclass.
   */
  protected override createLogger(options?: ConstructorOptions): Logger {
    return new SluiceLogger({ ...options, redaction: false, maxLogBytes: this.maxLogBytes });
  }
}
