/**
 * Fault injection: the spec language and the seeded draws. What a client sees through the gateway is in
 * faults.gateway.test.ts (against the fauxqs emulator).
 */
import { describe, expect, it } from "vitest";
import { createFaultInjector, describeFaults, type FaultRules, parseFaultSpec } from "./faults.ts";

describe("parseFaultSpec", () => {
  it("spreads a bare rate over every service and every kind", () => {
    const rules = parseFaultSpec("5%");
    expect(Object.keys(rules).sort()).toEqual(["dynamodb", "glue", "kinesis", "s3", "sagemaker", "sns", "sqs"]);
    expect(rules.s3).toEqual({ rate: 0.05, kinds: ["throttle", "5xx", "reset", "timeout"] });
  });

  it("reads per-service rates and kinds, later entries overriding earlier ones", () => {
    expect(parseFaultSpec("2%,s3=5%,dynamodb=10%:throttle,kinesis=0.5%:timeout+reset")).toMatchObject({
      s3: { rate: 0.05 },
      dynamodb: { rate: 0.1, kinds: ["throttle"] },
      kinesis: { rate: 0.005, kinds: ["timeout", "reset"] },
      sns: { rate: 0.02 },
    });
  });

  it.each([
    ["", /expected e.g. 5%/],
    ["5", /is not \[service=\]N%/],
    ["s4=5%", /unknown service "s4"/],
    ["s3=5%:slow", /unknown kind "slow"/],
    ["150%", /at most 100%/],
  ])("refuses %j", (spec, message) => {
    expect(() => parseFaultSpec(spec)).toThrow(message);
  });

  it("describes the rules with their seed", () => {
    expect(describeFaults(parseFaultSpec("s3=5%:throttle"), 42)).toBe("s3 5% (throttle); seed 42");
  });
});

describe("seeded draws", () => {
  it("replays the same faults for the same seed, and draws about the configured share", () => {
    const rules: FaultRules = { s3: { rate: 0.1, kinds: ["throttle", "reset"] } };
    const draws = (seed: number) => {
      const injector = createFaultInjector(rules, { seed });
      return Array.from({ length: 2000 }, () => injector.draw("s3") ?? "-");
    };
    expect(draws(7)).toEqual(draws(7));
    expect(draws(7)).not.toEqual(draws(8));
    const faulted = draws(7).filter((d) => d !== "-").length;
    expect(faulted).toBeGreaterThan(150);
    expect(faulted).toBeLessThan(250);
    expect(createFaultInjector(rules, { seed: 1 }).draw("sns")).toBeUndefined();
  });
});
