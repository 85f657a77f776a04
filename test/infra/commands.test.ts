/**
 * Handler code and IAM in step: every AWS SDK command a function's bundle contains (what its handler and adapters
 * import, whether a test flow runs that branch or not) is allowed by the policy `sst deploy` attaches to its role.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as wiring from "../../infra/wiring.ts";
import { type BundledCommand, bundledCommands, commandProblems } from "../../packages/local/src/iam/bundles.ts";
import { localPolicies } from "../../packages/local/src/iam/policies.ts";
import { buildFunctions } from "../../scripts/build.ts";

const names = { app: { name: "sluice", stage: "local" }, region: "us-east-1", accountId: "000000000000" };
const outdir = mkdtempSync(path.join(os.tmpdir(), "sluice-commands-"));
const commands: Record<string, BundledCommand[]> = {};

beforeAll(async () => {
  for (const result of await buildFunctions({ outdir })) {
    if (!result.ok) throw new Error(`${result.name} did not build: ${result.error}`);
    commands[result.name] = bundledCommands(readFileSync(result.outfile, "utf8"));
  }
}, 180_000);
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

describe("every command a function's bundle can send is allowed by its policy", () => {
  const policies = localPolicies(wiring, names);

  it.each(Object.keys(wiring.functions))("%s", (name) => {
    expect(commandProblems(name, commands[name] ?? [], policies[name] as never)).toEqual([]);
  });

  it("reads the commands out of the bundles", () => {
    const sent = (fn: string) => (commands[fn] ?? []).map((c) => `${c.client}.${c.operation}`);
    expect(sent("FileMover")).toEqual(
      expect.arrayContaining(["S3Client.CopyObject", "S3Client.UploadPartCopy", "SNSClient.Publish"]),
    );
    expect(sent("DemandHydration")).toContain("DynamoDBClient.BatchWriteItem");
    expect(sent("PriceInference")).toContain("SageMakerRuntimeClient.InvokeEndpoint");
  });

  it("catches a policy one action short (DemandHydration without dynamodb:BatchWriteItem, as once deployed)", () => {
    const spec = wiring.functions.DemandHydration;
    const short = {
      ...wiring,
      functions: {
        ...wiring.functions,
        DemandHydration: {
          ...spec,
          access: {
            ...spec.access,
            DemandWindows: spec.access.DemandWindows.filter((a) => a !== "dynamodb:BatchWriteItem"),
          },
        },
      },
    };
    const policy = localPolicies(short, names).DemandHydration;
    expect(commandProblems("DemandHydration", commands.DemandHydration ?? [], policy as never)).toEqual([
      "DemandHydration can send DynamoDBClient.BatchWriteItem, which needs dynamodb:BatchWriteItem: its policy allows it nowhere",
    ]);
  });
});
