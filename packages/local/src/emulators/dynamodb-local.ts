/**
 * AWS's own DynamoDB Local (v1.25.1, with streams), installed from the npm registry and run as a Java child
 * process that cannot outlive the Node process that started it.
 *
 * The jar ships inside the `amplify-dynamodb-simulator` tarball under `package/emulator/`; installing that package
 * would pull about 350 MB of unrelated dependencies, so the tarball is fetched with `npm pack` and only that folder
 * is extracted. Run as a script to install ahead of time (CI): `tsx packages/local/src/emulators/dynamodb-local.ts --install`.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { repoRoot } from "../paths.ts";
import { freePort } from "./ports.ts";

const execFileAsync = promisify(execFile);

/** The npm package (and exact version) whose tarball carries DynamoDB Local 1.25.1. */
export const DYNAMODB_LOCAL_PACKAGE = "amplify-dynamodb-simulator@2.9.30";
const JAR = "DynamoDBLocal.jar";
const LIB = "DynamoDBLocal_lib";

/** Where DynamoDB Local is installed: `$SLUICE_DYNAMODB_LOCAL_DIR`, else `<repo>/.sluice/vendor/dynamodb-local`. */
export function dynamoDbLocalDir(): string {
  return process.env.SLUICE_DYNAMODB_LOCAL_DIR ?? path.join(repoRoot, ".sluice", "vendor", "dynamodb-local");
}

/**
 * Installs DynamoDB Local into {@link dynamoDbLocalDir} unless it is already there, and returns that directory.
 *
 * Idempotent and safe when several processes run it at once: each one extracts into its own temporary directory
 * next to the target and renames it into place; the first rename wins and the others discard their copy.
 */
export async function ensureDynamoDbLocal(dir = dynamoDbLocalDir()): Promise<string> {
  if (existsSync(path.join(dir, JAR))) return dir;
  const parent = path.dirname(dir);
  mkdirSync(parent, { recursive: true });
  const work = mkdtempSync(path.join(parent, `.${path.basename(dir)}.tmp-${process.pid}-`));
  try {
    await execFileAsync("npm", ["pack", DYNAMODB_LOCAL_PACKAGE, "--pack-destination", work, "--silent"], {
      cwd: work,
      maxBuffer: 16 * 1024 * 1024,
    });
    const tarball = readdirSync(work).find((name) => name.endsWith(".tgz"));
    if (!tarball) throw new Error(`npm pack ${DYNAMODB_LOCAL_PACKAGE} produced no tarball`);
    const staged = path.join(work, "emulator");
    mkdirSync(staged);
    await execFileAsync("tar", [
      "-xzf",
      path.join(work, tarball),
      "-C",
      staged,
      "--strip-components=2",
      "package/emulator",
    ]);
    if (!existsSync(path.join(staged, JAR))) throw new Error(`${tarball} has no package/emulator/${JAR}`);
    try {
      renameSync(staged, dir);
    } catch (err) {
      // Another process installed it first (the target now exists and is not empty): theirs is as good as ours.
      if (!existsSync(path.join(dir, JAR))) throw err;
    }
    return dir;
  } catch (err) {
    throw new Error(
      `could not install DynamoDB Local (${DYNAMODB_LOCAL_PACKAGE}) into ${dir}: ${(err as Error).message}`,
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export interface DynamoDbLocalOptions {
  /** Port on 127.0.0.1; `0` or absent picks a free one. */
  port?: number;
  /** Install directory; default {@link dynamoDbLocalDir} (installed on demand). */
  dir?: string;
  /** How long to wait for the first answer. Default 30 s. */
  startTimeoutMs?: number;
}

export interface DynamoDbLocal {
  /** `http://127.0.0.1:<port>` (DynamoDB and DynamoDB Streams share it). */
  endpoint: string;
  port: number;
  /** The Java process id (tests use it to prove that no orphan is left). */
  pid: number;
  /** Kills the Java process and resolves once it has exited. */
  stop(): Promise<void>;
}

/**
 * A POSIX-shell watchdog around the Java process: it starts Java, prints its pid, and kills it as soon as the Node
 * parent is gone (whatever the way it died, SIGKILL included) or when the watchdog itself is told to stop. It exits
 * when Java exits.
 */
const WATCHDOG = `
"$@" &
child=$!
echo "pid $child"
trap 'kill "$child" 2>/dev/null' TERM INT HUP
while kill -0 "$SLUICE_PARENT_PID" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 0.2; done
kill "$child" 2>/dev/null
wait "$child"
`;

/**
 * DynamoDB Local's main with the same arguments, its Jetty server bound to `sluice.host` (DynamoDB Local itself
 * has no such option): the file says how.
 */
const LOOPBACK_CONFIG = fileURLToPath(new URL("./dynamodb-local-loopback.xml", import.meta.url));

/**
 * Starts DynamoDB Local in memory (`-inMemory -sharedDb`) on loopback (127.0.0.1 only: not reachable from other
 * machines) and waits until it answers.
 */
export async function startDynamoDbLocal(options: DynamoDbLocalOptions = {}): Promise<DynamoDbLocal> {
  const dir = options.dir ?? (await ensureDynamoDbLocal());
  const port = options.port ? options.port : await freePort();
  const java = [
    "java",
    `-Djava.library.path=${path.join(dir, LIB)}`,
    // The jar's manifest puts DynamoDBLocal_lib on the class path, jetty-xml's XmlConfiguration included.
    "-cp",
    path.join(dir, JAR),
    "org.eclipse.jetty.xml.XmlConfiguration",
    `sluice.port=${port}`,
    "sluice.host=127.0.0.1",
    LOOPBACK_CONFIG,
  ];
  const watchdog = spawn("sh", ["-c", WATCHDOG, "sluice-dynamodb-local", ...java], {
    cwd: dir,
    env: { ...process.env, SLUICE_PARENT_PID: String(process.pid) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<void>((resolve) => {
    if (watchdog.exitCode !== null || watchdog.signalCode !== null) resolve();
    else watchdog.once("exit", () => resolve());
  });
  let output = "";
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  watchdog.stderr?.on("data", collect);

  try {
    const pid = await readJavaPid(watchdog, collect);
    const endpoint = `http://127.0.0.1:${port}`;
    await waitUntilAnswering(port, watchdog, options.startTimeoutMs ?? 30_000, () => output);
    let stopping: Promise<void> | undefined;
    return {
      endpoint,
      port,
      pid,
      stop() {
        stopping ??= stopJava(pid, watchdog, exited);
        return stopping;
      },
    };
  } catch (err) {
    watchdog.kill("SIGTERM");
    await exited;
    throw err;
  }
}

function readJavaPid(watchdog: ChildProcess, collect: (chunk: Buffer) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    let buffer = "";
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString();
      const match = /^pid (\d+)$/m.exec(buffer);
      if (!match) return;
      watchdog.stdout?.off("data", onData);
      // DynamoDB Local's own banner follows on stdout: keep it for error messages, drain the rest.
      collect(Buffer.from(buffer.slice(match.index + match[0].length)));
      watchdog.stdout?.on("data", collect);
      resolve(Number(match[1]));
    };
    watchdog.stdout?.on("data", onData);
    watchdog.once("error", (err) => reject(new Error(`could not start the DynamoDB Local watchdog: ${err.message}`)));
    watchdog.once("exit", (code) => reject(new Error(`DynamoDB Local exited before starting (code ${code})`)));
  });
}

async function waitUntilAnswering(
  port: number,
  watchdog: ChildProcess,
  timeoutMs: number,
  output: () => string,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (watchdog.exitCode !== null) {
      const hint = /java: not found|No such file/.test(output())
        ? " Java 11+ is required (Debian: apt-get install openjdk-17-jre-headless)."
        : "";
      throw new Error(`DynamoDB Local exited with code ${watchdog.exitCode}.${hint}\n${output()}`);
    }
    // Any HTTP answer (DynamoDB Local answers a bare GET with 400) means it is serving.
    const answered = await new Promise<boolean>((resolve) => {
      const req = http.get({ host: "127.0.0.1", port, path: "/", timeout: 1000 }, (res) => {
        res.resume();
        resolve(true);
      });
      req.on("timeout", () => req.destroy());
      req.on("error", () => resolve(false));
    });
    if (answered) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`DynamoDB Local did not answer on port ${port} within ${timeoutMs} ms\n${output()}`);
}

/** Whether a process with this pid exists (signal 0). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function stopJava(pid: number, watchdog: ChildProcess, exited: Promise<void>): Promise<void> {
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
    } catch {
      // Already gone.
    }
  };
  signal("SIGTERM");
  const timer = setTimeout(() => signal("SIGKILL"), 3000);
  await exited;
  clearTimeout(timer);
  // The watchdog exits only once Java has, unless it was killed on its own: then Java may still be running.
  if (isAlive(pid)) signal("SIGKILL");
  watchdog.stdout?.destroy();
  watchdog.stderr?.destroy();
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv.includes("--install")) {
    const started = Date.now();
    const dir = await ensureDynamoDbLocal();
    console.log(`DynamoDB Local ready in ${dir} (${Date.now() - started} ms)`);
  } else {
    const local = await startDynamoDbLocal({ port: Number(process.env.PORT ?? 0) });
    console.log(`DynamoDB Local on ${local.endpoint} (java pid ${local.pid}); Ctrl-C stops it`);
    const stop = () => void local.stop().then(() => process.exit(0));
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  }
}
