import { spawn } from "node:child_process";
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, truncateSync, unlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { functions } from "@sluice/infra/wiring";
import { afterAll, describe, expect, it } from "vitest";
import { runMarker } from "../runtime/run-marker.ts";
import { followFile, formatLogLine, runLogs, tailLines } from "./logs.ts";

const dir = mkdtempSync(path.join(os.tmpdir(), "sluice-logs-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Resolves once `predicate` holds, polling (the follower polls the file every few ms). */
async function until(predicate: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const lines = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `line ${from + i}`);

describe("tailLines", () => {
  it("returns the last N complete lines and where they end", () => {
    const file = path.join(dir, "tail.log");
    writeFileSync(file, `${lines(1, 50).join("\n")}\npartial`);

    const tail = tailLines(file, 3);

    expect(tail.lines).toEqual(["line 48", "line 49", "line 50"]);
    expect(tail.partial).toBe("partial");
    expect(tail.position).toBe(Buffer.byteLength(`${lines(1, 50).join("\n")}\n`));
  });

  it("reads backwards across chunks of a big file, and handles short files", () => {
    const file = path.join(dir, "big.log");
    writeFileSync(file, `${lines(1, 20_000).join("\n")}\n`);
    const short = path.join(dir, "short.log");
    writeFileSync(short, "only\n");

    expect(tailLines(file, 2).lines).toEqual(["line 19999", "line 20000"]);
    expect(tailLines(file, 0).lines).toEqual([]);
    expect(tailLines(short, 10).lines).toEqual(["only"]);
  });
});

describe("followFile", () => {
  it("emits appended lines, and keeps following through truncation and recreation (tail -F)", async () => {
    const file = path.join(dir, "follow.log");
    writeFileSync(file, "old 1\nold 2\n");
    const seen: string[] = [];
    const notices: string[] = [];
    const controller = new AbortController();
    const following = followFile(file, {
      from: tailLines(file, 0).position,
      onLine: (l) => seen.push(l),
      onNotice: (n) => notices.push(n),
      pollMs: 10,
      signal: controller.signal,
    });

    appendFileSync(file, "new 1\nnew ");
    await until(() => seen.length === 1, "the first appended line");
    appendFileSync(file, "2\n");
    await until(() => seen.length === 2, "the line completed by a second write");

    truncateSync(file, 0);
    await until(() => notices.some((n) => n.includes("truncated")), "the truncation notice");
    appendFileSync(file, "after truncate\n");
    await until(() => seen.includes("after truncate"), "a line after truncation");

    unlinkSync(file);
    await until(() => notices.some((n) => n.includes("gone")), "the removal notice");
    writeFileSync(file, "recreated 1\n");
    await until(() => seen.includes("recreated 1"), "a line of the recreated file");

    controller.abort();
    await following;
    expect(seen).toEqual(["new 1", "new 2", "after truncate", "recreated 1"]);
  });
});

describe("formatLogLine", () => {
  const powertools = JSON.stringify({
    level: "WARN",
    message: "SNS message",
    timestamp: "2026-11-23T07:20:16.339Z",
    service: "sns-logger",
    cold_start: false,
    function_arn: "arn:aws:lambda:us-east-1:000000000000:function:SnsLogger",
    function_name: "SnsLogger",
    function_request_id: "86b572c1-6b37-4f42-9a69-79531b18702d",
    sampling_rate: 0,
    xray_trace_id: "1-6b03e930-43ce6136ed1ba12e13ebccb0",
    correlation_id: "c-1",
    sns: {
      topic: "sluice-local-Audit",
      topicArn: "arn:aws:sns:...",
      subject: "hi",
      message: { password: "[REDACTED:password]" },
    },
  });

  it("shows a Powertools record as time, request, level, message and its key fields", () => {
    expect(formatLogLine(powertools)).toBe(
      '07:20:16.339 86b572c1 WARN  SNS message correlation_id=c-1 sns.topic=sluice-local-Audit sns.subject=hi sns.message={"password":"[REDACTED:password]"}',
    );
  });

  it("colours the level on a terminal", () => {
    expect(formatLogLine(powertools, { color: true })).toContain("\x1b[33mWARN \x1b[39m");
  });

  it("shows the runtime's START and REPORT records", () => {
    const start =
      '{"time":"2026-11-23T07:20:16.066Z","type":"platform.start","record":{"requestId":"86b572c1-6b37","version":"$LATEST"}}';
    const report =
      '{"time":"2026-11-23T07:20:16.348Z","type":"platform.report","record":{"requestId":"86b572c1-6b37","status":"error","metrics":{"durationMs":282,"billedDurationMs":282,"memorySizeMB":256}}}';

    expect(formatLogLine(start)).toBe("07:20:16.066 START  86b572c1");
    expect(formatLogLine(report)).toBe("07:20:16.348 REPORT 86b572c1 error 282 ms, billed 282 ms, 256 MB");
    const cold = report.replace('"memorySizeMB":256', '"memorySizeMB":256,"initDurationMs":1204.5');
    expect(formatLogLine(cold)).toBe(
      "07:20:16.348 REPORT 86b572c1 error 282 ms, billed 282 ms, 256 MB, init 1204.5 ms",
    );
  });

  it("shows EMF metric records as METRIC lines", () => {
    const emf = JSON.stringify({
      _aws: {
        Timestamp: Date.parse("2026-11-23T07:20:16.347Z"),
        CloudWatchMetrics: [
          {
            Namespace: "Sluice",
            Dimensions: [["service", "topic"]],
            Metrics: [{ Name: "SnsMessagesLogged", Unit: "Count" }],
          },
        ],
      },
      service: "sns-logger",
      topic: "Audit",
      SnsMessagesLogged: 1,
    });

    expect(formatLogLine(emf)).toBe("07:20:16.347 METRIC SnsMessagesLogged=1 Count {service=sns-logger, topic=Audit}");
  });

  it("shows an error's name, message and location", () => {
    const line = JSON.stringify({
      level: "ERROR",
      message: "failed",
      timestamp: "2026-01-01T00:00:00.000Z",
      error: { name: "TypeError", message: "x is undefined", location: "index.ts:3" },
    });

    expect(formatLogLine(line)).toBe("00:00:00.000 ERROR failed error=TypeError: x is undefined (index.ts:3)");
  });

  it("shows a run marker as a separator line", () => {
    expect(formatLogLine(runMarker(new Date("2026-01-02T03:04:05.678Z"), 42))).toBe(
      "──── pnpm local started 2026-01-02T03:04:05.678Z (pid 42): a new run ────",
    );
  });

  it("leaves other lines alone", () => {
    expect(formatLogLine("plain text from console.log")).toBe("plain text from console.log");
    expect(formatLogLine("[1,2]")).toBe("[1,2]");
    expect(formatLogLine('{"some":"json"}')).toBe('{"some":"json"}');
  });
});

describe("runLogs", () => {
  const stateDir = path.join(dir, "state");
  mkdirSync(path.join(stateDir, "logs"), { recursive: true });
  const logFile = path.join(stateDir, "logs", "SnsLogger.log");

  function capture(isTTY = false) {
    const out: string[] = [];
    const err: string[] = [];
    return {
      stdout: { write: (t: string) => out.push(t), isTTY },
      stderr: { write: (t: string) => err.push(t) },
      out: () => out.join(""),
      err: () => err.join(""),
    };
  }

  it("prints the last N lines raw when stdout is not a terminal, and exits with --no-follow", async () => {
    writeFileSync(logFile, `${lines(1, 30).join("\n")}\n`);
    const io = capture();

    const code = await runLogs(["SnsLogger", "--no-follow", "--lines", "5", "--state-dir", stateDir], {
      ...io,
      env: {},
    });

    expect(code).toBe(0);
    expect(io.out()).toBe(`${lines(26, 30).join("\n")}\n`);
  });

  it("shows the current run only (from the last run marker on) unless --all-runs", async () => {
    const marker = (time: string) => runMarker(new Date(time), 42);
    writeFileSync(
      logFile,
      `${[marker("2026-01-01T00:00:00.000Z"), "old 1", "old 2", marker("2026-01-02T00:00:00.000Z"), "new 1"].join("\n")}\n`,
    );
    const current = capture();
    const all = capture();

    await runLogs(["SnsLogger", "--no-follow", "--state-dir", stateDir], { ...current, env: {} });
    await runLogs(["SnsLogger", "--no-follow", "--all-runs", "--state-dir", stateDir], { ...all, env: {} });

    expect(current.out()).toBe(`${marker("2026-01-02T00:00:00.000Z")}\nnew 1\n`);
    expect(all.out().split("\n")).toHaveLength(6);
  });

  it("pretty-prints on a terminal", async () => {
    writeFileSync(logFile, '{"level":"INFO","message":"hello","timestamp":"2026-01-01T00:00:01.000Z"}\n');
    const io = capture(true);

    await runLogs(["SnsLogger", "--no-follow", "--state-dir", stateDir], { ...io, env: { NO_COLOR: "1" } });

    expect(io.out()).toBe("00:00:01.000 INFO  hello\n");
  });

  it("follows: prints lines appended after it started, until stopped", async () => {
    writeFileSync(logFile, "before 1\nbefore 2\n");
    const io = capture();
    const controller = new AbortController();

    const running = runLogs(["SnsLogger", "-n", "1"], {
      ...io,
      env: { SLUICE_STATE_DIR: stateDir },
      signal: controller.signal,
      pollMs: 10,
    });
    await until(() => io.out() === "before 2\n", "the last line");
    appendFileSync(logFile, "after 1\nafter 2\n");
    await until(() => io.out().includes("after 2"), "the appended lines");
    controller.abort();

    expect(await running).toBe(0);
    expect(io.out()).toBe("before 2\nafter 1\nafter 2\n");
  });

  it("refuses an unknown function, listing the functions of the wiring", async () => {
    const io = capture();

    const code = await runLogs(["snslogger"], { ...io, env: {} });

    expect(code).toBe(2);
    expect(io.err()).toBe(
      `pnpm logs: unknown function "snslogger" (did you mean SnsLogger?); functions: ${Object.keys(functions).join(", ")}\n`,
    );
  });

  it("says where a deployed stage's logs are: --stage, or SST links of a stage in the environment", async () => {
    const explicit = capture();
    const shell = capture();
    const env = {
      SST_RESOURCE_App: '{"name":"sluice","stage":"prod"}',
      SST_RESOURCE_SnsLogger: '{"name":"sluice-prod-SnsLoggerFunction-abc"}',
    };

    expect(await runLogs(["SnsLogger", "--stage", "dev"], { ...explicit, env: {} })).toBe(0);
    expect(await runLogs(["SnsLogger"], { ...shell, env })).toBe(0);

    expect(explicit.out()).toContain("sst dev --stage dev");
    expect(explicit.out()).toContain("aws logs tail /aws/lambda/<function name> --follow");
    expect(shell.out()).toContain("aws logs tail /aws/lambda/sluice-prod-SnsLoggerFunction-abc --follow");
  });

  it("with --no-follow, says how to get a log when there is none", async () => {
    const io = capture();

    const code = await runLogs(["SnsLogger", "--no-follow", "--state-dir", path.join(dir, "empty")], {
      ...io,
      env: {},
    });

    expect(code).toBe(1);
    expect(io.err()).toMatch(/no log for SnsLogger at .*empty\/logs\/SnsLogger\.log\. .*`pnpm local`/);
  });

  it.each([["--no-follow"], ["--lines", "1"]])(
    "exits 0, quietly, when its reader stops reading (| head -1) (%s)",
    async (...args) => {
      // Prepare: a log far bigger than a pipe's buffer, and a reader that takes one chunk and closes the pipe.
      const stateDir = path.join(dir, "big");
      mkdirSync(path.join(stateDir, "logs"), { recursive: true });
      writeFileSync(path.join(stateDir, "logs", "SnsLogger.log"), `${lines(1, 100_000).join("\n")}\n`);
      const script = fileURLToPath(new URL("./logs.ts", import.meta.url));
      // Act
      const child = spawn(
        process.execPath,
        ["--import", "tsx", script, "SnsLogger", "-n", "100000", "--all-runs", "--state-dir", stateDir, ...args],
        { stdio: ["ignore", "pipe", "pipe"], env: { PATH: process.env.PATH ?? "", HOME: dir } },
      );
      let stderr = "";
      child.stderr.on("data", (chunk: Buffer) => {
        stderr += chunk.toString("utf8");
      });
      child.stdout.once("data", () => child.stdout.destroy());
      if (args[0] === "--lines") {
        // Following: a line appended after the reader left makes the next write fail.
        await new Promise((resolve) => child.stdout.once("close", resolve));
        appendFileSync(path.join(stateDir, "logs", "SnsLogger.log"), "one more\n");
      }
      const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
      // Assess
      expect(stderr).toBe("");
      expect(code).toBe(0);
    },
    30_000,
  );
});
