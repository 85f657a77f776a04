/**
 * The ports the pricing flow depends on; `packages/aws` implements them with SageMaker runtime, DynamoDB and
 * SNS, tests hand in fakes.
 */
import type { ModelContentType } from "./model-contract.ts";

/** A pricing model endpoint: one call with several records. */
export interface PricingModel {
  /** Sends one request body; resolves with the answer, or throws {@link ModelCallFailed}. */
  invoke(body: string, contentType: ModelContentType): Promise<{ body: string; contentType: string }>;
}

/** A model call that failed as a whole; `retryable` for throttling, timeouts and server-side errors. */
export class ModelCallFailed extends Error {
  override readonly name = "ModelCallFailed";
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly code?: string,
  ) {
    super(message);
  }
}

/** A price change as the catalog applies it, with its history record. */
export interface PriceChange {
  productId: string;
  /** The item's `version` the change was decided on: the write fails if it moved. */
  expectedVersion: number;
  oldPrice: number;
  newPrice: number;
  currency: string;
  requestId: string;
  windowStart: string;
  windowEnd: string;
  modelVersion: string;
  /** The model's suggestion (relative), before guardrails. */
  adjustment: number;
  /** The guardrails that bounded the change (`max-change-up`, `min-margin`...), empty when none did. */
  clampedBy: string[];
  /** Why, in words: the model's suggestion and the guardrails that bounded it. */
  reason: string;
  /** ISO instant of the change. */
  changedAt: string;
}

/**
 * `applied`: the price changed and its history record was written, atomically; `conflict`: the item's version
 * moved since it was read (decide again); `duplicate`: this request was already applied (a replay); `refused`: the
 * store does not take this change (DynamoDB's ValidationError: a key or a value it does not store), and never will:
 * the request is refused with that reason, as poison, without failing the others.
 */
export type ApplyResult = "applied" | "conflict" | "duplicate" | { refused: string };

export interface CatalogRepository {
  /** Items by product id (raw, validated by the caller); missing products are absent from the map. */
  getItems(productIds: readonly string[]): Promise<Map<string, unknown>>;
  /** One item, strongly consistent. */
  getItem(productId: string): Promise<unknown | undefined>;
  applyChange(change: PriceChange): Promise<ApplyResult>;
  /**
   * The history record of the change a request applied (strongly consistent), or `undefined` if there is none: how a
   * replay is audited as the change it made.
   */
  getChange(request: Pick<PriceChange, "productId" | "windowEnd" | "requestId">): Promise<PriceChange | undefined>;
}
