/**
 * `pnpm bench files`: figures for the file pipelines, printed, never asserted.
 *
 * - FileMover throughput on the local cloud: N small files put into the Inbox under `incoming/`, time until every one
 *   is in the Lake (the deployed handler in the function host, through the S3 gateway's notifications);
 * - requests per moved object: the mover's code path (the same adapters the handler uses) run in this process over
 *   SDK clients whose middleware counts every request, for a single-part and a multipart-uploaded source;
 * - FileDeleter throughput: a prefix of M objects deleted through a request object, until the report says done;
 * - the multipart copy plan (part size, part count, parallelism) for 50 GB, 50 GiB and 5 TiB objects.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { SNSClient } from "@aws-sdk/client-sns";
import { createSnsAuditSink } from "@sluice/aws/audit";
import { createS3MoverStore } from "@sluice/aws/files";
import { defaultRoutingRules, GiB, MiB, moveObject, planMultipartCopy, TiB } from "@sluice/files";
import { startLocalCloud } from "@sluice/local/cloud";

const FILES = Number(process.env.BENCH_FILES ?? 300);
const DELETE_OBJECTS = Number(process.env.BENCH_DELETE_OBJECTS ?? 5000);

const stateDir = mkdtempSync(path.join(tmpdir(), "sluice-bench-files-"));
const cloud = await startLocalCloud({ basePort: 0, stateDir, writeEnvFile: false, models: [] });
const credentials = { accessKeyId: "local", secretAccessKey: "local" };
const s3 = new S3Client({ region: "us-east-1", endpoint: cloud.endpoints.s3, forcePathStyle: true, credentials });
const inbox = cloud.resources.buckets.Inbox as string;
const lake = cloud.resources.buckets.Lake as string;

async function count(bucket: string, prefix: string): Promise<number> {
  let n = 0;
  let token: string | undefined;
  do {
    const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    n += out.KeyCount ?? out.Contents?.length ?? 0;
    token = out.IsTruncated ? out.NextContinuationToken : undefined;
  } while (token);
  return n;
}

async function inBatches<T>(items: readonly T[], size: number, work: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(work));
}

try {
  // 1. FileMover throughput (small files, the deployed handler).
  const keys = Array.from({ length: FILES }, (_, i) => `incoming/bench/file-${String(i).padStart(5, "0")}.csv`);
  const started = performance.now();
  await inBatches(keys, 25, (key) =>
    s3.send(new PutObjectCommand({ Bucket: inbox, Key: key, Body: "id,value\n1,2\n" })),
  );
  const putMs = performance.now() - started;
  // Polled rather than cloud.idle(), whose own settling time would dominate the figure.
  let moved = await count(lake, "raw/bench/");
  while (moved < FILES && performance.now() - started < 300_000) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    moved = await count(lake, "raw/bench/");
  }
  const movedMs = performance.now() - started;
  const left = await count(inbox, "incoming/bench/");
  console.log(`FileMover, ${FILES} small files on the local cloud (function pool of 4):`);
  console.log(
    `  moved ${moved}/${FILES} (${left} left in the Inbox) in ${(movedMs / 1000).toFixed(1)} s, puts took ${(putMs / 1000).toFixed(1)} s`,
  );
  console.log(`  ${(moved / (movedMs / 1000)).toFixed(1)} objects moved per second, end to end`);

  // 2. Requests per moved object, counted by SDK middleware on the adapters the handler uses.
  const requests: string[] = [];
  const countRequests = (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => {
    return async (args: unknown) => {
      requests.push(context.commandName ?? "?");
      return next(args);
    };
  };
  type Stack = { add(middleware: typeof countRequests, options: { step: "initialize"; name: string }): void };
  const counting = <C extends S3Client | SNSClient>(client: C): C => {
    (client.middlewareStack as unknown as Stack).add(countRequests, { step: "initialize", name: "countRequests" });
    return client;
  };
  const countedS3 = counting(
    new S3Client({ region: "us-east-1", endpoint: cloud.endpoints.s3, forcePathStyle: true, credentials }),
  );
  const countedSns = counting(new SNSClient({ region: "us-east-1", endpoint: cloud.endpoints.sns, credentials }));
  const deps = {
    store: createS3MoverStore(countedS3),
    audit: createSnsAuditSink(countedSns, cloud.resources.topics.Audit as string),
    rules: defaultRoutingRules,
    buckets: { Lake: lake },
  };
  // Under a prefix no trigger watches, so that only this process moves them.
  const single = await s3.send(new PutObjectCommand({ Bucket: inbox, Key: "bench-direct/single.csv", Body: "a,b\n" }));
  const { UploadId } = await s3.send(
    new CreateMultipartUploadCommand({ Bucket: inbox, Key: "bench-direct/multi.bin" }),
  );
  const parts = [];
  for (const [i, size] of [5 * MiB, 1 * MiB].entries()) {
    const { ETag } = await s3.send(
      new UploadPartCommand({
        Bucket: inbox,
        Key: "bench-direct/multi.bin",
        UploadId,
        PartNumber: i + 1,
        Body: Buffer.alloc(size, i),
      }),
    );
    parts.push({ PartNumber: i + 1, ETag });
  }
  const multi = await s3.send(
    new CompleteMultipartUploadCommand({
      Bucket: inbox,
      Key: "bench-direct/multi.bin",
      UploadId,
      MultipartUpload: { Parts: parts },
    }),
  );
  const tally = () => {
    const byName = new Map<string, number>();
    for (const r of requests.splice(0)) byName.set(r, (byName.get(r) ?? 0) + 1);
    const total = [...byName.values()].reduce((a, b) => a + b, 0);
    return `${total} (${[...byName.entries()].map(([n, c]) => `${n.replace(/Command$/, "")} ${c}`).join(", ")})`;
  };
  const eventTime = new Date();
  // The objects are under a prefix no trigger watches (only this process moves them), filed by a rule of their own.
  const rules = {
    version: 1,
    rules: [
      { name: "bench", match: { prefix: "bench-direct/" }, destination: { bucket: "Lake", key: "bench-moved/{name}" } },
    ],
  };
  for (const [label, key, eTag, size] of [
    ["single-part source", "bench-direct/single.csv", single.ETag, 4],
    ["multipart source (6 MiB, 2 parts)", "bench-direct/multi.bin", multi.ETag, 6 * MiB],
  ] as const) {
    const outcome = await moveObject(
      { bucket: inbox, key, size, eTag: (eTag ?? "").replace(/"/g, ""), eventTime },
      { ...deps, rules },
    );
    const verified = "verifiedBy" in outcome ? `, verified by ${outcome.verifiedBy}` : "";
    console.log(`requests per moved object, ${label}: ${tally()} -> ${outcome.outcome}${verified}`);
  }

  // 3. FileDeleter throughput.
  const doomed = Array.from({ length: DELETE_OBJECTS }, (_, i) => `bench-erase/obj-${String(i).padStart(6, "0")}`);
  await inBatches(doomed, 50, (key) => s3.send(new PutObjectCommand({ Bucket: lake, Key: key, Body: "x" })));
  await cloud.idle();
  const deleteStarted = performance.now();
  await s3.send(
    new PutObjectCommand({
      Bucket: inbox,
      Key: "requests/delete/bench.json",
      Body: JSON.stringify({ bucket: "Lake", prefixes: ["bench-erase/"], reason: "bench" }),
    }),
  );
  let report: { status?: string; counts?: { deleted: number; batches: number }; timings?: { durationMs: number } } = {};
  while (report.status !== "completed" && performance.now() - deleteStarted < 300_000) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    try {
      const out = await s3.send(new GetObjectCommand({ Bucket: inbox, Key: "reports/delete/bench.json" }));
      report = JSON.parse((await out.Body?.transformToString()) ?? "{}");
    } catch {
      // not written yet
    }
  }
  const deleteMs = performance.now() - deleteStarted;
  console.log(
    `FileDeleter, a ${DELETE_OBJECTS}-object prefix: ${report.status}, ${report.counts?.deleted} deleted in ${report.counts?.batches} DeleteObjects batches`,
  );
  console.log(
    `  ${(deleteMs / 1000).toFixed(1)} s end to end, ${((report.counts?.deleted ?? 0) / (deleteMs / 1000)).toFixed(0)} objects deleted per second (deleting: ${report.timings?.durationMs} ms)`,
  );
} finally {
  s3.destroy();
  await cloud.stop();
}

// 4. Multipart copy plans.
for (const [label, size] of [
  ["50 GB", 50 * 1000 ** 3],
  ["50 GiB", 50 * GiB],
  ["1 TiB", TiB],
  ["5 TiB", 5 * TiB],
] as const) {
  const plan = planMultipartCopy(size);
  console.log(
    `multipart copy of ${label}: ${plan.parts.length} parts of ${plan.partBytes / MiB} MiB (last ${((plan.parts.at(-1)?.end ?? 0) - (plan.parts.at(-1)?.start ?? 0) + 1) / MiB} MiB), ${plan.parallelism} in parallel`,
  );
}
