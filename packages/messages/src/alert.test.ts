import { describe, expect, it } from "vitest";
import { alertMessage } from "./alert.ts";

const open = {
  type: "anomaly",
  status: "open",
  site: "shop.example",
  metric: "ctr",
  windowStart: "2026-03-01T06:00:00.000Z",
  windowEnd: "2026-03-01T06:01:00.000Z",
  value: 0.01,
  expected: { mean: 0.1, low: 0.07, high: 0.13 },
  score: 0.93,
  severity: "critical",
  metrics: ["ctr", "clicks"],
};

describe("alert message", () => {
  it("accepts an open alert, and a resolved one naming when it opened", () => {
    expect(alertMessage.parse(open)).toEqual(open);
    const resolved = { ...open, status: "resolved", openedAt: open.windowStart };
    expect(alertMessage.parse(resolved)).toEqual(resolved);
  });

  it("refuses an unknown status or severity, and an alert without its expected band", () => {
    const parsed = alertMessage.safeParse({ ...open, status: "closed", severity: "info", expected: undefined });
    expect(parsed.error?.issues.map((i) => i.path.join("."))).toEqual(["status", "expected", "severity"]);
  });
});
