/**
 * The redaction policy: which key names are sensitive (with the rule that matches a key against them) and which
 * value patterns apply, with the additions read from the environment.
 */

import { InvalidObservabilityConfig } from "../errors.ts";
import { DEFAULT_PATTERNS, type RedactionPattern } from "./detectors.ts";

/** What to redact. Build one with {@link createRedactionPolicy} (defaults plus additions). */
export interface RedactionPolicy {
  /** Sensitive key names, normalized (lower case, letters and digits only: `api_key` -> `apikey`). */
  readonly keys: ReadonlySet<string>;
  /**
   * Names too short or too common to match anywhere in a key (`mobile`, `tel`, `auth`): they match only as the key's
   * last word, or followed by one word saying it is the value itself ({@link VALUE_WORDS}: `telNumber`, `authCode`).
   */
  readonly lastWordKeys?: ReadonlySet<string>;
  readonly patterns: readonly RedactionPattern[];
}

/**
 * Default sensitive key names. A key matches when one word of it, or several adjacent words joined, equals one of
 * these names once normalized: `accessToken`, `x-api-key`, `AWS_SECRET_ACCESS_KEY`, `Set-Cookie`, `cardNumber`,
 * `e-mail`, `authToken` all match; `company` (contains "pan"), `discardedCount` (contains "card"), `author`,
 * `sessionId` do not.
 */
export const DEFAULT_SENSITIVE_KEYS: readonly string[] = [
  // secrets
  "password",
  "passwd",
  "pwd",
  "passphrase",
  "secret",
  "token",
  "jwt",
  "api_key",
  "access_key",
  "private_key",
  "credential",
  "credentials",
  "authorization",
  "cookie",
  // contact details
  "email",
  "phone",
  "telephone",
  "msisdn",
  // payment
  "card",
  "card_number",
  "pan",
  "cvv",
  "cvc",
  "pin",
  "iban",
  // identity
  "ssn",
  "national_id",
  "nino",
  "tax_id",
  "passport",
  "dni",
];

/**
 * Names that match only as a key's last word or before one of {@link VALUE_WORDS}: `auth`, `authCode`, `tel`,
 * `telNo`, `mobile`, `mobileNumber` match; `authMethod`, `telemetry`, `mobileCount`, `isMobile`, `hasAuth` do not.
 */
export const DEFAULT_LAST_WORD_KEYS: readonly string[] = ["auth", "tel", "mobile"];

/** Words after a last-word name that still name its value (`telNumber`, `authHeader`). */
export const VALUE_WORDS: ReadonlySet<string> = new Set([
  "number",
  "num",
  "no",
  "nr",
  "code",
  "header",
  "value",
  "string",
  "str",
]);

/** Normalizes a key name for comparison: lower case, letters and digits only (`X-Api-Key` -> `xapikey`). */
export function normalizeKeyName(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, "");
}

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
  const lastWordKeys = new Set(DEFAULT_LAST_WORD_KEYS);
  return { keys, lastWordKeys, patterns: [...DEFAULT_PATTERNS, ...(options.patterns ?? [])] };
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

/** Splits a key into lower-case words: `x-api-key` -> x, api, key; `accessToken` -> access, token. */
function keyWords(key: string): string[] {
  return (key.match(/[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+/g) ?? []).map((word) => word.toLowerCase());
}

/** A key that redaction itself wrote (an e-mail address used as a key, replaced): not a sensitive name. */
const MARKER_KEY = /^\[REDACTED:[\w.-]{1,64}\](?:#\d{1,9})?$/;

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
  const words = MARKER_KEY.test(key) ? [] : keyWords(key);
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
  if (found === null && policy.lastWordKeys && words[0] !== "is" && words[0] !== "has") {
    const last = words.length - 1;
    for (let i = Math.max(0, last - 1); i <= last && found === null; i++) {
      const word = words[i] ?? "";
      if (policy.lastWordKeys.has(word) && (i === last || VALUE_WORDS.has(words[last] ?? ""))) found = word;
    }
  }
  if (cache.size >= KEY_CACHE_LIMIT) cache.clear();
  cache.set(key, found);
  return found ?? undefined;
}
