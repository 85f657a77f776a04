/**
 * Keeping every log line within what one CloudWatch Logs event can hold: an oversized record is truncated, with a
 * clear marker, never dropped.
 *
 * The limits (checked August 2026):
 * - CloudWatch Logs `PutLogEvents` accepts events up to 1 MB since April 2025 (256 KB before), counted as the
 *   UTF-8 message plus 26 bytes of overhead per event.
 * - Lambda's own log pipeline still cuts a function's output into events of at most 256 KB (262,144 - 26 bytes),
 *   so a longer line arrives as several events, none of them valid JSON.
 * - The line Lambda stores may carry more than what the function printed: a text prefix (timestamp, request id,
 *   level: about 70 bytes) when printed through the runtime's `console`, or Lambda's JSON envelope.
 * Hence a default of 240 KiB per line, 16 KiB below Lambda's split point.
 */

/** The CloudWatch Logs per-event maximum (`PutLogEvents`, since April 2025). */
export const CLOUDWATCH_LOGS_EVENT_MAX_BYTES = 1_048_576;
/** Bytes CloudWatch Logs counts for each event on top of its message. */
export const CLOUDWATCH_LOGS_EVENT_OVERHEAD_BYTES = 26;
/** Where Lambda splits a function's output line into several log events. */
export const LAMBDA_LOG_EVENT_MAX_BYTES = 262_144 - CLOUDWATCH_LOGS_EVENT_OVERHEAD_BYTES;
/** The default maximum size of one printed log line (without its newline). */
export const DEFAULT_MAX_LOG_BYTES = 240 * 1024;
/** The smallest accepted maximum: room for the markers, the Powertools keys and a useful preview. */
export const MIN_MAX_LOG_BYTES = 4 * 1024;

/** Keys the truncation adds at the top of a truncated record. */
export interface TruncationMarker {
  truncated: true;
  /** Size in bytes of the record as it would have been printed. */
  originalBytes: number;
  /** Paths (`sns.message`) of the values cut to a prefix; a cut object or array becomes the prefix of its JSON. */
  truncatedFields: string[];
}

/** Keys kept by the last-resort record, when cutting the largest values is not enough. */
const ESSENTIAL_KEYS = [
  "level",
  "message",
  "timestamp",
  "service",
  "cold_start",
  "function_arn",
  "function_memory_size",
  "function_name",
  "function_request_id",
  "sampling_rate",
  "xray_trace_id",
  "correlation_id",
];

const MARKER_KEYS = new Set(["truncated", "originalBytes", "truncatedFields"]);

/** UTF-8 size of a string. */
export function byteLength(text: string): number {
  return Buffer.byteLength(text, "utf8");
}

function serializedBytes(value: unknown): number {
  return byteLength(JSON.stringify(value) ?? "");
}

/**
 * The longest prefix of `text` whose JSON encoding (quotes and escapes included) takes at most `budget` bytes.
 * Never splits a surrogate pair.
 */
export function prefixWithinBytes(text: string, budget: number): string {
  if (serializedBytes(text) <= budget) return text;
  let length = Math.min(text.length, Math.max(0, budget - 2));
  while (length > 0) {
    const last = text.charCodeAt(length - 1);
    const candidate = text.slice(0, last >= 0xd800 && last <= 0xdbff ? length - 1 : length);
    const size = serializedBytes(candidate);
    if (size <= budget) return candidate;
    length = Math.min(length - 1, Math.floor((length * budget) / size) - 1);
  }
  return "";
}

type Container = Record<string, unknown> | unknown[];

function isContainer(value: unknown): value is Container {
  return typeof value === "object" && value !== null;
}

interface Candidate {
  parent: Container;
  key: string;
  path: string[];
  bytes: number;
}

function largestChild(node: Container, path: string[], skipMarkers: boolean): Candidate | undefined {
  let best: Candidate | undefined;
  for (const [key, value] of Object.entries(node)) {
    if (skipMarkers && MARKER_KEYS.has(key)) continue;
    const bytes = serializedBytes(value);
    if (!best || bytes > best.bytes) best = { parent: node, key, path: [...path, key], bytes };
  }
  return best;
}

/**
 * The value to cut: start from the largest top-level value and go down into the largest child while that child
 * alone is big enough to absorb the excess, so that the cut lands on the smallest value that fixes the record
 * (`sns.message`, not the whole `sns`) and the metadata around it survives.
 */
function findValueToCut(record: Record<string, unknown>, excess: number): Candidate | undefined {
  let best = largestChild(record, [], true);
  while (best) {
    const value = (best.parent as Record<string, unknown>)[best.key];
    if (!isContainer(value)) return best;
    const inner = largestChild(value, best.path, false);
    if (!inner || inner.bytes < excess + 16) return best;
    best = inner;
  }
  return undefined;
}

function cutValue(value: unknown, budget: number): string {
  const text = typeof value === "string" ? value : (JSON.stringify(value) ?? "");
  return prefixWithinBytes(text, Math.max(2, budget));
}

/** The last resort: the essential keys, the markers and a prefix of the whole record's JSON. */
function essentialRecord(
  record: Record<string, unknown>,
  serialized: string,
  originalBytes: number,
  maxBytes: number,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of ESSENTIAL_KEYS) {
    const value = record[key];
    if (value === undefined) continue;
    out[key] = typeof value === "string" ? prefixWithinBytes(value, 1024) : isContainer(value) ? undefined : value;
  }
  Object.assign(out, { truncated: true, originalBytes, truncatedFields: ["*"], preview: "" });
  const budget = maxBytes - serializedBytes(out);
  out.preview = prefixWithinBytes(serialized, budget);
  return out;
}

/**
 * Returns `record` itself when its JSON fits in `maxBytes`; otherwise a copy that fits, where the largest values
 * are replaced by a prefix of themselves (objects and arrays by a prefix of their JSON) and the top level carries
 * {@link TruncationMarker} (`truncated: true`, `originalBytes`, `truncatedFields`).
 */
export function truncateRecord(
  record: Record<string, unknown>,
  maxBytes: number = DEFAULT_MAX_LOG_BYTES,
): Record<string, unknown> {
  const serialized = JSON.stringify(record);
  const originalBytes = byteLength(serialized);
  if (originalBytes <= maxBytes) return record;
  const copy = JSON.parse(serialized) as Record<string, unknown>;
  const truncatedFields: string[] = [];
  for (let attempt = 0; attempt < 8; attempt++) {
    const marked = { ...copy, truncated: true, originalBytes, truncatedFields };
    // Room for the path this step may add to `truncatedFields`.
    const excess = serializedBytes(marked) - maxBytes + 160;
    if (excess <= 160) return marked;
    const target = findValueToCut(copy, excess);
    if (!target) break;
    const parent = target.parent as Record<string, unknown>;
    parent[target.key] = cutValue(parent[target.key], target.bytes - excess);
    truncatedFields.push(target.path.join("."));
  }
  return essentialRecord(copy, serialized, originalBytes, maxBytes);
}

/**
 * Returns `line` (one JSON log record) when it fits in `maxBytes`, else the JSON of its truncated record
 * (see {@link truncateRecord}). A line that is not a JSON object is cut to a prefix inside a small record.
 */
export function fitLogLine(line: string, maxBytes: number = DEFAULT_MAX_LOG_BYTES): string {
  if (line.length <= maxBytes / 3 || byteLength(line) <= maxBytes) return line; // a UTF-16 unit is at most 3 bytes
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch {
    record = undefined;
  }
  if (!isContainer(record) || Array.isArray(record)) {
    return JSON.stringify(essentialRecord({}, line, byteLength(line), maxBytes));
  }
  return JSON.stringify(truncateRecord(record, maxBytes));
}
