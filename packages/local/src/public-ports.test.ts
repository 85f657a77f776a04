import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { startGlueCatalog } from "./emulators/glue.ts";
import { startIamGateway } from "./iam/gateway.ts";
import { assertPublicPortsFree, portProblem } from "./public-ports.ts";
import { startS3Gateway } from "./sources/s3-gateway.ts";

/** Servers standing for other programs (LocalStack, another local cloud) on ports the local cloud wants. */
const others: net.Server[] = [];
afterEach(() => {
  for (const server of others.splice(0)) server.close();
});

/** Listens on `port` (`0`: a free one) as another program; resolves to the port, or undefined if it was taken. */
function occupy(port = 0): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(undefined));
    server.listen(port, "127.0.0.1", () => {
      others.push(server);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

/** Two consecutive ports held by other programs. */
async function occupyTwoConsecutive(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const first = (await occupy()) as number;
    if (first < 65535 && (await occupy(first + 1))) return first;
  }
  throw new Error("no two consecutive free ports found");
}

describe("assertPublicPortsFree", () => {
  it("names every port in use with its service, and suggests a base port whose six ports are free", async () => {
    // Prepare: the first two ports (SNS/SQS, S3) held by another program.
    const base = await occupyTwoConsecutive();
    // Act
    const error = await assertPublicPortsFree(base).then(
      () => undefined,
      (err: Error) => err,
    );
    // Assess
    expect(error?.message).toContain(`ports ${base} (SNS/SQS), ${base + 1} (S3) are in use`);
    expect(error?.message).toContain(`the local cloud needs the six ports ${base}-${base + 5}`);
    const suggested = Number(/--base-port (\d+)/.exec(error?.message ?? "")?.[1]);
    expect(suggested).toBeGreaterThan(base + 5);
    for (let port = suggested; port < suggested + 6; port++) expect(await portProblem(port)).toBeUndefined();
  });

  it("does not check base port 0 (free ports are picked at start), and refuses a base port out of range", async () => {
    await expect(assertPublicPortsFree(0)).resolves.toBeUndefined();
    for (const wrong of [-1, 1.5, Number.NaN, 65531]) {
      await expect(assertPublicPortsFree(wrong)).rejects.toThrow(
        `--base-port must be 0 (free ports) or a port from 1 to 65530, got ${wrong}`,
      );
    }
  });
});

describe("the local cloud's in-process servers on a port in use", () => {
  // A port taken between the check and the listen: the start rejects (the local cloud then stops what it started),
  // where an `error` event nobody handled killed the process.
  const starts = {
    "IAM gateway": (port: number) =>
      startIamGateway({
        family: "s3",
        upstream: "http://127.0.0.1:1",
        port,
        region: "us-east-1",
        accountId: "000000000000",
        identityOf: () => undefined,
      }),
    "S3 gateway": (port: number) => startS3Gateway({ upstream: "http://127.0.0.1:1", port, onChange: () => {} }),
    "Glue Data Catalog": (port: number) => startGlueCatalog({ port, accountId: "000000000000" }),
  };

  for (const [name, start] of Object.entries(starts)) {
    it(`${name}: its start rejects, naming the port`, async () => {
      const busy = (await occupy()) as number;
      await expect(start(busy)).rejects.toThrow(`EADDRINUSE: address already in use 127.0.0.1:${busy}`);
    });
  }
});
