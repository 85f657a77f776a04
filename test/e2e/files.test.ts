/**
 * The file pipelines end to end, on the local cloud or a deployed stage (test/e2e/target.ts), with the real wiring
 * (FileMover and FileDeleter as deployed) and the real AWS SDK: files put into the Inbox under `incoming/` end in the
 * Lake at the default routed keys, byte-identical, content type and metadata kept, the Inbox emptied; delete requests
 * dropped under `requests/delete/` delete exactly what they name and report it; refused requests delete nothing.
 *
 * The whole wiring runs, and the other flows share the cloud (or the stage): every assertion here is about objects this
 * test wrote. Delete requests are named per run, so that a report an earlier run left on a stage is never taken for
 * this one's.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createS3DeleterStore } from "../../packages/aws/src/files.ts";
import { handleDeleteTrigger } from "../../packages/files/src/index.ts";
import { runPush } from "../../packages/local/src/push/cli.ts";
import { s3EventRecord } from "../../packages/local/src/sources/s3-events.ts";
import { stageWaits } from "./stage.ts";
import { localOnly, startTarget, type Target } from "./target.ts";

const MiB = 1024 * 1024;
/** Names this run's delete requests (and so their reports). */
const run = Date.now().toString(36);

describe("file pipelines", () => {
  let target: Target;
  let s3: S3Client;
  let inbox: string;
  let lake: string;
  let started: Date;
  /** The UTC days a file put during this test can be partitioned under. */
  let days: string[];

  beforeAll(async () => {
    started = new Date();
    const before = started.toISOString().slice(0, 10);
    target = await startTarget({ name: "files" });
    s3 = target.clients.s3;
    inbox = target.resources.buckets.Inbox as string;
    lake = target.resources.buckets.Lake as string;
    // A stage run can take a while: a file put near midnight is partitioned under the next day.
    days = [...new Set([before, new Date(Date.now() + 60 * 60_000).toISOString().slice(0, 10)])];
  }, 180_000);

  afterAll(async () => {
    await target?.stop();
  });

  async function body(bucket: string, key: string): Promise<Buffer | undefined> {
    try {
      const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from(await (out.Body?.transformToByteArray() ?? new Uint8Array()));
    } catch (err) {
      if ((err as { name?: string }).name === "NoSuchKey") return undefined;
      throw err;
    }
  }

  /** Whether the object is there; only S3's 404 means "not there" (a 403, a refused connection or a wrong bucket throw). */
  async function exists(bucket: string, key: string): Promise<boolean> {
    try {
      await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return true;
    } catch (err) {
      const { name, $metadata } = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (name === "NotFound" && $metadata?.httpStatusCode === 404) return false;
      throw err;
    }
  }

  async function keysUnder(bucket: string, prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
      keys.push(...(out.Contents ?? []).map((o) => o.Key ?? ""));
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    return keys;
  }

  /** The Lake key a file was routed to: the template with one of the days this test ran on. */
  async function routed(template: (day: string) => string): Promise<string | undefined> {
    for (const day of days) if (await exists(lake, template(day))) return template(day);
    return undefined;
  }

  const files = [
    {
      name: "nested",
      key: "incoming/orders/2026/11/orders.csv",
      to: (d: string) => `raw/orders/dt=${d}/2026/11/orders.csv`,
    },
    { name: "top-level", key: "incoming/top-level.json", to: (d: string) => `raw/_unsorted/dt=${d}/top-level.json` },
    { name: "empty", key: "incoming/empty/empty.txt", to: (d: string) => `raw/empty/dt=${d}/empty.txt`, content: "" },
    {
      name: "spaces",
      key: "incoming/names/with some spaces.csv",
      to: (d: string) => `raw/names/dt=${d}/with some spaces.csv`,
    },
    { name: "plus", key: "incoming/names/a+b=c.csv", to: (d: string) => `raw/names/dt=${d}/a+b=c.csv` },
    {
      name: "%20",
      key: "incoming/names/looks%20encoded.csv",
      to: (d: string) => `raw/names/dt=${d}/looks%20encoded.csv`,
    },
    {
      name: "unicode",
      key: "incoming/données/été 日本 ✓.csv",
      to: (d: string) => `raw/données/dt=${d}/été 日本 ✓.csv`,
    },
  ];

  it("files every object at its default routed key, byte-identical with content type and metadata, and empties the Inbox", async () => {
    await Promise.all(
      files.map((f) =>
        s3.send(
          new PutObjectCommand({
            Bucket: inbox,
            Key: f.key,
            Body: Buffer.from(f.content ?? `content of ${f.name}\n`),
            ContentType: "text/csv; charset=utf-8",
            Metadata: { source: f.name, owner: "e2e" },
          }),
        ),
      ),
    );
    await s3.send(new PutObjectCommand({ Bucket: inbox, Key: "incoming/a-folder/", Body: new Uint8Array(0) }));

    await target.eventually("every file in the Lake", async () => {
      for (const f of files) {
        const to = await routed(f.to);
        expect(to, `${f.name}: ${f.key} not in the Lake`).toBeDefined();
        expect((await body(lake, to as string))?.toString()).toBe(f.content ?? `content of ${f.name}\n`);
        const head = await s3.send(new HeadObjectCommand({ Bucket: lake, Key: to }));
        expect(head.ContentType).toBe("text/csv; charset=utf-8");
        expect(head.Metadata).toEqual({ source: f.name, owner: "e2e" });
        expect(await exists(inbox, f.key), `${f.key} still in the Inbox`).toBe(false);
      }
    });
    // A folder marker is not a file: left alone, not filed.
    await target.settle();
    expect(await exists(inbox, "incoming/a-folder/")).toBe(true);
    expect(await keysUnder(lake, "raw/a-folder/")).toEqual([]);
  });

  it("files a 12 MB multipart upload byte-identical, with its content type and metadata", async () => {
    const key = "incoming/big/twelve-megabytes.bin";
    const data = Buffer.alloc(12 * MiB);
    for (let i = 0; i < data.length; i += 4) data.writeUInt32LE((i * 2654435761) >>> 0, i);
    const { UploadId } = await s3.send(
      new CreateMultipartUploadCommand({
        Bucket: inbox,
        Key: key,
        ContentType: "application/octet-stream",
        Metadata: { batch: "42" },
      }),
    );
    const parts = [];
    for (const [i, chunk] of [data.subarray(0, 8 * MiB), data.subarray(8 * MiB)].entries()) {
      const { ETag } = await s3.send(
        new UploadPartCommand({ Bucket: inbox, Key: key, UploadId, PartNumber: i + 1, Body: chunk }),
      );
      parts.push({ PartNumber: i + 1, ETag });
    }
    await s3.send(
      new CompleteMultipartUploadCommand({ Bucket: inbox, Key: key, UploadId, MultipartUpload: { Parts: parts } }),
    );

    const to = await target.eventually("the upload in the Lake", async () => {
      const to = await routed((d) => `raw/big/dt=${d}/twelve-megabytes.bin`);
      expect(to).toBeDefined();
      expect(await exists(inbox, key)).toBe(false);
      return to;
    });
    const copied = await body(lake, to as string);
    expect(copied?.length).toBe(data.length);
    expect(copied?.equals(data)).toBe(true);
    const head = await s3.send(new HeadObjectCommand({ Bucket: lake, Key: to }));
    expect(head.ContentType).toBe("application/octet-stream");
    expect(head.Metadata).toEqual({ batch: "42" });
  });

  it("treats a duplicate event as harmless: already done, nothing rewritten", async () => {
    const key = "incoming/dup/once.csv";
    const put = await s3.send(new PutObjectCommand({ Bucket: inbox, Key: key, Body: "once\n" }));
    const to = await target.eventually("the file in the Lake", async () => {
      const to = await routed((d) => `raw/dup/dt=${d}/once.csv`);
      expect(to).toBeDefined();
      expect(await exists(inbox, key)).toBe(false);
      return to as string;
    });
    const before = await s3.send(new HeadObjectCommand({ Bucket: lake, Key: to }));

    const record = s3EventRecord(
      {
        bucket: inbox,
        key,
        eventName: "ObjectCreated:Put",
        size: 5,
        eTag: put.ETag?.replace(/"/g, ""),
        sequencer: "0000000000000000FF",
        eventTime: new Date(),
        sourceIp: "127.0.0.1",
        requestId: "DUPLICATE",
      },
      { region: "us-east-1", configurationId: "FileMover-Inbox" },
    );
    const invoked = new Date();
    const result = await target.invoke("FileMover", { Records: [record] });
    expect(result.status).toBe("ok");
    // What FileMover decided for the duplicate (its own log line under the event's request id): already done, no copy.
    // The object's LastModified (second resolution) and ETag (same bytes) alone would not tell a rewrite apart.
    const decided = await target.eventually("FileMover's log line for the duplicate", async () => {
      const lines = (await target.logRecords("FileMover", invoked)).filter((r) => r.correlation_id === "DUPLICATE");
      expect(lines).toHaveLength(1);
      return lines[0];
    });
    expect(decided).toMatchObject({ message: "file-mover", outcome: "already-done", to: `s3://${lake}/${to}` });
    const after = await s3.send(new HeadObjectCommand({ Bucket: lake, Key: to }));
    expect(after.LastModified).toEqual(before.LastModified);
    expect(after.ETag).toBe(before.ETag);
  });

  async function putLake(prefix: string, count: number): Promise<string[]> {
    const keys = Array.from({ length: count }, (_, i) => `${prefix}part-${String(i).padStart(5, "0")}.json`);
    for (let i = 0; i < keys.length; i += 50) {
      await Promise.all(
        keys.slice(i, i + 50).map((key) => s3.send(new PutObjectCommand({ Bucket: lake, Key: key, Body: "{}" }))),
      );
    }
    return keys;
  }

  async function report(name: string) {
    const text = (await body(inbox, `reports/delete/${name}.json`))?.toString();
    return text === undefined ? undefined : JSON.parse(text);
  }

  /** Puts a delete request under this run's name for it. */
  const requestDelete = (name: string, text: string, contentType?: string) =>
    s3.send(
      new PutObjectCommand({
        Bucket: inbox,
        Key: `requests/delete/${name}-${run}.json`,
        ContentType: contentType,
        Body: text,
      }),
    );

  it("deletes exactly the 1,500 objects of a prefix and reports 1500", async () => {
    await putLake("erase/customer-1500/", 1500);
    await putLake("erase/customer-1500-keep/", 3);
    await putLake("erase/other/", 3);
    await requestDelete(
      "gdpr-1500",
      JSON.stringify({ bucket: "Lake", prefixes: ["erase/customer-1500/"], reason: "GDPR erasure #1500" }),
      "application/json",
    );

    await target.eventually("the deletion's report", async () => {
      expect(await report(`gdpr-1500-${run}`)).toMatchObject({
        status: "completed",
        counts: { deleted: 1500, failed: 0, listed: 1500, batches: 2 },
        request: { prefixes: ["erase/customer-1500/"], reason: "GDPR erasure #1500" },
      });
    });
    expect(await keysUnder(lake, "erase/customer-1500/")).toEqual([]);
    expect(await keysUnder(lake, "erase/customer-1500-keep/")).toHaveLength(3);
    expect(await keysUnder(lake, "erase/other/")).toHaveLength(3);
  });

  it("refuses a malformed request, a foreign bucket and an empty prefix without confirm: each deletes nothing and is reported with why", async () => {
    const refused = [
      { name: "malformed", text: "{ this is not json", code: "malformed" },
      {
        name: "foreign-bucket",
        text: JSON.stringify({ bucket: "someone-elses-bucket", prefixes: ["erase/"], reason: "r" }),
        code: "bucket-not-allowed",
      },
      {
        name: "whole-bucket-unconfirmed",
        text: JSON.stringify({ bucket: "Lake", prefixes: [""], reason: "r" }),
        code: "confirm-required",
      },
    ];
    const kept = await putLake("erase/refused/", 3);
    await Promise.all(refused.map((r) => requestDelete(r.name, r.text)));
    await target.eventually("a report of each refusal", async () => {
      for (const r of refused) {
        const written = await report(`${r.name}-${run}`);
        expect(written, r.name).toMatchObject({ status: "refused", refusal: { code: r.code } });
        expect(written.refusal.message.length, r.name).toBeGreaterThan(10);
        expect(written.counts, r.name).toBeUndefined();
      }
    });
    expect(await keysUnder(lake, "erase/refused/")).toEqual(kept);
    expect(await keysUnder(lake, "erase/customer-1500-keep/")).toHaveLength(3);
  });

  it("refuses a prefix not ending in / and a request object over 16 MiB (read by its Content-Length only), deleting nothing", async () => {
    const kept = [...(await putLake("erase/c-42/", 2)), ...(await putLake("erase/c-420/", 2))];
    await requestDelete(
      "not-a-folder",
      JSON.stringify({ bucket: "Lake", prefixes: ["erase/c-42"], reason: "GDPR #42" }),
    );
    // 17,000 keys of 1 KB: valid by the schema, 17 MB: uploaded in parts (the local S3 takes single PUTs to 11 MiB).
    const keys = Array.from(
      { length: 17_000 },
      (_, i) => `erase/c-42/${String(i).padStart(6, "0")}${"k".repeat(1000)}`,
    );
    const huge = Buffer.from(JSON.stringify({ bucket: "Lake", keys, reason: "too big" }));
    const hugeKey = `requests/delete/huge-${run}.json`;
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: inbox, Key: hugeKey }));
    const parts = [];
    for (let start = 0, n = 1; start < huge.length; start += 6 * MiB, n++) {
      const { ETag } = await s3.send(
        new UploadPartCommand({
          Bucket: inbox,
          Key: hugeKey,
          UploadId,
          PartNumber: n,
          Body: huge.subarray(start, start + 6 * MiB),
        }),
      );
      parts.push({ PartNumber: n, ETag });
    }
    await s3.send(
      new CompleteMultipartUploadCommand({ Bucket: inbox, Key: hugeKey, UploadId, MultipartUpload: { Parts: parts } }),
    );

    await target.eventually("both refusals reported", async () => {
      expect(await report(`not-a-folder-${run}`)).toMatchObject({
        status: "refused",
        refusal: { code: "prefix-not-folder", message: expect.stringContaining('"erase/c-42"') },
      });
      expect(await report(`huge-${run}`)).toMatchObject({
        status: "refused",
        refusal: { code: "too-large", message: expect.stringContaining(`${huge.length} bytes`) },
      });
    });
    expect(await keysUnder(lake, "erase/c-42")).toEqual(kept);
  });

  localOnly("fauxqs has no object versioning; on AWS the Lake is versioned and the request is carried out")(
    "fails an allVersions request loudly where the emulator cannot list versions (fauxqs), deleting nothing",
    async () => {
      const kept = await putLake("erase/versions/", 3);
      await requestDelete(
        "all-versions",
        JSON.stringify({ bucket: "Lake", prefixes: ["erase/versions/"], allVersions: true, reason: "r" }),
      );
      await target.settle();
      expect(await report(`all-versions-${run}`)).toMatchObject({
        status: "failed",
        failure: expect.stringMatching(/does not support versions/),
      });
      expect(await keysUnder(lake, "erase/versions/")).toEqual(kept);
    },
  );

  it("continues a deletion that outgrows one invocation from its saved cursor, in the next", async () => {
    await putLake("erase/continued/", 2100);
    // The first step runs here, with a budget of one batch, on a request under a key the trigger ignores (no
    // `.json` suffix), so that the FileDeleter does not race it; the continuation object it writes then triggers
    // the deployed (or local) FileDeleter, which runs the rest.
    const store = createS3DeleterStore(s3);
    const requestKey = `requests/delete/continued-${run}.manual`;
    const eTag = await store.putText({
      bucket: inbox,
      key: requestKey,
      text: JSON.stringify({ bucket: "Lake", prefixes: ["erase/continued/"], reason: "backfill gone wrong" }),
    });
    let batches = 1;
    const first = await handleDeleteTrigger(
      { kind: "object", key: requestKey, eTag },
      {
        store,
        audit: { publish: async () => {} },
        inbox,
        allowList: { Lake: lake },
        budget: () => batches-- > 0,
        remainingMs: () => 60_000,
      },
    );
    expect(first.status).toBe("continuing");

    const r = await target.eventually("the continued deletion's report", async () => {
      const r = await report(`continued-${run}.manual`);
      expect(r).toMatchObject({ status: "completed", counts: { deleted: 2100, batches: 3 }, progress: { step: 1 } });
      return r;
    });
    expect(r.timings.steps.map((s: { step: number }) => s.step)).toEqual([0, 1]);
    expect(await keysUnder(lake, "erase/continued/")).toEqual([]);
    await target.eventually("the continuation object removed", async () => {
      expect(await keysUnder(inbox, `requests/delete/.continue/continued-${run}`)).toEqual([]);
    });
  });

  it("takes a request as a direct invocation's payload", async () => {
    await putLake("erase/direct/", 12);
    const name = `direct-e2e-${run}`;
    const result = await target.invoke("FileDeleter", {
      bucket: "Lake",
      prefixes: ["erase/direct/"],
      reason: "direct invocation",
      name,
    });
    expect(result.status, JSON.stringify(result.error)).toBe("ok");
    expect(result.payload).toEqual([expect.objectContaining({ status: "completed", name })]);
    expect(await report(name)).toMatchObject({ status: "completed", counts: { deleted: 12 } });
    expect(await keysUnder(lake, "erase/direct/")).toEqual([]);
  });

  it("pnpm push file and pnpm push delete-request drive both pipelines", async () => {
    const out: string[] = [];
    const io = {
      env: target.env,
      cwd: target.dir,
      stdout: { write: (t: string) => out.push(t) },
      stderr: { write: (t: string) => out.push(t), isTTY: false },
    };
    writeFileSync(path.join(target.dir, "pushed report.csv"), "a,b\n1,2\n");
    expect(await runPush(["file", "pushed report.csv", "--key", "incoming/pushed/", "--quiet"], io)).toBe(0);
    const to = await target.eventually("the pushed file in the Lake", async () => {
      const to = await routed((d) => `raw/pushed/dt=${d}/pushed report.csv`);
      expect(to).toBeDefined();
      return to as string;
    });
    expect((await body(lake, to))?.toString()).toBe("a,b\n1,2\n");
    expect((await s3.send(new HeadObjectCommand({ Bucket: lake, Key: to }))).ContentType).toBe("text/csv");

    const request = JSON.stringify({ bucket: "Lake", prefixes: ["raw/pushed/"], reason: "cli check" });
    const name = `cli/check-${run}`;
    // `--wait` polls the report itself, for as long as a stage run waits for any outcome.
    const timeout = String(stageWaits.eventuallyMs / 1000);
    expect(await runPush(["delete-request", request, "--name", name, "--wait", "--timeout", timeout], io)).toBe(0);
    expect(out.join("")).toContain(`delete request ${name}: completed: 1 deleted, 0 failed`);
    expect(await keysUnder(lake, "raw/pushed/")).toEqual([]);

    expect(await runPush(["delete-request", '{"bucket":"Lake"}', "--name", "cli-bad"], io)).toBe(1);
    expect(out.join("")).toMatch(/malformed, nothing was sent/);
    expect(await exists(inbox, "requests/delete/cli-bad.json")).toBe(false);
  });

  it("reports every move and deletion to the Audit topic, which the SnsLogger logs", async () => {
    await target.eventually("the SnsLogger's records", async () => {
      const logged = JSON.stringify(await target.logRecords("SnsLogger", started));
      expect(logged).toContain('"pipeline":"file-mover"');
      expect(logged).toContain('"pipeline":"file-deleter"');
    });
  });
});
