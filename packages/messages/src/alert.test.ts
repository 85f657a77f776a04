import { describe, expect, it } from "vitest";
import { alertMessage, alertSummary, averageBand, bandDistance, bandPosition } from "./alert.ts";

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

describe("alert context and summary", () => {
  const withContext = alertMessage.parse({
    ...open,
    site: "shop.example",
    windowStart: "2026-03-01T06:04:00.000Z",
    windowEnd: "2026-03-01T06:05:00.000Z",
    value: 0.0055,
    expected: { mean: 0.0753, low: 0.0642, high: 0.0864 },
    score: 1,
    recent: [
      { windowStart: "2026-03-01T06:00:00.000Z", value: 0.0741 },
      { windowStart: "2026-03-01T06:01:00.000Z", value: 0.09 },
      { windowStart: "2026-03-01T06:02:00.000Z", value: 0.031 },
      { windowStart: "2026-03-01T06:03:00.000Z", value: 0.012 },
      { windowStart: "2026-03-01T06:04:00.000Z", value: 0.0055 },
    ],
    moved: [
      {
        metric: "clicks",
        value: 4,
        expected: { mean: 41, low: 30, high: 52 },
        score: 0.97,
        average: { windows: 5, value: 6.2, low: 36.1, high: 45.9 },
      },
    ],
  });

  it("accepts the last windows, the metrics that moved and the summary, and refuses a moved metric without its band", () => {
    const alert = { ...withContext, summary: ["a line"] };
    expect(alertMessage.parse(alert)).toEqual(alert);
    const parsed = alertMessage.safeParse({ ...withContext, moved: [{ metric: "clicks", value: 4, score: 1 }] });
    expect(parsed.error?.issues.map((i) => i.path.join("."))).toEqual(["moved.0.expected"]);
  });

  it("says what opened, each recent window against the band, and what else moved", () => {
    expect(alertSummary(withContext)).toEqual([
      "OPEN critical: ctr on shop.example was 0.0055 in 2026-03-01 06:04-06:05 UTC, below its expected band 0.0642 to 0.0864, -93% from its mean 0.0753 (score 1).",
      "Anomalous together: ctr, clicks.",
      "ctr, last 5 windows against its band 0.0642 to 0.0864:",
      "  06:00  0.0741",
      "  06:01  0.09  above",
      "  06:02  0.031  below",
      "  06:03  0.012  below",
      "  06:04  0.0055  below",
      "  on average 0.04252, below the band 0.0703 to 0.0803 of a 5-window average",
      "Other metrics of shop.example that moved:",
      "  clicks 4, below its expected band 30 to 52, -90% from its mean 41; 6.2 on average over 5 windows, below the band 36.1 to 45.9 of a 5-window average (score 0.97)",
    ]);
  });

  it("says when a resolved incident opened and that nothing else moved; leaves out what the alert does not carry", () => {
    const resolved = alertMessage.parse({
      ...withContext,
      status: "resolved",
      windowStart: "2026-03-01T06:40:00.000Z",
      windowEnd: "2026-03-01T06:41:00.000Z",
      value: 0.074,
      openedAt: "2026-03-01T06:04:00.000Z",
      recent: [{ windowStart: "2026-03-01T06:40:00.000Z", value: 0.074 }],
      moved: [],
    });
    expect(alertSummary(resolved)).toEqual([
      "RESOLVED critical: ctr on shop.example, opened 2026-03-01 06:04 UTC; 0.074 in 2026-03-01 06:40-06:41 UTC, within its expected band 0.0642 to 0.0864, -2% from its mean 0.0753.",
      "ctr, last 1 windows against its band 0.0642 to 0.0864:",
      "  06:40  0.074",
      "Other metrics of shop.example: none moved.",
    ]);
    const bare = alertMessage.parse({ ...open, metrics: ["ctr"], expected: { mean: 0, low: -1, high: 1 }, value: 3 });
    expect(alertSummary(bare)).toEqual([
      "OPEN critical: ctr on shop.example was 3 in 2026-03-01 06:00-06:01 UTC, above its expected band -1 to 1 (score 0.93).",
    ]);
    // A value that is the mean of the last windows says so, and lists the windows without placing them against the
    // band of a mean.
    const averaged = alertMessage.parse({
      ...bare,
      windows: 2,
      recent: [
        { windowStart: "2026-03-01T05:59:00.000Z", value: 2 },
        { windowStart: "2026-03-01T06:00:00.000Z", value: 4 },
      ],
    });
    expect(alertSummary(averaged)).toEqual([
      "OPEN critical: ctr on shop.example averaged 3 over the 2 windows to 2026-03-01 06:00-06:01 UTC, above its expected band -1 to 1 (score 0.93).",
      "ctr, last 2 windows:",
      "  05:59  2",
      "  06:00  4",
    ]);
  });

  it("places values against a band, and measures how far out in half-widths", () => {
    const band = { mean: 10, low: 8, high: 12 };
    expect([7, 8, 10, 12, 13].map((v) => bandPosition(v, band))).toEqual([
      "below",
      "within",
      "within",
      "within",
      "above",
    ]);
    expect([4, 9, 16].map((v) => bandDistance(v, band))).toEqual([2, 0, 2]);
    // An average of 4 windows is twice as precise as one window.
    expect(averageBand(band, 4)).toEqual({ mean: 10, low: 9, high: 11 });
    expect(averageBand(band, 1)).toEqual(band);
  });
});
