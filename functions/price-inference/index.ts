/**
 * PriceInference: new inference requests (the `InferenceRequests` table's stream, NEW_IMAGE) are priced by the
 * model endpoint and applied to the `Catalog` under guardrails, exactly once, with a `PriceHistory` record and an
 * `Audit` message each (see `priceRequests` in @sluice/pricing). A poison request (unreadable, invalid, too large for
 * the model) is sent to PriceInferenceDlq with its stream record (keys and new image, as received) and its reason
 * (#kit/dead-letter), and is done: the rest of the batch goes on. Calls that still fail after their retries,
 * per-record model errors, and a poison request the queue did not take are returned as batch item failures, so the
 * stream retries them and then hands their range to PriceInferenceDlq. Every reason is on the Audit topic, keyed by
 * sequence number (with the dead letter's message id).
 *
 * The SageMaker endpoint is the `PricingModel` link (the reference model, or the endpoint a stage names).
 * Config (env): `PRICING_CONTENT_TYPE` (`application/json` or `text/csv`), guardrails (`PRICING_MAX_CHANGE`,
 * `PRICING_MIN_MARGIN`, `PRICING_MIN_CHANGE`, `PRICING_COOLDOWN_SECONDS`), `PRICING_MODEL_PARALLELISM` (model calls
 * in flight per invocation) and `PRICING_MODEL_TIMEOUT_SECONDS` (how long one call may wait for its answer).
 *
 * Time: the flow gets the invocation's remaining time and starts no model call or retry that could not end before
 * it (with time kept for the writes); the requests it could not price in time are batch item failures, retried by
 * the stream, so a slow model never runs the invocation into its timeout (which would fail the whole batch).
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SNSClient } from "@aws-sdk/client-sns";
import { createSnsAuditSink } from "@sluice/aws/audit";
import { createDynamoCatalog, requestRecordsOf } from "@sluice/aws/pricing";
import { createSageMakerModel, sageMakerRuntimeClient } from "@sluice/aws/pricing-model";
import { createObservability, withObservability } from "@sluice/observability";
import { DEFAULT_GUARDRAILS, DEFAULT_PRICING_CONFIG, MODEL_CONTENT_TYPES, priceRequests } from "@sluice/pricing";
import type { Context, DynamoDBBatchResponse, DynamoDBStreamEvent } from "aws-lambda";
import * as z from "zod/mini";
import { configOf, decimal, oneOf, wholeNumber } from "#kit/config";
import { deadLettersOf } from "#kit/dead-letter";
import { linksOf } from "#kit/links";
import { levelOf } from "#kit/outcome-level";

const links = linksOf<"PriceInference">();
const env = configOf(
  "PriceInference",
  z.object({
    PRICING_CONTENT_TYPE: oneOf(MODEL_CONTENT_TYPES, "application/json"),
    PRICING_MAX_CHANGE: decimal(DEFAULT_GUARDRAILS.maxChangeRatio, { above: 0, below: 1 }),
    PRICING_MIN_MARGIN: decimal(DEFAULT_GUARDRAILS.minMarginRatio, { min: 1 }),
    PRICING_MIN_CHANGE: decimal(DEFAULT_GUARDRAILS.minChangeRatio, { min: 0, below: 1 }),
    PRICING_COOLDOWN_SECONDS: wholeNumber(DEFAULT_GUARDRAILS.cooldownMs / 1000),
    PRICING_MODEL_PARALLELISM: wholeNumber(DEFAULT_PRICING_CONFIG.modelParallelism, { min: 1 }),
    PRICING_MODEL_TIMEOUT_SECONDS: wholeNumber(75, { min: 1 }),
  }),
);
/** To connect to the endpoint; the answer then has PRICING_MODEL_TIMEOUT_SECONDS. */
const CONNECTION_TIMEOUT_MS = 5_000;
const modelTimeouts = {
  connectionTimeoutMs: CONNECTION_TIMEOUT_MS,
  requestTimeoutMs: env.PRICING_MODEL_TIMEOUT_SECONDS * 1000,
};
const config = {
  contentType: env.PRICING_CONTENT_TYPE,
  guardrails: {
    maxChangeRatio: env.PRICING_MAX_CHANGE,
    minMarginRatio: env.PRICING_MIN_MARGIN,
    minChangeRatio: env.PRICING_MIN_CHANGE,
    cooldownMs: env.PRICING_COOLDOWN_SECONDS * 1000,
  },
  modelParallelism: env.PRICING_MODEL_PARALLELISM,
  // The longest a call can take: the client gives up after these.
  modelCallTimeoutMs: modelTimeouts.connectionTimeoutMs + modelTimeouts.requestTimeoutMs,
};

const observability = createObservability({ serviceName: "price-inference" });
// Retries are the pricing flow's (back-off across the batch, within the invocation's time), not the SDK's.
const model = createSageMakerModel(sageMakerRuntimeClient(modelTimeouts), links.PricingModel.name);
const catalog = createDynamoCatalog(new DynamoDBClient({}), {
  catalog: links.Catalog.name,
  history: links.PriceHistory.name,
});
const audit = createSnsAuditSink(new SNSClient({}), links.Audit.arn);
const deadLetters = deadLettersOf("PriceInference");

async function priceInference(event: DynamoDBStreamEvent, context: Context): Promise<DynamoDBBatchResponse> {
  const bySequence = new Map((event.Records ?? []).map((record) => [record.dynamodb?.SequenceNumber ?? "", record]));
  /** What each dead-lettered request's log line says of its dead letter (as its audit message does). */
  const deadLettered = new Map<string, Record<string, unknown>>();
  const result = await priceRequests(requestRecordsOf(event), {
    model,
    catalog,
    audit,
    config,
    remainingMs: () => context.getRemainingTimeInMillis(),
    // Refused requests to PriceInferenceDlq, each with its stream record as received.
    async keepRefused(refused) {
      const poison = refused.map(({ itemIdentifier, reason }) => {
        const record = bySequence.get(itemIdentifier);
        return {
          eventSource: "aws:dynamodb" as const,
          ...(record?.eventSourceARN ? { eventSourceArn: record.eventSourceARN } : {}),
          sequenceNumber: itemIdentifier,
          ...(record?.eventName ? { eventName: record.eventName } : {}),
          dynamodb: record?.dynamodb,
          reason,
        };
      });
      const dead = await deadLetters.send(poison, observability);
      const unsent = new Set(dead.unsent.map((record) => record.sequenceNumber));
      for (const [sequenceNumber, fields] of dead.fields) deadLettered.set(sequenceNumber, fields);
      return new Map(
        poison.map(({ sequenceNumber }) => [
          sequenceNumber,
          { kept: !unsent.has(sequenceNumber), fields: { ...dead.fields.get(sequenceNumber) } },
        ]),
      );
    },
  });
  const { logger, metrics } = observability;
  for (const outcome of result.outcomes) {
    const level = levelOf(outcome.kind);
    logger[level](level === "info" ? "price request" : "price request not applied", {
      ...outcome,
      ...deadLettered.get(outcome.itemIdentifier),
    });
  }
  metrics.addMetric("ModelCalls", "Count", result.modelCalls);
  metrics.addMetric("PriceChanges", "Count", result.outcomes.filter((o) => o.kind === "applied").length);
  metrics.addMetric("FailedRequests", "Count", result.failures.length);
  return { batchItemFailures: result.failures.map((itemIdentifier) => ({ itemIdentifier })) };
}

export const handler = withObservability(priceInference, observability);
