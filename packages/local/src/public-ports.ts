/**
 * The local cloud's six public ports (its IAM gateways), from its base port, and the check a start makes before it
 * starts anything: that another program (LocalStack on 4566, another local cloud) holds none of them. Light on
 * purpose: `pnpm local` checks before it loads the local cloud's modules.
 */
import net from "node:net";

/** What each public port serves, in order from the base port. */
export const PUBLIC_PORT_SERVICES = ["SNS/SQS", "S3", "DynamoDB", "Kinesis", "SageMaker runtime", "Glue"] as const;

const HIGHEST_BASE_PORT = 65535 - (PUBLIC_PORT_SERVICES.length - 1);

/** Why this port cannot be listened on at 127.0.0.1 right now (`EADDRINUSE`, `EACCES`...), or `undefined` if it can. */
export function portProblem(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(undefined)));
  });
}

/** The public ports from `basePort` that cannot be listened on, with the reason. */
async function unusablePorts(basePort: number): Promise<Array<{ port: number; service: string; problem: string }>> {
  const probed = await Promise.all(
    PUBLIC_PORT_SERVICES.map(async (service, offset) => {
      const port = basePort + offset;
      return { port, service, problem: await portProblem(port) };
    }),
  );
  return probed.flatMap(({ problem, ...rest }) => (problem ? [{ ...rest, problem }] : []));
}

/**
 * Throws, naming them and what to do, if any of the six public ports from `basePort` is in use (or cannot be used);
 * `0` (free ports picked at start) is not checked. The message suggests a base port whose six ports are free now.
 */
export async function assertPublicPortsFree(basePort: number): Promise<void> {
  if (!Number.isInteger(basePort) || basePort < 0 || basePort > HIGHEST_BASE_PORT) {
    throw new Error(`--base-port must be 0 (free ports) or a port from 1 to ${HIGHEST_BASE_PORT}, got ${basePort}`);
  }
  if (basePort === 0) return;
  const unusable = await unusablePorts(basePort);
  if (unusable.length === 0) return;
  const inUse = unusable.filter((p) => p.problem === "EADDRINUSE");
  const other = unusable.filter((p) => p.problem !== "EADDRINUSE");
  const list = (ports: typeof unusable) => ports.map((p) => `${p.port} (${p.service})`).join(", ");
  const problems = [
    ...(inUse.length > 0
      ? [`${inUse.length === 1 ? "port" : "ports"} ${list(inUse)} ${inUse.length === 1 ? "is" : "are"} in use`]
      : []),
    ...other.map((p) => `port ${p.port} (${p.service}) cannot be used (${p.problem})`),
  ];
  const free = await freeBasePort(basePort);
  const move = free === undefined ? "another --base-port" : `--base-port ${free} (its six ports are free now)`;
  throw new Error(
    `${problems.join("; ")}: the local cloud needs the six ports ${basePort}-${basePort + 5}. ` +
      `Start it with ${move}, or stop the program listening there.`,
  );
}

/** A base port near `basePort` whose six public ports are all free now, if one of the next few is. */
async function freeBasePort(basePort: number): Promise<number | undefined> {
  for (let candidate = basePort + 10; candidate <= Math.min(basePort + 200, HIGHEST_BASE_PORT); candidate += 10) {
    if ((await unusablePorts(candidate)).length === 0) return candidate;
  }
  return undefined;
}
