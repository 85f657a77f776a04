import { describe, expect, it, vi } from "vitest";
import { coldStart, lambdaContext, s3Event } from "#kit/testing";

// The function's ports in memory: its S3 buckets and its Audit topic (the adapters have tests of their own).
const { store, audit } = await vi.hoisted(async () => {
  const { MemoryS3 } = await import("@sluice/files/fixtures");
  const { memoryAuditSink } = await import("#kit/testing");
  return { store: new MemoryS3({ inbox: {}, lake: { versioned: true } }), audit: memoryAuditSink() };
});
vi.mock("@sluice/aws/files", () => ({ createS3MoverStore: () => store }));
vi.mock("@sluice/aws/audit", () => ({ createSnsAuditSink: () => audit }));

const fn = coldStart(
  "FileMover",
  {
    Inbox: { name: "inbox" },
    Lake: { name: "lake" },
    Audit: { arn: "arn:aws:sns:us-east-1:123456789012:Audit" },
  },
  {},
  () => import("./index.ts"),
  audit,
);

function landed(key: string, body = "a,b\n1,2\n") {
  const { eTag } = store.put("inbox", key, { body: Buffer.from(body) });
  return { key, size: body.length, eTag };
}

describe("FileMover handler", () => {
  it("files each object of the notification into the Lake, logging and auditing it under S3's request id", async () => {
    const file = landed("incoming/orders/2026/day one.csv");

    await fn.handler(s3Event("inbox", [{ ...file, requestId: "REQ-1" }]), lambdaContext("FileMover", "inv-1"));

    const to = "raw/orders/dt=2026-12-05/2026/day one.csv";
    expect(store.current("lake", to)?.body.toString()).toBe("a,b\n1,2\n");
    expect(store.current("inbox", file.key)).toBeUndefined();
    expect(fn.stdout.logs()).toEqual([
      expect.objectContaining({
        level: "INFO",
        message: "file-mover",
        outcome: "moved",
        to: `s3://lake/${to}`,
        function_request_id: "inv-1",
        correlation_id: "REQ-1",
      }),
    ]);
    expect(audit.messages).toEqual([
      expect.objectContaining({ pipeline: "file-mover", outcome: "succeeded", correlationId: "REQ-1" }),
    ]);
  });

  it("moves the other records when one fails, then fails the invocation so that Lambda retries the event", async () => {
    const first = landed("incoming/a.csv");
    const second = landed("incoming/b.csv");
    store.faults.push({ op: "copyObject", error: new Error("SlowDown: please reduce your request rate") });

    await expect(fn.handler(s3Event("inbox", [first, second]), lambdaContext("FileMover", "inv-2"))).rejects.toThrow(
      "SlowDown: please reduce your request rate",
    );

    expect(store.current("inbox", first.key)).toBeDefined();
    expect(store.current("inbox", second.key)).toBeUndefined();
    expect(fn.stdout.logs().map((line) => [line.level, line.message])).toEqual([
      ["ERROR", "move failed"],
      ["INFO", "file-mover"],
      ["ERROR", "Invocation failed"],
    ]);
  });

  it("gives the move the invocation's time left, less a margin: with 20 s left, nothing is copied and the invocation fails", async () => {
    const file = landed("incoming/late.csv");

    await expect(fn.handler(s3Event("inbox", [file]), lambdaContext("FileMover", "inv-4", 20_000))).rejects.toThrow(
      /no time left before the deadline: not started/,
    );

    expect(store.current("inbox", file.key)).toBeDefined();
    expect(store.keys("lake")).not.toContain("raw/_unsorted/dt=2026-12-05/late.csv");
    expect(audit.messages).toEqual([expect.objectContaining({ outcome: "failed" })]);
  });

  it("does nothing for S3's test event (sent when the notification is configured)", async () => {
    const testEvent = { Service: "Amazon S3", Event: "s3:TestEvent", Bucket: "inbox" };

    await fn.handler(testEvent as never, lambdaContext("FileMover", "inv-3"));

    expect(fn.stdout.logs()).toEqual([]);
    expect(audit.messages).toEqual([]);
  });
});
