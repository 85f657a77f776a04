import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import middy, { type MiddlewareObj, type MiddyfiedHandler } from "@middy/core";
import type { Context } from "aws-lambda";
import { InvalidObservabilityConfig } from "./errors.ts";
import { SluiceLogger } from "./logger.ts";
import { defaultRedactionPolicy, type RedactionPolicy, redactionPolicyFromEnv } from "./redaction.ts";
import {
  CLOUDWATCH_LOGS_EVENT_MAX_BYTES,
  CLOUDWATCH_LOGS_EVENT_OVERHEAD_BYTES,
  DEFAULT_MAX_LOG_BYTES,
  MIN_MAX_LOG_BYTES,
} from "./truncation.ts";

/** The namespace of every Sluice metric unless `POWERTOOLS_METRICS_NAMESPACE` says otherwise. */
export const DEFAULT_METRICS_NAMESPACE = "Sluice";

export interface ObservabilityOptions {
  /** Service name when `POWERTOOLS_SERVICE_NAME` is not set (the environment wins, so a stack can rename it). */
  serviceName: string;
  /** Metrics namespace when `POWERTOOLS_METRICS_NAMESPACE` is not set. Default {@link DEFAULT_METRICS_NAMESPACE}. */
  namespace?: string;
  /** Redaction of every log line. Default: the built-in rules plus `SLUICE_REDACT_KEYS`/`SLUICE_REDACT_PATTERNS`. */
  redaction?: RedactionPolicy | false;
  /** Maximum bytes of one log line. Default: `SLUICE_LOG_MAX_BYTES`, else {@link DEFAULT_MAX_LOG_BYTES}. */
  maxLogBytes?: number;
  /**
   * Where `SLUICE_*`, `POWERTOOLS_SERVICE_NAME` and `POWERTOOLS_METRICS_NAMESPACE` are read from (default
   * `process.env`); Powertools reads its other variables from `process.env` itself.
   */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * The invocation's correlation id, found in the event by Powertools (`correlationIdPath` of `injectLambdaContext`):
   * `path` is its JMESPath expression, `search` Powertools' `search` of `@aws-lambda-powertools/logger/correlationId`
   * (given by the function, not imported here: functions without a correlation id do not bundle JMESPath). Handlers
   * whose records each carry their own id (SNS, Kinesis) set it per record instead.
   */
  correlationId?: { path: string; search: (expression: string, data: unknown) => unknown };
}

/** One function's logger and metrics, created once at module scope. */
export interface Observability {
  readonly logger: SluiceLogger;
  readonly metrics: Metrics;
  /** Where Powertools finds the invocation's correlation id in the event, if it has one. */
  readonly correlationIdPath?: string;
}

/**
 * Reads `SLUICE_LOG_MAX_BYTES`: an integer between {@link MIN_MAX_LOG_BYTES} and what one CloudWatch Logs event
 * can hold. Throws {@link InvalidObservabilityConfig} otherwise.
 */
export function maxLogBytesFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): number {
  const raw = env.SLUICE_LOG_MAX_BYTES?.trim();
  if (!raw) return DEFAULT_MAX_LOG_BYTES;
  const value = Number(raw);
  const max = CLOUDWATCH_LOGS_EVENT_MAX_BYTES - CLOUDWATCH_LOGS_EVENT_OVERHEAD_BYTES;
  if (!Number.isInteger(value) || value < MIN_MAX_LOG_BYTES || value > max) {
    throw new InvalidObservabilityConfig(
      `SLUICE_LOG_MAX_BYTES must be an integer from ${MIN_MAX_LOG_BYTES} to ${max}, got "${raw}"`,
    );
  }
  return value;
}

/** Powertools Metrics reports through a logger; this routes it to ours, so that its notes are JSON lines too. */
function metricsDiagnostics(logger: SluiceLogger) {
  const text = (content: unknown[]) => content.map(String).join(" ");
  return {
    debug: (...content: unknown[]) => logger.debug(text(content)),
    info: (...content: unknown[]) => logger.info(text(content)),
    warn: (...content: unknown[]) => {
      const message = text(content);
      // Said at the end of every invocation that recorded no metric: normal for most functions, so not a warning.
      if (message.startsWith("No application metrics to publish")) logger.debug(message);
      else logger.warn(message);
    },
    error: (...content: unknown[]) => logger.error(text(content)),
  };
}

/**
 * Creates the logger and metrics of one function. Reads, once: `POWERTOOLS_SERVICE_NAME`, `POWERTOOLS_LOG_LEVEL`,
 * `POWERTOOLS_LOGGER_SAMPLE_RATE`, `POWERTOOLS_LOGGER_LOG_EVENT`, `POWERTOOLS_METRICS_NAMESPACE`,
 * `POWERTOOLS_METRICS_DISABLED` (through Powertools), `SLUICE_REDACT_KEYS`, `SLUICE_REDACT_PATTERNS` and
 * `SLUICE_LOG_MAX_BYTES`. Throws {@link InvalidObservabilityConfig} when a `SLUICE_*` value is unusable.
 */
export function createObservability(options: ObservabilityOptions): Observability {
  const env = options.env ?? process.env;
  const serviceName = env.POWERTOOLS_SERVICE_NAME || options.serviceName;
  const redaction = options.redaction ?? (options.env ? redactionPolicyFromEnv(options.env) : defaultRedactionPolicy());
  const logger = new SluiceLogger({
    serviceName,
    redaction,
    maxLogBytes: options.maxLogBytes ?? maxLogBytesFromEnv(env),
    ...(options.correlationId && { correlationIdSearchFn: options.correlationId.search }),
  });
  const metrics = new Metrics({
    serviceName,
    namespace: env.POWERTOOLS_METRICS_NAMESPACE || options.namespace || DEFAULT_METRICS_NAMESPACE,
    logger: metricsDiagnostics(logger),
  });
  return { logger, metrics, ...(options.correlationId && { correlationIdPath: options.correlationId.path }) };
}

export interface WithObservabilityOptions {
  /** Log the incoming event; default `POWERTOOLS_LOGGER_LOG_EVENT`. It goes through redaction like any line. */
  logEvent?: boolean;
  /** Emit Powertools' `ColdStart` metric on cold starts. Default true. */
  captureColdStartMetric?: boolean;
}

/**
 * Logs a failed invocation as one structured ERROR line, then lets the error go on: Lambda must see the failure
 * to retry the event and, in the end, hand it to the on-failure destination.
 */
function logInvocationError(logger: SluiceLogger): MiddlewareObj {
  return {
    onError: (request) => {
      logger.error("Invocation failed", request.error instanceof Error ? request.error : String(request.error));
    },
  };
}

/**
 * Wraps a handler in middy with the shared observability: Lambda context and cold start on every log line
 * (`injectLambdaContext`, keys reset after each invocation), the correlation id Powertools finds in the event (when
 * `createObservability` was told where), metrics flushed as EMF at the end of each invocation, failed or not
 * (`logMetrics`), and failures logged as JSON before being rethrown.
 */
export function withObservability<TEvent, TResult>(
  handler: (event: TEvent, context: Context) => Promise<TResult>,
  observability: Observability,
  options: WithObservabilityOptions = {},
): MiddyfiedHandler<TEvent, TResult> {
  const { logger, metrics, correlationIdPath } = observability;
  return middy<TEvent, TResult>(handler)
    .use(injectLambdaContext(logger, { resetKeys: true, logEvent: options.logEvent, correlationIdPath }))
    .use(logMetrics(metrics, { captureColdStartMetric: options.captureColdStartMetric ?? true }))
    .use(logInvocationError(logger));
}
