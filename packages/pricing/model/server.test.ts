/**
 * The reference model container's contract, over HTTP, served in the test's own process: `GET /ping`,
 * `POST /invocations` with several records in `text/csv` and `application/json`, answers in order with the model
 * version, per-record errors isolated. The same server started the way the Dockerfile starts it is in
 * server.container.test.ts.
 */
import type { AddressInfo } from "node:net";
import { STRONG_DEMAND as STRONG, WEAK_DEMAND as WEAK } from "@sluice/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeModelAnswer, encodeModelRequest } from "../src/model-contract.ts";
import { REFERENCE_MODEL_VERSION } from "../src/reference-model.ts";
import { createPricingModelServer } from "./server.ts";

async function invoke(base: string, body: string, contentType: string) {
  const res = await fetch(`${base}/invocations`, { method: "POST", body, headers: { "content-type": contentType } });
  return {
    status: res.status,
    contentType: res.headers.get("content-type") ?? "",
    attributes: res.headers.get("x-amzn-sagemaker-custom-attributes"),
    body: await res.text(),
  };
}

describe("pricing model container (in process)", () => {
  const server = createPricingModelServer();
  let base: string;
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("answers GET /ping with 200", async () => {
    expect((await fetch(`${base}/ping`)).status).toBe(200);
  });

  it.each(["text/csv", "application/json"] as const)(
    "scores several records per %s request, in order",
    async (type) => {
      const out = await invoke(base, encodeModelRequest([STRONG, WEAK, STRONG], type), type);
      expect(out.status).toBe(200);
      expect(out.contentType).toBe(type);
      expect(out.attributes).toBe(`model-version=${REFERENCE_MODEL_VERSION}`);
      const answer = decodeModelAnswer(out.body, out.contentType, 3);
      expect(answer.modelVersion).toBe(REFERENCE_MODEL_VERSION);
      const [up, down, again] = answer.predictions as Array<{ adjustment: number }>;
      expect(up?.adjustment).toBeGreaterThan(0);
      expect(down?.adjustment).toBeLessThan(0);
      expect(again).toEqual(up);
    },
  );

  it("isolates a record it cannot score", async () => {
    const out = await invoke(base, "5000,1500,600,300,12\n5000,abc,1,1,1\n5000,50,5,1,5000", "text/csv");
    const answer = decodeModelAnswer(out.body, out.contentType, 3);
    expect(answer.predictions[1]).toEqual({ error: "clicks is not a number" });
    expect(answer.predictions[0]).toHaveProperty("adjustment");
    expect(answer.predictions[2]).toHaveProperty("adjustment");
  });

  it("refuses what it cannot read: 415 for another content type, 400 for a malformed body", async () => {
    expect((await invoke(base, "{}", "application/x-protobuf")).status).toBe(415);
    expect((await invoke(base, "{not json", "application/json")).status).toBe(400);
    expect((await invoke(base, '{"rows":[]}', "application/json")).status).toBe(400);
  });
});
