/**
 * The line the function host writes to each function's log (`.sluice/logs/<Function>.log`) when it starts: the logs
 * are appended to across runs of `pnpm local`, and `pnpm logs` shows the current run (from the last marker on)
 * unless `--all-runs`. JSON like the runtime's platform records, so that `jq` reads every line of a log.
 */
const TYPE = "sluice.run";

export interface RunMarker {
  time: string;
  /** The local cloud's process. */
  pid: number;
}

export function runMarker(time: Date, pid: number): string {
  return JSON.stringify({ time: time.toISOString(), type: TYPE, record: { pid } });
}

/** The marker a log line is, if it is one. */
export function parseRunMarker(line: string): RunMarker | undefined {
  if (!line.includes(`"type":"${TYPE}"`)) return undefined;
  try {
    const parsed = JSON.parse(line) as { time?: unknown; type?: unknown; record?: { pid?: unknown } };
    if (parsed.type !== TYPE || typeof parsed.time !== "string" || typeof parsed.record?.pid !== "number") {
      return undefined;
    }
    return { time: parsed.time, pid: parsed.record.pid };
  } catch {
    return undefined;
  }
}

export function isRunMarker(line: string): boolean {
  return parseRunMarker(line) !== undefined;
}
