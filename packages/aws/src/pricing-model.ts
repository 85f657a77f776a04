/**
 * The `PricingModel` port on a SageMaker endpoint (`InvokeEndpoint`). Failures become `ModelCallFailed`, retryable
 * unless SageMaker says the request itself is invalid: the pricing flow owns retries (with back-off across a
 * whole batch, within the invocation's time), so create the client with `sageMakerRuntimeClient`: no SDK retries
 * underneath, and timeouts that bound every call (a call that times out fails as `TimeoutError`, retryable).
 */
import {
  InvokeEndpointCommand,
  SageMakerRuntimeClient,
  type SageMakerRuntimeClientConfig,
} from "@aws-sdk/client-sagemaker-runtime";
import { ModelCallFailed, type ModelContentType, type PricingModel } from "@sluice/pricing";

/** SageMaker runtime errors that no retry can fix. */
const NOT_RETRYABLE = new Set(["ValidationError", "ValidationException", "AccessDeniedException"]);

export interface ModelCallTimeouts {
  /** To open the connection. */
  connectionTimeoutMs: number;
  /** For the whole request, from its start to its answer. */
  requestTimeoutMs: number;
}

/**
 * A SageMaker runtime client for `createSageMakerModel`: one attempt per call (the pricing flow retries), and a call
 * that cannot connect or gets no answer in time fails instead of outliving the invocation.
 */
export function sageMakerRuntimeClient(
  timeouts: ModelCallTimeouts,
  config: SageMakerRuntimeClientConfig = {},
): SageMakerRuntimeClient {
  return new SageMakerRuntimeClient({
    ...config,
    maxAttempts: 1,
    requestHandler: {
      connectionTimeout: timeouts.connectionTimeoutMs,
      requestTimeout: timeouts.requestTimeoutMs,
      // Without it, @smithy/node-http-handler (4.x) only logs a warning when a request passes `requestTimeout`, and
      // the call goes on waiting.
      throwOnRequestTimeout: true,
    },
  });
}

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
