import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InvalidObservabilityConfig } from "./errors.ts";
import {
  compilePattern,
  createRedactingReplacer,
  createRedactionPolicy,
  isCardNumber,
  looksLikeAwsSecretKey,
  passesLuhn,
  redact,
  redactionPolicyFromEnv,
  sensitiveKeyName,
} from "./redaction.ts";

const policy = createRedactionPolicy();

describe("sensitive keys", () => {
  it.each([
    ["password", "password"],
    ["PASSWORD", "password"],
    ["passwd", "passwd"],
    ["accessToken", "token"],
    ["refresh_token", "token"],
    ["x-api-key", "apikey"],
    ["apiKey", "apikey"],
    ["APIKey", "apikey"],
    ["AWS_SECRET_ACCESS_KEY", "secret"],
    ["Authorization", "authorization"],
    ["Set-Cookie", "cookie"],
    ["customerEmail", "email"],
    ["e-mail", "email"],
    ["phoneNumber", "phone"],
    ["cardNumber", "card"],
    ["card_number", "card"],
    ["PAN", "pan"],
    ["ssn", "ssn"],
  ])("%s is sensitive (%s)", (key, name) => {
    expect(sensitiveKeyName(key, policy)).toBe(name);
  });

  it.each(["company", "discardedCount", "sessionId", "expand", "classname", "productId", "message", "level", "author"])(
    "%s is not sensitive",
    (key) => {
      expect(sensitiveKeyName(key, policy)).toBeUndefined();
    },
  );
});

describe("redact: keys by name", () => {
  it("replaces the value of sensitive keys at any depth, in objects and arrays", () => {
    const input = {
      user: { name: "Ada", password: "hunter2", profile: { accessToken: "tok-123", phone: "+44 20 7946 0958" } },
      headers: [{ "x-api-key": "k-1" }, { Authorization: "Bearer abc" }],
      credentials: { user: "ada", pass: "x" },
    };

    const output = redact(input, policy);

    expect(output).toEqual({
      user: {
        name: "Ada",
        password: "[REDACTED:password]",
        profile: { accessToken: "[REDACTED:token]", phone: "[REDACTED:phone]" },
      },
      headers: [{ "x-api-key": "[REDACTED:apikey]" }, { Authorization: "[REDACTED:authorization]" }],
      credentials: "[REDACTED:credentials]",
    });
    expect(input.user.password).toBe("hunter2"); // the input is not modified
  });

  it("keeps flags and empty values under sensitive keys (they hide nothing)", () => {
    expect(redact({ hasPassword: true, token: null, secret: "" }, policy)).toEqual({
      hasPassword: true,
      token: null,
      secret: "",
    });
  });

  it("redacts key=value pairs and authorization headers inside plain text", () => {
    const text = 'login failed: user=ada password=hunter2 "apiKey": "k-9" Authorization: Bearer eyJhbGciOi.x.y';

    expect(redact(text, policy)).toBe(
      'login failed: user=ada password=[REDACTED:password] "apiKey": "[REDACTED:apikey]" Authorization: [REDACTED:authorization]',
    );
  });

  it("redacts by key inside JSON held in a string, and keeps the string as it was when nothing is sensitive", () => {
    const encoded = JSON.stringify({ order: "o-1", card_number: "4111111111111111" });

    expect(redact({ body: encoded }, policy)).toEqual({ body: '{"order":"o-1","card_number":"[REDACTED:card]"}' });
    expect(redact({ body: '{ "order": "o-1" }' }, policy)).toEqual({ body: '{ "order": "o-1" }' });
  });
});

describe("redact: values by pattern", () => {
  it("replaces e-mail addresses anywhere in text", () => {
    expect(redact("from ada.lovelace+audit@example.co.uk to bob@example.com.", policy)).toBe(
      "from [REDACTED:email] to [REDACTED:email].",
    );
  });

  it.each([
    ["4111 1111 1111 1111", "Visa, spaces"],
    ["4111-1111-1111-1111", "Visa, dashes"],
    ["4111111111111111", "Visa, plain"],
    ["5555 5555 5555 4444", "Mastercard"],
    ["3782 822463 10005", "Amex 4-6-5"],
    ["6011111111111117", "Discover"],
  ])("redacts the Luhn-valid card %s (%s)", (card) => {
    expect(redact(`paid with ${card} today`, policy)).toBe("paid with [REDACTED:card] today");
  });

  it.each([
    ["4111 1111 1111 1112", "fails the Luhn check"],
    ["order 2024061500017", "a 13-digit order number failing the Luhn check"],
    ["ref 5000-1234-5678-9012", "a grouped reference failing the Luhn check"],
    ["at 1700000000123 ms", "an epoch timestamp in ms (leading 1)"],
    ["score 0.4111111111111111", "the decimals of a number"],
    ["id 41111111111111110000", "20 digits without groups"],
    // Found by the leak property test: the digit run of the id went on into the UUID after it, whose groups then read
    // as a Luhn-valid card (7808-2575-8000-000).
    ["1500000000 00000000-7808-2575-8000-000a00000000", "an epoch, then a UUID whose digit groups pass Luhn"],
  ])("keeps %s (%s)", (text) => {
    expect(redact(text, policy)).toBe(text);
  });

  it("finds a card among longer grouped digits (card then expiry)", () => {
    expect(redact("4111 1111 1111 1111 1227", policy)).toBe("[REDACTED:card] 1227");
  });

  it("redacts cards given as JSON numbers", () => {
    expect(redact({ amount: 12.5, n: 4111111111111111, ts: 1700000000123 }, policy)).toEqual({
      amount: 12.5,
      n: "[REDACTED:card]",
      ts: 1700000000123,
    });
  });

  it("redacts AWS access key ids and secret access keys", () => {
    const text = "creds AKIAIOSFODNN7EXAMPLE / wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY and ASIAY34FZKBOKMUTVV7A";

    expect(redact(text, policy)).toBe(
      "creds [REDACTED:aws_access_key_id] / [REDACTED:aws_secret_access_key] and [REDACTED:aws_access_key_id]",
    );
  });

  it.each([
    ["3f786850e387550fdab836ed7e6dc881de23001b", "a git SHA-1"],
    ["inbox/Reports/Quarterly2024/SummaryFinal", "a path made of words"],
    ["ThisIsAVeryLongIdentifierName2024Version", "a camel-case identifier"],
    [`${"x".repeat(20)}wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY`, "40 characters inside a longer token"],
  ])("keeps the 40-character %s (%s)", (token) => {
    expect(redact(token, policy)).toBe(token);
  });

  it("redacts a secret key of any shape when its name is next to it", () => {
    expect(redact("aws_secret_access_key=inbox/Reports/Quarterly2024/SummaryFinal", policy)).toBe(
      "aws_secret_access_key=[REDACTED:secret]",
    );
  });

  it("applies patterns inside nested objects and arrays", () => {
    const output = redact({ a: [{ b: ["note: mail bob@example.com"] }], c: { d: "4111 1111 1111 1111" } }, policy);

    expect(output).toEqual({ a: [{ b: ["note: mail [REDACTED:email]"] }], c: { d: "[REDACTED:card]" } });
  });

  it("finds an address inside a 2 MB string (its speed is for a benchmark, not a test)", () => {
    const big = `${"a".repeat(1_000_000)} bob@example.com ${"1 ".repeat(500_000)}`;
    const output = redact(big, policy) as string;
    expect(output).toContain("[REDACTED:email]");
    expect(output).not.toContain("bob@example.com");
    expect(output.length).toBe(big.length - "bob@example.com".length + "[REDACTED:email]".length);
  });
});

describe("redact: deeply nested JSON", () => {
  const nested = (depth: number, inner: string) => `${"[".repeat(depth)}${inner}${"]".repeat(depth)}`;
  const secret = '{"password":"hunter2","to":"bob@example.com"}';
  const redacted = '{"password":"[REDACTED:password]","to":"[REDACTED:email]"}';

  it("redacts JSON inside a string nested too deep to walk, in one pass over its text, keeping its text", () => {
    for (const depth of [5_000, 100_000]) {
      expect(redact(nested(depth, secret), policy)).toBe(nested(depth, redacted));
      expect(redact({ body: nested(depth, secret) }, policy)).toEqual({ body: nested(depth, redacted) });
    }
  });

  it("applies every rule in that pass: keys, a sensitive key's whole value, empty values, numbers, spacing kept", () => {
    const inner = [
      "{",
      '  "token" : { "a": [1, 2] },',
      '  "password": "",',
      '  "secret": null,',
      '  "ada@example.com": 1,',
      '  "card": "4111 1111 1111 1111", "n": 4111111111111111, "m": -1.5e3,',
      '  "note": "call +44 20 7946 0958", "ok": true',
      "}",
    ].join("\n");
    const expected = [
      "{",
      '  "token" : "[REDACTED:token]",',
      '  "password": "",',
      '  "secret": null,',
      '  "[REDACTED:email]": 1,',
      '  "card": "[REDACTED:card]", "n": "[REDACTED:card]", "m": -1.5e3,',
      '  "note": "call [REDACTED:phone]", "ok": true',
      "}",
    ].join("\n");
    expect(redact(nested(5_000, inner), policy)).toBe(nested(5_000, expected));
  });

  it("counts the depth of JSON inside strings inside JSON (encoded again and again) as one", () => {
    // Each level a JSON string holding 120 nested arrays around the next (under the limit each): 14 levels (each
    // doubles the backslashes: 2^14 before the innermost quotes) are 1 680 levels deep in 200 KB.
    let text = secret;
    for (let level = 0; level < 14; level++) text = nested(120, JSON.stringify(text));
    expect(text.length).toBeLessThan(256 * 1024);
    const out = redact(text, policy) as string;
    expect(out).not.toContain("hunter2");
    expect(out).not.toContain("bob@example.com");
  });

  it("replaces what lies deeper than 128 levels of an object it is given with a marker", () => {
    let value: unknown = { password: "hunter2" };
    for (let level = 0; level < 5_000; level++) value = [value];
    let out = redact(value, policy);
    for (let level = 0; level < 128; level++) {
      expect(Array.isArray(out)).toBe(true);
      out = (out as unknown[])[0];
    }
    expect(out).toBe("[REDACTED:nested-too-deep]");
  });

  it("is the same through the logger's replacer", () => {
    const replacer = createRedactingReplacer(policy);
    expect(JSON.parse(JSON.stringify({ body: nested(5_000, secret) }, replacer))).toEqual({
      body: nested(5_000, redacted),
    });
  });
});

describe("redaction policy", () => {
  it("adds SLUICE_REDACT_KEYS and SLUICE_REDACT_PATTERNS to the defaults", () => {
    const custom = redactionPolicyFromEnv({
      SLUICE_REDACT_KEYS: "customerRef, x-internal-id",
      SLUICE_REDACT_PATTERNS: JSON.stringify({ order_ref: "ORD-[0-9]{8}", ticket: "/tkt-[a-z]{4}/i" }),
    });

    expect(
      redact(
        { customerRef: "c-1", internalId: "i-1", note: "ORD-12345678 TKT-ABCD bob@example.com", password: "p" },
        custom,
      ),
    ).toEqual({
      customerRef: "[REDACTED:customerref]",
      internalId: "i-1",
      note: "[REDACTED:order_ref] [REDACTED:ticket] [REDACTED:email]",
      password: "[REDACTED:password]",
    });
    expect(redact({ "X-Internal-Id": "i-1" }, custom)).toEqual({ "X-Internal-Id": "[REDACTED:xinternalid]" });
  });

  it.each([
    ["not json", "must be a JSON object"],
    ['["a"]', "must be a JSON object"],
    ['{"bad":"("}', "not a valid regular expression"],
    ['{"empty":"a*"}', "matches the empty string"],
    ['{"n":42}', "mapped to a string"],
  ])("refuses SLUICE_REDACT_PATTERNS=%s", (value, message) => {
    expect(() => redactionPolicyFromEnv({ SLUICE_REDACT_PATTERNS: value })).toThrow(InvalidObservabilityConfig);
    expect(() => redactionPolicyFromEnv({ SLUICE_REDACT_PATTERNS: value })).toThrow(message);
  });

  it("compiles /literal/flags patterns and always makes them global", () => {
    expect(compilePattern("x", "/ab/i").pattern.flags).toBe("gi");
    expect(compilePattern("x", "ab").pattern.flags).toBe("g");
  });
});

describe("redacting replacer", () => {
  it("redacts during JSON.stringify exactly as redact() does", () => {
    const value = { user: { email: "bob@example.com", token: "t" }, note: "card 4111 1111 1111 1111", n: 1 };

    const viaReplacer = JSON.parse(JSON.stringify(value, createRedactingReplacer(policy)));

    expect(viaReplacer).toEqual(redact(value, policy));
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Properties

/** A Luhn-valid card number of 13-19 digits starting with 2-6, written plain, with spaces or with dashes. */
const cardNumber = fc
  .tuple(
    fc.integer({ min: 2, max: 6 }),
    fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 11, maxLength: 17 }),
    fc.constantFrom("", " ", "-"),
  )
  .map(([first, rest, separator]) => {
    const body = `${first}${rest.join("")}`;
    for (let check = 0; check <= 9; check++) {
      const digits = `${body}${check}`;
      if (passesLuhn(digits)) return (digits.match(/.{1,4}/g) ?? []).join(separator);
    }
    throw new Error("unreachable: one check digit always passes");
  });

const emailAddress = fc
  .tuple(
    fc.stringMatching(/^[a-z][a-z0-9._+-]{0,20}$/),
    fc.stringMatching(/^[a-z0-9]{1,12}$/),
    fc.constantFrom("com", "org", "co.uk", "io"),
  )
  .map(([local, domain, tld]) => `${local}@${domain}.${tld}`);

/** Words with no digits and no e-mail characters next to the secrets, so every secret stands alone. */
const filler = fc.stringMatching(/^[A-Za-z ,;:!?()]{0,30}$/).map((text) => ` ${text} `);

const secretText = fc
  .array(fc.tuple(filler, fc.oneof(cardNumber, emailAddress)), { minLength: 1, maxLength: 4 })
  .map((parts) => ({
    text: parts.map(([before, secret]) => `${before}${secret}`).join(""),
    secrets: parts.map(([, secret]) => secret),
  }));

/** JSON-like values whose strings may hold secrets; keys avoid sensitive names so only patterns can catch them. */
const { tree } = fc.letrec<{ tree: { value: unknown; secrets: string[] } }>((tie) => ({
  tree: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    secretText.map(({ text, secrets }) => ({ value: text, secrets })),
    fc.oneof(fc.integer(), fc.boolean(), fc.constant(null)).map((value) => ({ value, secrets: [] as string[] })),
    fc.array(tie("tree"), { maxLength: 4 }).map((items) => ({
      value: items.map((item) => item.value),
      secrets: items.flatMap((item) => item.secrets),
    })),
    fc
      .dictionary(fc.constantFrom("note", "items", "detail", "body", "a", "b"), tie("tree"), { maxKeys: 4 })
      .map((entries) => ({
        value: Object.fromEntries(Object.entries(entries).map(([key, item]) => [key, item.value])),
        secrets: Object.values(entries).flatMap((item) => item.secrets),
      })),
  ),
}));

describe("redaction properties", () => {
  it("never leaves a Luhn-valid card number or an e-mail address in the output, which stays valid JSON", () => {
    fc.assert(
      fc.property(tree, ({ value, secrets }) => {
        const output = JSON.stringify(redact(value, policy));

        expect(JSON.parse(output)).toBeDefined();
        for (const secret of secrets) {
          expect(output).not.toContain(secret);
          expect(output.replace(/[ -]/g, "")).not.toContain(secret.replace(/[ -]/g, ""));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("is idempotent", () => {
    fc.assert(
      fc.property(tree, ({ value }) => {
        const once = redact(value, policy);

        expect(redact(once, policy)).toEqual(once);
      }),
      { numRuns: 200 },
    );
  });

  it("leaves text without digits, @ or sensitive key names untouched", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z .,!?]{0,200}$/), (text) => {
        expect(redact({ note: text }, policy)).toEqual({ note: text });
      }),
    );
  });

  it("recognizes every generated card and no card whose check digit is changed", () => {
    fc.assert(
      fc.property(cardNumber, fc.integer({ min: 1, max: 9 }), (card, delta) => {
        const digits = card.replace(/[ -]/g, "");
        const last = Number(digits.at(-1));
        const wrong = `${digits.slice(0, -1)}${(last + delta) % 10}`;

        expect(isCardNumber(digits)).toBe(true);
        expect(isCardNumber(wrong)).toBe(false);
      }),
    );
  });

  it("recognizes random 40-character secret keys (at least 99% of them)", () => {
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const keys = fc
      .array(fc.integer({ min: 0, max: 63 }), { minLength: 40, maxLength: 40 })
      .map((indexes) => indexes.map((i) => alphabet[i]).join(""));
    const sample = fc.sample(keys, { numRuns: 2_000, seed: 42 });

    const recognized = sample.filter(looksLikeAwsSecretKey).length;

    expect(recognized / sample.length).toBeGreaterThan(0.99);
  });
});
