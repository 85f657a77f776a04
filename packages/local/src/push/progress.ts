/**
 * Progress of a long push on stderr (count, rate, bytes), redrawn in place at most every 100 ms, only when stderr
 * is a terminal: piped or captured output gets the final summary line and nothing else.
 */

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface Progress {
  /** Counts `count` more units done (and `bytes` more bytes, when the push moves bytes). */
  add(count: number, bytes?: number): void;
  /** Counts bytes only (a big file half uploaded). */
  addBytes(bytes: number): void;
  /** Shows a note next to the counters, e.g. `retrying 12 throttled records`. */
  note(text: string | undefined): void;
  /** Clears the progress line. The caller prints the summary. */
  done(): void;
  readonly count: number;
  readonly bytes: number;
  readonly elapsedMs: number;
}

export interface ProgressOptions {
  stream: ProgressStream;
  /** `records into Clickstream` */
  label: string;
  /** `records`, `files`, `items` */
  unit: string;
  total?: number;
  /** Default: `stream.isTTY`. */
  enabled?: boolean;
  now?: () => number;
}

const REDRAW_MS = 100;

export function startProgress(options: ProgressOptions): Progress {
  const now = options.now ?? (() => performance.now());
  const started = now();
  const enabled = options.enabled ?? options.stream.isTTY === true;
  let count = 0;
  let bytes = 0;
  let note: string | undefined;
  let drawn = 0;
  let finished = false;

  const draw = (force = false) => {
    if (!enabled || finished) return;
    const at = now();
    if (!force && at - drawn < REDRAW_MS) return;
    drawn = at;
    const seconds = Math.max((at - started) / 1000, 0.001);
    const parts = [
      `${options.label}: ${formatCount(count)}${options.total !== undefined ? `/${formatCount(options.total)}` : ""} ${options.unit}`,
      `${formatCount(Math.round(count / seconds))}/s`,
    ];
    if (bytes > 0) parts.push(`${formatBytes(bytes)} (${formatBytes(bytes / seconds)}/s)`);
    parts.push(formatDuration(at - started));
    if (note) parts.push(note);
    options.stream.write(`\r\x1b[2K${parts.join(" · ")}`);
  };
  // Keeps the rate and clock moving while one slow request (a big part, a retry back-off) is in flight.
  const timer = enabled ? setInterval(() => draw(true), 500) : undefined;
  timer?.unref();

  return {
    add(n, b = 0) {
      count += n;
      bytes += b;
      draw();
    },
    addBytes(b) {
      bytes += b;
      draw();
    },
    note(text) {
      note = text;
      draw(true);
    },
    done() {
      if (timer) clearInterval(timer);
      if (enabled && !finished) options.stream.write("\r\x1b[2K");
      finished = true;
    },
    get count() {
      return count;
    },
    get bytes() {
      return bytes;
    },
    get elapsedMs() {
      return now() - started;
    },
  };
}

export function formatCount(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** `1,000 records in 1.2 s (833/s)` */
export function formatThroughput(count: number, unit: string, ms: number): string {
  const rate = ms > 0 ? ` (${formatCount((count * 1000) / ms)}/s)` : "";
  return `${formatCount(count)} ${unit} in ${formatDuration(ms)}${rate}`;
}
