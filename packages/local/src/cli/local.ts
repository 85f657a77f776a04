/**
 * `pnpm local`: starts the whole system on this machine (emulators, resources, event-source runtime) and
 * writes `.sluice/local.env` when it is ready. Ctrl-C stops everything, emulators included.
 */
import { rmSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { describeFaults, parseFaultSpec } from "../faults.ts";
import { DEFAULT_BASE_PORT } from "../names.ts";
import { envFileOf, repoRoot } from "../paths.ts";
import { assertPublicPortsFree } from "../public-ports.ts";
import { assertNotRunning } from "../state-lock.ts";

const { values } = parseArgs({
  options: {
    "base-port": { type: "string", default: process.env.SLUICE_BASE_PORT ?? String(DEFAULT_BASE_PORT) },
    "state-dir": { type: "string", default: process.env.SLUICE_STATE_DIR ?? path.join(repoRoot, ".sluice") },
    quiet: { type: "boolean", default: false },
    "no-iam": { type: "boolean", default: false },
    faults: { type: "string" },
    "faults-seed": { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});

if (values.help) {
  console.log(`Usage: pnpm local [--base-port ${DEFAULT_BASE_PORT}] [--state-dir .sluice] [--quiet] [--no-iam]
                  [--faults <spec> [--faults-seed N]]

Starts the Sluice local cloud on loopback: SNS+SQS, S3, DynamoDB (+ streams), Kinesis, a SageMaker runtime
endpoint and the Glue Data Catalog (the table calls CdcMerge makes) on six consecutive ports from --base-port (0 = any free ports), creates every resource of
infra/wiring.ts, runs the functions on their triggers, and writes <state-dir>/local.env when ready.
Function logs go to <state-dir>/logs/<Function>.log (follow one with \`pnpm logs <Function>\`).

Each function calls the emulators with credentials of its own, and every call is authorized against the IAM policy
\`sst deploy\` attaches to its role (print them with \`pnpm --silent iam\`): a call outside it fails as on AWS.
--no-iam turns that off, to tell a missing permission from a bug quickly; fix the wiring, then turn it back on.

--faults answers a share of the calls functions make with AWS's own retryable errors, to exercise retries and
idempotency: "5%" (every service, every kind) or e.g. "s3=5%,dynamodb=10%:throttle,kinesis=2%:timeout+reset".
Kinds: throttle, 5xx, reset (not applied), timeout (applied, the answer lost). The seed is printed;
--faults-seed replays a run. Your own tools (CLI, pnpm push) are never faulted.`);
  process.exit(0);
}

let faults: { rules: string; seed?: number; onFault: (fn: string, message: string) => void } | undefined;
if (values.faults) {
  try {
    parseFaultSpec(values.faults);
  } catch (err) {
    console.error(`[sluice] ${(err as Error).message}`);
    process.exit(2);
  }
  const seed = values["faults-seed"] === undefined ? undefined : Number(values["faults-seed"]);
  if (seed !== undefined && !Number.isInteger(seed)) {
    console.error(`[sluice] --faults-seed must be an integer, got ${values["faults-seed"]}`);
    process.exit(2);
  }
  faults = {
    rules: values.faults,
    seed,
    onFault: (fn, message) => process.stderr.write(`${fn.padEnd(14)} | [fault] ${message}\n`),
  };
}

// Unless a local cloud runs on this state directory (refused, its env file left alone): an env file left by a run that
// was killed would say "ready" while this one starts: removed before the local cloud's modules load (seconds), and
// again by startLocalCloud, the first thing it does once it holds the state directory's lock.
try {
  assertNotRunning(values["state-dir"]);
} catch (err) {
  console.error(`[sluice] the local cloud could not start: ${(err as Error).message}`);
  process.exit(1);
}
rmSync(envFileOf(values["state-dir"]), { force: true });
// A port another program holds (LocalStack on 4566, another local cloud): refused before the modules load (seconds);
// startLocalCloud checks again before it starts the emulators.
try {
  await assertPublicPortsFree(Number(values["base-port"]));
} catch (err) {
  console.error(`[sluice] the local cloud could not start: ${(err as Error).message}`);
  process.exit(1);
}
const { startLocalCloud } = await import("../cloud.ts");
const started = performance.now();
const cloud = await startLocalCloud({
  basePort: Number(values["base-port"]),
  stateDir: values["state-dir"],
  iam: !values["no-iam"],
  faults,
  onLog: values.quiet ? undefined : (fn, line) => process.stdout.write(`${fn.padEnd(14)} | ${line}\n`),
  onIamDenied: (fn, message) => process.stderr.write(`${fn.padEnd(14)} | [iam] AccessDenied: ${message}\n`),
}).catch((err: Error) => {
  console.error(`[sluice] the local cloud could not start: ${err.message}`);
  process.exit(1);
});
const seconds = ((performance.now() - started) / 1000).toFixed(1);

const lines = [
  `Sluice local cloud ready in ${seconds}s`,
  `  S3                   ${cloud.endpoints.s3}`,
  `  SNS / SQS            ${cloud.endpoints.sns}`,
  `  DynamoDB (+Streams)  ${cloud.endpoints.dynamodb}`,
  `  Kinesis              ${cloud.endpoints.kinesis}`,
  `  SageMaker runtime    ${cloud.endpoints.sagemakerRuntime}`,
  `  Glue Data Catalog    ${cloud.endpoints.glue}`,
  `  Faults               ${cloud.faults ? describeFaults(cloud.faults.rules, cloud.faults.seed) : "none (--faults 5% to inject some)"}`,
  `  IAM                  ${values["no-iam"] ? "OFF (--no-iam): functions may call anything" : "enforced: each function has its deployed role's policy (pnpm --silent iam)"}`,
  "",
  `  env file  ${cloud.envFile}   (source it: . ${path.relative(process.cwd(), cloud.envFile ?? "")})`,
  `  logs      ${cloud.logDir}/<Function>.log   (pnpm logs <Function>)`,
  "  resources:",
  ...Object.entries(cloud.resources.links).map(([name, link]) => `    ${name.padEnd(18)} ${link}`),
  "",
  "Ctrl-C to stop.",
];
console.log(lines.join("\n"));

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`\n[sluice] ${signal}: stopping the local cloud...`);
  await cloud.stop();
  console.log("[sluice] stopped.");
  process.exit(0);
}
process.on("SIGINT", () => void shutdown("SIGINT"));
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGHUP", () => void shutdown("SIGHUP"));
