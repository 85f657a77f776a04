/** What a stream was given to write since {@link captureWrites} (or the last `clear()`). */
export interface CapturedWrites {
  /** The chunks, as strings, in order. */
  readonly chunks: string[];
  /** Every non-empty line, parsed as JSON: a line that is not JSON fails the test. */
  jsonLines(): Record<string, unknown>[];
  clear(): void;
  /** Writes to the stream again. */
  restore(): void;
}

/**
 * Captures what is written to `stream` (Powertools' logger and metrics print to stdout) instead of printing it, until
 * `restore()`. No test framework needed: the local cloud's own code may import this package.
 */
export function captureWrites(stream: NodeJS.WriteStream = process.stdout): CapturedWrites {
  const chunks: string[] = [];
  const write = stream.write;
  stream.write = ((chunk: unknown) => {
    chunks.push(String(chunk));
    return true;
  }) as NodeJS.WriteStream["write"];
  return {
    chunks,
    jsonLines: () =>
      chunks
        .join("")
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    clear: () => {
      chunks.length = 0;
    },
    restore: () => {
      stream.write = write;
    },
  };
}

/** Whether a printed line is an Embedded Metric Format document (Powertools' metrics) rather than a log record. */
export function isMetricDocument(line: Record<string, unknown>): boolean {
  return "_aws" in line;
}
