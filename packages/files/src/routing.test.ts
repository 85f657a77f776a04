import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InvalidRoutingRules } from "./errors.ts";
import { globToRegExp, renderKeyTemplate, routeObject, tokenValues, validateRoutingRules } from "./routing.ts";
import { defaultRoutingRules } from "./rules.ts";

const at = new Date("2026-11-23T23:59:59.999Z");
const route = (key: string, extra: { size?: number; contentType?: string; eventTime?: Date } = {}) =>
  routeObject(defaultRoutingRules, {
    key,
    size: extra.size ?? 10,
    eventTime: extra.eventTime ?? at,
    ...(extra.contentType ? { contentType: extra.contentType } : {}),
  });

/** A path segment: no slash, not empty. */
const segment = fc.string({ unit: "grapheme", minLength: 1, maxLength: 20 }).filter((s) => !s.includes("/"));
/** A relative path of segments (a file, possibly in sub-folders). */
const relativePath = fc.array(segment, { minLength: 1, maxLength: 4 }).map((parts) => parts.join("/"));
const eventTime = fc.date({
  min: new Date("2000-01-01T00:00:00Z"),
  max: new Date("2099-12-31T23:59:59Z"),
  noInvalidDate: true,
});

describe("default routing rules", () => {
  it.each([
    ["incoming/orders/2026/11/a.csv", "raw/orders/dt=2026-11-23/2026/11/a.csv", "dataset"],
    ["incoming/orders/a b+c%20.csv", "raw/orders/dt=2026-11-23/a b+c%20.csv", "dataset"],
    ["incoming/café/日本.json", "raw/café/dt=2026-11-23/日本.json", "dataset"],
    ["incoming/top.csv", "raw/_unsorted/dt=2026-11-23/top.csv", "unsorted"],
    ["incoming/.hidden", "raw/_unsorted/dt=2026-11-23/.hidden", "unsorted"],
  ])("%s -> %s", (key, expected, rule) => {
    expect(route(key)).toEqual({ rule, rulesVersion: 1, bucket: "Lake", key: expected });
  });

  it.each(["incoming/", "incoming/orders/", "incoming//x.csv", "other/x.csv", "incoming"])(
    "does not route %s",
    (key) => {
      expect(route(key)).toBeUndefined();
    },
  );

  it("partitions by the event time in UTC, not local time", () => {
    expect(route("incoming/a.csv", { eventTime: new Date("2026-01-01T00:30:00+02:00") })?.key).toBe(
      "raw/_unsorted/dt=2025-12-31/a.csv",
    );
  });

  it("files every nested key under its dataset, keeping the rest exactly (property)", () => {
    fc.assert(
      fc.property(segment, relativePath, eventTime, (dataset, rest, time) => {
        const routed = routeObject(defaultRoutingRules, {
          key: `incoming/${dataset}/${rest}`,
          size: 1,
          eventTime: time,
        });
        const day = time.toISOString().slice(0, 10);
        expect(routed).toEqual({
          rule: "dataset",
          rulesVersion: 1,
          bucket: "Lake",
          key: `raw/${dataset}/dt=${day}/${rest}`,
        });
      }),
      { numRuns: 500 },
    );
  });

  it("files every top-level key under _unsorted by its name (property)", () => {
    fc.assert(
      fc.property(segment, eventTime, (name, time) => {
        const routed = routeObject(defaultRoutingRules, { key: `incoming/${name}`, size: 0, eventTime: time });
        expect(routed?.key).toBe(`raw/_unsorted/dt=${time.toISOString().slice(0, 10)}/${name}`);
      }),
    );
  });
});

describe("key templates", () => {
  it("renders every token", () => {
    const values = tokenValues({
      key: "incoming/sales/eu/q4.report.csv",
      size: 1,
      eventTime: new Date("2026-03-04T05:06:07Z"),
    });
    expect(values).toEqual({
      dataset: "sales",
      path: "eu/q4.report.csv",
      name: "q4.report.csv",
      stem: "q4.report",
      ext: "csv",
      key: "incoming/sales/eu/q4.report.csv",
      yyyy: "2026",
      mm: "03",
      dd: "04",
      hh: "05",
    });
    expect(renderKeyTemplate("{dataset}/year={yyyy}/month={mm}/day={dd}/hour={hh}/{stem}.{ext}", values)).toBe(
      "sales/year=2026/month=03/day=04/hour=05/q4.report.csv",
    );
  });

  it("is deterministic and only replaces tokens: literal text survives (property)", () => {
    const literal = fc.string({ maxLength: 10 }).filter((s) => !/[{}]/.test(s));
    fc.assert(
      fc.property(literal, literal, segment, relativePath, eventTime, (a, b, dataset, rest, time) => {
        const values = tokenValues({ key: `incoming/${dataset}/${rest}`, size: 1, eventTime: time });
        const rendered = renderKeyTemplate(`${a}{dataset}${b}{path}`, values);
        expect(rendered).toBe(`${a}${dataset}${b}${rest}`);
        expect(renderKeyTemplate(`${a}{dataset}${b}{path}`, values)).toBe(rendered);
      }),
    );
  });

  it("date tokens are the zero-padded UTC parts of the event time (property)", () => {
    fc.assert(
      fc.property(eventTime, (time) => {
        const values = tokenValues({ key: "incoming/x", size: 1, eventTime: time });
        expect(`${values.yyyy}-${values.mm}-${values.dd}T${values.hh}`).toBe(time.toISOString().slice(0, 13));
      }),
    );
  });

  it("does not apply a rule whose path token renders empty", () => {
    const values = tokenValues({ key: "incoming/top.csv", size: 1, eventTime: at });
    expect(renderKeyTemplate("raw/{dataset}/{name}", values)).toBeUndefined();
  });
});

describe("globs", () => {
  it.each([
    ["incoming/*", "incoming/a.csv", true],
    ["incoming/*", "incoming/a/b.csv", false],
    ["incoming/**", "incoming/a/b.csv", true],
    ["incoming/*/**.csv", "incoming/a/b/c.csv", true],
    ["incoming/?.csv", "incoming/a.csv", true],
    ["incoming/?.csv", "incoming/ab.csv", false],
    ["incoming/(x)+[y].csv", "incoming/(x)+[y].csv", true],
  ])("%s matches %s: %s", (glob, key, expected) => {
    expect(globToRegExp(glob).test(key)).toBe(expected);
  });
});

describe("rule matching", () => {
  const rules = validateRoutingRules(
    {
      version: 2,
      rules: [
        {
          name: "big-parquet",
          match: { prefix: "incoming/", suffix: ".parquet", minSize: 1000 },
          destination: { bucket: "Lake", key: "parquet/{name}", storageClass: "INTELLIGENT_TIERING" },
        },
        {
          name: "json",
          match: { contentTypes: ["application/json"] },
          destination: { bucket: "Lake", key: "json/{name}" },
        },
      ],
    },
    { sourceBucket: "Inbox", destinations: ["Lake"] },
  );

  it("matches suffix and size, in rule order, and carries the storage class", () => {
    expect(routeObject(rules, { key: "incoming/a.parquet", size: 1000, eventTime: at })).toMatchObject({
      rule: "big-parquet",
      key: "parquet/a.parquet",
      storageClass: "INTELLIGENT_TIERING",
    });
    expect(routeObject(rules, { key: "incoming/a.parquet", size: 999, eventTime: at })).toBeUndefined();
  });

  it("matches content types without their parameters, and never an unknown content type", () => {
    expect(
      routeObject(rules, { key: "x.txt", size: 1, contentType: "Application/JSON; charset=utf-8", eventTime: at })
        ?.rule,
    ).toBe("json");
    expect(routeObject(rules, { key: "x.txt", size: 1, eventTime: at })).toBeUndefined();
  });
});

describe("validateRoutingRules", () => {
  const context = { sourceBucket: "Inbox", destinations: ["Lake"] };
  const rule = (destination: object, match: object = { prefix: "incoming/" }) => ({
    version: 1,
    rules: [{ name: "r", match, destination }],
  });

  it("accepts the default rules", () => {
    expect(validateRoutingRules(defaultRoutingRules, context)).toEqual(defaultRoutingRules);
  });

  it.each([
    ["an unknown token", rule({ bucket: "Lake", key: "{year}/{name}" }), /unknown token \{year\}/],
    ["the source bucket", rule({ bucket: "Inbox", key: "{name}" }), /the bucket the mover is triggered by/],
    ["an unlinked bucket", rule({ bucket: "Curated", key: "{name}" }), /not one of the mover's destinations/],
    ["a rule matching everything", rule({ bucket: "Lake", key: "{name}" }, {}), /matches everything/],
    ["a bad shape", { version: 0, rules: [] }, /routing rules/],
    ["an unknown field", rule({ bucket: "Lake", key: "{name}", acl: "public-read" }), /routing rules/],
  ])("refuses %s", (_, input, message) => {
    expect(() => validateRoutingRules(input, context)).toThrow(InvalidRoutingRules);
    expect(() => validateRoutingRules(input, context)).toThrow(message);
  });
});
