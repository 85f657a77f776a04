/**
 * The infra code paths infra/wiring.ts does not use (SNS filter policies and their scope; a Kinesis mapping from
 * LATEST with a tumbling window and a parallelization factor; a DynamoDB mapping without partial failures, retrying
 * forever; one function notified by two buckets; links with the default access), proven on a fixture wiring that
 * uses them. Also shows the checks catch a divergence: the same stacks compared with a slightly different wiring
 * must fail.
 */
import { describe, expect, it } from "vitest";
import type { Wiring } from "../../infra/wiring.ts";
import { iamProblems, linkProblems, recursionProblems, triggerProblems } from "./checks.ts";
import { fixtureWiring } from "./fixtures/wiring.ts";
import { describeDeployment } from "./suite.ts";

const deployment = describeDeployment("fixture wiring", fixtureWiring);

/** The fixture with one function replaced, as if the stacks had been built from another wiring. */
function divergent(
  name: keyof typeof fixtureWiring.functions,
  change: (spec: Record<string, unknown>) => object,
): Wiring {
  const spec = fixtureWiring.functions[name] as unknown as Record<string, unknown>;
  return { ...fixtureWiring, functions: { ...fixtureWiring.functions, [name]: change(spec) } } as unknown as Wiring;
}

describe("the checks catch a divergence between stacks and wiring", () => {
  it("a different batch size", () => {
    const wiring = divergent("FixtureAlerter", (spec) => ({
      ...spec,
      triggers: [
        {
          ...(spec.triggers as Record<string, unknown>[])[0],
          batch: { ...fixtureWiring.functions.FixtureAlerter.triggers[0].batch, batchSize: 501 },
        },
      ],
    }));
    expect(triggerProblems(wiring, deployment.synth(), "FixtureAlerter").join("\n")).toContain("stream mappings");
  });

  it("a different S3 prefix", () => {
    const wiring = divergent("FixtureDeleter", (spec) => ({
      ...spec,
      triggers: [{ ...(spec.triggers as Record<string, unknown>[])[0], filterPrefix: "requests/" }],
    }));
    expect(triggerProblems(wiring, deployment.synth(), "FixtureDeleter").join("\n")).toContain("S3 notifications");
  });

  it("a missing SNS filter policy", () => {
    const wiring = divergent("FixtureLogger", (spec) => ({
      ...spec,
      triggers: [
        { kind: "sns", topic: "Audit" },
        { kind: "sns", topic: "Alerts" },
      ],
    }));
    expect(triggerProblems(wiring, deployment.synth(), "FixtureLogger").join("\n")).toContain("SNS subscriptions");
  });

  it("a link the stacks do not grant", () => {
    const wiring = divergent("FixturePricer", (spec) => ({ ...spec, links: ["Catalog", "InferenceRequests", "Lake"] }));
    const problems = [
      ...linkProblems(wiring, deployment.synth(), "FixturePricer"),
      ...iamProblems(wiring, deployment.synth(), "FixturePricer"),
    ];
    expect(problems.join("\n")).toMatch(/links[\s\S]*role grants/);
  });

  it("a self-continuing function whose recursive loop Lambda would stop", () => {
    const wiring = divergent("FixtureDeleter", (spec) => ({ ...spec, selfContinuing: true }));
    expect(recursionProblems(wiring, deployment.synth(), "FixtureDeleter").join("\n")).toContain("recursive loop");
  });

  it("broader access than the wiring allows", () => {
    const wiring = divergent("FixtureMover", (spec) => ({
      ...spec,
      access: { ...(spec.access as object), Lake: ["s3:PutObject"] },
    }));
    expect(iamProblems(wiring, deployment.synth(), "FixtureMover").join("\n")).toContain("role grants");
  });
});
