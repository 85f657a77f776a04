/**
 * Value detectors: what a sensitive value looks like in any string, whatever key it is under. Each detector is a
 * global regular expression anchored by a look-behind and bounded (so a 2 MB string is scanned in linear time),
 * optionally confirmed by a check (Luhn, mod 97, check letters) that keeps ordinary identifiers out.
 *
 * The exact list of what is caught, and what is not, is in the package README ("Redaction"): keep them in step.
 */

/** One value pattern: every match in a string is replaced by `[REDACTED:<name>]`. */
export interface RedactionPattern {
  readonly name: string;
  /** A global (`g`) regular expression. */
  readonly pattern: RegExp;
  /** Optional confirmation of a match (e.g. the Luhn check); returns the replacement, or the match to keep it. */
  readonly replace?: (match: string) => string;
}

/** The text that replaces a redacted value. */
export function redactionMarker(name: string): string {
  return `[REDACTED:${name}]`;
}

// ---------------------------------------------------------------------------------------------------------------
// Private keys and tokens

/**
 * A PEM private key block (`-----BEGIN [RSA |EC |OPENSSH |ENCRYPTED |DSA ]PRIVATE KEY-----`, PGP's `PRIVATE KEY
 * BLOCK`) with its body up to the END line, or, when the END line is missing (a truncated key), up to the next
 * `-----` or 64 KiB. The body never crosses a `-----`, so many BEGIN lines in a row are still one linear scan.
 */
const PEM_PRIVATE_KEY =
  /-----BEGIN[ A-Z0-9]{0,40} PRIVATE KEY(?: BLOCK)?-----(?:[^-]|-(?!----)){0,65536}(?:-----END[ A-Z0-9]{0,40} PRIVATE KEY(?: BLOCK)?-----)?/g;

/**
 * A JSON Web Token (JWS compact form): base64url header and payload, both JSON objects (so both start with `eyJ`,
 * the encoding of `{"`), and an optional signature.
 */
const JWT = /(?<![\w-])eyJ[\w-]{1,8192}\.eyJ[\w-]{1,16384}(?:\.[\w-]{0,8192})?/g;

/**
 * Tokens whose prefix says what they are: GitHub (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`), GitLab
 * (`glpat-`), Slack (`xoxb-`, `xoxp-`, ...), Stripe secret and restricted keys (`sk_live_`, `rk_test_`, ...), npm
 * (`npm_`) and Google API keys (`AIza`).
 */
const PREFIXED_TOKEN =
  /(?<![\w-])(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_\w{22,244}|glpat-[\w-]{20,64}|xox[abposr]-[A-Za-z0-9-]{10,250}|[sr]k_(?:live|test)_[A-Za-z0-9]{16,247}|npm_[A-Za-z0-9]{36}|AIza[\w-]{35})/g;

/** `Bearer <token>` anywhere in text, whatever the case of the scheme (a header copied without its name). */
const BEARER_TOKEN = /(?<![\w-])bearer[ \t]+[\w\-.~+/]{8,4096}=*/gi;

/** AWS access key ids (long-term `AKIA`, temporary `ASIA`, and the `ABIA`/`ACCA` variants). */
const AWS_ACCESS_KEY_ID = /(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])/g;

/** Exactly 40 base64 characters, not part of a longer base64 run. Confirmed by {@link looksLikeAwsSecretKey}. */
const FORTY_CHAR_TOKEN = /(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/g;

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

// ---------------------------------------------------------------------------------------------------------------
// Contact details

/**
 * E-mail addresses. The look-behind makes the scan linear (a match can only start where a local part starts) and
 * the bounded quantifiers follow RFC 5321 (local part up to 64 characters, labels up to 63).
 */
const EMAIL =
  /(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.){1,8}[A-Za-z]{2,63}(?![A-Za-z0-9-])/g;

/**
 * International phone numbers: `+`, then digits, single spaces or dashes between them, an area code in parentheses
 * allowed (`+44 20 7946 0958`, `+1 (415) 555-2671`, `+14155552671`, `+49 (0)30 1234567`). Confirmed by
 * {@link redactInternationalPhone}: 8 to 15 digits (E.164).
 */
const INTERNATIONAL_PHONE = /(?<![\w+])\+\d[\d ()-]{6,30}\d/g;

/**
 * North American numbers written with separators: `(415) 555-2671`, `415-555-2671`, `415.555.2671`,
 * `415 555 2671`. Not part of a longer run of digits, words or dotted numbers.
 */
const NORTH_AMERICAN_PHONE = /(?<![\w+.-])(?:\(\d{3}\) ?|\d{3}[-. ])\d{3}[-. ]\d{4}(?![\w-]|\.\d)/g;

/**
 * National numbers with a trunk prefix 0, written in groups (`07700 900123`, `020 7946 0958`, `06 12 34 56 78`):
 * a first group of 2 to 5 digits starting with 0, then groups of 2 to 6 digits separated by one space or dash, 10 or
 * 11 digits in all.
 */
const NATIONAL_PHONE = /(?<![\w+.-])0\d{1,4}(?:[ -]\d{2,6}){1,4}(?![\w]|[-.]\d)/g;

/** `+YYYYYY-MM-DD`: an expanded-year date, not a phone number. */
const EXPANDED_YEAR_DATE = /^\+\d{6}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])(?!\d)/;

/**
 * The phone number at the start of an `INTERNATIONAL_PHONE` match: digits with single separators (a space or dash,
 * or parentheses around a group), 8 to 15 digits. What follows the number (`+44 20 7946 0958 - 3 items`) is kept.
 */
function redactInternationalPhone(match: string): string {
  // A date with an expanded year (ISO 8601, as `Date.prototype.toISOString` writes years past 9999): `+275760-09-13`.
  if (EXPANDED_YEAR_DATE.test(match)) return match;
  let digits = 0;
  let end = 0; // just past the last digit of the number
  let separated = false; // the previous character was a separator
  let open = false; // inside parentheses
  for (let i = 1; i < match.length; i++) {
    const c = match.charAt(i);
    if (c >= "0" && c <= "9") {
      digits++;
      end = i + 1;
      separated = false;
      if (digits > 15) return match; // longer than any phone number: a count, an id
    } else if (c === "(" && !open && (separated || end === i)) {
      open = true;
      separated = true;
    } else if (c === ")" && open && end === i) {
      open = false;
      separated = false;
    } else if ((c === " " || c === "-") && !separated && !open) {
      separated = true;
    } else if (c === " " && match.charAt(i - 1) === ")") {
      separated = true;
    } else {
      break;
    }
  }
  if (digits < 8) return match;
  return `${redactionMarker("phone")}${match.slice(end)}`;
}

function redactNationalPhone(match: string): string {
  const digits = match.replace(/\D/g, "").length;
  return digits === 10 || digits === 11 ? redactionMarker("phone") : match;
}

// ---------------------------------------------------------------------------------------------------------------
// Bank accounts and cards

/** IBAN length per country (SWIFT's IBAN registry). */
// biome-ignore format: a table
const IBAN_LENGTHS: Readonly<Record<string, number>> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BI: 27, BR: 29, BY: 28, CH: 21, CR: 22,
  CY: 28, CZ: 24, DE: 22, DJ: 27, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18, FK: 18, FO: 18, FR: 27, GB: 22,
  GE: 22, GI: 23, GL: 18, GR: 27, GT: 28, HN: 28, HR: 21, HU: 28, IE: 22, IL: 23, IQ: 23, IS: 26, IT: 27, JO: 30,
  KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20, LU: 20, LV: 21, LY: 25, MC: 27, MD: 24, ME: 22, MK: 19, MN: 20,
  MR: 27, MT: 31, MU: 30, NI: 28, NL: 18, NO: 15, OM: 23, PK: 24, PL: 28, PS: 29, PT: 25, QA: 29, RO: 24, RS: 22,
  RU: 33, SA: 24, SC: 31, SD: 18, SE: 24, SI: 19, SK: 24, SM: 27, SO: 23, ST: 25, SV: 28, TL: 23, TN: 24, TR: 26,
  UA: 29, VA: 22, VG: 24, XK: 20, YE: 30,
};

/**
 * IBAN candidates: two letters, two check digits, then the account either as one word or in groups of 4 separated
 * by single spaces (the printed form). Confirmed by {@link redactIban}.
 */
const IBAN_CANDIDATE =
  /(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?:[A-Za-z0-9]{11,30}|(?: [A-Za-z0-9]{4}){2,7}(?: [A-Za-z0-9]{1,3})?)(?![A-Za-z0-9])/g;

/** The ISO 13616 check: the IBAN with its first four characters moved to the end, letters as 10-35, mod 97 is 1. */
export function isValidIban(compact: string): boolean {
  const iban = compact.toUpperCase();
  if (IBAN_LENGTHS[iban.slice(0, 2)] !== iban.length || !/^[A-Z]{2}\d{2}[A-Z0-9]+$/.test(iban)) return false;
  let remainder = 0;
  for (const ch of `${iban.slice(4)}${iban.slice(0, 4)}`) {
    const code = ch.charCodeAt(0);
    const value = code >= 65 ? code - 55 : code - 48;
    remainder = (value >= 10 ? remainder * 100 + value : remainder * 10 + value) % 97;
  }
  return remainder === 1;
}

/**
 * Redacts the IBAN a candidate starts with: its country's length of characters (spaces not counted), passing the
 * mod-97 check. Groups after it (`GB82 WEST 1234 5698 7654 32 1234`) are kept.
 */
function redactIban(match: string): string {
  const length = IBAN_LENGTHS[match.slice(0, 2).toUpperCase()];
  if (length === undefined) return match;
  let taken = 0;
  let end = 0;
  while (end < match.length && taken < length) {
    if (match.charAt(end) !== " ") taken++;
    end++;
  }
  if (taken < length || (end < match.length && match.charAt(end) !== " ")) return match;
  return isValidIban(match.slice(0, end).replace(/ /g, "")) ? `${redactionMarker("iban")}${match.slice(end)}` : match;
}

/**
 * A UUID (kept as it is: its digit groups are not a card), else a run of at least 13 digits, single spaces or dashes
 * allowed between digits but not going on into a UUID after a separator, not preceded or followed by a digit, nor part of a decimal number (`0.4111111111111111`
 * is a score, not a card), nor a thousands group (`894,734,644 1629698306444`).
 */
const UUID_OR_DIGIT_RUN =
  /(?<![0-9A-Za-z-])[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}(?![0-9A-Za-z-])|(?<!\d|\d\.)(?!(?<=\d,)\d{3}(?!\d))\d(?:[ -](?![0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-)\d|\d){12,}(?!\d|\.\d)/g;

const UUID = /^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$/;

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

/**
 * Two or more consecutive groups of 3 to 6 digits (the last one may be shorter): how cards are written (4-4-4-4,
 * 4-4-4-4-3, 4-4-4-1, Amex 4-6-5, Diners 4-6-4). A group of 7 or more digits is an id or a timestamp, not part of a
 * written card.
 */
const CARD_GROUPS = /(?<!\d)\d{3,6}(?!\d)(?:[ -]\d{3,6}(?!\d))*[ -]\d{1,6}(?!\d)/g;

/**
 * Redacts card numbers inside one digit run. A run without separators is a card when it passes
 * {@link isCardNumber}. A run with separators is searched for cards made of consecutive groups of 3 to 6 digits
 * (see {@link CARD_GROUPS}), so a card followed by an expiry date (`4111 1111 1111 1111 1227`) or preceded by a count
 * is still found, and two ids side by side (`61184502 1880984634`) are not a card. A UUID is kept.
 */
function redactDigitRun(run: string): string {
  if (UUID.test(run)) return run;
  if (!/[ -]/.test(run)) return isCardNumber(run) ? redactionMarker("card") : run;
  return run.replace(CARD_GROUPS, redactCardInGroups);
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

// ---------------------------------------------------------------------------------------------------------------
// National identity numbers

/**
 * US social security numbers written `AAA-GG-SSSS`, as issued: area not 000, 666 or 900-999, group not 00, serial
 * not 0000.
 */
const US_SSN = /(?<![\w.-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\w-]|\.\d)/g;

/**
 * UK National Insurance numbers (`AB 12 34 56 C`, `AB123456C`, upper case): the prefix letters HMRC allocates
 * (first not D, F, I, Q, U, V; second not D, F, I, O, Q, U, V; not BG, GB, KN, NK, NT, TN, ZZ) and a suffix A-D.
 */
const UK_NINO =
  /(?<![A-Za-z0-9])(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![A-Za-z0-9])/g;

/** Spanish DNI (`12345678Z`) and NIE (`X1234567L`) numbers; confirmed by their check letter. */
const SPANISH_ID = /(?<![A-Za-z0-9])(?:\d{8}|[XYZ]-?\d{7})-?[A-Z](?![A-Za-z0-9])/g;

const DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE";

/** Whether a DNI/NIE (dashes removed) has the right check letter (the number mod 23; NIE's X, Y, Z count as 0-2). */
export function isSpanishId(id: string): boolean {
  const compact = id.replace(/-/g, "");
  const number = Number(compact.slice(0, -1).replace(/^X/, "0").replace(/^Y/, "1").replace(/^Z/, "2"));
  return DNI_LETTERS.charAt(number % 23) === compact.slice(-1);
}

// ---------------------------------------------------------------------------------------------------------------

/** The built-in value patterns, in the order they are applied. */
export const DEFAULT_PATTERNS: readonly RedactionPattern[] = [
  { name: "private_key", pattern: PEM_PRIVATE_KEY },
  { name: "jwt", pattern: JWT },
  { name: "token", pattern: PREFIXED_TOKEN },
  { name: "authorization", pattern: BEARER_TOKEN },
  { name: "email", pattern: EMAIL },
  { name: "aws_access_key_id", pattern: AWS_ACCESS_KEY_ID },
  {
    name: "aws_secret_access_key",
    pattern: FORTY_CHAR_TOKEN,
    replace: (token) => (looksLikeAwsSecretKey(token) ? redactionMarker("aws_secret_access_key") : token),
  },
  { name: "iban", pattern: IBAN_CANDIDATE, replace: redactIban },
  { name: "national_id", pattern: US_SSN },
  { name: "national_id", pattern: UK_NINO },
  {
    name: "national_id",
    pattern: SPANISH_ID,
    replace: (id) => (isSpanishId(id) ? redactionMarker("national_id") : id),
  },
  { name: "card", pattern: UUID_OR_DIGIT_RUN, replace: redactDigitRun },
  { name: "phone", pattern: INTERNATIONAL_PHONE, replace: redactInternationalPhone },
  { name: "phone", pattern: NORTH_AMERICAN_PHONE },
  { name: "phone", pattern: NATIONAL_PHONE, replace: redactNationalPhone },
];
