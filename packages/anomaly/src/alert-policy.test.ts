import type { AlertMessage } from "@sluice/messages";
import { describe, expect, it } from "vitest";
import {
  applySitePolicy,
  DEFAULT_POLICY,
  emptySitePolicy,
  type MetricPoint,
  type SitePolicyState,
} from "./alert-policy.ts";

const MIN = 60_000;
const T0 = Date.UTC(2026, 2, 1, 0, 0, 0);

/** Runs windows (each a list of metric points) through the policy; returns the messages with their window index. */
function run(windows: MetricPoint[][]) {
  let state: SitePolicyState = emptySitePolicy();
  const messages: Array<{ at: number; message: AlertMessage }> = [];
  windows.forEach((points, at) => {
    const result = applySitePolicy(state, {
      site: "a.example",
      windowStart: T0 + at * MIN,
      windowEnd: T0 + (at + 1) * MIN,
      points,
    });
    state = result.state;
    if (result.message) messages.push({ at, message: result.message });
  });
  return { messages, state };
}

function window(ctr: number, ctrScore: number, clicks = 10, clicksScore = 0.01): MetricPoint[] {
  return [
    { metric: "ctr", value: ctr, score: ctrScore },
    { metric: "clicks", value: clicks, score: clicksScore },
  ];
}
const normal = (n: number) => Array.from({ length: n }, (_, i) => window(0.1 + (i % 3) * 0.002, 0.05, 10 + (i % 3)));

describe("applySitePolicy", () => {
  it("opens once per incident (however many metrics move), stays silent, resolves once when back", () => {
    const incident = [
      window(0.01, 0.95, 1, 0.7),
      window(0.01, 0.6, 1, 0.8), // still anomalous: no repeat
      // Scores back to 0 (the detector rests) but values still abnormal: not resolved.
      ...Array.from({ length: 6 }, () => window(0.011, 0, 1, 0)),
    ];
    const { messages, state } = run([...normal(50), ...incident, ...normal(10)]);
    // Back at 60: the mean CTR of windows 56-60 (0.011, 0.011, 0.1, 0.102, 0.104 = 0.066) has come more than halfway
    // from 0.01 back to its baseline (about 0.101); clicks likewise.
    expect(messages.map((m) => [m.at, m.message.status])).toEqual([
      [50, "open"],
      [60, "resolved"],
    ]);
    const open = messages[0]?.message as AlertMessage;
    expect(open).toMatchObject({
      type: "anomaly",
      status: "open",
      site: "a.example",
      metric: "ctr",
      metrics: ["ctr", "clicks"],
      windowStart: new Date(T0 + 50 * MIN).toISOString(),
      windowEnd: new Date(T0 + 51 * MIN).toISOString(),
      value: 0.01,
      score: 0.95,
      severity: "critical",
    });
    expect(open.expected.low).toBeLessThan(0.1);
    expect(open.expected.high).toBeGreaterThan(0.104);
    expect(messages[1]?.message).toMatchObject({
      status: "resolved",
      metric: "ctr",
      openedAt: open.windowStart,
      expected: open.expected,
    });
    expect(state.incident).toBeNull();
  });

  it("sends nothing for scores under the threshold", () => {
    expect(run([...normal(30), window(0.2, 0.49), ...normal(5)]).messages).toEqual([]);
  });

  it("does not learn the incident's values into the baselines", () => {
    const before = run(normal(50)).state;
    const during = run([...normal(50), window(5, 1), window(5, 0), window(5, 0)]).state;
    expect(during.baselines).toEqual(before.baselines);
  });

  it("resolves after a long quiet spell even if the values found a new level", () => {
    const moved = Array.from({ length: DEFAULT_POLICY.resolveAfterQuietWindows }, () => window(0.3, 0));
    const { messages } = run([...normal(40), window(0.3, 1), ...moved]);
    expect(messages.map((m) => [m.at, m.message.status])).toEqual([
      [40, "open"],
      [40 + DEFAULT_POLICY.resolveAfterQuietWindows, "resolved"],
    ]);
  });

  it("a second incident after a resolution opens a new alert", () => {
    const { messages } = run([...normal(40), window(1, 1), ...normal(6), window(1, 1), ...normal(6)]);
    expect(messages.map((m) => m.message.status)).toEqual(["open", "resolved", "open", "resolved"]);
  });
});
