/**
 * The PriceInference flow for one batch of inference requests (a DynamoDB stream batch):
 *
 * 1. validate each request; a poison request is refused with its reason, kept by `keepRefused` (the function's
 *    dead-letter queue, with its record) or else reported as a batch item failure, without stopping the others;
 * 2. read the catalog items of the batch at once; a request for an unknown product changes nothing and is
 *    reported (no model call for it);
 * 3. call the model with as few requests as the payload limit allows, `modelParallelism` at a time, retrying
 *    throttled or failed calls with back-off; the records of a call that still fails become batch item failures,
 *    and a model error on one record fails only that record. With a deadline (`remainingMs`), no call and no retry
 *    starts unless it would end (`modelCallTimeoutMs`) with `reserveMs` still left for steps 4 and 5: the records of
 *    a call that does not start are batch item failures too, which the stream retries;
 * 4. per product, in stream order: guardrails, then a conditional catalog update (optimistic concurrency on
 *    `version`) written atomically with its price history record, so a replayed request never applies twice and
 *    concurrent writers never lose an update (a conflict re-reads the item and decides again);
 * 5. every outcome goes to the audit. A replay (a retry of an invocation that applied changes, then threw before
 *    its audit went out) is audited as the change it made, read from its history record (`replayed`, audited
 *    `succeeded` with the same content): every applied change is audited `succeeded` at least once, and may be again.
 */
import type { AuditBatchPort, AuditMessage } from "@sluice/messages";
import { type RetryDeps, type RetryPolicy, withRetry } from "@sluice/retry";
import { type BatchingLimits, DEFAULT_BATCHING, mapBounded, planInvocations } from "./batching.ts";
import { DEFAULT_GUARDRAILS, type Guardrails, guardPrice } from "./guardrails.ts";
import { decodeModelAnswer, encodeModelRequest, type ModelContentType, type Prediction } from "./model-contract.ts";
import { type CatalogRepository, ModelCallFailed, type PriceChange, type PricingModel } from "./ports.ts";
import {
  type CatalogItem,
  catalogItemSchema,
  describeIssues,
  type InferenceRequest,
  parseInferenceRequest,
} from "./schemas.ts";

export const PIPELINE = "price-inference";

/** One stream record: its batch item identifier (sequence number) and its new image, unmarshalled. */
export interface RequestRecord {
  itemIdentifier: string;
  image: unknown;
  /** Why the image could not be unmarshalled (the adapter's error): refused as poison with this reason. */
  unreadable?: string;
}

/** A change as its outcome reports it (applied now, or found applied by a replay). */
interface ChangeFields {
  requestId: string;
  productId: string;
  oldPrice: number;
  newPrice: number;
  currency: string;
  modelVersion: string;
  reason: string;
}

/**
 * `applied`: the change was made now; `replayed`: the request had already been applied (a retry), its change read
 * from its history record and audited `succeeded` again, with the same content; `skipped` with reason `replay`: a
 * replay whose history record was not found.
 */
export type RecordOutcome =
  | ({ kind: "applied" } & ChangeFields)
  | ({ kind: "replayed" } & ChangeFields)
  | { kind: "skipped"; requestId: string; productId: string; reason: SkipReason; detail: string }
  | { kind: "refused"; requestId?: string; productId?: string; reason: string }
  | { kind: "failed"; requestId: string; productId: string; reason: string };

export type SkipReason =
  | "unknown-product"
  | "replay"
  | "stale"
  | "cooldown"
  | "below-threshold"
  | "infeasible-bounds"
  | "no-suggestion";

export interface PricingConfig {
  contentType: ModelContentType;
  batching: BatchingLimits;
  guardrails: Guardrails;
  retry: RetryPolicy;
  /** Model calls in flight at once. */
  modelParallelism: number;
  /** Products updated at once. */
  catalogParallelism: number;
  /** Re-reads after a version conflict before the record is failed (and retried by the stream). */
  maxConflictRetries: number;
  /**
   * The longest one model call can take: the model client's timeouts (connection and request). With a deadline, a
   * call or a retry starts only if it would end before it.
   */
  modelCallTimeoutMs: number;
  /** Time kept, after the last model call could end, for the catalog writes, the audit and the answer. */
  reserveMs: number;
}

/** Model calls: 4 attempts, back-off from 100 ms up to 2 s. */
export const DEFAULT_RETRY: Readonly<RetryPolicy> = Object.freeze({ attempts: 4, baseDelayMs: 100, maxDelayMs: 2000 });

export const DEFAULT_PRICING_CONFIG: Readonly<PricingConfig> = Object.freeze({
  contentType: "application/json",
  batching: DEFAULT_BATCHING,
  guardrails: DEFAULT_GUARDRAILS,
  retry: DEFAULT_RETRY,
  modelParallelism: 4,
  catalogParallelism: 8,
  maxConflictRetries: 5,
  // SageMaker lets a model answer for 60 s; a serverless endpoint's cold start comes on top.
  modelCallTimeoutMs: 80_000,
  reserveMs: 10_000,
});

export interface PricingDeps {
  model: PricingModel;
  catalog: CatalogRepository;
  audit: AuditBatchPort;
  config?: Partial<PricingConfig>;
  now?: () => Date;
  /**
   * Time left before the batch must be answered, ms (the invocation's remaining time: Lambda's
   * `context.getRemainingTimeInMillis`); default unbounded. Measured on its own clock, asked before each model call.
   */
  remainingMs?: () => number;
  retryDeps?: RetryDeps;
  /**
   * Keeps the records of refused requests (never processable: invalid, unreadable, too large for the model) where they
   * can be read and redriven, the function's dead-letter queue, before they are reported. Resolves, per item
   * identifier, whether it was kept (then it is done, not a batch item failure) and what its audit message adds (where
   * it is kept, or why it is not). Absent: refused records are batch item failures (the stream retries them, then
   * dead-letters a pointer to them).
   */
  keepRefused?(
    refused: ReadonlyArray<{ itemIdentifier: string; reason: string }>,
  ): Promise<Map<string, { kept: boolean; fields: Record<string, unknown> }>>;
}

export interface BatchResult {
  /** Item identifiers to report as `batchItemFailures`, in input order. */
  failures: string[];
  outcomes: Array<RecordOutcome & { itemIdentifier: string }>;
  /** InvokeEndpoint calls made, retries included. */
  modelCalls: number;
}

interface Pending {
  itemIdentifier: string;
  request: InferenceRequest;
}

/** A model error on a whole call after its retries: its records fail. */
function isRetryable(err: unknown): boolean {
  return err instanceof ModelCallFailed ? err.retryable : true;
}

/** Prices one batch of inference requests. Throws only if the audit cannot be written (the batch is retried). */
export async function priceRequests(records: readonly RequestRecord[], deps: PricingDeps): Promise<BatchResult> {
  const config: PricingConfig = { ...DEFAULT_PRICING_CONFIG, ...deps.config };
  const now = deps.now ?? (() => new Date());
  const outcomes = new Map<string, RecordOutcome>();
  let modelCalls = 0;

  // 1. Validation.
  const valid: Pending[] = [];
  for (const record of records) {
    const parsed: ReturnType<typeof parseInferenceRequest> =
      record.unreadable === undefined
        ? parseInferenceRequest(record.image)
        : { ok: false, reason: `the stream image could not be read: ${record.unreadable}` };
    if (parsed.ok) {
      valid.push({ itemIdentifier: record.itemIdentifier, request: parsed.request });
      continue;
    }
    const image = (record.image ?? {}) as { requestId?: unknown; productId?: unknown };
    outcomes.set(record.itemIdentifier, {
      kind: "refused",
      ...(typeof image.requestId === "string" ? { requestId: image.requestId } : {}),
      ...(typeof image.productId === "string" ? { productId: image.productId } : {}),
      reason: `invalid inference request: ${parsed.reason}`,
    });
  }

  // 2. Catalog items, once for the batch.
  const items = await deps.catalog.getItems([...new Set(valid.map((p) => p.request.productId))]);
  const toScore: Pending[] = [];
  const replays: Pending[] = [];
  for (const pending of valid) {
    const { request } = pending;
    const raw = items.get(request.productId);
    if (raw === undefined) {
      outcomes.set(pending.itemIdentifier, {
        kind: "skipped",
        requestId: request.requestId,
        productId: request.productId,
        reason: "unknown-product",
        detail: `product ${request.productId} is not in the catalog`,
      });
    } else if ((raw as { lastRequestId?: unknown }).lastRequestId === request.requestId) {
      replays.push(pending);
    } else {
      toScore.push(pending);
    }
  }
  await mapBounded(replays, config.catalogParallelism, async ({ itemIdentifier, request }) => {
    outcomes.set(itemIdentifier, await replayOf(request, deps.catalog));
  });

  // 3. Model calls, each only if it can end before the deadline (with the reserve left).
  const remaining = deps.remainingMs ?? (() => Number.POSITIVE_INFINITY);
  const fits = (delayMs: number) => remaining() - delayMs - config.modelCallTimeoutMs >= config.reserveMs;
  const predictions = new Map<string, { prediction: Prediction; modelVersion: string }>();
  const features = toScore.map((p) => p.request);
  const plan = planInvocations(features, config.contentType, config.batching);
  for (const index of plan.tooLarge) {
    const pending = toScore[index] as Pending;
    outcomes.set(pending.itemIdentifier, {
      kind: "refused",
      requestId: pending.request.requestId,
      productId: pending.request.productId,
      reason: "request larger than the model payload limit",
    });
  }
  await mapBounded(plan.calls, config.modelParallelism, async (indexes) => {
    const calls = indexes.map((i) => toScore[i] as Pending);
    if (!fits(0)) {
      for (const c of calls) {
        outcomes.set(c.itemIdentifier, {
          kind: "failed",
          requestId: c.request.requestId,
          productId: c.request.productId,
          reason: "not priced: no time left in this invocation for a model call (the stream retries it)",
        });
      }
      return;
    }
    const body = encodeModelRequest(
      calls.map((c) => c.request),
      config.contentType,
    );
    let outOfTime = false;
    try {
      const { value: answer } = await withRetry(
        async () => {
          modelCalls++;
          const reply = await deps.model.invoke(body, config.contentType);
          return decodeModelAnswer(reply.body, reply.contentType, calls.length);
        },
        isRetryable,
        config.retry,
        {
          ...deps.retryDeps,
          canRetryAfter: (delayMs) => {
            outOfTime = !fits(delayMs);
            return !outOfTime;
          },
        },
      );
      calls.forEach((c, i) => {
        predictions.set(c.itemIdentifier, {
          prediction: answer.predictions[i] as Prediction,
          modelVersion: answer.modelVersion,
        });
      });
    } catch (err) {
      for (const c of calls) {
        outcomes.set(c.itemIdentifier, {
          kind: "failed",
          requestId: c.request.requestId,
          productId: c.request.productId,
          reason: `model call failed: ${(err as Error).message}${outOfTime ? " (no time left in this invocation to retry it; the stream retries it)" : ""}`,
        });
      }
    }
  });

  // 4. Guardrails and conditional updates: per product in stream order, products in parallel.
  const byProduct = new Map<string, Pending[]>();
  for (const pending of toScore) {
    if (!predictions.has(pending.itemIdentifier)) continue;
    const list = byProduct.get(pending.request.productId) ?? [];
    list.push(pending);
    byProduct.set(pending.request.productId, list);
  }
  await mapBounded([...byProduct.values()], config.catalogParallelism, async (list) => {
    let cached: unknown = items.get(list[0]?.request.productId ?? "");
    for (const pending of list) {
      const { prediction, modelVersion } = predictions.get(pending.itemIdentifier) as {
        prediction: Prediction;
        modelVersion: string;
      };
      if ("error" in prediction) {
        outcomes.set(pending.itemIdentifier, {
          kind: "failed",
          requestId: pending.request.requestId,
          productId: pending.request.productId,
          reason: `model error: ${prediction.error}`,
        });
        continue;
      }
      outcomes.set(
        pending.itemIdentifier,
        await applySuggestion(pending.request, prediction.adjustment, modelVersion, cached, deps.catalog, config, now),
      );
      cached = undefined;
    }
  });

  // 5. Report.
  const ordered = records
    .map((r) => ({ itemIdentifier: r.itemIdentifier, ...(outcomes.get(r.itemIdentifier) as RecordOutcome) }))
    .filter((o) => o.kind !== undefined);
  const refused = ordered.filter((o) => o.kind === "refused");
  const kept =
    deps.keepRefused && refused.length > 0
      ? await deps.keepRefused(refused.map((o) => ({ itemIdentifier: o.itemIdentifier, reason: o.reason })))
      : new Map<string, { kept: boolean; fields: Record<string, unknown> }>();
  await deps.audit.publishAll(ordered.map((o) => ({ ...auditMessageOf(o), ...kept.get(o.itemIdentifier)?.fields })));
  return {
    failures: ordered
      .filter((o) => (o.kind === "refused" && !kept.get(o.itemIdentifier)?.kept) || o.kind === "failed")
      .map((o) => o.itemIdentifier),
    outcomes: ordered,
    modelCalls,
  };
}

/**
 * The outcome of a request already applied: its change as its history record holds it (`replayed`, audited
 * `succeeded` as when it was applied: the audit of the invocation that applied it may never have gone out), or
 * `otherwise` (by default skipped as a replay) when there is no such record. A record that cannot be read fails the request, for the stream to retry
 * it, rather than give its audit up.
 */
async function replayOf(
  request: InferenceRequest,
  catalog: CatalogRepository,
  otherwise: RecordOutcome = replayOutcome(request),
): Promise<RecordOutcome> {
  let change: PriceChange | undefined;
  try {
    change = await catalog.getChange(request);
  } catch (err) {
    return {
      kind: "failed",
      requestId: request.requestId,
      productId: request.productId,
      reason: `already applied, but its history record could not be read: ${(err as Error).message} (the stream retries it)`,
    };
  }
  if (change === undefined) return otherwise;
  // In the order of an `applied` outcome: the audit message is the one published when the change was applied.
  return {
    kind: "replayed",
    requestId: request.requestId,
    productId: request.productId,
    oldPrice: change.oldPrice,
    newPrice: change.newPrice,
    currency: change.currency,
    modelVersion: change.modelVersion,
    reason: change.reason,
  };
}

function replayOutcome(request: InferenceRequest): RecordOutcome {
  return {
    kind: "skipped",
    requestId: request.requestId,
    productId: request.productId,
    reason: "replay",
    detail: `request ${request.requestId} was already applied`,
  };
}

/** Decides and applies one suggestion, re-reading the item after a version conflict. */
async function applySuggestion(
  request: InferenceRequest,
  adjustment: number,
  modelVersion: string,
  preloaded: unknown,
  catalog: CatalogRepository,
  config: PricingConfig,
  now: () => Date,
): Promise<RecordOutcome> {
  const base = { requestId: request.requestId, productId: request.productId };
  let raw = preloaded;
  for (let attempt = 1; attempt <= config.maxConflictRetries; attempt++) {
    if (raw === undefined) raw = await catalog.getItem(request.productId);
    if (raw === undefined) {
      return {
        kind: "skipped",
        ...base,
        reason: "unknown-product",
        detail: `product ${request.productId} is not in the catalog`,
      };
    }
    const parsed = catalogItemSchema.safeParse(raw);
    if (!parsed.success)
      return { kind: "refused", ...base, reason: `invalid catalog item: ${describeIssues(parsed.error)}` };
    const item: CatalogItem = parsed.data;
    if (item.lastRequestId === request.requestId) return replayOf(request, catalog);
    if (item.lastWindowEnd !== undefined && Date.parse(request.windowEnd) < Date.parse(item.lastWindowEnd)) {
      // Older than the applied change: a request applied before it (a replay) is audited as its change.
      return replayOf(request, catalog, {
        kind: "skipped",
        ...base,
        reason: "stale",
        detail: `window ending ${request.windowEnd} is older than the applied one ending ${item.lastWindowEnd}`,
      });
    }
    const at = now();
    const guarded = guardPrice(item, adjustment, at, config.guardrails);
    if (guarded.kind === "none") return { kind: "skipped", ...base, reason: guarded.reason, detail: guarded.detail };
    const result = await catalog.applyChange({
      productId: item.productId,
      expectedVersion: item.version,
      oldPrice: item.price,
      newPrice: guarded.price,
      currency: item.currency,
      requestId: request.requestId,
      windowStart: request.windowStart,
      windowEnd: request.windowEnd,
      modelVersion,
      adjustment,
      clampedBy: guarded.clampedBy,
      reason: changeReason(modelVersion, adjustment, guarded.clampedBy),
      changedAt: at.toISOString(),
    });
    if (result === "applied") {
      return {
        kind: "applied",
        ...base,
        oldPrice: item.price,
        newPrice: guarded.price,
        currency: item.currency,
        modelVersion,
        reason: changeReason(modelVersion, adjustment, guarded.clampedBy),
      };
    }
    if (result === "duplicate") return replayOf(request, catalog);
    if (typeof result === "object") return { kind: "refused", ...base, reason: result.refused };
    raw = undefined;
  }
  return {
    kind: "failed",
    ...base,
    reason: `catalog item kept changing (${config.maxConflictRetries} version conflicts)`,
  };
}

/** The reason a change is recorded with: `model demand-v1 suggested +20.00 %; bounded by max-change-up`. */
export function changeReason(modelVersion: string, adjustment: number, clampedBy: readonly string[]): string {
  const suggested = `${adjustment >= 0 ? "+" : ""}${(adjustment * 100).toFixed(2)} %`;
  return `model ${modelVersion} suggested ${suggested}${clampedBy.length > 0 ? `; bounded by ${clampedBy.join(", ")}` : ""}`;
}

const auditOutcome = {
  applied: "succeeded",
  replayed: "succeeded",
  skipped: "skipped",
  refused: "refused",
  failed: "failed",
} as const;

/** The audit message of one outcome. */
export function auditMessageOf(outcome: RecordOutcome & { itemIdentifier: string }): AuditMessage {
  const { kind, itemIdentifier, ...fields } = outcome;
  return {
    pipeline: PIPELINE,
    action: "price-change",
    outcome: auditOutcome[kind],
    ...(outcome.requestId ? { correlationId: outcome.requestId } : {}),
    sequenceNumber: itemIdentifier,
    ...fields,
  };
}
