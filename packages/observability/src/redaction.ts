/**
 * Redaction of sensitive values in log records: by key name (anywhere in nested objects and arrays, and in
 * `key=value` / `"key": "value"` pairs inside plain text, escaped JSON included) and by value pattern (anywhere in
 * any string, and in object keys). JSON held inside a string, once or several times encoded, is redacted as JSON.
 *
 * - `redaction/detectors.ts`: what a sensitive value looks like (the value patterns);
 * - `redaction/policy.ts`: which key names are sensitive, the policy and its environment additions;
 * - this file: the traversal (`redact`, the logger's replacer) and the text rules (`key=value` pairs, headers).
 *
 * Everything here is pure and linear in the size of its input: every pattern is anchored by a look-behind and
 * bounded, so a 2 MB string is scanned once per pattern, never re-scanned from every position.
 */

import { MAX_JSON_DEPTH } from "./json-depth.ts";
import { redactionMarker } from "./redaction/detectors.ts";
import { type RedactionPolicy, redactionPolicyFromEnv, sensitiveKeyName } from "./redaction/policy.ts";

export {
  DEFAULT_PATTERNS,
  isCardNumber,
  isSpanishId,
  isValidIban,
  looksLikeAwsSecretKey,
  passesLuhn,
  type RedactionPattern,
  redactionMarker,
} from "./redaction/detectors.ts";
export {
  compilePattern,
  createRedactionPolicy,
  DEFAULT_LAST_WORD_KEYS,
  DEFAULT_SENSITIVE_KEYS,
  normalizeKeyName,
  type RedactionPolicy,
  type RedactionPolicyOptions,
  redactionPolicyFromEnv,
  sensitiveKeyName,
  VALUE_WORDS,
} from "./redaction/policy.ts";

// ---------------------------------------------------------------------------------------------------------------
// Text rules

/**
 * An `Authorization` or `Proxy-Authorization` header (or `authorization=` parameter) in text, any case, quoted or
 * not, escaped or not: its whole value is redacted, to the end of the line or the closing quote, whatever the scheme
 * (`bearer`, `token`, `Basic`, a custom one).
 */
const AUTHORIZATION_IN_TEXT =
  /(?<![\w-])((?:proxy[-_]?)?authori[sz]ation)(\\{0,4095}["']|)[ \t]{0,8}[:=][ \t]{0,8}(\\{0,4095}["']|)((?!\s|\[REDACTED:)[^\r\n"'\\]{1,4096})/gi;

/** HTTP authorization schemes: a sensitive key followed by one of them has its credentials redacted with it. */
const SCHEMES = "bearer|basic|digest|negotiate|ntlm|token|apikey|api-key|key|dpop|oauth|hoba|mutual|aws4-hmac-sha256";

/**
 * The key and separator of `key=value`, `key: value`, `"key": "value"` pairs in plain text, and of their escaped
 * forms inside text that holds JSON (`{\"password\":\"hunter2\"}`, up to 4095 backslashes: JSON encoded twelve
 * times), also after an escaped line break (`\n\"password\"`). A match starts at the first backslash of a run.
 * Only a sensitive key's value is then read (with {@link VALUE_IN_TEXT}) and consumed: the value of any other key is
 * scanned for pairs of its own (`\"note\":\"{\\\"password\\\":...}\"`).
 */
const KEY_IN_TEXT = /(?<![.\\-]|(?<!\\)\w)(\\{0,4095}["']|)([A-Za-z_][\w.-]{0,63})\1[ \t]{0,8}[:=][ \t]{0,8}/g;

/**
 * The value after a sensitive key: an authorization scheme with its credentials, a quoted string (escaped or not,
 * up to its first unescaped-at-its-level quote), or a bare word; all bounded.
 */
const VALUE_IN_TEXT = new RegExp(
  `(?:${SCHEMES})[ \\t][^\\r\\n"'\\\\]{1,1024}|\\\\{0,4095}"[^"\\r\\n]{0,1024}"?|\\\\{0,4095}'[^'\\r\\n]{0,1024}'?|[^\\s,;&"'<>{}[\\]]{1,1024}`,
  "iy",
);

/** Sensitive `key=value` pairs of a text with their values replaced (see {@link KEY_IN_TEXT}). */
function redactPairs(text: string, policy: RedactionPolicy, tally: Tally): string {
  let out = "";
  let copied = 0;
  KEY_IN_TEXT.lastIndex = 0;
  for (let match = KEY_IN_TEXT.exec(text); match; match = KEY_IN_TEXT.exec(text)) {
    const name = sensitiveKeyName(match[2] ?? "", policy);
    if (!name) continue;
    const valueStart = match.index + match[0].length;
    VALUE_IN_TEXT.lastIndex = valueStart;
    const value = VALUE_IN_TEXT.exec(text)?.[0];
    if (!value || value.includes("[REDACTED:")) continue;
    tally.count++;
    out += `${text.slice(copied, valueStart)}${replaceQuotedContent(value, redactionMarker(name))}`;
    copied = valueStart + value.length;
    KEY_IN_TEXT.lastIndex = copied;
  }
  return copied === 0 ? text : `${out}${text.slice(copied)}`;
}

/** Counts replacements, so callers can tell whether anything changed. */
interface Tally {
  count: number;
  /** Set when a walk met objects or arrays nested deeper than {@link MAX_JSON_DEPTH} (replaced by a marker). */
  tooDeep?: boolean;
}

/**
 * The value of a `key=value` match with its content replaced by the marker, its quotes (and their escaping) kept:
 * `\"hunter2\"` -> `\"[REDACTED:password]\"`.
 */
function replaceQuotedContent(value: string, marker: string): string {
  const open = /^\\*["']/.exec(value)?.[0] ?? "";
  if (!open) return marker;
  const quote = open.charAt(open.length - 1);
  const rest = value.slice(open.length);
  let closeStart = rest.length;
  if (rest.endsWith(quote)) {
    closeStart--;
    while (closeStart > 0 && rest.charAt(closeStart - 1) === "\\") closeStart--;
  }
  const close = rest.slice(closeStart);
  return `${open}${marker}${close}`;
}

function redactText(text: string, policy: RedactionPolicy, tally: Tally): string {
  let out = text;
  if (/authori[sz]ation/i.test(out)) {
    out = out.replace(AUTHORIZATION_IN_TEXT, (match, _key: string, _q: string, _open: string, value: string) => {
      tally.count++;
      return `${match.slice(0, match.length - value.length)}${redactionMarker("authorization")}`;
    });
  }
  out = redactPairs(out, policy, tally);
  for (const { name, pattern, replace } of policy.patterns) {
    pattern.lastIndex = 0;
    out = out.replace(pattern, (match: string) => {
      const replaced = replace ? replace(match) : redactionMarker(name);
      if (replaced !== match) tally.count++;
      return replaced;
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Traversal

/** Whether a string may hold JSON worth parsing: an object, an array, or a string (JSON encoded once more). */
function mayBeJson(text: string): boolean {
  const first = /\S/.exec(text)?.[0];
  return first === "{" || first === "[" || (first === '"' && /"\s*$/.test(text));
}

/** `depth`: the objects and arrays around the string (JSON inside it nests below them: see {@link redactValue}). */
function redactString(text: string, policy: RedactionPolicy, tally: Tally, depth = 0): string {
  if (mayBeJson(text)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (parsed !== undefined) {
      // JSON inside a string (a message attribute, a double-encoded body, a JSON string holding JSON): redact it as a
      // structure, so key names count, and re-encode only when something was redacted.
      const inner: Tally = { count: 0 };
      const redacted = redactValue(parsed, policy, inner, new WeakSet(), depth);
      if (inner.tooDeep) {
        // Nested too deep to walk (or to re-encode) as a structure: the same rules in one pass over its text.
        const deep: Tally = { count: 0 };
        const out = redactJsonText(text, policy, deep);
        tally.count += deep.count;
        return out;
      }
      if (inner.count === 0) return text;
      tally.count += inner.count;
      return JSON.stringify(redacted);
    }
  }
  return redactText(text, policy, tally);
}

/** The end (exclusive) of the JSON string token whose opening quote is at `start`. */
function stringTokenEnd(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5c)
      i++; // a backslash escapes the next character
    else if (c === 0x22) return i + 1;
  }
  return text.length;
}

const SCALAR_TOKEN = /[^\s,\]}]+/y;
const SPACE = /\s*/y;

function skipSpace(text: string, start: number): number {
  SPACE.lastIndex = start;
  SPACE.exec(text);
  return SPACE.lastIndex;
}

/** The end (exclusive) of the JSON value at `start`: a string, a number or literal, or a whole object or array. */
function valueTokenEnd(text: string, start: number): number {
  const first = text.charAt(start);
  if (first === '"') return stringTokenEnd(text, start);
  if (first !== "{" && first !== "[") {
    SCALAR_TOKEN.lastIndex = start;
    return SCALAR_TOKEN.exec(text) ? SCALAR_TOKEN.lastIndex : start + 1;
  }
  let open = 0;
  for (let i = start; i < text.length; i++) {
    const c = text.charAt(i);
    if (c === '"') i = stringTokenEnd(text, i) - 1;
    else if (c === "{" || c === "[") open++;
    else if ((c === "}" || c === "]") && --open === 0) return i + 1;
  }
  return text.length;
}

/** Values that hide nothing under a sensitive key (see {@link hasContent}), as JSON tokens. */
const EMPTY_TOKENS = new Set(['""', "null", "true", "false"]);

/**
 * Valid JSON text nested too deep to walk as a structure, redacted by the same rules in one pass over its tokens,
 * without recursion: each key as a key (a sensitive key's value replaced whole, an object or array too), each string
 * value as a string (JSON inside it included), each number as a number; everything else, and every token that does
 * not change, is copied as it is. (Keys that become the same marker are not numbered: text may repeat a key.)
 */
function redactJsonText(text: string, policy: RedactionPolicy, tally: Tally): string {
  let out = "";
  let copied = 0;
  const replace = (start: number, end: number, json: string) => {
    out += `${text.slice(copied, start)}${json}`;
    copied = end;
  };
  for (let i = 0; i < text.length; ) {
    const c = text.charAt(i);
    if (c === '"') {
      const end = stringTokenEnd(text, i);
      const value = JSON.parse(text.slice(i, end)) as string;
      const colon = skipSpace(text, end);
      if (text.charAt(colon) === ":") {
        const key = redactKey(value, policy);
        if (key !== value) {
          tally.count++;
          replace(i, end, JSON.stringify(key));
        }
        const valueStart = skipSpace(text, colon + 1);
        const valueEnd = valueTokenEnd(text, valueStart);
        const name = sensitiveKeyName(value, policy);
        if (name !== undefined && !EMPTY_TOKENS.has(text.slice(valueStart, valueEnd))) {
          tally.count++;
          replace(valueStart, valueEnd, JSON.stringify(redactionMarker(name)));
          i = valueEnd;
        } else {
          i = colon + 1;
        }
        continue;
      }
      // Any JSON inside counts as deeper still: walked by this function too, one call per level of encoding.
      const redacted = redactString(value, policy, tally, MAX_JSON_DEPTH);
      if (redacted !== value) replace(i, end, JSON.stringify(redacted));
      i = end;
    } else if (c === "-" || (c >= "0" && c <= "9")) {
      const end = valueTokenEnd(text, i);
      const number = Number(text.slice(i, end));
      const redacted = redactNumber(number, policy, tally);
      if (redacted !== number) replace(i, end, JSON.stringify(redacted));
      i = end;
    } else {
      i++;
    }
  }
  return copied === 0 ? text : `${out}${text.slice(copied)}`;
}

function redactNumber(value: number, policy: RedactionPolicy, tally: Tally): number | string {
  // A card number sent as a JSON number (16 digits fit in a double).
  if (Number.isSafeInteger(value) && value >= 1e12) {
    const redacted = redactText(String(value), policy, tally);
    if (redacted !== String(value)) return redacted;
  }
  return value;
}

/** Whether a value under a sensitive key hides anything: empty values and flags (`hasPassword: true`) do not. */
function hasContent(value: unknown): boolean {
  return value !== undefined && value !== null && value !== "" && typeof value !== "boolean";
}

function isPlainObject(value: object): value is Record<string, unknown> {
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

const redactedKeyCache = new WeakMap<RedactionPolicy, Map<string, string>>();

/** An object key with its sensitive values (an e-mail address, a phone number) replaced by markers. */
function redactKey(key: string, policy: RedactionPolicy): string {
  if (key.length < 6) return key; // nothing the patterns find is this short
  let cache = redactedKeyCache.get(policy);
  if (!cache) {
    cache = new Map();
    redactedKeyCache.set(policy, cache);
  }
  let redacted = cache.get(key);
  if (redacted === undefined) {
    redacted = redactText(key, policy, { count: 0 });
    if (cache.size >= 2_000) cache.clear();
    cache.set(key, redacted);
  }
  return redacted;
}

/** A key not yet used in `out`: the redacted key, or the redacted key with `#2`, `#3`... */
function freeKey(out: Record<string, unknown>, key: string): string {
  if (!Object.hasOwn(out, key)) return key;
  for (let n = 2; ; n++) if (!Object.hasOwn(out, `${key}#${n}`)) return `${key}#${n}`;
}

/**
 * `depth`: the objects and arrays around `value`, JSON inside strings counted with the structure holding it (a walk
 * recurses through both). Deeper than {@link MAX_JSON_DEPTH}, an object or array is replaced by a marker (and
 * `tally.tooDeep` set) instead of overflowing the stack.
 */
function redactValue(
  value: unknown,
  policy: RedactionPolicy,
  tally: Tally,
  seen: WeakSet<object>,
  depth: number,
): unknown {
  if (typeof value === "string") return redactString(value, policy, tally, depth);
  if (typeof value === "number") return redactNumber(value, policy, tally);
  if (typeof value !== "object" || value === null) return value;
  if (seen.has(value)) return "[Circular]";
  if (depth >= MAX_JSON_DEPTH) {
    tally.count++;
    tally.tooDeep = true;
    return redactionMarker("nested-too-deep");
  }
  seen.add(value);
  try {
    if (Array.isArray(value)) return value.map((item) => redactValue(item, policy, tally, seen, depth + 1));
    let entries: [string, unknown][];
    if (value instanceof Error) {
      entries = [["name", value.name], ["message", value.message], ["stack", value.stack], ...Object.entries(value)];
    } else if (isPlainObject(value)) {
      entries = Object.entries(value);
    } else {
      return value; // Date, Buffer, Map...: serialized by their own rules
    }
    const out: Record<string, unknown> = {};
    for (const [key, item] of entries) {
      const name = hasContent(item) ? sensitiveKeyName(key, policy) : undefined;
      let outKey = redactKey(key, policy);
      if (outKey !== key) {
        tally.count++;
        outKey = freeKey(out, outKey);
      }
      if (name !== undefined) {
        tally.count++;
        out[outKey] = redactionMarker(name);
      } else {
        out[outKey] = redactValue(item, policy, tally, seen, depth + 1);
      }
    }
    return out;
  } finally {
    seen.delete(value);
  }
}

/**
 * Returns a copy of `value` with sensitive data replaced by `[REDACTED:<name>]` markers:
 * - the value of every key whose name is sensitive (see {@link sensitiveKeyName}), whatever it holds;
 * - in every string (nested in objects and arrays, or JSON inside a string, however many times encoded): sensitive
 *   `key=value` pairs (escaped ones too), authorization headers, and every value the policy's patterns find;
 * - object keys that are sensitive values (an e-mail address as a key): the key becomes the marker (`#2`, `#3`...
 *   when several keys of one object become the same marker);
 * - integers that are card numbers.
 * The input is not modified. Redacting twice gives the same result as redacting once.
 */
export function redact(value: unknown, policy: RedactionPolicy = defaultRedactionPolicy()): unknown {
  return redactValue(value, policy, { count: 0 }, new WeakSet(), 0);
}

/** A plain object with its keys redacted, or the object itself when no key changes (the common case, no copy). */
function withRedactedKeys(value: Record<string, unknown>, policy: RedactionPolicy): Record<string, unknown> {
  let changed = false;
  for (const key of Object.keys(value)) {
    if (redactKey(key, policy) !== key) {
      changed = true;
      break;
    }
  }
  if (!changed) return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    const redacted = redactKey(key, policy);
    const outKey = redacted === key ? key : freeKey(out, redacted);
    // The value stays under the original key's sensitivity: the marker key names the redacted key, not the value.
    const name = hasContent(item) ? sensitiveKeyName(key, policy) : undefined;
    out[outKey] = name !== undefined ? redactionMarker(name) : item;
  }
  return out;
}

/**
 * A `JSON.stringify` replacer applying the same rules during serialization (one pass, no copy unless an object has
 * a key to redact): what the logger uses, so that every line it prints is redacted.
 */
export function createRedactingReplacer(policy: RedactionPolicy): (key: string, value: unknown) => unknown {
  const tally: Tally = { count: 0 };
  return (key, value) => {
    if (key !== "" && hasContent(value)) {
      const name = sensitiveKeyName(key, policy);
      if (name !== undefined) return redactionMarker(name);
    }
    if (typeof value === "string") return redactString(value, policy, tally);
    if (typeof value === "number") return redactNumber(value, policy, tally);
    if (typeof value === "object" && value !== null && !Array.isArray(value) && isPlainObject(value)) {
      return withRedactedKeys(value, policy);
    }
    return value;
  };
}

let defaultPolicy: RedactionPolicy | undefined;

/** The policy from the environment, read once (see {@link redactionPolicyFromEnv}). */
export function defaultRedactionPolicy(): RedactionPolicy {
  defaultPolicy ??= redactionPolicyFromEnv();
  return defaultPolicy;
}
