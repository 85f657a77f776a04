/**
 * Price inference end to end, on the local cloud or a deployed stage (test/e2e/target.ts), with the real wiring
 * (PriceInference on the InferenceRequests stream, the reference model behind the SageMaker endpoint) and the real
 * AWS SDK: requests put into `InferenceRequests` end as guarded price changes in `Catalog`, with their `PriceHistory`
 * records and `Audit` messages; a poison request ends in PriceInferenceDlq with its record and reason (on the Audit
 * topic too) and does not stop the next request; an unknown product changes nothing; a replayed request applies once;
 * concurrent writers against the table never lose an update; and a clickstream event dated far in the future is refused by
 * DemandHydration (Audit, DemandHydrationDlq with its data) without closing its shard's windows.
 */
import {
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { marshall, unmarshall } from "@aws-sdk/util-dynamodb";
import { catalogItem as catalogFixture, STRONG_DEMAND as STRONG, WEAK_DEMAND as WEAK } from "@sluice/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDynamoCatalog } from "../../packages/aws/src/pricing.ts";
import { runPush } from "../../packages/local/src/push/cli.ts";
import { putRecords } from "../../packages/local/src/push/sinks/kinesis.ts";
import { priceRequests } from "../../packages/pricing/src/inference.ts";
import { decodeModelRequest, encodeModelAnswer } from "../../packages/pricing/src/model-contract.ts";
import type { PriceChange, PricingModel } from "../../packages/pricing/src/ports.ts";
import { startTarget, type Target } from "./target.ts";
import type { TopicTap } from "./topic-tap.ts";

interface AuditRecord {
  pipeline: string;
  outcome: string;
  reason?: string;
  requestId?: string;
  productId?: string;
  sequenceNumber?: string;
  [field: string]: unknown;
}

describe("price inference", () => {
  let target: Target;
  let dynamo: DynamoDBClient;
  let tables: { catalog: string; requests: string; history: string };
  let auditTap: TopicTap;
  const audit: AuditRecord[] = [];
  let seq = 0;

  beforeAll(async () => {
    target = await startTarget({ name: "pricing" });
    dynamo = target.clients.dynamodb;
    tables = {
      catalog: target.resources.tables.Catalog as string,
      requests: target.resources.tables.InferenceRequests as string,
      history: target.resources.tables.PriceHistory as string,
    };
    // A queue of our own on the Audit topic, to read exactly what PriceInference reported.
    auditTap = await target.tap("Audit");
  }, 180_000);

  afterAll(async () => {
    await target?.stop();
  });

  async function seed(productId: string, extra: Record<string, unknown> = {}) {
    const item = catalogFixture(productId, {
      name: `Sneaker ${productId}`,
      updatedAt: "2026-11-01T00:00:00.000Z",
      ...extra,
    });
    await dynamo.send(new PutItemCommand({ TableName: tables.catalog, Item: marshall(item) }));
  }

  async function putRequest(productId: string, features: Record<string, unknown>, requestId = `req-${++seq}`) {
    const request = {
      requestId,
      productId,
      windowStart: "2026-11-23T09:50:00.000Z",
      windowEnd: "2026-11-23T09:55:00.000Z",
      ...features,
    };
    await dynamo.send(new PutItemCommand({ TableName: tables.requests, Item: marshall(request) }));
    return requestId;
  }

  async function catalogItem(productId: string) {
    const out = await dynamo.send(
      new GetItemCommand({ TableName: tables.catalog, Key: { productId: { S: productId } }, ConsistentRead: true }),
    );
    return out.Item ? unmarshall(out.Item) : undefined;
  }

  async function history(productId: string) {
    const out = await dynamo.send(
      new QueryCommand({
        TableName: tables.history,
        KeyConditionExpression: "productId = :p",
        ExpressionAttributeValues: { ":p": { S: productId } },
      }),
    );
    return (out.Items ?? []).map((i) => unmarshall(i));
  }

  /** Adds what was published on Audit since the last drain to `audit`. */
  async function drainAudit(): Promise<void> {
    for (const body of await auditTap.drain()) {
      audit.push((typeof body.Message === "string" ? JSON.parse(body.Message) : body) as AuditRecord);
    }
  }

  const auditOf = (requestId: string) => audit.filter((a) => a.requestId === requestId);

  it("raises a strong-demand product by at most 10 % and cuts a weak one by at most 10 %, never below cost * 1.10", async () => {
    await seed("fs-up");
    await seed("fs-down");
    await seed("fs-floor", { price: 70, minPrice: 50 });
    const up = await putRequest("fs-up", STRONG);
    const down = await putRequest("fs-down", WEAK);
    const floor = await putRequest("fs-floor", WEAK);

    await target.eventually("the three price changes", async () => {
      expect(await catalogItem("fs-up")).toMatchObject({
        price: 110,
        version: 2,
        lastRequestId: up,
        modelVersion: "demand-v1",
      });
      expect(await catalogItem("fs-down")).toMatchObject({ price: 90, version: 2, lastRequestId: down });
      expect(await catalogItem("fs-floor")).toMatchObject({ price: 66, version: 2, lastRequestId: floor });
    });
    expect(await history("fs-up")).toEqual([
      expect.objectContaining({
        oldPrice: 100,
        newPrice: 110,
        requestId: up,
        modelVersion: "demand-v1",
        reason: expect.stringMatching(/^model demand-v1 suggested \+\d+\.\d+ %; bounded by max-change-up$/),
        changedAt: expect.any(String),
      }),
    ]);
    expect((await history("fs-floor"))[0]).toMatchObject({ oldPrice: 70, newPrice: 66, clampedBy: ["min-margin"] });
    await target.eventually("the price change on Audit", async () => {
      await drainAudit();
      expect(auditOf(up)).toEqual([
        expect.objectContaining({
          pipeline: "price-inference",
          action: "price-change",
          outcome: "succeeded",
          oldPrice: 100,
          newPrice: 110,
        }),
      ]);
    });
  });

  it("sends a poison request to the DLQ with its record and reason (Audit too), without stopping the next request", async () => {
    await seed("fs-before");
    await seed("fs-after");
    const before = await putRequest("fs-before", STRONG);
    const poison = await putRequest("fs-poison", { ...STRONG, views: "lots" });
    const after = await putRequest("fs-after", STRONG);

    await target.eventually("both valid requests applied", async () => {
      expect(await catalogItem("fs-before")).toMatchObject({ price: 110, lastRequestId: before });
      expect(await catalogItem("fs-after")).toMatchObject({ price: 110, lastRequestId: after });
    });
    const refused = await target.eventually("the poison request's refusal on Audit", async () => {
      await drainAudit();
      const refused = auditOf(poison);
      expect(refused.length).toBeGreaterThan(0);
      return refused;
    });
    expect(refused[0]).toMatchObject({ outcome: "refused", reason: expect.stringContaining("views") });
    const poisonSeq = refused[0]?.sequenceNumber as string;
    expect(refused[0]).toMatchObject({ deadLetterQueue: "PriceInferenceDlq", deadLetterMessageId: expect.any(String) });

    // In PriceInferenceDlq: the stream record itself (its new image), with the reason.
    const letter = await target.eventually("the poison request in PriceInferenceDlq", async () => {
      const letters = (await target.deadLetters("PriceInference")).filter(
        (body) =>
          body.type === "PoisonRecord" && (body.record as { sequenceNumber?: string }).sequenceNumber === poisonSeq,
      );
      expect(letters.length).toBeGreaterThan(0);
      return letters[0] as { reason: string; record: { dynamodb: { NewImage: Record<string, unknown> } } };
    });
    expect(letter.reason).toBe(refused[0]?.reason);
    expect(letter.record.dynamodb.NewImage).toMatchObject({ requestId: { S: poison }, views: { S: "lots" } });
    // Each valid request was applied once, however many times the retries of the poison replayed it.
    expect(await history("fs-after")).toHaveLength(1);
  });

  it("changes nothing for an unknown product, and reports it", async () => {
    const ghost = await putRequest("fs-ghost", STRONG);
    await target.eventually("the request skipped on Audit", async () => {
      await drainAudit();
      expect(auditOf(ghost)).toEqual([expect.objectContaining({ outcome: "skipped", reason: "unknown-product" })]);
    });
    expect(await catalogItem("fs-ghost")).toBeUndefined();
    expect(await history("fs-ghost")).toEqual([]);
  });

  it("applies a replayed request once", async () => {
    await seed("fs-replay");
    const id = await putRequest("fs-replay", STRONG);
    await target.eventually("the price change", async () => {
      expect(await catalogItem("fs-replay")).toMatchObject({ price: 110, version: 2 });
    });
    // A redelivery: the same request comes through the stream again (a MODIFY with the same requestId).
    await dynamo.send(
      new UpdateItemCommand({
        TableName: tables.requests,
        Key: { requestId: { S: id } },
        UpdateExpression: "SET replayedAt = :t",
        ExpressionAttributeValues: { ":t": { S: new Date().toISOString() } },
      }),
    );
    // The replay is audited again as the change it made (read back from its history record), the same message: the
    // audit is at least once, so a change whose first message was lost (a crash before it) is never left unaudited.
    await target.eventually("the replay audited again as the same change", async () => {
      await drainAudit();
      expect(auditOf(id).map((a) => a.outcome)).toEqual(["succeeded", "succeeded"]);
    });
    // The same change; only the stream record it came through (its sequence number) is the redelivery's own.
    const [first, again] = auditOf(id).map(({ sequenceNumber: _record, ...change }) => change);
    expect(again).toEqual(first);
    expect(first).toMatchObject({ oldPrice: 100, newPrice: 110 });
    expect(await catalogItem("fs-replay")).toMatchObject({ price: 110, version: 2 });
    expect(await history("fs-replay")).toHaveLength(1);
  });

  it("turns clickstream into a price change: hydration writes one request per closed window, inference applies it", async () => {
    await seed("fs-hydra", { inventory: 12 });
    const start = Date.parse("2026-11-23T08:00:00.000Z");
    const actions = [
      ...Array(50).fill("impression"),
      ...Array(15).fill("click"),
      ...Array(6).fill("add_to_cart"),
      ...Array(3).fill("purchase"),
    ] as string[];
    const events = actions.map((action, i) => ({
      eventId: `hydra-${i}`,
      ts: new Date(start + i * 3000).toISOString(),
      site: "fast-sneakers.example",
      page: "/product/fs-hydra",
      productId: "fs-hydra",
      action,
      sessionId: `s-${i % 7}`,
    }));
    // Late but within the allowed minute: still counted. Then an event 7 minutes in closes the 08:00 window.
    const late = { ...events[0], eventId: "hydra-late", ts: "2026-11-23T08:04:30.000Z", action: "purchase" };
    const closer = { ...events[0], eventId: "hydra-closer", ts: "2026-11-23T08:07:00.000Z", action: "impression" };
    // One partition key: the product's events share a shard, and so its watermark.
    const put = (batch: object[]) =>
      putRecords(
        target.clients.kinesis,
        target.resources.streams.Clickstream as string,
        batch.map((e) => ({ partitionKey: "fs-hydra", data: Buffer.from(JSON.stringify(e)) })),
      );
    await put(events.slice(0, 40));
    await put([...events.slice(40), { eventId: "junk" }]);
    // The window is still open: no request, no change.
    await target.settle();
    expect(await catalogItem("fs-hydra")).toMatchObject({ price: 100, version: 1 });
    await put([late, closer]);

    const requestId = "demand#fs-hydra#2026-11-23T08:00:00.000Z";
    const request = await target.eventually("the window's inference request", async () => {
      const request = await dynamo.send(
        new GetItemCommand({ TableName: tables.requests, Key: { requestId: { S: requestId } }, ConsistentRead: true }),
      );
      expect(request.Item).toBeDefined();
      return request;
    });
    expect(unmarshall(request.Item ?? {})).toEqual({
      requestId,
      productId: "fs-hydra",
      windowStart: "2026-11-23T08:00:00.000Z",
      windowEnd: "2026-11-23T08:05:00.000Z",
      views: 50,
      clicks: 15,
      addToCart: 6,
      purchases: 4,
      inventory: 12,
    });
    await target.eventually("the price change", async () => {
      expect(await catalogItem("fs-hydra")).toMatchObject({ price: 110, version: 2, lastRequestId: requestId });
    });
    expect(await history("fs-hydra")).toEqual([expect.objectContaining({ requestId, oldPrice: 100, newPrice: 110 })]);
  });

  it("pnpm push catalog, inference-request and demand drive the pipeline", async () => {
    const out: string[] = [];
    const io = {
      env: target.env,
      cwd: target.dir,
      stdout: { write: (t: string) => out.push(t) },
      stderr: { write: (t: string) => out.push(t), isTTY: false },
    };
    expect(await runPush(["catalog", "--sample", "3", "--quiet"], io), out.join("")).toBe(0);
    expect(await catalogItem("fs-0001")).toMatchObject({ price: 60, cost: 36, minPrice: 48, maxPrice: 78, version: 1 });
    const request = ["inference-request", "--product", "fs-0001", "--demand", "strong", "--request-id", "push-1"];
    expect(await runPush(request, io), out.join("")).toBe(0);
    expect(await runPush(["inference-request", "--product", "fs-0003", "--views", "lots"], io)).toBe(1);
    expect(out.join("")).toMatch(/malformed, nothing was sent: views/);
    const demand = ["demand", "--product", "fs-0002", "--window-start", "2026-11-23T07:00:00.000Z", "--quiet"];
    expect(await runPush(demand, io), out.join("")).toBe(0);
    await target.eventually("both price changes", async () => {
      expect(await catalogItem("fs-0001")).toMatchObject({ price: 66, version: 2, lastRequestId: "push-1" });
      expect(await catalogItem("fs-0002")).toMatchObject({
        price: 106.7,
        version: 2,
        lastRequestId: "demand#fs-0002#2026-11-23T07:00:00.000Z",
      });
    });
  });

  it("never loses an update between concurrent writers, and refuses a replay at the table", async () => {
    await seed("fs-race", { maxPrice: 1000 });
    const catalog = createDynamoCatalog(dynamo, { catalog: tables.catalog, history: tables.history });
    // +2 % for every record: each applied change must build on the one before it.
    const model: PricingModel = {
      async invoke(body, contentType) {
        const predictions = decodeModelRequest(body, contentType).map(() => ({ adjustment: 0.02 }));
        return { body: encodeModelAnswer({ modelVersion: "fixed-2pc", predictions }, contentType), contentType };
      },
    };
    const writers = 8;
    const config = {
      guardrails: { maxChangeRatio: 0.1, minMarginRatio: 1.1, minChangeRatio: 0, cooldownMs: 0 },
      maxConflictRetries: 50,
    };
    const results = await Promise.all(
      Array.from({ length: writers }, (_, i) =>
        priceRequests(
          [
            {
              itemIdentifier: String(i),
              image: {
                requestId: `race-${i}`,
                productId: "fs-race",
                windowStart: "2026-11-23T09:50:00.000Z",
                windowEnd: "2026-11-23T09:55:00.000Z",
                ...STRONG,
              },
            },
          ],
          { model, catalog, audit: { publishAll: async () => {} }, config },
        ),
      ),
    );
    expect(results.flatMap((r) => r.failures)).toEqual([]);
    const item = await catalogItem("fs-race");
    expect(item?.version).toBe(1 + writers);
    const changes = (await history("fs-race")).sort((a, b) => a.expectedVersion - b.expectedVersion);
    expect(changes).toHaveLength(writers);
    expect(changes.map((c) => c.expectedVersion)).toEqual(Array.from({ length: writers }, (_, i) => 1 + i));
    for (let i = 1; i < changes.length; i++) expect(changes[i]?.oldPrice).toBe(changes[i - 1]?.newPrice);
    expect(item?.price).toBe(changes.at(-1)?.newPrice);

    // The same change again: refused by the history record's condition, whatever the version now is.
    const { changeId: _id, ...again } = changes.at(-1) as Record<string, unknown>;
    const replay = { ...again, expectedVersion: item?.version as number } as unknown as PriceChange;
    expect(await catalog.applyChange(replay)).toBe("duplicate");
    expect((await catalogItem("fs-race"))?.version).toBe(1 + writers);
  });

  // Last: its events move a shard's watermark to 10:07, after every window the tests above close.
  it("refuses a clickstream event dated far in the future (Audit, DemandHydrationDlq with its data) and goes on counting its shard", async () => {
    await seed("fs-future", { inventory: 7 });
    const event = (i: number, ts: string, action: string) => ({
      eventId: `future-${i}`,
      ts,
      site: "fast-sneakers.example",
      page: "/product/fs-future",
      productId: "fs-future",
      action,
      sessionId: "s-1",
    });
    const put = (batch: object[]) =>
      putRecords(
        target.clients.kinesis,
        target.resources.streams.Clickstream as string,
        batch.map((e) => ({ partitionKey: "fs-future", data: Buffer.from(JSON.stringify(e)) })),
      );
    const views = Array.from({ length: 10 }, (_, i) => event(i, `2026-11-23T10:00:0${i}.000Z`, "impression"));
    await put([...views, event(10, "2099-01-01T00:00:00.000Z", "purchase")]);
    await target.settle();
    // Later batches of the same shard: on time, counted, and the 10:00 window closes at 10:07.
    await put(Array.from({ length: 5 }, (_, i) => event(11 + i, `2026-11-23T10:01:0${i}.000Z`, "click")));
    await put([event(16, "2026-11-23T10:07:00.000Z", "impression")]);

    const requestId = "demand#fs-future#2026-11-23T10:00:00.000Z";
    await target.eventually("the window's request, the refusal on Audit and the batch in the DLQ", async () => {
      const request = await dynamo.send(
        new GetItemCommand({ TableName: tables.requests, Key: { requestId: { S: requestId } }, ConsistentRead: true }),
      );
      expect(unmarshall(request.Item ?? {})).toMatchObject({ views: 10, clicks: 5, addToCart: 0, purchases: 0 });
      await drainAudit();
      // This event's refusal: other flows' clickstream goes through DemandHydration too.
      const refused = audit.filter(
        (a) => a.pipeline === "demand-hydration" && a.outcome === "refused" && a.reason?.includes("2099-01-01"),
      );
      expect(refused.length).toBeGreaterThan(0);
      expect(refused[0]?.reason).toMatch(
        /^ts 2099-01-01T00:00:00.000Z is more than 300 s after the time of processing/,
      );
      const futureSeq = refused[0]?.sequenceNumber as string;
      const letters = (await target.deadLetters("DemandHydration")).filter(
        (body) =>
          body.type === "PoisonRecord" && (body.record as { sequenceNumber?: string }).sequenceNumber === futureSeq,
      );
      expect(letters.length).toBeGreaterThan(0);
      expect(letters[0]).toMatchObject({
        reason: refused[0]?.reason,
        record: { partitionKey: "fs-future", text: JSON.stringify(event(10, "2099-01-01T00:00:00.000Z", "purchase")) },
      });
    });
  });
});
