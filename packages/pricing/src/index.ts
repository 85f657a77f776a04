/**
 * `@sluice/pricing`: the price inference domain, pure (no AWS SDK). Inference request and catalog item schemas,
 * the model contract (CSV and JSON, several records per call, model version), invocation batching under the
 * payload limit, retry with back-off, guardrails, the price-change flow, demand windows for hydration, and the
 * ports `packages/aws` implements.
 */
export * from "./batching.ts";
export * from "./demand-windows.ts";
export * from "./guardrails.ts";
export * from "./hydration.ts";
export * from "./inference.ts";
export * from "./model-contract.ts";
export * from "./ports.ts";
export * from "./reference-model.ts";
export * from "./schemas.ts";
