/**
 * Inputs that leaked before (issue item 8) and the properties that keep them from leaking again: a secret planted
 * anywhere (nested, in text, under a sensitive key, as a key, in JSON inside a string, double-encoded, escaped)
 * never reaches the output, and ordinary pipeline values (order ids, timestamps, UUIDs, amounts) survive.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createRedactingReplacer, createRedactionPolicy, passesLuhn, redact } from "./redaction.ts";

const policy = createRedactionPolicy();

/** Both ways a value is redacted: the copy (`redact`) and the logger's serialization (the replacer). */
function outputs(value: unknown): string[] {
  return [JSON.stringify(redact(value, policy)), JSON.stringify(value, createRedactingReplacer(policy))];
}

const JWT =
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
const GITHUB_TOKEN = "ghp_16C7e42F292c6912E7710c838347Ae178B4a";
const PEM_BODY = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0";
const PEM = `-----BEGIN RSA PRIVATE KEY-----\n${PEM_BODY}\nbm9uZXhpc3RlbnQ=\n-----END RSA PRIVATE KEY-----`;

describe("inputs that leaked before", () => {
  it.each<[string, unknown, string[], string]>([
    ["lower-case bearer scheme", `authorization: bearer ${JWT}`, [JWT, "eyJhbGci"], "authorization"],
    ["the token scheme", `Authorization: token ${GITHUB_TOKEN}`, [GITHUB_TOKEN], "authorization"],
    ["an unknown scheme", "Proxy-Authorization: Custom c2VjcmV0OnBhc3M=", ["c2VjcmV0OnBhc3M"], "authorization"],
    [
      "JSON inside a JSON string (double-encoded)",
      JSON.stringify(JSON.stringify({ password: "hunter2", accessToken: "tok-abc-1" })),
      ["hunter2", "tok-abc-1"],
      "password",
    ],
    [
      "a double-encoded body in an object",
      { body: JSON.stringify(JSON.stringify({ user: { password: "hunter2" } })) },
      ["hunter2"],
      "password",
    ],
    [
      "escaped JSON inside text",
      'request failed: {\\"password\\":\\"hunter2\\",\\"access_token\\":\\"tok-abc-1\\"}',
      ["hunter2", "tok-abc-1"],
      "token",
    ],
    [
      "twice-escaped JSON inside text",
      'retry of: {\\\\\\"user\\\\\\":\\\\\\"ada\\\\\\",\\\\\\"pwd\\\\\\":\\\\\\"hunter2\\\\\\"}',
      ["hunter2"],
      "pwd",
    ],
    ["an e-mail address as a key", { "jane@example.com": { orders: 3 } }, ["jane@example.com"], "email"],
    ["a bare JWT", `session was ${JWT}`, [JWT, "eyJzdWIi", "SflKxwRJ"], "jwt"],
    ["a GitHub token", `cloned with ${GITHUB_TOKEN}`, [GITHUB_TOKEN], "token"],
    ["an international phone number", "call me on +44 20 7946 0958 tomorrow", ["7946 0958"], "phone"],
    ["a phone number with parentheses", "or +1 (415) 555-2671", ["555-2671"], "phone"],
    ["a North American phone number", "desk: (415) 555-2671, cell 415-555-0199", ["555-2671", "555-0199"], "phone"],
    ["a national phone number", "ring 07700 900123 or 020 7946 0958", ["900123", "7946 0958"], "phone"],
    ["a mobile key", { mobile: "07700900123" }, ["07700900123"], "mobile"],
    ["a tel key", { contact: { tel: "5552671" } }, ["5552671"], "tel"],
    ["an msisdn key", { msisdn: "447700900123" }, ["447700900123"], "msisdn"],
    ["an auth key", { auth: "dXNlcjpwYXNz" }, ["dXNlcjpwYXNz"], "auth"],
    ["a PEM private key", `key: ${PEM}`, [PEM_BODY, "bm9uZXhpc3RlbnQ"], "private_key"],
    ["a PEM private key in JSON", { config: JSON.stringify({ pem: PEM }) }, [PEM_BODY], "private_key"],
    ["an IBAN in groups", "pay to GB82 WEST 1234 5698 7654 32 today", ["WEST 1234 5698"], "iban"],
    ["an IBAN in one word", "refund DE89370400440532013000.", ["370400440532013000"], "iban"],
    ["a US social security number", "ssn on file 078-05-1120", ["078-05-1120"], "national_id"],
    ["a UK national insurance number", "NI AB 12 34 56 C and AB123456C", ["12 34 56", "AB123456C"], "national_id"],
    ["a Spanish DNI and NIE", "DNI 12345678Z, NIE X1234567L", ["12345678Z", "X1234567L"], "national_id"],
  ])("%s", (_, input, secrets, marker) => {
    for (const output of outputs(input)) {
      for (const secret of secrets) expect(output).not.toContain(secret);
      expect(output).toContain(`[REDACTED:${marker}]`);
    }
  });
});

describe("ordinary values survive", () => {
  it.each([
    "order ORD-2026-000123 shipped, order o-1234567 and 123456789 pending",
    "at 2026-08-20T10:00:00.000Z (1755684000000 ms, 1755684000 s), next 2026-08-20 10:00:00+02:00",
    "request 3f2504e0-4f89-11d3-9a0c-0305e82c3301, trace 1-5759e988-bd862e3fe1be46a994272793",
    "total 1,234,567.89 EUR, refund -42.00, delta +1234.56, balance 12345678.90, 1.234.567,89",
    "arn:aws:sns:eu-west-1:123456789012:Audit s3://lake/sales/2026/08/20/orders-0001.csv",
    "host 10.0.12.254:8080, version 4.17.1, dates 05-06-2026 and 2026/08/20, port 0 100 200",
    "sku AB-1234-XY, batch 2026-0815-0042, invoice INV 2026 000 123",
    "expanded years (ISO 8601, as JavaScript writes them): +275760-09-13T00:00:00.000Z and +010000-01-01",
  ])("%s", (text) => {
    expect(redact(text, policy)).toBe(text);
    expect(redact({ note: text, orderId: "o-42", amount: 12.5, ts: 1755684000000 }, policy)).toEqual({
      note: text,
      orderId: "o-42",
      amount: 12.5,
      ts: 1755684000000,
    });
  });

  it.each(["author", "authorId", "hotel", "telemetry", "mobileCount", "isMobile"])(
    "the key %s is not sensitive",
    (key) => {
      expect(redact({ [key]: 7 }, policy)).toEqual({ [key]: 7 });
    },
  );
});

// ---------------------------------------------------------------------------------------------------------------
// Properties

/** A Luhn-valid card of 16 digits in groups of 4. */
const card = fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 14, maxLength: 14 }).map((rest) => {
  for (let check = 0; check <= 9; check++) {
    const digits = `4${rest.join("")}${check}`;
    if (passesLuhn(digits)) return (digits.match(/.{4}/g) ?? []).join(" ");
  }
  throw new Error("unreachable");
});
const email = fc
  .tuple(fc.stringMatching(/^[a-z][a-z0-9._]{0,12}$/), fc.stringMatching(/^[a-z0-9]{2,10}$/))
  .map(([local, domain]) => `${local}@${domain}.com`);
const base64url = (min: number, max: number) => fc.stringMatching(new RegExp(`^[A-Za-z0-9_-]{${min},${max}}$`));
const jwt = fc
  .tuple(base64url(10, 40), base64url(10, 80), base64url(20, 43))
  .map(([h, p, s]) => `eyJ${h}.eyJ${p}.${s}`);
const phone = fc
  .tuple(fc.integer({ min: 1, max: 99 }), fc.integer({ min: 100, max: 999 }), fc.integer({ min: 1000, max: 9999 }))
  .chain(([cc, a, b]) =>
    fc.constantFrom(`+${cc} ${a} ${b} 0${a}`, `+${cc}-${a}-${b}-${a}`, `+${cc} (${a}) ${b}${a}`, `+${cc}${a}${b}${a}`),
  );
/** A valid IBAN (check digits computed) of a few countries, written in groups of 4 or as one word. */
const iban = fc
  .tuple(
    fc.constantFrom(["DE", 18], ["GB", 18], ["FR", 23], ["NL", 14], ["ES", 20]),
    fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 23, maxLength: 23 }),
    fc.boolean(),
  )
  .map(([[country, bbanLength], digits, grouped]) => {
    const bban = digits.slice(0, bbanLength as number).join("");
    const numeric = `${bban}${[...`${country}00`].map((c) => (/\d/.test(c) ? c : String(c.charCodeAt(0) - 55))).join("")}`;
    let remainder = 0;
    for (const ch of numeric) remainder = (remainder * 10 + Number(ch)) % 97;
    const compact = `${country}${String(98 - remainder).padStart(2, "0")}${bban}`;
    return grouped ? (compact.match(/.{1,4}/g) ?? []).join(" ") : compact;
  });
const ssn = fc
  .tuple(fc.integer({ min: 1, max: 665 }), fc.integer({ min: 1, max: 99 }), fc.integer({ min: 1, max: 9999 }))
  .map(([a, g, s]) => `${String(a).padStart(3, "0")}-${String(g).padStart(2, "0")}-${String(s).padStart(4, "0")}`);
const githubToken = fc.stringMatching(/^[A-Za-z0-9]{36}$/).map((body) => `ghp_${body}`);
const pem = fc
  .array(fc.stringMatching(/^[A-Za-z0-9+/]{64}$/), { minLength: 1, maxLength: 4 })
  .map((lines) => `-----BEGIN PRIVATE KEY-----\n${lines.join("\n")}\n-----END PRIVATE KEY-----`);

/** A secret found by its shape, and the parts of it that must not be printed. */
const patternSecret = fc.oneof(
  card.map((s) => ({ text: s, cores: [s, s.replace(/ /g, "")] })),
  email.map((s) => ({ text: s, cores: [s] })),
  jwt.map((s) => ({ text: s, cores: [s, s.split(".")[1] ?? s] })),
  phone.map((s) => ({ text: s, cores: [s] })),
  iban.map((s) => ({ text: s, cores: [s, s.replace(/ /g, "").slice(4)] })),
  ssn.map((s) => ({ text: s, cores: [s] })),
  githubToken.map((s) => ({ text: s, cores: [s] })),
  pem.map((s) => ({ text: s, cores: s.split("\n").slice(1, -1) })),
);

/** A secret found by the key it is written under: a random value with a recognizable prefix. */
const keyedSecret = fc
  .tuple(
    fc.constantFrom("password", "apiKey", "client_secret", "accessToken", "Authorization", "mobile", "msisdn", "auth"),
    fc.stringMatching(/^[A-Za-z0-9]{10,20}$/),
  )
  .map(([key, body]) => ({ key, value: `Zq${body}`, cores: [`Zq${body}`] }));

const filler = fc.stringMatching(/^[a-z ,;:!?()]{0,20}$/).map((text) => ` ${text} `);

type Planted = { value: unknown; cores: string[] };

/** A secret planted in one of the ways a log record carries data. */
const planted: fc.Arbitrary<Planted> = fc.oneof(
  fc.tuple(filler, patternSecret, filler).map(([a, s, b]) => ({ value: `${a}${s.text}${b}`, cores: s.cores })),
  keyedSecret.map((s) => ({ value: { [s.key]: s.value }, cores: s.cores })),
  keyedSecret.map((s) => ({ value: `${s.key}=${s.value}`, cores: s.cores })),
  keyedSecret.map((s) => ({ value: `"${s.key}": "${s.value}"`, cores: s.cores })),
  patternSecret.map((s) => ({ value: { [s.text]: { n: 1 } }, cores: s.cores })),
);

/** JSON-like trees holding planted secrets at any depth, some of them encoded into strings once or twice. */
const { tree } = fc.letrec<{ tree: Planted }>((tie) => ({
  tree: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    planted,
    fc.oneof(fc.integer(), fc.boolean(), fc.constant(null)).map((value) => ({ value, cores: [] as string[] })),
    fc.array(tie("tree"), { maxLength: 3 }).map((items) => ({
      value: items.map((item) => item.value),
      cores: items.flatMap((item) => item.cores),
    })),
    fc
      .dictionary(fc.constantFrom("note", "items", "detail", "body", "a"), tie("tree"), { maxKeys: 3 })
      .map((entries) => ({
        value: Object.fromEntries(Object.entries(entries).map(([key, item]) => [key, item.value])),
        cores: Object.values(entries).flatMap((item) => item.cores),
      })),
    tie("tree").map((item) => ({ value: JSON.stringify(item.value), cores: item.cores })),
    tie("tree").map((item) => ({ value: JSON.stringify(JSON.stringify(item.value)), cores: item.cores })),
    fc.tuple(filler, tie("tree")).map(([before, item]) => ({
      value: `${before}${JSON.stringify(JSON.stringify(item.value)).slice(1, -1)}`,
      cores: item.cores,
    })),
  ),
}));

describe("redaction properties: nothing planted leaks", () => {
  it("never prints a planted secret, however it is nested or encoded, and the output stays valid JSON", () => {
    fc.assert(
      fc.property(tree, ({ value, cores }) => {
        for (const output of outputs(value)) {
          expect(JSON.parse(output)).toBeDefined();
          for (const core of cores) expect(output).not.toContain(core);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("redacts the same trees inside JSON nested too deep to walk (one pass over its text) as it does a structure", () => {
    // 200 arrays: past the 128 levels walked as a structure, so the text is redacted token by token.
    const deep = (json: string) => `${"[".repeat(200)}${json}${"]".repeat(200)}`;
    const unwrap = (value: unknown) => {
      let inner = value;
      for (let level = 0; level < 200; level++) inner = (inner as unknown[])[0];
      return inner;
    };
    fc.assert(
      fc.property(tree, ({ value, cores }) => {
        const text = deep(JSON.stringify(value));
        for (const output of outputs(text)) {
          for (const core of cores) expect(output).not.toContain(core);
          expect(unwrap(JSON.parse(JSON.parse(output)))).toEqual(JSON.parse(outputs(value)[0] ?? ""));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("is idempotent on planted secrets", () => {
    fc.assert(
      fc.property(tree, ({ value }) => {
        const once = redact(value, policy);

        expect(redact(once, policy)).toEqual(once);
      }),
      { numRuns: 200 },
    );
  });

  it("keeps order ids, timestamps, UUIDs and amounts", () => {
    const ordinary = fc.oneof(
      fc.integer({ min: 1, max: 99_999_999 }).map((n) => `ORD-${String(n).padStart(8, "0")}`),
      fc.integer({ min: 1_500_000_000_000, max: 1_999_999_999_999 }).map(String),
      fc.integer({ min: 1_500_000_000, max: 1_999_999_999 }).map(String),
      fc
        .date({ min: new Date("2000-01-01"), max: new Date("2099-12-31"), noInvalidDate: true })
        .map((d) => d.toISOString()),
      fc.uuid(),
      fc.integer({ min: 0, max: 9_999_999_999 }).map((cents) => (cents / 100).toFixed(2)),
      fc.integer({ min: 0, max: 999_999_999 }).map((n) => n.toLocaleString("en-US")),
    );
    fc.assert(
      fc.property(fc.array(ordinary, { minLength: 1, maxLength: 6 }), (values) => {
        const text = values.join(" ");

        expect(redact(text, policy)).toBe(text);
        expect(redact({ values }, policy)).toEqual({ values });
      }),
      { numRuns: 500 },
    );
  });
});
