import { describe, expect, it } from "vitest";
import { UnknownResource } from "./errors.ts";
import { componentsOf, resolveResource } from "./resources.ts";

/** What `sst shell --stage dev` puts in the environment (physical names are SST's, with suffixes). */
const stageEnv = {
  SST_RESOURCE_App: JSON.stringify({ name: "sluice", stage: "dev" }),
  SST_RESOURCE_Inbox: JSON.stringify({ name: "sluice-dev-inboxbucket-wbsmzxka", type: "sst.aws.Bucket" }),
  SST_RESOURCE_Lake: JSON.stringify({ name: "sluice-dev-lakebucket-ajcmxhdr", type: "sst.aws.Bucket" }),
  SST_RESOURCE_Audit: JSON.stringify({
    arn: "arn:aws:sns:eu-west-1:123456789012:sluice-dev-AuditTopic-xyz",
    type: "sst.aws.SnsTopic",
  }),
  SST_RESOURCE_Clickstream: JSON.stringify({ name: "sluice-dev-ClickstreamStream-abc", type: "sst.aws.KinesisStream" }),
  SST_RESOURCE_Catalog: JSON.stringify({ name: "sluice-dev-CatalogTable-def", type: "sst.aws.Dynamo" }),
  SST_RESOURCE_Untyped: JSON.stringify({ name: "legacy-bucket" }),
  SST_RESOURCE_Broken: "{not json",
};

describe("resolveResource", () => {
  it.each([
    ["bucket", "Inbox", "sluice-dev-inboxbucket-wbsmzxka"],
    ["topic", "Audit", "arn:aws:sns:eu-west-1:123456789012:sluice-dev-AuditTopic-xyz"],
    ["stream", "Clickstream", "sluice-dev-ClickstreamStream-abc"],
    ["table", "Catalog", "sluice-dev-CatalogTable-def"],
    ["bucket", "Untyped", "legacy-bucket"],
  ] as const)("%s %s -> %s", (kind, component, physical) => {
    const resolved = resolveResource(stageEnv, kind, component);

    expect(resolved).toMatchObject({ kind, component, physical });
  });

  it("names the resources of that kind when the name is unknown, and the likely one when only the case differs", () => {
    expect(() => resolveResource(stageEnv, "bucket", "Outbox", "stage dev")).toThrow(
      new UnknownResource('no bucket named "Outbox" in stage dev; buckets there: Inbox, Lake, Untyped'),
    );
    expect(() => resolveResource(stageEnv, "bucket", "inbox")).toThrow(/did you mean Inbox\?/);
  });

  it("refuses a resource of another kind", () => {
    expect(() => resolveResource(stageEnv, "bucket", "Audit")).toThrow(
      /"Audit" is a sst\.aws\.SnsTopic, not a bucket; buckets there: Inbox, Lake, Untyped/,
    );
    expect(() => resolveResource(stageEnv, "topic", "Inbox")).toThrow(/not a topic; topics there: Audit/);
  });

  it("reports a link that is not JSON", () => {
    expect(() => resolveResource(stageEnv, "bucket", "Broken")).toThrow(/SST_RESOURCE_Broken is not JSON/);
  });

  it("says when there is no resource of a kind at all", () => {
    expect(() => resolveResource({}, "stream", "Clickstream")).toThrow(/there are no streams there/);
  });
});

describe("componentsOf", () => {
  it("lists the component names of one kind, by SST type or (untyped links) by property", () => {
    expect(componentsOf(stageEnv, "bucket")).toEqual(["Inbox", "Lake", "Untyped"]);
    expect(componentsOf(stageEnv, "topic")).toEqual(["Audit"]);
    // An untyped `{"name"}` link could be a bucket, a stream or a table: it is offered for each.
    expect(componentsOf(stageEnv, "table")).toEqual(["Catalog", "Untyped"]);
  });
});
