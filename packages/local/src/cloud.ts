/**
 * The local cloud: starts the emulators, creates every resource of the wiring, and runs the event-source
 * runtime (S3 notifications, SNS subscriptions, Kinesis and DynamoDB stream mappings) that invokes the
 * handlers in `functions/` the way AWS does. `pnpm local` is a thin CLI over `startLocalCloud`.
 */
import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { assertDeployable } from "@sluice/infra/validate";
import * as wiring from "@sluice/infra/wiring";
import { endpointPhysicalName } from "@sluice/infra/wiring";
import { type CloudEndpoints, startEmulators } from "./cloud/emulators.ts";
import { functionIdentities, localNames } from "./cloud/identities.ts";
import { provisionResources } from "./cloud/provision.ts";
import { startFunctionRuntime } from "./cloud/runtime.ts";
import { wireTriggers } from "./cloud/triggers.ts";
import type { ModelContainer } from "./emulators/sagemaker-runtime.ts";
import type { FaultRules } from "./faults.ts";
import { localTopicKeys } from "./iam/policies.ts";
import type { PolicyDocument } from "./iam/policy.ts";
import { ACCOUNT_ID, APP, DEFAULT_BASE_PORT, REGION } from "./names.ts";
import { envFileOf, repoRoot } from "./paths.ts";
import { assertPublicPortsFree } from "./public-ports.ts";
import type { CreatedResources, WiringResources } from "./resources.ts";
import type { FunctionHost } from "./runtime/function-host.ts";
import type { ObjectChange } from "./sources/s3-events.ts";
import { lockStateDir } from "./state-lock.ts";

export { ACCOUNT_ID, APP, DEFAULT_BASE_PORT, REGION, repoRoot };

/**
 * The model containers of a wiring's endpoints (each `model` directory's `server.ts`), served behind the SageMaker
 * runtime under the names `sst deploy` gives the endpoints.
 */
export function wiringModels(spec: WiringResources): ModelContainer[] {
  return Object.entries(spec.endpoints ?? {}).map(([name, endpoint]) => ({
    endpointName: endpointPhysicalName(APP.name, APP.stage, name),
    entry: path.join(repoRoot, endpoint.model, "server.ts"),
  }));
}

export interface LocalCloudOptions {
  /** First of six consecutive ports; `0` picks free ports (tests). Default 4566. */
  basePort?: number;
  /** Where `local.env`, `local.lock` and `logs/` go. Default `<repo>/.sluice`. */
  stateDir?: string;
  /** The wiring to run; default `infra/wiring.ts`. Tests pass their own with fixture handlers. */
  wiring?: WiringResources;
  /** Model containers; default: the wiring's endpoints (`wiringModels`). Tests that call no model pass `[]`. */
  models?: readonly ModelContainer[];
  /** Async retry delays (ms) of S3/SNS invocations; AWS waits about 1 and 2 minutes. Default 1 s and 2 s. */
  asyncRetryDelaysMs?: readonly number[];
  /**
   * Pauses before a stream mapping retries a failed batch: the first, doubling up to the cap. Default 200 ms and 5 s
   * (a record failing for good is then retried for about 31 s with the wiring's 10 retries).
   */
  streamRetryDelayMs?: { firstMs: number; maxMs: number };
  /** Called with each function log line (the CLI prints them). */
  onLog?: (functionName: string, line: string) => void;
  /**
   * Authorize every call a function makes against its IAM policy, as AWS does. Default true; `pnpm local --no-iam`
   * turns it off (to tell a missing permission from a bug quickly; never to make a test pass).
   */
  iam?: boolean;
  /**
   * Fault injection into the calls handlers make (see faults.ts): `rules` is a `--faults` spec (`"5%"`) or parsed
   * rules; `seed` replays a run; `slowMs` is how long a `timeout` fault holds the connection.
   */
  faults?: {
    rules: string | FaultRules;
    seed?: number;
    slowMs?: number;
    onFault?: (functionName: string, message: string) => void;
  };
  /** Called with each request IAM denied (`pnpm local` prints them). */
  onIamDenied?: (functionName: string, message: string) => void;
  /** Write `<stateDir>/local.env`, holding `<stateDir>/local.lock` while it runs (state-lock.ts). Default true. */
  writeEnvFile?: boolean;
}

export interface LocalCloud {
  endpoints: CloudEndpoints;
  resources: CreatedResources;
  /** The environment a client needs (what `local.env` holds). */
  env: Record<string, string>;
  envFile?: string;
  logDir: string;
  host: FunctionHost;
  /** Each function's IAM policy: what `sst deploy` attaches to its role, with the local cloud's ARNs. */
  policies: Record<string, PolicyDocument>;
  /** The injected faults' seed and rules, when faults are on. */
  faults?: { seed: number; rules: FaultRules };
  /** Resolves when every event produced so far has been delivered and handled (or dead-lettered). */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts the local cloud, in steps: each function's identity (`cloud/identities.ts`); the emulators behind their IAM
 * gateways (`cloud/emulators.ts`); the wiring's resources (`cloud/provision.ts`); the function runtime
 * (`cloud/runtime.ts`) and the triggers connected to it (`cloud/triggers.ts`); last the env file, whose presence
 * means the cloud is ready (an env file left by a killed run is removed before anything else, once the state
 * directory's lock is taken: a local cloud running there refuses the start). Before any emulator starts, the six
 * public ports are checked: one another program holds refuses the start, naming it. A step that fails stops everything
 * started before it, and releases the lock.
 */
export async function startLocalCloud(options: LocalCloudOptions = {}): Promise<LocalCloud> {
  const stateDir = options.stateDir ?? path.join(repoRoot, ".sluice");
  const writesEnvFile = options.writeEnvFile ?? true;
  const basePort = options.basePort ?? DEFAULT_BASE_PORT;
  // First of all: the state directory's lock (a local cloud running there, env file and all, refuses this start), then
  // an env file left by a run that did not stop cleanly (killed), which would say "ready" during the start.
  const lock = writesEnvFile ? lockStateDir(stateDir, basePort) : undefined;
  if (writesEnvFile) rmSync(envFileOf(stateDir), { force: true });
  const spec: WiringResources = options.wiring ?? wiring;
  const logDir = path.join(stateDir, "logs");
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    lock?.release();
  };

  try {
    // The same checks `sst deploy` runs: a wiring AWS would refuse does not start locally either.
    assertDeployable(spec);
    // Another program on one of the ports (LocalStack on 4566, another local cloud on this base port) fails the start
    // now, not once the emulators have started; a port taken after this check fails the server that listens on it.
    await assertPublicPortsFree(basePort);
    mkdirSync(logDir, { recursive: true });
    // Bucket notifications are routed once the triggers are wired; changes observed before then invoke nothing.
    let routeObjectChange: (change: ObjectChange) => void = () => {};
    const { policies, identities } = functionIdentities(spec);
    const enforce = options.iam ?? true;
    const emulators = await startEmulators(
      {
        basePort,
        models: options.models ?? wiringModels(spec),
        identities,
        topicKeys: localTopicKeys(spec, localNames),
        enforce,
        faults: options.faults,
        onIamDenied: options.onIamDenied,
        onObjectChange: (change) => routeObjectChange(change),
      },
      stops,
    );
    const { endpoints, faults } = emulators;
    lock?.update(Number(new URL(endpoints.sns).port));
    const { clients, resources, env } = await provisionResources(spec, endpoints, emulators.glue);
    const runtime = startFunctionRuntime(
      {
        spec,
        endpoints,
        resources,
        policies,
        enforce,
        logDir,
        onLog: options.onLog,
        asyncRetryDelaysMs: options.asyncRetryDelaysMs,
      },
      stops,
    );
    const triggers = await wireTriggers(
      { spec, endpoints, clients, resources, runtime, streamRetryDelayMs: options.streamRetryDelayMs },
      stops,
    );
    routeObjectChange = triggers.routeObjectChange;
    const idlers = [() => emulators.s3Gateway.idle(), () => runtime.asyncInvoker.idle(), ...triggers.idlers];

    let envFile: string | undefined;
    if (writesEnvFile) {
      envFile = envFileOf(stateDir);
      writeEnvFile(envFile, env);
      const written = envFile;
      stops.unshift(async () => rmSync(written, { force: true }));
    }

    return {
      endpoints,
      resources,
      env,
      envFile,
      logDir,
      host: runtime.host,
      policies,
      ...(faults ? { faults: { seed: faults.seed, rules: faults.rules } } : {}),
      async idle() {
        // Two rounds: an invocation can produce events for another source (e.g. a handler publishing to SNS).
        for (let round = 0; round < 2; round++) {
          for (const idle of idlers) await idle();
        }
      },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** Shell-quotes a value for a `KEY='value'` line. */
function quote(value: string): string {
  return `'${value.replaceAll("'", `'"'"'`)}'`;
}

/** Writes the env file atomically (written last: its presence means the local cloud is ready). */
export function writeEnvFile(file: string, env: Record<string, string>): void {
  const lines = [
    "# Sluice local cloud: `set -a; source .sluice/local.env; set +a` (or `source` it: every line is exported).",
    ...Object.entries(env).map(([key, value]) => `export ${key}=${quote(value)}`),
  ];
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${lines.join("\n")}\n`);
  renameSync(tmp, file);
}
