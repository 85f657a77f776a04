/**
 * Fault injection at the local cloud's edge: a share of the calls functions make is answered with the errors AWS
 * itself answers under load or trouble, so that every pipeline's retries and idempotency are exercised on every
 * run, not only when AWS has a bad day.
 *
 * `pnpm local --faults <spec>`:
 * - `5%`: every service, 5 % of calls, every kind of fault;
 * - `s3=5%,dynamodb=10%:throttle,kinesis=2%:timeout+reset`: per service, with the kinds to draw from.
 * Services: `s3`, `dynamodb` (and its streams), `kinesis`, `sns`, `sqs`, `sagemaker`, `glue`. Kinds:
 * - `throttle`: the service's throttling error (S3 `SlowDown` 503, DynamoDB and Kinesis
 *   `ProvisionedThroughputExceededException`, SNS `Throttling`, SQS `RequestThrottled`, SageMaker
 *   `ThrottlingException` 429, Glue `ThrottlingException` 400); the call is not applied;
 * - `5xx`: `InternalError`/`InternalServerError` 500 or `ServiceUnavailable` 503; not applied;
 * - `reset`: the connection is reset before the call reaches the service; not applied;
 * - `timeout`: the call IS applied, then no answer comes: the connection is held past `slowMs` and dropped, the way
 *   a response lost in the network looks to a client (the case idempotency exists for).
 * Faults are drawn from a seeded generator: the seed is printed, and `--faults-seed` replays a run.
 * Only the calls a function's handler makes are faulted; the AWS CLI, `pnpm push`, tests and Lambda's own polling
 * and dead-lettering stay clean.
 */
import { seededRandom } from "@sluice/testing";
import type { HttpAnswer } from "./iam/errors.ts";
import type { ClassifiedRequest } from "./iam/requests.ts";

export const FAULT_SERVICES = ["s3", "dynamodb", "kinesis", "sns", "sqs", "sagemaker", "glue"] as const;
export type FaultService = (typeof FAULT_SERVICES)[number];
export const FAULT_KINDS = ["throttle", "5xx", "reset", "timeout"] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultRule {
  /** Share of calls, 0 to 1. */
  rate: number;
  kinds: readonly FaultKind[];
}

export type FaultRules = Partial<Record<FaultService, FaultRule>>;

/** Parses a `--faults` spec; throws with the reason on anything it does not understand. */
export function parseFaultSpec(spec: string): FaultRules {
  const rules: FaultRules = {};
  const entries = spec
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean);
  if (entries.length === 0) throw new Error(`--faults "${spec}": expected e.g. 5% or s3=5%,dynamodb=10%:throttle`);
  for (const entry of entries) {
    const match = /^(?:([a-z0-9]+)=)?(\d+(?:\.\d+)?)%(?::([a-z0-9+]+))?$/.exec(entry);
    if (!match) throw new Error(`--faults: "${entry}" is not [service=]N%[:kind+kind]`);
    const [, service, percent, kindList] = match;
    const rate = Number(percent) / 100;
    if (rate > 1) throw new Error(`--faults: "${entry}": at most 100%`);
    const kinds = kindList ? kindList.split("+") : [...FAULT_KINDS];
    for (const kind of kinds) {
      if (!FAULT_KINDS.includes(kind as FaultKind)) {
        throw new Error(`--faults: "${entry}": unknown kind "${kind}" (kinds: ${FAULT_KINDS.join(", ")})`);
      }
    }
    if (service !== undefined && !FAULT_SERVICES.includes(service as FaultService)) {
      throw new Error(`--faults: "${entry}": unknown service "${service}" (services: ${FAULT_SERVICES.join(", ")})`);
    }
    const rule = { rate, kinds: kinds as FaultKind[] };
    for (const target of service ? [service as FaultService] : FAULT_SERVICES) rules[target] = rule;
  }
  return rules;
}

/** A one-line summary of the rules, for the console. */
export function describeFaults(rules: FaultRules, seed: number): string {
  const parts = Object.entries(rules).map(
    ([service, rule]) => `${service} ${+(rule.rate * 100).toFixed(3)}% (${rule.kinds.join("+")})`,
  );
  return `${parts.join(", ")}; seed ${seed}`;
}

export interface FaultInjector {
  seed: number;
  rules: FaultRules;
  /** How long a `timeout` fault holds the connection before dropping it. */
  slowMs: number;
  /** The fault to inject into this call, if any. */
  draw(api: ClassifiedRequest["api"]): FaultKind | undefined;
  /** The seeded generator the draws come from (for the details of a fault: 500 or 503). */
  random(): number;
}

export function createFaultInjector(
  rules: FaultRules,
  options: { seed?: number; slowMs?: number } = {},
): FaultInjector {
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const random = seededRandom(seed);
  return {
    seed,
    rules,
    slowMs: options.slowMs ?? 5_000,
    random,
    draw(api) {
      const rule = rules[api === "dynamodbstreams" ? "dynamodb" : (api as FaultService)];
      if (!rule || rule.rate <= 0) return undefined;
      if (random() >= rule.rate) return undefined;
      return rule.kinds[Math.floor(random() * rule.kinds.length)];
    },
  };
}

const xmlError = (status: number, code: string, message: string): HttpAnswer => ({
  status,
  headers: { "content-type": "application/xml" },
  body: `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>fault</RequestId></Error>`,
});
const queryError = (status: number, code: string, message: string, namespace: string): HttpAnswer => ({
  status,
  headers: { "content-type": "text/xml" },
  body: `<ErrorResponse xmlns="${namespace}"><Error><Type>${status < 500 ? "Sender" : "Receiver"}</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>fault</RequestId></ErrorResponse>`,
});
const jsonError = (
  status: number,
  type: string,
  message: string,
  contentType = "application/x-amz-json-1.0",
  extra: Record<string, string> = {},
): HttpAnswer => ({
  status,
  headers: { "content-type": contentType, ...extra },
  body: JSON.stringify({ __type: type, message }),
});

/** The answer a service gives when it throttles a call or fails it on its side (`throttle` and `5xx`). */
export function faultAnswer(
  classified: Pick<ClassifiedRequest, "api" | "protocol">,
  kind: "throttle" | "5xx",
  unavailable: boolean,
): HttpAnswer {
  const sns = "http://sns.amazonaws.com/doc/2010-03-31/";
  const sqsQuery = "http://queue.amazonaws.com/doc/2012-11-05/";
  const fail = kind === "5xx";
  switch (classified.api) {
    case "s3":
      if (!fail) return xmlError(503, "SlowDown", "Please reduce your request rate.");
      return unavailable
        ? xmlError(503, "ServiceUnavailable", "Service is unable to handle request.")
        : xmlError(500, "InternalError", "We encountered an internal error. Please try again.");
    case "dynamodb":
    case "dynamodbstreams":
      if (!fail) {
        return jsonError(
          400,
          "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
          "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.",
        );
      }
      return unavailable
        ? jsonError(503, "com.amazonaws.dynamodb.v20120810#ServiceUnavailable", "Service Unavailable")
        : jsonError(500, "com.amazonaws.dynamodb.v20120810#InternalServerError", "Internal server error");
    case "kinesis": {
      const kinesisJson = "application/x-amz-json-1.1";
      if (!fail)
        return jsonError(
          400,
          "ProvisionedThroughputExceededException",
          "Rate exceeded for shard shardId-000000000000.",
          kinesisJson,
        );
      return unavailable
        ? jsonError(503, "ServiceUnavailable", "Service Unavailable", kinesisJson)
        : jsonError(500, "InternalFailure", "Internal service failure.", kinesisJson);
    }
    case "sns":
      if (!fail) return queryError(400, "Throttling", "Rate exceeded", sns);
      return unavailable
        ? queryError(503, "ServiceUnavailable", "Service Unavailable", sns)
        : queryError(500, "InternalError", "Internal Error", sns);
    case "sqs":
      if (classified.protocol === "query") {
        if (!fail) return queryError(400, "RequestThrottled", "Request is throttled.", sqsQuery);
        return queryError(500, "InternalError", "We encountered an internal error. Please try again.", sqsQuery);
      }
      if (!fail) {
        return jsonError(
          400,
          "com.amazonaws.sqs#RequestThrottled",
          "Request is throttled.",
          "application/x-amz-json-1.0",
          {
            "x-amzn-query-error": "RequestThrottled;Sender",
          },
        );
      }
      return jsonError(
        500,
        "com.amazonaws.sqs#InternalError",
        "We encountered an internal error. Please try again.",
        "application/x-amz-json-1.0",
        {
          "x-amzn-query-error": "InternalError;Receiver",
        },
      );
    case "sagemaker":
      return {
        status: fail ? (unavailable ? 503 : 500) : 429,
        headers: {
          "content-type": "application/json",
          "x-amzn-errortype": fail ? (unavailable ? "ServiceUnavailable" : "InternalFailure") : "ThrottlingException",
        },
        body: JSON.stringify({ message: fail ? "An internal error occurred." : "Rate exceeded" }),
      };
    case "glue": {
      const glueJson = "application/x-amz-json-1.1";
      if (!fail) return jsonError(400, "ThrottlingException", "Rate exceeded", glueJson);
      return jsonError(500, "InternalServiceException", "Internal service error", glueJson);
    }
    default:
      return xmlError(500, "InternalError", "We encountered an internal error. Please try again.");
  }
}
