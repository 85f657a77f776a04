/**
 * `pnpm bench anomaly-alert`: AnomalyAlert's domain in this process, on generated clickstream (3 sites, a CTR
 * collapse), with the in-memory state store. Prints, asserts nothing:
 * - decode + aggregate throughput (base64 JSON -> validated events -> event-time windows), records/s, and the time
 *   for one 10 000-record batch;
 * - the whole batch path (decode, aggregate, score closed windows, alert policy, commit), records/s;
 * - state bytes: the stream item and the largest series item (JSON).
 */
import {
  createMemoryStateStore,
  DEFAULT_PIPELINE,
  decodeRecord,
  processClickstreamBatch,
  type RawRecord,
} from "@sluice/anomaly/pipeline";
import { applyRecords, emptyWindowingState } from "@sluice/anomaly/windowing";
import { generateClickstream, parseIncident } from "@sluice/local/push/clickstream-generator";

const start = Date.UTC(2026, 2, 1);
const events = [
  ...generateClickstream({
    sites: 3,
    rate: 20,
    start,
    durationMs: 7 * 3_600_000,
    incidents: [parseIncident("ctr-collapse@+6h", start)],
    seed: 1,
  }),
];
const records: RawRecord[] = events.map((e, i) => ({
  shardId: i % 2 === 0 ? "shardId-000000000000" : "shardId-000000000001",
  sequenceNumber: String(49_000_000_000_000 + i),
  data: Buffer.from(JSON.stringify(e)).toString("base64"),
}));
const now = Date.now();

function decodeAndAggregate(batch: readonly RawRecord[], state = emptyWindowingState()) {
  const decoded = batch.map((r) => decodeRecord(r, now, DEFAULT_PIPELINE.maxFutureMs));
  return applyRecords(state, decoded, DEFAULT_PIPELINE.windowing, now).state;
}

// Warm up the JIT, then measure.
decodeAndAggregate(records.slice(0, 20_000));
let t = performance.now();
let state = emptyWindowingState();
for (let i = 0; i < records.length; i += 10_000) state = decodeAndAggregate(records.slice(i, i + 10_000), state);
const decodeMs = performance.now() - t;
t = performance.now();
decodeAndAggregate(records.slice(0, 10_000));
const batchMs = performance.now() - t;
console.log(`clickstream: ${records.length} records (7 h, 3 sites, 20 events/s)`);
console.log(
  `  decode + aggregate: ${Math.round(records.length / (decodeMs / 1000))} records/s; one 10 000-record batch: ${batchMs.toFixed(1)} ms`,
);

const store = createMemoryStateStore();
const alerts: unknown[] = [];
t = performance.now();
for (let i = 0; i < records.length; i += 1000) {
  await processClickstreamBatch(records.slice(i, i + 1000), {
    store,
    alerts: { publish: async (a) => void alerts.push(a) },
    now: () => now,
  });
}
const fullMs = performance.now() - t;
console.log(
  `  whole batch path (1 000-record batches, in-memory store): ${Math.round(records.length / (fullMs / 1000))} records/s, ${alerts.length} alerts`,
);
const seriesBytes = [...store.series.values()].map((s) => Buffer.byteLength(JSON.stringify(s)));
console.log(
  `  state: stream item ${Buffer.byteLength(JSON.stringify(store.stream))} bytes; ${seriesBytes.length} series, largest ${Math.max(...seriesBytes)} bytes`,
);
