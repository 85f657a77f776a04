/**
 * infra/permissions.ts on its own (pure, no synthesis): `access` entries scoped to key prefixes, the topics' KMS key
 * for publishers, and the wiring mistakes it refuses. The deployed roles are compared with the wiring in wiring.test.ts and fixture-wiring.test.ts.
 */
import { describe, expect, it } from "vitest";
import { type ArnsOf, functionStatements } from "../../infra/permissions.ts";
import type { FunctionSpec, Wiring } from "../../infra/wiring.ts";
import * as wiring from "../../infra/wiring.ts";

const arns: ArnsOf<string> = {
  buckets: Object.fromEntries(
    Object.keys(wiring.buckets).map((b) => [b, { bucket: `arn:aws:s3:::${b}`, objects: `arn:aws:s3:::${b}/*` }]),
  ),
  topics: Object.fromEntries(Object.keys(wiring.topics).map((t) => [t, `arn:topic:${t}`])),
  topicKey: "arn:key:topics",
  streams: Object.fromEntries(Object.keys(wiring.streams).map((s) => [s, `arn:stream:${s}`])),
  tables: Object.fromEntries(
    Object.keys(wiring.tables).map((t) => [
      t,
      { table: `arn:table:${t}`, indexes: `arn:table:${t}/index/*`, stream: `arn:table:${t}/stream/1` },
    ]),
  ),
  endpoints: Object.fromEntries(Object.keys(wiring.endpoints).map((e) => [e, `arn:endpoint:${e}`])),
};

const statementsOf = (name: keyof typeof wiring.functions, spec: FunctionSpec = wiring.functions[name]) =>
  functionStatements(wiring as Wiring, name, spec, arns, `arn:dlq:${name}`);

/** A function linked to `link` with this access only. */
const withAccess = (link: string, entries: unknown[]): FunctionSpec => ({
  description: "test",
  handler: "functions/x/index.handler",
  timeout: 1,
  memory: 128,
  links: [link as never],
  access: { [link]: entries } as FunctionSpec["access"],
  triggers: [],
});

describe("access scoped to key prefixes", () => {
  it("lets the FileDeleter write only reports and continuations in the Inbox, and read only requests and reports", () => {
    const inbox = statementsOf("FileDeleter").filter((s) =>
      s.resources.some((r) => r.startsWith("arn:aws:s3:::Inbox")),
    );
    expect(inbox).toEqual([
      { actions: ["s3:ListBucket", "s3:ListBucketVersions"], resources: ["arn:aws:s3:::Inbox"] },
      { actions: ["s3:DeleteObject", "s3:DeleteObjectVersion"], resources: ["arn:aws:s3:::Inbox/*"] },
      {
        actions: ["s3:GetObject"],
        resources: ["arn:aws:s3:::Inbox/requests/delete/*", "arn:aws:s3:::Inbox/reports/delete/*"],
      },
      {
        actions: ["s3:PutObject"],
        resources: ["arn:aws:s3:::Inbox/reports/delete/*", "arn:aws:s3:::Inbox/requests/delete/.continue/*"],
      },
    ]);
  });

  it("names the prefixed objects with objectsUnder when given (Pulumi outputs in the stacks)", () => {
    const custom: ArnsOf<string> = {
      ...arns,
      buckets: { ...arns.buckets, Inbox: { bucket: "b", objects: "o", objectsUnder: (p) => `under(${p})` } },
    };
    const spec = withAccess("Inbox", [{ actions: ["s3:PutObject"], prefixes: ["a/", "b/"] }]);
    expect(functionStatements(wiring as Wiring, "F", spec, custom, "dlq")[0]).toEqual({
      actions: ["s3:PutObject"],
      resources: ["under(a/)", "under(b/)"],
    });
  });

  it.each([
    ["a prefix on a table", "Catalog", { actions: ["dynamodb:GetItem"], prefixes: ["a/"] }, /bucket objects only/],
    ["a bucket-level action", "Inbox", { actions: ["s3:ListBucket"], prefixes: ["a/"] }, /act on the bucket/],
    ["a wildcard in a prefix", "Inbox", { actions: ["s3:GetObject"], prefixes: ["a/*"] }, /without \* or \?/],
    ["an empty prefix", "Inbox", { actions: ["s3:GetObject"], prefixes: [""] }, /non-empty/],
    ["no prefixes", "Inbox", { actions: ["s3:GetObject"], prefixes: [] }, /needs actions and prefixes/],
  ])("refuses %s", (_, link, entry, message) => {
    expect(() => functionStatements(wiring as Wiring, "F", withAccess(link, [entry]), arns, "dlq")).toThrow(message);
  });
});

describe("the topics' KMS key", () => {
  it("is granted once to a function that publishes, after its links", () => {
    const statements = statementsOf("AnomalyAlert");
    expect(statements.filter((s) => s.resources.includes("arn:key:topics"))).toEqual([
      { actions: ["kms:GenerateDataKey*", "kms:Decrypt"], resources: ["arn:key:topics"] },
    ]);
  });

  it("is not granted to a function that publishes nowhere", () => {
    expect(statementsOf("SnsLogger").flatMap((s) => s.resources)).not.toContain("arn:key:topics");
    // DemandHydration reports refused events to Audit: it publishes, and so encrypts.
    expect(statementsOf("DemandHydration").flatMap((s) => s.resources)).toContain("arn:key:topics");
  });

  it.each([["sns:*"], ["sns:publish"], ["SNS:Pub*"], ["*"], ["sns:Publi?h"]])(
    "is granted to a function whose access allows sns:Publish through %s (IAM's action matching)",
    (entry) => {
      const statements = functionStatements(wiring as Wiring, "F", withAccess("Audit", [entry]), arns, "dlq");
      expect(statements.filter((s) => s.resources.includes("arn:key:topics"))).toEqual([
        { actions: ["kms:GenerateDataKey*", "kms:Decrypt"], resources: ["arn:key:topics"] },
      ]);
    },
  );

  it("is not granted for topic access that does not allow sns:Publish", () => {
    const spec = withAccess("Audit", ["sns:GetTopicAttributes", "sns:List*"]);
    const statements = functionStatements(wiring as Wiring, "F", spec, arns, "dlq");
    expect(statements.flatMap((s) => s.resources)).not.toContain("arn:key:topics");
  });

  it("must be given when a function publishes", () => {
    const { topicKey: _, ...withoutKey } = arns;
    expect(() =>
      functionStatements(wiring as Wiring, "FileMover", wiring.functions.FileMover, withoutKey, "dlq"),
    ).toThrow(/topics' KMS key/);
  });
});

describe("the CDC maintenance grants", () => {
  it("grant a cdcMaintenance function Athena on the stage's workgroup and Glue on the CDC databases, by account ARNs", () => {
    const account = {
      arn: (service: string, resource: string) => `arn:aws:${service}:eu-west-1:1:${resource}`,
      app: { name: "sluice", stage: "Prod-2" },
    };
    const statements = functionStatements(
      wiring as Wiring,
      "CdcMaintenance",
      wiring.functions.CdcMaintenance,
      { ...arns, account },
      "dlq",
    );
    expect(statements.filter((s) => s.actions.some((a) => /^(athena|glue):/.test(a)))).toEqual([
      {
        actions: ["athena:StartQueryExecution", "athena:ListQueryExecutions", "athena:BatchGetQueryExecution"],
        resources: ["arn:aws:athena:eu-west-1:1:workgroup/sluice-Prod-2-cdc-maintenance"],
      },
      {
        actions: ["glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:UpdateTable"],
        resources: [
          "arn:aws:glue:eu-west-1:1:catalog",
          "arn:aws:glue:eu-west-1:1:database/sluice_prod_2_sales",
          "arn:aws:glue:eu-west-1:1:table/sluice_prod_2_sales/*",
        ],
      },
    ]);
    expect(() => statementsOf("CdcMaintenance")).toThrow(/no account ARNs given \(CdcMaintenance maintains/);
  });
});
