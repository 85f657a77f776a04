/**
 * In-memory fakes of the pricing ports for tests and benchmarks: a catalog with the same conditional-write
 * semantics as the DynamoDB adapter (version check and one history record per request), and a model that runs
 * the reference model in process.
 */
import { type DemandCounts, parseWindowKey, sumCounts } from "./demand-windows.ts";
import type { DemandWindowStore } from "./hydration.ts";
import { decodeModelRequest, encodeModelAnswer, type ModelContentType, type Prediction } from "./model-contract.ts";
import type { ApplyResult, CatalogRepository, PriceChange, PricingModel } from "./ports.ts";
import { featureError, REFERENCE_MODEL_VERSION, suggestAdjustment } from "./reference-model.ts";
import type { DemandFeatures } from "./schemas.ts";

export interface MemoryCatalog extends CatalogRepository {
  items: Map<string, Record<string, unknown>>;
  history: PriceChange[];
}

export function createMemoryCatalog(items: ReadonlyArray<Record<string, unknown>> = []): MemoryCatalog {
  const map = new Map(items.map((item) => [String(item.productId), { ...item }]));
  const history: PriceChange[] = [];
  const applied = new Set<string>();
  return {
    items: map,
    history,
    async getItems(ids) {
      return new Map(ids.flatMap((id) => (map.has(id) ? [[id, { ...map.get(id) }] as const] : [])));
    },
    async getItem(id) {
      const item = map.get(id);
      return item ? { ...item } : undefined;
    },
    async applyChange(change): Promise<ApplyResult> {
      if (applied.has(`${change.productId}#${change.windowEnd}#${change.requestId}`)) return "duplicate";
      const item = map.get(change.productId);
      if (!item || Number(item.version ?? 0) !== change.expectedVersion) return "conflict";
      map.set(change.productId, {
        ...item,
        price: change.newPrice,
        version: change.expectedVersion + 1,
        updatedAt: change.changedAt,
        lastRequestId: change.requestId,
        lastChangedAt: change.changedAt,
        lastWindowEnd: change.windowEnd,
        modelVersion: change.modelVersion,
      });
      applied.add(`${change.productId}#${change.windowEnd}#${change.requestId}`);
      history.push(change);
      return "applied";
    },
  };
}

/** The reference model in process, with the container's wire format. */
export function createInProcessModel(): PricingModel & { calls: number } {
  const model = {
    calls: 0,
    async invoke(body: string, contentType: ModelContentType) {
      model.calls++;
      const predictions = decodeModelRequest(body, contentType).map((f): Prediction => {
        const error = featureError(f);
        return error ? { error } : { adjustment: suggestAdjustment(f as unknown as DemandFeatures) };
      });
      return {
        body: encodeModelAnswer({ modelVersion: REFERENCE_MODEL_VERSION, predictions }, contentType),
        contentType,
      };
    },
  };
  return model;
}

/** An in-memory `DemandWindowStore` with the DynamoDB adapter's conditions. */
export function createMemoryWindowStore() {
  const parts = new Map<string, Map<string, { counts: DemandCounts; lastSequence: string }>>();
  const watermarks = new Map<string, number>();
  const open = new Map<string, Set<string>>();
  const store: DemandWindowStore & { parts: typeof parts } = {
    parts,
    async watermark(shardId) {
      return watermarks.get(shardId) ?? 0;
    },
    async countedSequences(shardId, keys) {
      return new Map(
        keys.flatMap((key) => {
          const part = parts.get(key)?.get(shardId);
          return part ? [[key, part.lastSequence] as const] : [];
        }),
      );
    },
    async addCounts(key, shardId, counts, lastSequence, expected) {
      const window = parts.get(key) ?? new Map();
      const part = window.get(shardId);
      if (part?.lastSequence !== expected) throw new Error(`conditional check failed for ${key} ${shardId}`);
      window.set(shardId, { counts: sumCounts([part?.counts ?? sumCounts([]), counts]), lastSequence });
      parts.set(key, window);
    },
    async markOpen(shardId, watermarkMs, keys) {
      watermarks.set(shardId, Math.max(watermarks.get(shardId) ?? 0, watermarkMs));
      const set = open.get(shardId) ?? new Set();
      for (const key of keys) set.add(key);
      open.set(shardId, set);
    },
    async openWindowsUpTo(shardId, maxStartMs) {
      return [...(open.get(shardId) ?? [])].filter((key) => parseWindowKey(key).windowStartMs <= maxStartMs);
    },
    async markClosed(shardId, keys) {
      for (const key of keys) open.get(shardId)?.delete(key);
    },
    async windowCounts(key) {
      return sumCounts([...(parts.get(key)?.values() ?? [])].map((p) => p.counts));
    },
  };
  return store;
}
