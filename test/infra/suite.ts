/**
 * The wiring test suite: synthesizes the stacks for a wiring under Pulumi mocks (once per file) and checks every
 * function, bucket and data resource against the wiring. Used for infra/wiring.ts and for the fixture wiring.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { alarmTopicName } from "../../infra/app.ts";
import type { Wiring } from "../../infra/wiring.ts";
import {
  alarmProblems,
  bucketProblems,
  dataProblems,
  deadLetterProblems,
  expectedRuntime,
  functionConfigProblems,
  iamProblems,
  linkProblems,
  recursionProblems,
  strayTriggerProblems,
  topicKeyProblems,
  topicProblems,
  triggerProblems,
} from "./checks.ts";
import { repoRoot, type Synth, synthesize } from "./harness.ts";

/** The Node major the local cloud runs handlers on (root package.json), which the Lambda runtime must match. */
export function localNodeVersion(): string {
  const pkg = JSON.parse(readFileSync(path.join(repoRoot, "package.json"), "utf8"));
  return pkg.devDependencies.node as string;
}

/**
 * Declares the suite for `wiring`. `program` is what builds the stacks; default `deploySluice(wiring)`.
 * Returns an accessor to the synthesized stacks for extra checks.
 */
export function describeDeployment(
  label: string,
  wiring: Wiring,
  program?: Parameters<typeof synthesize>[1],
): { synth: () => Synth } {
  let synth: Synth;
  const runtime = expectedRuntime(localNodeVersion());
  const alarmTopic = alarmTopicName in wiring.topics ? alarmTopicName : undefined;

  beforeAll(async () => {
    synth = await synthesize(wiring, program);
  }, 180_000);

  describe(`${label}: data resources`, () => {
    it("creates exactly the wiring's buckets, topics, streams, tables and functions, as wired", () => {
      expect(dataProblems(wiring, synth)).toEqual([]);
    });

    it.each(Object.keys(wiring.buckets))(
      "bucket %s is encrypted, private, TLS-only, versioned as wired, and aborts incomplete multipart uploads",
      (name) => {
        expect(bucketProblems(wiring, synth, name)).toEqual([]);
      },
    );

    it.each(Object.keys(wiring.topics))(
      "topic %s is encrypted with the stage's key and takes publishes over TLS only",
      (name) => {
        expect(topicProblems(synth, name)).toEqual([]);
      },
    );

    it("the topics' key rotates, is administered by the account, and this account's CloudWatch alarms may use it", () => {
      expect(topicKeyProblems(synth)).toEqual([]);
    });

    it("triggers nothing the wiring does not list", () => {
      expect(strayTriggerProblems(wiring, synth)).toEqual([]);
    });
  });

  describe.each(Object.keys(wiring.functions))(`${label}: function %s`, (name) => {
    it(`runs the wired handler on ${runtime} with the wired timeout, memory and environment`, () => {
      expect(functionConfigProblems(wiring, synth, name, runtime)).toEqual([]);
    });

    it("is linked to exactly its wired resources, with the properties Resource.<Name> exposes", () => {
      expect(linkProblems(wiring, synth, name)).toEqual([]);
    });

    it("is subscribed to exactly its triggers, with the wired filters and batch options", () => {
      expect(triggerProblems(wiring, synth, name)).toEqual([]);
    });

    it("may invoke itself through its trigger without Lambda stopping the loop only if wired self-continuing", () => {
      expect(recursionProblems(wiring, synth, name)).toEqual([]);
    });

    it("fails over to its dead-letter queue", () => {
      expect(deadLetterProblems(wiring, synth, name)).toEqual([]);
    });

    it("has alarms on dead letters (waiting and new), failed deliveries to them, throttles, and stream records waiting", () => {
      expect(alarmProblems(wiring, synth, name, alarmTopic)).toEqual([]);
    });

    it("may do only what its links, triggers and dead-letter queue need", () => {
      expect(iamProblems(wiring, synth, name)).toEqual([]);
    });
  });

  return { synth: () => synth };
}
