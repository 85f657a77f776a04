import type { DynamoDBStreamEvent } from "aws-lambda";
import { describe, expect, it, vi } from "vitest";
import { coldStart, lambdaContext } from "#kit/testing";

// The function's ports in memory: the Catalog (and its history), the model (the reference model, in process) and
// the Audit topic; the stream records go through the real decoding (`requestRecordsOf`).
const { catalog, model, audit, deadLetters } = await vi.hoisted(async () => {
  const { createMemoryCatalog, createInProcessModel } = await import("@sluice/pricing/fixtures");
  const { memoryAuditSink, memoryPoisonQueue } = await import("#kit/testing");
  const product = { name: "Kettle", price: 100, currency: "USD", cost: 60, minPrice: 80, maxPrice: 130, version: 1 };
  return {
    catalog: createMemoryCatalog([{ productId: "p-1", ...product }]),
    model: createInProcessModel(),
    audit: memoryAuditSink(),
    deadLetters: memoryPoisonQueue(),
  };
});
vi.mock("@sluice/aws/pricing", async (importOriginal) => ({
  ...(await importOriginal<typeof import("@sluice/aws/pricing")>()),
  createDynamoCatalog: () => catalog,
}));
vi.mock("@sluice/aws/pricing-model", async (importOriginal) => ({
  ...(await importOriginal<typeof import("@sluice/aws/pricing-model")>()),
  createSageMakerModel: () => model,
}));
vi.mock("@sluice/aws/audit", () => ({ createSnsAuditSink: () => audit }));
vi.mock("@sluice/aws/dead-letter", () => ({ createSqsPoisonQueue: () => deadLetters }));

const links = {
  Catalog: { name: "catalog" },
  PriceHistory: { name: "price-history" },
  Audit: { arn: "arn:aws:sns:us-east-1:123456789012:Audit" },
  PricingModel: { name: "sluice-test-pricingmodel" },
};
const fn = coldStart(
  "PriceInference",
  links,
  {
    PRICING_MAX_CHANGE: "0.05",
    SLUICE_DEAD_LETTER_QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/123456789012/PriceInferenceDlq",
  },
  () => import("./index.ts"),
  audit,
);

/** A DynamoDB stream batch (NEW_IMAGE) of these inference requests, as InferenceRequests' stream delivers it. */
function streamEvent(requests: Record<string, string | number | { N: string }>[]): DynamoDBStreamEvent {
  return {
    Records: requests.map((request, i) => ({
      eventID: `event-${i}`,
      eventName: "INSERT",
      eventVersion: "1.1",
      eventSource: "aws:dynamodb",
      awsRegion: "us-east-1",
      eventSourceARN: "arn:aws:dynamodb:us-east-1:123456789012:table/InferenceRequests/stream/2026-12-05T00:00:00.000",
      dynamodb: {
        Keys: { requestId: { S: String(request.requestId) } },
        NewImage: Object.fromEntries(
          Object.entries(request).map(([name, value]) => [
            name,
            typeof value === "number" ? { N: String(value) } : typeof value === "string" ? { S: value } : value,
          ]),
        ),
        SequenceNumber: String(100 + i),
        SizeBytes: 200,
        StreamViewType: "NEW_IMAGE",
      },
    })),
  };
}

const window = { windowStart: "2026-12-05T09:50:00.000Z", windowEnd: "2026-12-05T09:55:00.000Z" };
const strongDemand = { views: 5000, clicks: 1500, addToCart: 600, purchases: 300, inventory: 12 };

describe("PriceInference handler", () => {
  it("prices a request with the model and applies it to the Catalog within PRICING_MAX_CHANGE, with history", async () => {
    const event = streamEvent([{ requestId: "r-1", productId: "p-1", ...window, ...strongDemand }]);

    const response = await fn.handler(event, lambdaContext("PriceInference", "inv-1"));

    expect(response).toEqual({ batchItemFailures: [] });
    expect(model.calls).toBe(1);
    expect(catalog.items.get("p-1")?.price).toBe(105);
    expect(catalog.history).toEqual([expect.objectContaining({ productId: "p-1", oldPrice: 100, newPrice: 105 })]);
    expect(fn.stdout.logs()).toContainEqual(expect.objectContaining({ level: "INFO", message: "price request" }));
    expect(fn.stdout.metric("PriceChanges")).toBe(1);
  });

  it("sends a poison request to its DLQ with its stream record and reason (Audit: the message id), not as a batch item failure", async () => {
    const event = streamEvent([{ requestId: "r-2", ...window, ...strongDemand }]);
    deadLetters.sent.length = 0;

    const response = await fn.handler(event, lambdaContext("PriceInference", "inv-2"));

    expect(response).toEqual({ batchItemFailures: [] });
    expect(deadLetters.sent).toEqual([
      {
        eventSource: "aws:dynamodb",
        eventSourceArn: event.Records[0]?.eventSourceARN,
        sequenceNumber: "100",
        eventName: "INSERT",
        dynamodb: event.Records[0]?.dynamodb,
        reason: "invalid inference request: productId: must be a string",
      },
    ]);
    expect(fn.stdout.metric("DeadLettered")).toBe(1);
    // The WARN line names the dead letter too, as AnomalyAlert's and DemandHydration's do.
    expect(fn.stdout.logs()).toContainEqual(
      expect.objectContaining({
        level: "WARN",
        message: "price request not applied",
        deadLetterQueue: "PriceInferenceDlq",
        deadLetterMessageId: expect.stringMatching(/^dl-/),
      }),
    );
    expect(audit.messages).toContainEqual(
      expect.objectContaining({
        pipeline: "price-inference",
        outcome: "refused",
        sequenceNumber: "100",
        deadLetterQueue: "PriceInferenceDlq",
        deadLetterMessageId: expect.stringMatching(/^dl-/),
      }),
    );
  });

  it("leaves a poison request to the stream's retries (batch item failure) when its DLQ does not take it", async () => {
    deadLetters.refuse = "AccessDenied: no";
    try {
      const response = await fn.handler(
        streamEvent([{ requestId: "r-2b", ...window, ...strongDemand }]),
        lambdaContext("PriceInference", "inv-2b"),
      );
      expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: "100" }] });
      expect(audit.messages).toContainEqual(
        expect.objectContaining({ sequenceNumber: "100", deadLetterError: "AccessDenied: no", retried: true }),
      );
    } finally {
      deadLetters.refuse = undefined;
    }
  });

  it("refuses a count too large for a number with that reason, however DynamoDB wrote it", async () => {
    const request = { productId: "p-1", ...window, ...strongDemand };
    const event = streamEvent([
      { requestId: "r-3", ...request, views: { N: "1E+20" } },
      { requestId: "r-4", ...request, views: { N: "100000000000000000000" } },
    ]);

    const response = await fn.handler(event, lambdaContext("PriceInference", "inv-3"));

    // Both kept in PriceInferenceDlq with their records: done.
    expect(response).toEqual({ batchItemFailures: [] });
    const reasons = audit.messages.filter((m) => m.requestId === "r-3" || m.requestId === "r-4").map((m) => m.reason);
    expect(reasons).toEqual([
      "invalid inference request: views: 100000000000000000000 is not a safe integer",
      "invalid inference request: views: 100000000000000000000 is not a safe integer",
    ]);
  });

  it("logs a request the model could not price (failed) at ERROR, and a poison request (refused) at WARN", async () => {
    vi.spyOn(model, "invoke").mockResolvedValueOnce({
      body: JSON.stringify({ modelVersion: "test-1", predictions: [{ error: "model could not score" }] }),
      contentType: "application/json",
    });
    const event = streamEvent([
      { requestId: "r-5", productId: "p-1", ...window, ...strongDemand },
      { requestId: "r-6", ...window, ...strongDemand },
    ]);

    await fn.handler(event, lambdaContext("PriceInference", "inv-4"));

    expect(fn.stdout.logs().map((line) => [line.level, line.message, line.kind])).toEqual([
      ["ERROR", "price request not applied", "failed"],
      ["WARN", "price request not applied", "refused"],
    ]);
  });

  it("starts no model call the invocation's remaining time could not see to its end: the request is retried by the stream", async () => {
    const event = streamEvent([{ requestId: "r-7", productId: "p-1", ...window, ...strongDemand }]);
    const callsBefore = model.calls;

    // 30 s left: less than a model call may take (PRICING_MODEL_TIMEOUT_SECONDS) plus the time kept for the writes.
    const response = await fn.handler(event, lambdaContext("PriceInference", "inv-5", 30_000));

    expect(model.calls).toBe(callsBefore);
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: "100" }] });
    expect(audit.messages).toContainEqual(
      expect.objectContaining({ requestId: "r-7", outcome: "failed", reason: expect.stringContaining("no time left") }),
    );
  });

  it("does not start with a configuration out of bounds, saying which variable and what it takes", async () => {
    vi.resetModules();
    vi.stubEnv("PRICING_MAX_CHANGE", "2");

    await expect(import("./index.ts")).rejects.toThrow(
      'PriceInference configuration: PRICING_MAX_CHANGE="2": expected a number > 0 and < 1 (unset: 0.1)',
    );
  });
});
