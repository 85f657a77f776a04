/** The wiring checks that run before anything is built (infra/validate.ts), on deliberately broken wirings. */
import { describe, expect, it } from "vitest";
import { functionStatements } from "../../infra/permissions.ts";
import { wiringProblems } from "../../infra/validate.ts";
import type { FunctionSpec, Trigger, Wiring } from "../../infra/wiring.ts";
import * as wiring from "../../infra/wiring.ts";
import { fixtureWiring } from "./fixtures/wiring.ts";

/** A function with sensible defaults, overridden by `spec`. */
function fn(spec: Partial<FunctionSpec> & { triggers: readonly Trigger[] }): FunctionSpec {
  return {
    description: "test",
    handler: "functions/test/index.handler",
    timeout: 10,
    memory: 128,
    links: [],
    async: wiring.asyncDefaults,
    ...spec,
  };
}

function withFunctions(functions: Record<string, FunctionSpec>): Wiring {
  return { ...wiring, functions };
}

describe("wiringProblems", () => {
  it("accepts infra/wiring.ts and the fixture wiring", () => {
    expect(wiringProblems(wiring)).toEqual([]);
    expect(wiringProblems(fixtureWiring)).toEqual([]);
  });

  it("refuses a reserved concurrency that is not a whole number >= 1", () => {
    const problems = wiringProblems(
      withFunctions({
        Zero: fn({ reservedConcurrency: 0, triggers: [] }),
        Half: fn({ reservedConcurrency: 1.5, triggers: [] }),
        Two: fn({ reservedConcurrency: 2, triggers: [] }),
      }),
    );
    expect(problems).toEqual([
      "Zero's reservedConcurrency must be a whole number >= 1 (0 would never run it)",
      "Half's reservedConcurrency must be a whole number >= 1 (0 would never run it)",
    ]);
  });

  it("refuses S3 notifications S3 would find ambiguous (shared events, overlapping prefix and suffix)", () => {
    const problems = wiringProblems(
      withFunctions({
        A: fn({ triggers: [{ kind: "s3", bucket: "Inbox", events: ["s3:ObjectCreated:*"], filterPrefix: "in/" }] }),
        B: fn({
          triggers: [{ kind: "s3", bucket: "Inbox", events: ["s3:ObjectCreated:Put"], filterPrefix: "in/sub/" }],
        }),
      }),
    );
    expect(problems).toEqual([expect.stringContaining("Inbox: the notifications of A and B overlap")]);
  });

  it.each([
    ["different prefixes", { filterPrefix: "a/" }, { filterPrefix: "b/" }, ["s3:ObjectCreated:*"]],
    ["different suffixes", { filterSuffix: ".csv" }, { filterSuffix: ".json" }, ["s3:ObjectCreated:*"]],
  ] as const)("accepts notifications on one bucket with %s", (_, a, b, events) => {
    const problems = wiringProblems(
      withFunctions({
        A: fn({ triggers: [{ kind: "s3", bucket: "Inbox", events, ...a }] }),
        B: fn({ triggers: [{ kind: "s3", bucket: "Inbox", events, ...b }] }),
      }),
    );
    expect(problems).toEqual([]);
  });

  it("accepts overlapping filters on different event families", () => {
    const problems = wiringProblems(
      withFunctions({
        A: fn({ triggers: [{ kind: "s3", bucket: "Inbox", events: ["s3:ObjectCreated:*"] }] }),
        B: fn({ triggers: [{ kind: "s3", bucket: "Inbox", events: ["s3:ObjectRemoved:*"] }] }),
      }),
    );
    expect(problems).toEqual([]);
  });

  it("refuses an async trigger without async config, and a table trigger without a stream", () => {
    const problems = wiringProblems(
      withFunctions({
        A: fn({ async: undefined, triggers: [{ kind: "sns", topic: "Audit" }] }),
        B: fn({ triggers: [{ kind: "dynamodb", table: "Catalog", batch: wiring.streamDefaults }] }),
      }),
    );
    expect(problems).toEqual([
      "A has an sns trigger but no async config (retries, event age)",
      "B is triggered by table Catalog, which has no stream",
    ]);
  });

  it("refuses batch options outside AWS's ranges", () => {
    const batch = {
      ...wiring.streamDefaults,
      batchSize: 0,
      maximumRecordAgeInSeconds: 30,
      tumblingWindowInSeconds: 901,
      parallelizationFactor: 11,
    };
    const problems = wiringProblems(
      withFunctions({ A: fn({ triggers: [{ kind: "kinesis", stream: "Clickstream", batch }] }) }),
    );
    expect(problems).toEqual([
      "A's Clickstream mapping: batchSize must be 1-10000",
      "A's Clickstream mapping: maximumRecordAgeInSeconds must be -1 or 60-604800",
      "A's Clickstream mapping: tumblingWindowInSeconds must be 1-900",
      "A's Clickstream mapping: parallelizationFactor must be 1-10",
    ]);
  });

  it("refuses a function named like a resource or like another function's dead-letter queue", () => {
    const problems = wiringProblems(
      withFunctions({ Inbox: fn({ triggers: [] }), A: fn({ triggers: [] }), ADlq: fn({ triggers: [] }) }),
    );
    expect(problems).toEqual([
      '"Inbox" names both a bucket and a function: SST component names must be unique',
      '"ADlq" names both the dead-letter queue of A and a function: SST component names must be unique',
    ]);
  });

  it("refuses a catalog over a bucket the wiring does not define, or named like another component", () => {
    const problems = wiringProblems({
      ...wiring,
      catalogs: {
        Lake: { bucket: "Curated", tables: "config/cdc-tables.json" },
        Tables: { bucket: "Nowhere" as never, tables: "x" },
      },
    });
    expect(problems).toEqual([
      '"Lake" names both a bucket and a catalog: SST component names must be unique',
      "catalog Tables keeps its tables in unknown bucket Nowhere",
    ]);
  });
});

describe("functionStatements", () => {
  const arns = {
    buckets: { Lake: { bucket: "lake", objects: "lake/*" } },
    topics: {},
    streams: {},
    tables: {},
    endpoints: {},
  };

  it("refuses access to a resource the function is not linked to", () => {
    const spec = fn({ links: [], access: { Lake: ["s3:GetObject"] }, triggers: [] });
    expect(() => functionStatements(wiring, "A", spec, arns, "dlq")).toThrow(/not one of its links/);
  });

  it("splits bucket-level and object-level S3 actions", () => {
    const spec = fn({
      links: ["Lake"],
      access: { Lake: ["s3:ListBucketVersions", "s3:DeleteObjectVersion"] },
      triggers: [],
    });
    expect(functionStatements(wiring, "A", spec, arns, "dlq")).toEqual([
      { actions: ["s3:ListBucketVersions"], resources: ["lake"] },
      { actions: ["s3:DeleteObjectVersion"], resources: ["lake/*"] },
      { actions: ["sqs:SendMessage"], resources: ["dlq"] },
    ]);
  });
});
