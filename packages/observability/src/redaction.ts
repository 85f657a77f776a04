/**
 * Redaction of sensitive values in log records: by key name (anywhere in nested objects and arrays, and in
 * `key=value` / `"key": "value"` pairs inside plain text) and by value pattern (anywhere in any string).
 *
 * Everything here is pure and linear in the size of its input: every pattern is anchored by a look-behind and
 * bounded, so a 2 MB string is scanned once per pattern, never re-scanned from every position.
 */

import { InvalidObservabilityConfig } from "./errors.ts";

/** One value pattern: every match in a string is replaced by `[REDACTED:<name>]`. */
export interface RedactionPattern {
  readonly name: string;
  /** A global (`g`) regular expression. */
  readonly pattern: RegExp;
  /** Optional confirmation of a match (e.g. the Luhn check); returns the replacement, or the match to keep it. */
  readonly replace?: (match: string) => string;
}

/** What to redact. Build one with {@link createRedactionPolicy} (defaults plus additions). */
export interface RedactionPolicy {
  /** Sensitive key names, normalized (lower case, letters and digits only: `api_key` -> `apikey`). */
  readonly keys: ReadonlySet<string>;
  readonly patterns: readonly RedactionPattern[];
}

/**
 * Default sensitive key names. A key matches when one word of it, or several adjacent words joined, equals one of
 * these names once normalized: `accessToken`, `x-api-key`, `AWS_SECRET_ACCESS_KEY`, `Set-Cookie`, `cardNumber`,
 * `e-mail` all match; `company` (contains "pan"), `discardedCount` (contains "card") and `sessionId` do not.
 */
export const DEFAULT_SENSITIVE_KEYS: readonly string[] = [
  "password",
  "passwd",
  "pwd",
  "passphrase",
  "secret",
  "token",
  "api_key",
  "access_key",
  "private_key",
  "credential",
  "credentials",
  "authorization",
  "cookie",
  "email",
  "phone",
  "card",
  "card_number",
  "pan",
  "cvv",
  "cvc",
  "pin",
  "ssn",
  "iban",
];

/** The text that replaces a redacted value. */
export function redactionMarker(name: string): string {
  return `[REDACTED:${name}]`;
}

/** Normalizes a key name for comparison: lower case, letters and digits only (`X-Api-Key` -> `xapikey`). */
export function normalizeKeyName(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, "");
}

// ---------------------------------------------------------------------------------------------------------------
// Value patterns

/**
 * E-mail addresses. The look-behind makes the scan linear (a match can only start where a local part starts) and
 * the bounded quantifiers follow RFC 5321 (local part up to 64 characters, labels up to 63).
 */
const EMAIL =
  /(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.){1,8}[A-Za-z]{2,63}(?![A-Za-z0-9-])/g;

/**
 * Runs of at least 13 digits, single spaces or dashes allowed between digits. Not preceded or followed by a digit,
 * nor part of a decimal number (`0.4111111111111111` is a score, not a card).
 */
const DIGIT_RUN = /(?<!\d|\d\.)\d(?:[ -]?\d){12,}(?!\d|\.\d)/g;

/** AWS access key ids (long-term `AKIA`, temporary `ASIA`, and the `ABIA`/`ACCA` variants). */
const AWS_ACCESS_KEY_ID = /(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])/g;

/** Exactly 40 base64 characters, not part of a longer base64 run. Confirmed by {@link looksLikeAwsSecretKey}. */
const FORTY_CHAR_TOKEN = /(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/g;

/** The Luhn (mod 10) check over a string of digits. */
export function passesLuhn(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let digit = digits.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return false;
    if (double) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
    double = !double;
  }
  return digits.length > 0 && sum % 10 === 0;
}

/**
 * Whether a string of digits is a plausible payment card number: 13 to 19 digits, a leading digit from 2 to 9,
 * and the Luhn check. Leading 0 is never issued; leading 1 (UATP airline cards only) is excluded because epoch
 * timestamps in ms, µs and ns (13, 16 and 19 digits, all starting with 1 until 2033) are everywhere in pipeline
 * logs and one in ten would pass the Luhn check.
 */
export function isCardNumber(digits: string): boolean {
  return digits.length >= 13 && digits.length <= 19 && digits.charCodeAt(0) >= 50 /* "2" */ && passesLuhn(digits);
}

/** Two or more consecutive groups of at least 3 digits: how cards are written (4-4-4-4, 4-6-5, ...). */
const LONG_GROUPS = /(?<!\d)\d{3,}(?:[ -]\d{3,})+/g;

/**
 * Redacts card numbers inside one digit run. The whole run is a card when it passes {@link isCardNumber}. In a
 * longer run written in groups (`4111 1111 1111 1111 2025`), consecutive groups of 3 or more digits are searched
 * for a card, so a card followed by an expiry date or preceded by a count is still found. An ungrouped run of the
 * wrong length is kept.
 */
function redactDigitRun(run: string): string {
  if (isCardNumber(run.replace(/[ -]/g, ""))) return redactionMarker("card");
  return run.replace(LONG_GROUPS, redactCardInGroups);
}

/** Replaces the longest cards made of consecutive groups, left to right. */
function redactCardInGroups(chunk: string): string {
  const parts = chunk.split(/([ -])/); // groups at even indexes, separators at odd ones
  const groups = parts.filter((_, i) => i % 2 === 0);
  const out: string[] = [];
  let i = 0;
  while (i < groups.length) {
    let found = -1;
    let digits = "";
    for (let j = i; j < groups.length; j++) {
      digits += groups[j];
      if (digits.length > 19) break;
      if (isCardNumber(digits)) found = j; // keep looking: prefer the longest card starting here
    }
    if (found >= 0) {
      out.push(redactionMarker("card"));
      i = found + 1;
    } else {
      out.push(groups[i] ?? "");
      i++;
    }
    if (i < groups.length) out.push(parts[2 * i - 1] ?? " ");
  }
  return out.join("");
}

/** Letter-case class of a base64 character, for {@link looksLikeAwsSecretKey}. */
function characterClass(code: number): number {
  if (code >= 65 && code <= 90) return 0; // A-Z
  if (code >= 97 && code <= 122) return 1; // a-z
  if (code >= 48 && code <= 57) return 2; // 0-9
  return 3; // + /
}

/**
 * Whether an exact 40-character base64 token looks like an AWS secret access key rather than a word-like
 * identifier or a path. A secret key is 40 random base64 characters: it has upper and lower case letters and
 * changes character class (upper/lower/digit/symbol) about 25 times in 39 steps. Requiring at least 15 changes
 * keeps 99.95% of random keys (AWS's own example key `wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY` has 16) and rejects
 * git SHA-1s (lower-case hex), pure numbers, camel-case identifiers and paths made of words (12-14 changes).
 * Keys written next to their name (`aws_secret_access_key=...`, `"SecretAccessKey": ...`) are redacted by key
 * name whatever their shape.
 */
export function looksLikeAwsSecretKey(token: string): boolean {
  if (token.length !== 40 || !/[A-Z]/.test(token) || !/[a-z]/.test(token)) return false;
  let changes = 0;
  for (let i = 1; i < token.length; i++) {
    if (characterClass(token.charCodeAt(i)) !== characterClass(token.charCodeAt(i - 1))) changes++;
  }
  return changes >= 15;
}

/** The built-in value patterns, in the order they are applied. */
export const DEFAULT_PATTERNS: readonly RedactionPattern[] = [
  { name: "email", pattern: EMAIL },
  { name: "aws_access_key_id", pattern: AWS_ACCESS_KEY_ID },
  {
    name: "aws_secret_access_key",
    pattern: FORTY_CHAR_TOKEN,
    replace: (token) => (looksLikeAwsSecretKey(token) ? redactionMarker("aws_secret_access_key") : token),
  },
  { name: "card", pattern: DIGIT_RUN, replace: redactDigitRun },
];

// ---------------------------------------------------------------------------------------------------------------
// Policy

export interface RedactionPolicyOptions {
  /** Key names added to {@link DEFAULT_SENSITIVE_KEYS}. */
  keys?: readonly string[];
  /** Patterns added after {@link DEFAULT_PATTERNS}. */
  patterns?: readonly RedactionPattern[];
}

/** A policy made of the defaults plus the given additions. */
export function createRedactionPolicy(options: RedactionPolicyOptions = {}): RedactionPolicy {
  const keys = new Set<string>();
  for (const key of [...DEFAULT_SENSITIVE_KEYS, ...(options.keys ?? [])]) {
    const normalized = normalizeKeyName(key);
    if (normalized) keys.add(normalized);
  }
  return { keys, patterns: [...DEFAULT_PATTERNS, ...(options.patterns ?? [])] };
}

/**
 * Compiles one custom pattern: `source` is a regular expression source (`ORD-[0-9]{8}`) or a literal
 * (`/ord-[0-9]{8}/i`); the `g` flag is always added. A pattern that matches the empty string is refused.
 */
export function compilePattern(name: string, source: string): RedactionPattern {
  const literal = /^\/(.+)\/([a-z]*)$/s.exec(source);
  const body = literal?.[1] ?? source;
  const flags = new Set([...(literal?.[2] ?? ""), "g"]);
  let pattern: RegExp;
  try {
    pattern = new RegExp(body, [...flags].join(""));
  } catch (error) {
    throw new InvalidObservabilityConfig(`redaction pattern "${name}" is not a valid regular expression: ${error}`);
  }
  if (new RegExp(body, [...flags].filter((f) => f !== "g" && f !== "y").join("")).test("")) {
    throw new InvalidObservabilityConfig(`redaction pattern "${name}" matches the empty string`);
  }
  return { name, pattern };
}

/**
 * Reads the additions from the environment:
 * - `SLUICE_REDACT_KEYS`: key names separated by commas or white space (`customerRef, x-internal-id`);
 * - `SLUICE_REDACT_PATTERNS`: a JSON object of marker name to pattern (`{"order_ref":"ORD-[0-9]{8}"}`).
 * Throws {@link InvalidObservabilityConfig} on anything it cannot use.
 */
export function redactionPolicyFromEnv(
  env: Readonly<Record<string, string | undefined>> = process.env,
): RedactionPolicy {
  const keys = (env.SLUICE_REDACT_KEYS ?? "")
    .split(/[\s,]+/)
    .map((key) => key.trim())
    .filter(Boolean);
  const patterns: RedactionPattern[] = [];
  const rawPatterns = env.SLUICE_REDACT_PATTERNS?.trim();
  if (rawPatterns) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(rawPatterns);
    } catch {
      throw new InvalidObservabilityConfig(
        `SLUICE_REDACT_PATTERNS must be a JSON object of name to regular expression, e.g. {"order_ref":"ORD-[0-9]{8}"}`,
      );
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw new InvalidObservabilityConfig(
        "SLUICE_REDACT_PATTERNS must be a JSON object of name to regular expression",
      );
    }
    for (const [name, source] of Object.entries(parsed)) {
      if (typeof source !== "string" || !/^[A-Za-z0-9_.-]{1,64}$/.test(name)) {
        throw new InvalidObservabilityConfig(
          `SLUICE_REDACT_PATTERNS: "${name}" must be a short name mapped to a string`,
        );
      }
      patterns.push(compilePattern(name, source));
    }
  }
  return createRedactionPolicy({ keys, patterns });
}

// ---------------------------------------------------------------------------------------------------------------
// Keys

/** Splits a key into lower-case words: `x-api-key` -> x, api, key; `accessToken` -> access, token. */
function keyWords(key: string): string[] {
  return (key.match(/[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+/g) ?? []).map((word) => word.toLowerCase());
}

const keyCache = new WeakMap<RedactionPolicy, Map<string, string | null>>();
const KEY_CACHE_LIMIT = 2_000;

/**
 * The sensitive name a key matches (`accessToken` -> `token`), or undefined. A key matches when one of its words,
 * or several adjacent words joined, equals a sensitive name of the policy.
 */
export function sensitiveKeyName(key: string, policy: RedactionPolicy): string | undefined {
  let cache = keyCache.get(policy);
  if (!cache) {
    cache = new Map();
    keyCache.set(policy, cache);
  }
  const cached = cache.get(key);
  if (cached !== undefined) return cached ?? undefined;
  let found: string | null = null;
  const words = keyWords(key);
  search: for (let i = 0; i < words.length; i++) {
    let joined = "";
    for (let j = i; j < words.length && j < i + 4; j++) {
      joined += words[j];
      if (policy.keys.has(joined)) {
        found = joined;
        break search;
      }
    }
  }
  if (cache.size >= KEY_CACHE_LIMIT) cache.clear();
  cache.set(key, found);
  return found ?? undefined;
}

/**
 * `key=value`, `key: value`, `"key": "value"` pairs in plain text. The value is a quoted string, an HTTP
 * authorization scheme with its credentials, or a bare word; all bounded.
 */
const KEY_VALUE_IN_TEXT =
  /(?<![\w.-])(["']?)([A-Za-z_][\w.-]{0,63})\1[ \t]{0,8}[:=][ \t]{0,8}((?:Bearer|Basic|Digest|Negotiate|AWS4-HMAC-SHA256)[ \t][^\r\n"]{1,1024}|"[^"\r\n]{0,1024}"?|'[^'\r\n]{0,1024}'?|[^\s,;&"'<>{}[\]]{1,1024})/g;

// ---------------------------------------------------------------------------------------------------------------
// Redaction

/** Counts replacements, so callers can tell whether anything changed. */
interface Tally {
  count: number;
}

function redactText(text: string, policy: RedactionPolicy, tally: Tally): string {
  let out = text.replace(KEY_VALUE_IN_TEXT, (match, _quote: string, key: string, value: string) => {
    const name = sensitiveKeyName(key, policy);
    if (!name) return match;
    tally.count++;
    const q = value.startsWith('"') || value.startsWith("'") ? value.charAt(0) : "";
    return `${match.slice(0, match.length - value.length)}${q}${redactionMarker(name)}${q}`;
  });
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

/** Whether a string may hold a JSON object or array (checked before paying for `JSON.parse`). */
function mayBeJson(text: string): boolean {
  const first = /\S/.exec(text)?.[0];
  return first === "{" || first === "[";
}

function redactString(text: string, policy: RedactionPolicy, tally: Tally): string {
  if (mayBeJson(text)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (parsed !== undefined) {
      // JSON inside a string (a message attribute, a double-encoded body): redact it as a structure, so key names
      // count, and re-encode only when something was redacted.
      const inner: Tally = { count: 0 };
      const redacted = redactValue(parsed, policy, inner, new WeakSet());
      if (inner.count === 0) return text;
      tally.count += inner.count;
      return JSON.stringify(redacted);
    }
  }
  return redactText(text, policy, tally);
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

function redactValue(value: unknown, policy: RedactionPolicy, tally: Tally, seen: WeakSet<object>): unknown {
  if (typeof value === "string") return redactString(value, policy, tally);
  if (typeof value === "number") return redactNumber(value, policy, tally);
  if (typeof value !== "object" || value === null) return value;
  if (seen.has(value)) return "[Circular]";
  seen.add(value);
  try {
    if (Array.isArray(value)) return value.map((item) => redactValue(item, policy, tally, seen));
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
      if (name !== undefined) {
        tally.count++;
        out[key] = redactionMarker(name);
      } else {
        out[key] = redactValue(item, policy, tally, seen);
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
 * - in every string (nested in objects and arrays, or JSON inside a string): sensitive `key=value` pairs, e-mail
 *   addresses, Luhn-valid card numbers, AWS access key ids and AWS secret access keys, plus the policy's patterns;
 * - integers that are card numbers.
 * The input is not modified. Redacting twice gives the same result as redacting once.
 */
export function redact(value: unknown, policy: RedactionPolicy = defaultRedactionPolicy()): unknown {
  return redactValue(value, policy, { count: 0 }, new WeakSet());
}

/**
 * A `JSON.stringify` replacer applying the same rules during serialization (one pass, no copy): what the logger
 * uses, so that every line it prints is redacted.
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
    return value;
  };
}

let defaultPolicy: RedactionPolicy | undefined;

/** The policy from the environment, read once (see {@link redactionPolicyFromEnv}). */
export function defaultRedactionPolicy(): RedactionPolicy {
  defaultPolicy ??= redactionPolicyFromEnv();
  return defaultPolicy;
}
