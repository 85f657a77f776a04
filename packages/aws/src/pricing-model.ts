/**
 * The `PricingModel` port on a SageMaker endpoint (`InvokeEndpoint`). Failures become `ModelCallFailed`, retryable
 * unless SageMaker says the request itself is invalid: the pricing flow owns retries (with back-off across a
 * whole batch), so create the client with `maxAttempts: 1` to keep the SDK from retrying underneath.
 */
import { InvokeEndpointCommand, type SageMakerRuntimeClient } from "@aws-sdk/client-sagemaker-runtime";
import { ModelCallFailed, type ModelContentType, type PricingModel } from "@sluice/pricing";

/** SageMaker runtime errors that no retry can fix. */
const NOT_RETRYABLE = new Set(["ValidationError", "ValidationException", "AccessDeniedException"]);

export function createSageMakerModel(client: SageMakerRuntimeClient, endpointName: string): PricingModel {
  const decoder = new TextDecoder();
  return {
    async invoke(body: string, contentType: ModelContentType) {
      try {
        const out = await client.send(
          new InvokeEndpointCommand({
            EndpointName: endpointName,
            ContentType: contentType,
            Accept: contentType,
            Body: new TextEncoder().encode(body),
          }),
        );
        return { body: decoder.decode(out.Body), contentType: out.ContentType ?? contentType };
      } catch (err) {
        const name = (err as { name?: string }).name ?? "Error";
        const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        // A model that answers 4xx to a well-formed batch is as broken as one answering 5xx: SageMaker wraps both
        // in ModelError (424), which is retried; only SageMaker's own validation refusals are final.
        throw new ModelCallFailed(
          `${endpointName}: ${name}${status ? ` (${status})` : ""}: ${(err as Error).message}`,
          !NOT_RETRYABLE.has(name),
          name,
        );
      }
    },
  };
}
