/**
 * `pnpm bench`: figures for the local cloud, printed, never asserted.
 *
 * - start-up: `pnpm local` spawned as a user runs it, until `.sluice/local.env` exists;
 * - memory: resident set size of the whole `pnpm local` process tree (Node, emulators, Java) when idle,
 *   and after the SnsLogger flow ran;
 * - SnsLogger: N messages published to `Audit` with the SDK, time until all N records are in the log file.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { PublishBatchCommand, SNSClient } from "@aws-sdk/client-sns";
import { loadEnvFile } from "@sluice/local/cli/env";
import { repoRoot } from "@sluice/local/paths";

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 500);

/** RSS (MB) of a process and all its descendants, from /proc. */
function treeRssMb(rootPid: number): { totalMb: number; processes: Array<{ pid: number; name: string; mb: number }> } {
  const children = new Map<number, number[]>();
  const info = new Map<number, { name: string; rssKb: number }>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, "utf8");
      const ppid = Number(/PPid:\s+(\d+)/.exec(status)?.[1]);
      const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      const name = /Name:\s+(.+)/.exec(status)?.[1] ?? "?";
      info.set(Number(entry), { name, rssKb });
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // the process ended while we looked
    }
  }
  const processes: Array<{ pid: number; name: string; mb: number }> = [];
  const stack = [rootPid];
  while (stack.length > 0) {
    const pid = stack.pop() as number;
    const p = info.get(pid);
    if (p) processes.push({ pid, name: p.name, mb: p.rssKb / 1024 });
    stack.push(...(children.get(pid) ?? []));
  }
  return { totalMb: processes.reduce((sum, p) => sum + p.mb, 0), processes };
}

async function waitFor(probe: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const stateDir = mkdtempSync(path.join(tmpdir(), "sluice-bench-"));
const envFile = path.join(stateDir, "local.env");
const started = performance.now();
const child = spawn("pnpm", ["--silent", "local", "--base-port", "0", "--state-dir", stateDir, "--quiet"], {
  cwd: repoRoot,
  stdio: ["ignore", "ignore", "inherit"],
  detached: true,
});
try {
  await waitFor(() => existsSync(envFile), 120_000, "local.env");
  const startupS = (performance.now() - started) / 1000;
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const idle = treeRssMb(child.pid as number);

  const env = loadEnvFile(envFile);
  const sns = new SNSClient({
    region: env.AWS_REGION,
    endpoint: env.AWS_ENDPOINT_URL_SNS,
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
  const topicArn = JSON.parse(env.SST_RESOURCE_Audit ?? "{}").arn as string;
  const logFile = path.join(stateDir, "logs", "SnsLogger.log");
  const countRecords = () =>
    existsSync(logFile) ? (readFileSync(logFile, "utf8").match(/"bench-message"/g) ?? []).length : 0;
  const publishStart = performance.now();
  for (let i = 0; i < MESSAGES; i += 10) {
    await sns.send(
      new PublishBatchCommand({
        TopicArn: topicArn,
        PublishBatchRequestEntries: Array.from({ length: Math.min(10, MESSAGES - i) }, (_, j) => ({
          Id: String(j),
          Message: JSON.stringify({ kind: "bench-message", n: i + j, user: { email: `user${i + j}@example.com` } }),
        })),
      }),
    );
  }
  const publishS = (performance.now() - publishStart) / 1000;
  await waitFor(() => countRecords() >= MESSAGES, 300_000, `${MESSAGES} SnsLogger records`);
  const flowS = (performance.now() - publishStart) / 1000;
  const loaded = treeRssMb(child.pid as number);

  const rows = [
    ["local cloud start-up (spawn -> local.env)", `${startupS.toFixed(2)} s`],
    [
      "local cloud memory, idle (process tree RSS)",
      `${idle.totalMb.toFixed(0)} MB in ${idle.processes.length} processes`,
    ],
    [`SnsLogger: publish ${MESSAGES} messages`, `${publishS.toFixed(2)} s`],
    [`SnsLogger: ${MESSAGES} records in the log`, `${flowS.toFixed(2)} s (${(MESSAGES / flowS).toFixed(0)} msg/s)`],
    ["local cloud memory, after the flow", `${loaded.totalMb.toFixed(0)} MB in ${loaded.processes.length} processes`],
  ];
  console.log("\nSluice local cloud benchmark");
  for (const [name, value] of rows) console.log(`  ${String(name).padEnd(48)} ${value}`);
  console.log("\n  largest processes after the flow:");
  for (const p of loaded.processes.sort((a, b) => b.mb - a.mb).slice(0, 6)) {
    console.log(`    ${p.name.padEnd(16)} ${p.mb.toFixed(0).padStart(5)} MB`);
  }
} finally {
  process.kill(-(child.pid as number), "SIGINT");
  await new Promise((resolve) => child.once("exit", resolve));
}
