/**
 * Setup of the `unit` layer (vitest.config.ts): a unit test runs on a machine without Java, emulators or a network.
 * Anything that would start one fails at once, naming what it tried, instead of passing where Java happens to be
 * installed:
 * - the emulators and the local cloud's runtime (DynamoDB Local's Java, fauxqs, kinesalite, the model containers'
 *   SageMaker runtime, the function host's handler processes) refuse to start;
 * - a connection leaves the process only to a server the test itself started in it (the infra tests' stand-in for
 *   SST's RPC server, for one): never to another host, nor to a port on this one that something else listens on.
 * A test that needs any of these belongs to the `local` layer: add its file to `localLayer` in vitest.config.ts.
 */
import net from "node:net";
import { vi } from "vitest";

function refuse(what: string): () => never {
  return () => {
    throw new Error(
      `the unit layer starts no ${what}: a test that needs it belongs to the local layer (localLayer in vitest.config.ts)`,
    );
  };
}

// The emulator packages by the path packages/local resolves them from, so that the mock is the module it imports.
vi.mock("../../packages/local/node_modules/fauxqs", async (importOriginal) => ({
  ...(await importOriginal<Record<string, unknown>>()),
  startFauxqs: refuse("emulator (fauxqs)"),
}));
vi.mock("../../packages/local/node_modules/kinesalite", () => ({ default: refuse("emulator (kinesalite)") }));
vi.mock("../../packages/local/src/emulators/dynamodb-local.ts", async (importOriginal) => ({
  ...(await importOriginal<typeof import("../../packages/local/src/emulators/dynamodb-local.ts")>()),
  ensureDynamoDbLocal: refuse("DynamoDB Local (Java, and its download)"),
  startDynamoDbLocal: refuse("DynamoDB Local (Java)"),
}));
vi.mock("../../packages/local/src/emulators/kinesalite.ts", async (importOriginal) => ({
  ...(await importOriginal<typeof import("../../packages/local/src/emulators/kinesalite.ts")>()),
  startKinesalite: refuse("emulator (kinesalite)"),
}));
vi.mock("../../packages/local/src/emulators/sagemaker-runtime.ts", async (importOriginal) => ({
  ...(await importOriginal<typeof import("../../packages/local/src/emulators/sagemaker-runtime.ts")>()),
  startSageMakerRuntime: refuse("model container (SageMaker runtime)"),
}));
vi.mock("../../packages/local/src/runtime/function-host.ts", async (importOriginal) => ({
  ...(await importOriginal<typeof import("../../packages/local/src/runtime/function-host.ts")>()),
  createFunctionHost: refuse("Lambda function host (handler processes)"),
}));

/** Ports that servers of this process listen on. */
const ownPorts = new Set<number>();
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (this: net.Server, ...args: unknown[]) {
  this.once("listening", () => {
    const address = this.address();
    if (address && typeof address === "object") {
      ownPorts.add(address.port);
      this.once("close", () => ownPorts.delete(address.port));
    }
  });
  return (listen as (...a: unknown[]) => net.Server).apply(this, args);
} as typeof listen;

const loopback = new Set([undefined, "", "localhost", "127.0.0.1", "::1", "::ffff:127.0.0.1"]);
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
  // net.connect passes its arguments normalized ([options, callback]); a direct call passes them as given.
  const first = Array.isArray(args[0]) ? args[0][0] : args[0];
  const options = (
    typeof first === "object" && first !== null ? first : { port: first, host: args[1] }
  ) as net.TcpSocketConnectOpts & { path?: string };
  if (options.path === undefined) {
    const host = typeof options.host === "string" ? options.host : undefined;
    const port = Number(options.port);
    if (!loopback.has(host) || !ownPorts.has(port)) {
      throw new Error(
        `the unit layer has no network: a connection to ${host ?? "localhost"}:${options.port} (only servers the test starts in its own process are reachable; a test that needs an emulator or a service belongs to the local layer)`,
      );
    }
  }
  return (connect as (...a: unknown[]) => net.Socket).apply(this, args);
} as typeof connect;
