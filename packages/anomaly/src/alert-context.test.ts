import { type AlertMessage, alertMessage, alertSummary } from "@sluice/messages";
import { describe, expect, it } from "vitest";
import { type AlertContext, rememberWindow, withContext } from "./alert-context.ts";

const MINUTE = 60_000;
const T = Date.UTC(2026, 2, 1, 6, 4);

const open: AlertMessage = {
  type: "anomaly",
  status: "open",
  site: "shop.example",
  metric: "ctr",
  windowStart: new Date(T).toISOString(),
  windowEnd: new Date(T + MINUTE).toISOString(),
  value: 0.0055,
  expected: { mean: 0.0753, low: 0.0642, high: 0.0864 },
  score: 1,
  severity: "critical",
  metrics: ["ctr", "clicks"],
};

const context: AlertContext = {
  points: [
    { metric: "impressions", value: 510, score: 0.1 },
    { metric: "clicks", value: 4, score: 0.97 },
    { metric: "ctr", value: 0.0055, score: 1 },
    { metric: "add_to_cart", value: 0, score: 0.2 },
    { metric: "purchases", value: 1, score: 0 },
  ],
  bands: {
    impressions: { mean: 500, low: 430, high: 570 },
    clicks: { mean: 41, low: 30, high: 52 },
    ctr: open.expected,
    add_to_cart: { mean: 10, low: 2, high: 18 },
    purchases: { mean: 3, low: -2, high: 8 },
  },
  recent: {
    ctr: [
      [T - 3 * MINUTE, 0.0741],
      [T - 2 * MINUTE, 0.031],
      [T - MINUTE, 0.012],
      [T, 0.0055],
    ],
    clicks: [
      [T - 3 * MINUTE, 40],
      [T - 2 * MINUTE, 10],
      [T - MINUTE, 5],
      [T, 4],
    ],
    impressions: [
      [T - 3 * MINUTE, 500],
      [T - 2 * MINUTE, 505],
      [T - MINUTE, 510],
      [T, 510],
    ],
  },
  threshold: 0.5,
};

describe("withContext", () => {
  it("adds the metric's last windows, the other metrics out of their band or anomalous, and the summary", () => {
    const alert = withContext(open, context);
    expect(alert.recent).toEqual([
      { windowStart: "2026-03-01T06:01:00.000Z", value: 0.0741 },
      { windowStart: "2026-03-01T06:02:00.000Z", value: 0.031 },
      { windowStart: "2026-03-01T06:03:00.000Z", value: 0.012 },
      { windowStart: "2026-03-01T06:04:00.000Z", value: 0.0055 },
    ]);
    // add_to_cart (0, band 2 to 18) is out of its band; impressions and purchases are inside theirs, unremarkable.
    // clicks: its 4-window average (14.75) is below the band of such an average (41 ± 11 / √4).
    expect(alert.moved).toEqual([
      {
        metric: "clicks",
        value: 4,
        expected: { mean: 41, low: 30, high: 52 },
        score: 0.97,
        average: { windows: 4, value: 14.75, low: 35.5, high: 46.5 },
      },
      { metric: "add_to_cart", value: 0, expected: { mean: 10, low: 2, high: 18 }, score: 0.2 },
    ]);
    expect(alert.summary).toEqual(alertSummary({ ...alert, summary: undefined }));
    expect(alertMessage.parse(alert)).toEqual(alert);
    // The summary comes right after what the alert is, for a person reading the JSON.
    expect(Object.keys(alert).slice(0, 5)).toEqual(["type", "status", "site", "metric", "summary"]);
    expect(Object.keys(alert).slice(0, 4)).toEqual(Object.keys(open).slice(0, 4));
  });

  it("counts a metric anomalous inside its band as moved; one without a band has nothing to be read against", () => {
    const alert = withContext(open, {
      ...context,
      points: [
        { metric: "impressions", value: 520, score: 0.6 },
        { metric: "purchases", value: 30, score: 0.1 },
        { metric: "ctr", value: 0.0055, score: 1 },
      ],
      bands: { ctr: open.expected, impressions: context.bands.impressions as never },
    });
    expect(alert.moved?.map((m) => m.metric)).toEqual(["impressions"]);
  });

  it("counts as moved a metric inside its band in every window whose average is out of the band of an average", () => {
    // A small site: 3 clicks a minute against an expected 9 is within one window's noise (9 ± 9), not for 6 windows.
    const clicks = [3, 2, 4, 3, 3, 3].map((v, i): [number, number] => [T - (5 - i) * MINUTE, v]);
    const alert = withContext(open, {
      ...context,
      points: [{ metric: "clicks", value: 3, score: 0.2 }],
      bands: { clicks: { mean: 9, low: 0, high: 18 } },
      recent: { clicks },
    });
    expect(alert.moved).toEqual([
      {
        metric: "clicks",
        value: 3,
        expected: { mean: 9, low: 0, high: 18 },
        score: 0.2,
        average: { windows: 6, value: 3, low: 5.3258, high: 12.6742 },
      },
    ]);
    const steady = withContext(open, {
      ...context,
      points: [{ metric: "clicks", value: 9, score: 0.2 }],
      bands: { clicks: { mean: 9, low: 0, high: 18 } },
      recent: { clicks: clicks.map(([t]) => [t, 9]) },
    });
    expect(steady.moved).toEqual([]);
  });

  it("says none moved on a resolved alert whose other metrics are back, and keeps the band of the incident", () => {
    const resolved: AlertMessage = { ...open, status: "resolved", value: 0.074, openedAt: open.windowStart };
    const alert = withContext(resolved, {
      ...context,
      points: [
        { metric: "clicks", value: 40, score: 0 },
        { metric: "ctr", value: 0.074, score: 0 },
      ],
      recent: { ctr: [[T, 0.074]] },
    });
    expect(alert.moved).toEqual([]);
    expect(alert.expected).toEqual(open.expected);
    expect(alert.summary?.at(-1)).toBe("Other metrics of shop.example: none moved.");
  });
});

describe("rememberWindow", () => {
  it("keeps the last n windows, oldest first", () => {
    let recent: Array<[number, number]> = [];
    for (let i = 0; i < 8; i++) recent = rememberWindow(recent, T + i * MINUTE, i, 3);
    expect(recent).toEqual([
      [T + 5 * MINUTE, 5],
      [T + 6 * MINUTE, 6],
      [T + 7 * MINUTE, 7],
    ]);
    expect(rememberWindow(undefined, T, 1, 0)).toEqual([]);
  });
});
