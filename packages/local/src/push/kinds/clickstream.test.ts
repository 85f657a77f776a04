import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { runPush } from "../cli.ts";

const dir = mkdtempSync(path.join(tmpdir(), "sluice-push-clickstream-"));

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    env: { SLUICE_STATE_DIR: path.join(dir, "no-cloud") },
    cwd: dir,
    stdout: { write: (t: string) => out.push(t) },
    stderr: { write: (t: string) => err.push(t), isTTY: false },
    out: () => out.join(""),
    err: () => err.join(""),
  };
}

describe("pnpm push clickstream", () => {
  it("documents its options and incident kinds", async () => {
    const run = io();
    expect(await runPush(["clickstream", "--help"], run)).toBe(0);
    expect(run.out()).toMatch(/^Usage: pnpm push clickstream --sites 3 --rate <events\/s> --duration <time>/);
    expect(run.out()).toContain("ctr-collapse, traffic-spike, traffic-drop");
  });

  it.each([
    [["--rate", "0"], "--rate must be a number of events per second > 0"],
    [["--sites", "two"], "--sites must be a whole number >= 1"],
    [["--duration", "soon"], '"soon" is not a duration'],
    [["--start", "yesterday"], '"yesterday" is not an ISO-8601 time'],
    [["--anomaly", "meteor@+1h"], "kind one of ctr-collapse, traffic-spike, traffic-drop"],
    [["--anomaly", "traffic-drop@+1h@nowhere.example"], "site nowhere.example is not one of"],
  ])("exits 2 on %j before needing a cloud", async (args, message) => {
    const run = io();
    expect(await runPush(["clickstream", ...args], run)).toBe(2);
    expect(run.err()).toContain(message);
  });
});
