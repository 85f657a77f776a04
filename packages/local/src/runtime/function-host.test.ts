import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { FunctionSpec } from "@sluice/infra/wiring";
import { waitUntil } from "@sluice/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../paths.ts";
import { createFunctionHost, type FunctionHost } from "./function-host.ts";
import { isRunMarker } from "./run-marker.ts";

const fixture = (exportName: string, extra: Partial<FunctionSpec> = {}): FunctionSpec => ({
  description: exportName,
  handler: `test/fixtures/functions/behaviours.${exportName}`,
  timeout: 2,
  memory: 128,
  links: [],
  triggers: [],
  ...extra,
});

/** The JSON lines of a log file (none if it is not there yet). */
const logLines = (file: string): Record<string, unknown>[] => {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return [];
  }
  return text
    .trim()
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line));
};

/** The request a `platform.report` line reports on (undefined for any other line). */
const reportOf = (line: Record<string, unknown>) =>
  line.type === "platform.report" ? (line.record as { requestId: string }).requestId : undefined;

/** Whether process `pid` exists (a zombie, dead but not yet reaped, counts as gone). */
const running = (pid: number): boolean => {
  try {
    return !execFileSync("ps", ["-o", "stat=", "-p", String(pid)], { encoding: "utf8" })
      .trim()
      .startsWith("Z");
  } catch {
    return false; // ps exits 1 when there is no such process
  }
};

describe("function host", () => {
  let host: FunctionHost;
  let logDir: string;

  beforeAll(() => {
    logDir = mkdtempSync(path.join(tmpdir(), "sluice-host-"));
    host = createFunctionHost({
      repoRoot,
      functions: {
        Echo: fixture("echo"),
        Links: fixture("links", { links: ["Inbox"] }),
        Unlinked: fixture("links"),
        Fail: fixture("fail"),
        Slow: fixture("slow", { timeout: 1 }),
        Crash: fixture("crash"),
        Pid: fixture("pid"),
      },
      baseEnv: { SST_RESOURCE_App: JSON.stringify({ name: "sluice", stage: "test" }) },
      resourceLinks: {
        Inbox: JSON.stringify({ name: "inbox-bucket", type: "sst.aws.Bucket" }),
        Lake: JSON.stringify({ name: "lake-bucket", type: "sst.aws.Bucket" }),
      },
      logDir,
      region: "us-east-1",
      accountId: "000000000000",
    });
  });
  afterAll(() => host.stop());

  it("invokes the handler with the event and a Lambda context, and returns its result", async () => {
    const result = await host.invoke("Echo", { hello: "world" });
    expect(result.status).toBe("ok");
    expect(result.payload).toMatchObject({
      event: { hello: "world" },
      functionName: "Echo",
      requestId: result.requestId,
    });
  });

  it("writes what the handler prints, and platform records, to <logDir>/<Function>.log", async () => {
    const { requestId } = await host.invoke("Echo", { n: 1 });
    // The file is written asynchronously, and what the handler prints comes through a pipe: until its last record is in.
    const file = path.join(logDir, "Echo.log");
    await waitUntil(
      () => logLines(file).some((line) => line.message === "echo" && line.requestId === requestId),
      10_000,
    );
    await waitUntil(() => logLines(file).some((line) => reportOf(line) === requestId), 10_000);
    const lines = logLines(file);
    expect(lines).toContainEqual(
      expect.objectContaining({ type: "platform.start", record: expect.objectContaining({ requestId }) }),
    );
    expect(lines).toContainEqual({ level: "INFO", message: "echo", requestId });
    expect(lines).toContainEqual(
      expect.objectContaining({
        type: "platform.report",
        record: expect.objectContaining({ requestId, status: "success" }),
      }),
    );
  });

  it("reports a cold start's init apart (initDurationMs, as Lambda's REPORT has Init Duration), a warm one without", async () => {
    // Prepare: a host of its own, so that the first invocation is a cold start.
    const dir = mkdtempSync(path.join(tmpdir(), "sluice-host-init-"));
    const h = createFunctionHost({
      repoRoot,
      functions: { Echo: fixture("echo") },
      baseEnv: {},
      resourceLinks: {},
      logDir: dir,
      region: "us-east-1",
      accountId: "000000000000",
      maxConcurrency: 1,
    });
    // Act
    const started = Date.now();
    const cold = await h.invoke("Echo", {});
    const elapsed = Date.now() - started;
    const warm = await h.invoke("Echo", {});
    await h.stop();
    // Assess
    const reports = readFileSync(path.join(dir, "Echo.log"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l))
      .filter((l) => l.type === "platform.report");
    const metricsOf = (requestId: string) => reports.find((r) => r.record.requestId === requestId)?.record.metrics;
    const coldMetrics = metricsOf(cold.requestId);
    expect(Object.keys(coldMetrics)).toEqual(["durationMs", "billedDurationMs", "memorySizeMB", "initDurationMs"]);
    expect(coldMetrics.initDurationMs).toBeGreaterThan(0);
    expect(coldMetrics.durationMs + coldMetrics.initDurationMs).toBeLessThanOrEqual(elapsed + 1);
    expect(coldMetrics.durationMs).toBeLessThan(coldMetrics.initDurationMs);
    expect(Object.keys(metricsOf(warm.requestId))).toEqual(["durationMs", "billedDurationMs", "memorySizeMB"]);
  });

  it("starts each run's log with a run marker line, after the lines of earlier runs", async () => {
    // Prepare: a log directory another host (an earlier run of `pnpm local`) wrote to.
    const dir = mkdtempSync(path.join(tmpdir(), "sluice-host-runs-"));
    const run = async () => {
      const h = createFunctionHost({
        repoRoot,
        functions: { Echo: fixture("echo") },
        baseEnv: {},
        resourceLinks: {},
        logDir: dir,
        region: "us-east-1",
        accountId: "000000000000",
      });
      const { requestId } = await h.invoke("Echo", {});
      await h.stop();
      return requestId;
    };
    // Act
    const first = await run();
    const second = await run();
    // Assess
    const lines = readFileSync(path.join(dir, "Echo.log"), "utf8").trim().split("\n");
    const markers = lines.flatMap((line, i) => (isRunMarker(line) ? [i] : []));
    expect(markers).toHaveLength(2);
    expect(markers[0]).toBe(0);
    const secondRun = lines.slice(markers[1]).join("\n");
    expect(lines.slice(0, markers[1]).join("\n")).toContain(first);
    expect(secondRun).toContain(second);
    expect(secondRun).not.toContain(first);
  });

  it("stops with invocations running and queued: the queued ones fail, nothing is written after the log is closed", async () => {
    // Prepare: one sandbox, one invocation running in it and two waiting for it.
    const dir = mkdtempSync(path.join(tmpdir(), "sluice-host-stop-"));
    const printed: Record<string, unknown>[] = [];
    const h = createFunctionHost({
      repoRoot,
      functions: { Slow: fixture("slow", { timeout: 10 }) },
      baseEnv: {},
      resourceLinks: {},
      logDir: dir,
      region: "us-east-1",
      accountId: "000000000000",
      maxConcurrency: 1,
      onLog: (_, line) => printed.push(JSON.parse(line)),
    });
    const invocations = [1, 2, 3].map(() => h.invoke("Slow", { ms: 3000 }));
    const started = () => printed.filter((line) => line.message === "slow: started");
    expect(await waitUntil(() => started().length > 0, 30_000)).toBe(true);
    expect(started()).toHaveLength(1);
    // Act
    await h.stop();
    const results = await Promise.all(invocations);
    // Assess
    expect(results.map((r) => r.status)).toEqual(["error", "error", "error"]);
    expect(results[0]?.error).toMatchObject({ errorType: "Runtime.ExitError" });
    expect(results[1]?.error?.errorMessage).toMatch(/stopping/);
  });

  it("gives a function exactly its own links through `Resource`, and no others", async () => {
    const linked = await host.invoke("Links", {});
    expect(linked.payload).toEqual({
      inbox: "inbox-bucket",
      linked: ["App", "Inbox"],
      app: { name: "sluice", stage: "test" },
      env: ["SST_RESOURCE_App", "SST_RESOURCE_Inbox"],
    });
    const unlinked = await host.invoke("Unlinked", {});
    // The value crosses the process boundary as JSON, as a Lambda response does: `inbox` is absent.
    expect(unlinked.payload).toEqual({
      linked: ["App"],
      app: { name: "sluice", stage: "test" },
      env: ["SST_RESOURCE_App"],
    });
  });

  it("reports a thrown error as the runtime does", async () => {
    const result = await host.invoke("Fail", {});
    expect(result.status).toBe("error");
    expect(result.error).toMatchObject({ errorType: "TypeError", errorMessage: "bad input" });
  });

  it("stops an invocation at the function's timeout, and the next one gets a fresh sandbox", async () => {
    const result = await host.invoke("Slow", { ms: 5000 });
    expect(result.status).toBe("timeout");
    expect(result.error?.errorMessage).toMatch(/Task timed out after 1\.00 seconds/);
    // Cut off: its sandbox is gone, so the handler never logs that it is done.
    const file = path.join(logDir, "Slow.log");
    const pidOf = (requestId: string) =>
      logLines(file).find((line) => line.message === "slow: started" && line.requestId === requestId)?.pid;
    await waitUntil(() => pidOf(result.requestId) !== undefined, 10_000);
    const pid = pidOf(result.requestId) as number;
    expect(pid).toEqual(expect.any(Number));
    expect(await waitUntil(() => !running(pid), 10_000)).toBe(true);
    await waitUntil(() => logLines(file).some((line) => reportOf(line) === result.requestId), 10_000);
    expect(logLines(file)).not.toContainEqual(
      expect.objectContaining({ message: "slow: done", requestId: result.requestId }),
    );
    const next = await host.invoke("Slow", { ms: 10 });
    expect(next).toMatchObject({ status: "ok", payload: "late" });
    await waitUntil(() => pidOf(next.requestId) !== undefined, 10_000);
    expect(pidOf(next.requestId)).not.toBe(pid);
  });

  it("reports a process exit as Runtime.ExitError and recovers", async () => {
    const result = await host.invoke("Crash", {});
    expect(result.status).toBe("error");
    expect(result.error).toMatchObject({ errorType: "Runtime.ExitError" });
    expect(result.error?.errorMessage).toMatch(/exit status 3/);
  });

  it("fails an invocation sent to a worker that died unnoticed as Runtime.ExitError, and survives it", async () => {
    // Prepare: a warm worker, killed between invocations; the event loop is held until it is dead (a zombie: the
    // kernel has closed its end of the channel), so that the host has not processed its exit yet when it sends the
    // next invocation (EPIPE).
    const warm = await host.invoke("Pid", {});
    const pid = warm.payload as number;
    process.kill(pid, "SIGKILL");
    while (running(pid)) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    // Act
    const result = await host.invoke("Pid", {});
    const next = await host.invoke("Pid", {});
    // Assess: that invocation fails as Lambda's would, on the failed send (not on the exit, processed later); the
    // next one runs in a fresh worker.
    expect(result.status).toBe("error");
    expect(result.error).toMatchObject({ errorType: "Runtime.ExitError" });
    expect(result.error?.errorMessage).toMatch(/Runtime exited without providing a reason \(.*EPIPE/);
    expect(next.status).toBe("ok");
    expect(next.payload).not.toBe(pid);
  });

  it("runs concurrent invocations in separate sandboxes", async () => {
    const results = await Promise.all([1, 2, 3, 4].map((n) => host.invoke("Echo", { n })));
    expect(results.map((r) => r.status)).toEqual(["ok", "ok", "ok", "ok"]);
    expect(new Set(results.map((r) => r.requestId)).size).toBe(4);
  });
});
