import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { scoreSeries } from "./backtest.ts";
import { main } from "./cli.ts";
import { parseSeriesCsv } from "./series-csv.ts";

const fixtures = path.join(import.meta.dirname, "fixtures", "series");

function outputDir(): string {
  return mkdtempSync(path.join(tmpdir(), "sluice-backtest-"));
}

function readScored(file: string): Array<{ timestamp: string; value: number; score: number }> {
  const [header, ...lines] = readFileSync(file, "utf8").trimEnd().split("\n");
  expect(header).toBe("timestamp,value,anomaly_score");
  return lines.map((line) => {
    const [timestamp, value, score] = line.split(",");
    return { timestamp: timestamp as string, value: Number(value), score: Number(score) };
  });
}

describe("backtest CLI", () => {
  it("writes <output>/<category>/<name>.csv with one scored row per input row, scores in [0, 1]", () => {
    const out = outputDir();
    expect(main(["--input-dir", fixtures, "--output-dir", out, "--quiet"])).toBe(0);
    const input = parseSeriesCsv(readFileSync(path.join(fixtures, "web", "visits.csv"), "utf8"));
    const scored = readScored(path.join(out, "web", "visits.csv"));
    expect(scored.map((r) => [r.timestamp, r.value])).toEqual(input.map((r) => [r.timestamp, r.value]));
    expect(scored.every((r) => r.score >= 0 && r.score <= 1)).toBe(true);
    expect(scored[600]?.score).toBeGreaterThanOrEqual(0.9);
  });

  it("reads CRLF files like LF files (same scores)", () => {
    const out = outputDir();
    expect(main(["--input-dir", fixtures, "--output-dir", out, "--quiet"])).toBe(0);
    expect(readScored(path.join(out, "web", "visits_crlf.csv"))).toEqual(
      readScored(path.join(out, "web", "visits.csv")),
    );
  });

  it("scores each row from the rows up to it only (a truncated file gets the same scores)", () => {
    const out = outputDir();
    main(["--input-dir", fixtures, "--output-dir", out, "--quiet"]);
    const full = readScored(path.join(out, "web", "visits.csv"));
    const input = parseSeriesCsv(readFileSync(path.join(fixtures, "web", "visits.csv"), "utf8"));
    const head = scoreSeries(input.slice(0, 601).map((r) => r.value));
    expect([...head].map((s) => Math.round(s * 1e6) / 1e6)).toEqual(full.slice(0, 601).map((r) => r.score));
  });

  it("draws an SVG per series with --plot", () => {
    const out = outputDir();
    expect(main(["--input-dir", fixtures, "--output-dir", out, "--plot", "--quiet"])).toBe(0);
    const svg = readFileSync(path.join(out, "web", "visits.svg"), "utf8");
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg).toContain("alert(s)");
    expect(svg).toContain('fill="#d62728"');
  });

  it("exits 2 with the usage when a directory is missing, 1 on an unreadable file", () => {
    expect(main(["--input-dir", fixtures])).toBe(2);
    expect(main(["--input-dir", path.join(fixtures, "nope"), "--output-dir", outputDir()])).toBe(1);
    expect(existsSync(fixtures)).toBe(true);
  });
});
