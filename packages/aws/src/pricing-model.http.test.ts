/**
 * The SageMaker runtime client PriceInference calls its model with, against a loopback server that takes the request
 * and never answers: the client gives up after its request timeout, and the adapter reports that as a retryable
 * model failure (the pricing flow decides whether a retry still fits in the invocation).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { ModelCallFailed } from "@sluice/pricing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSageMakerModel, sageMakerRuntimeClient } from "./pricing-model.ts";

let server: Server;
let endpoint: string;
let received = 0;

beforeAll(async () => {
  server = createServer((request) => {
    received++;
    request.resume();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe("sageMakerRuntimeClient", () => {
  it("gives up on a model that does not answer within its request timeout, once, as a retryable failure", async () => {
    const client = sageMakerRuntimeClient(
      { connectionTimeoutMs: 1_000, requestTimeoutMs: 300 },
      { endpoint, region: "us-east-1", credentials: { accessKeyId: "local", secretAccessKey: "local" } },
    );
    const model = createSageMakerModel(client, "sluice-test-pricingmodel");

    const error = await model.invoke('{"instances":[]}', "application/json").catch((err: unknown) => err);

    expect(error).toBeInstanceOf(ModelCallFailed);
    expect(error).toMatchObject({ retryable: true, code: "TimeoutError" });
    // The flow owns retries: the SDK sent the request once.
    expect(received).toBe(1);
    client.destroy();
  });
});
