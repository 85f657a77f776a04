import { search } from "@aws-lambda-powertools/logger/correlationId";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import {
  type CapturedWrites,
  captureWrites,
  isMetricDocument,
  lambdaContext as testLambdaContext,
} from "@sluice/testing";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { InvalidObservabilityConfig } from "./errors.ts";
import { SluiceLogger } from "./logger.ts";
import { createObservability, maxLogBytesFromEnv, withObservability } from "./observability.ts";
import { createRedactionPolicy } from "./redaction.ts";
import { byteLength } from "./truncation.ts";

let stdout: CapturedWrites;
let stderr: CapturedWrites;

const printed = () => stdout.jsonLines();
const logLines = () => printed().filter((line) => !isMetricDocument(line));
const metricDocuments = () => printed().filter(isMetricDocument);

beforeEach(() => {
  stdout = captureWrites(process.stdout);
  stderr = captureWrites(process.stderr);
  vi.stubEnv("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand");
  vi.stubEnv("POWERTOOLS_DEV", "");
  vi.stubEnv("POWERTOOLS_LOG_LEVEL", "");
  vi.stubEnv("POWERTOOLS_SERVICE_NAME", "");
  vi.stubEnv("POWERTOOLS_METRICS_NAMESPACE", "");
});

afterEach(() => {
  stdout.restore();
  stderr.restore();
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

const lambdaContext = (awsRequestId = "req-1") =>
  testLambdaContext("FileMover", { awsRequestId, region: "eu-west-1", memoryLimitInMB: "512" });

describe("SluiceLogger", () => {
  it("prints every level as one compact JSON line on stdout, nothing on stderr", () => {
    const logger = new SluiceLogger({ serviceName: "svc", logLevel: "DEBUG" });

    logger.debug("d");
    logger.info("i");
    logger.warn("w");
    logger.error("e", new Error("boom"));
    logger.critical("c");

    expect(stdout.chunks.every((chunk) => chunk.endsWith("\n") && !chunk.slice(0, -1).includes("\n"))).toBe(true);
    expect(logLines().map((line) => [line.level, line.message])).toEqual([
      ["DEBUG", "d"],
      ["INFO", "i"],
      ["WARN", "w"],
      ["ERROR", "e"],
      ["CRITICAL", "c"],
    ]);
    expect(logLines()[3]).toMatchObject({ service: "svc", error: { name: "Error", message: "boom" } });
    expect(stderr.chunks).toEqual([]);
  });

  it("redacts every line: message, extra keys, nested values and errors", () => {
    const logger = new SluiceLogger({ serviceName: "svc", redaction: createRedactionPolicy() });

    logger.info("sent to bob@example.com", { order: { card: "4111 1111 1111 1111", id: "o-1" }, token: "t-1" });
    logger.error("failed", new Error("card 4111-1111-1111-1111 declined for ada@example.com"));

    const [info, error] = logLines();
    expect(info).toMatchObject({
      message: "sent to [REDACTED:email]",
      order: { card: "[REDACTED:card]", id: "o-1" },
      token: "[REDACTED:token]",
    });
    expect(error).toMatchObject({ error: { message: "card [REDACTED:card] declined for [REDACTED:email]" } });
    expect(stdout.chunks.join("")).not.toMatch(/4111|bob@|ada@|t-1/);
  });

  it("can be told not to redact", () => {
    const logger = new SluiceLogger({ redaction: false });

    logger.info("bob@example.com");

    expect(logLines()[0]?.message).toBe("bob@example.com");
  });

  it("truncates a line over its size limit instead of dropping it", () => {
    const logger = new SluiceLogger({ serviceName: "svc", maxLogBytes: 8 * 1024 });

    logger.info("big", { payload: "p".repeat(100_000) });

    const [line] = stdout.chunks;
    expect(byteLength(line ?? "")).toBeLessThanOrEqual(8 * 1024 + 1);
    expect(logLines()[0]).toMatchObject({ message: "big", truncated: true, truncatedFields: ["payload"] });
  });

  it("prints records with emitRecord whatever the level threshold, and filters ordinary lines", () => {
    const logger = new SluiceLogger({ logLevel: "ERROR" });

    logger.info("filtered");
    logger.emitRecord("DEBUG", { message: "a data record", n: 1 });

    expect(logLines()).toEqual([expect.objectContaining({ level: "DEBUG", message: "a data record", n: 1 })]);
  });

  it("follows POWERTOOLS_LOG_LEVEL and POWERTOOLS_LOGGER_SAMPLE_RATE", () => {
    vi.stubEnv("POWERTOOLS_LOG_LEVEL", "WARN");
    const quiet = new SluiceLogger();
    quiet.info("hidden");
    quiet.warn("shown");
    vi.stubEnv("POWERTOOLS_LOGGER_SAMPLE_RATE", "1");
    const sampled = new SluiceLogger();
    sampled.debug("sampled in");

    expect(logLines().map((line) => line.message)).toEqual([
      "shown",
      "Setting log level to DEBUG due to sampling rate",
      "sampled in",
    ]);
  });

  it("gives its children the same redaction and size limit", () => {
    const child = new SluiceLogger({ maxLogBytes: 4096 }).createChild({ persistentKeys: { part: "child" } });

    child.info("x", { email: "bob@example.com", blob: "b".repeat(10_000) });

    expect(logLines()[0]).toMatchObject({ part: "child", email: "[REDACTED:email]", truncated: true });
  });
});

describe("createObservability", () => {
  it("takes the service name and namespace from the environment first", () => {
    vi.stubEnv("POWERTOOLS_SERVICE_NAME", "from-env");
    vi.stubEnv("POWERTOOLS_METRICS_NAMESPACE", "EnvNamespace");
    const { logger, metrics } = createObservability({ serviceName: "from-code" });

    logger.info("hi");
    metrics.addMetric("Things", MetricUnit.Count, 1);
    metrics.publishStoredMetrics();

    expect(logLines()[0]?.service).toBe("from-env");
    expect(metricDocuments()[0]).toMatchObject({
      service: "from-env",
      _aws: { CloudWatchMetrics: [{ Namespace: "EnvNamespace" }] },
    });
  });

  it("uses the given service name and the Sluice namespace otherwise", () => {
    const { logger, metrics } = createObservability({ serviceName: "from-code" });

    logger.info("hi");
    metrics.addMetric("Things", MetricUnit.Count, 1);
    metrics.publishStoredMetrics();

    expect(logLines()[0]?.service).toBe("from-code");
    expect(metricDocuments()[0]).toMatchObject({ _aws: { CloudWatchMetrics: [{ Namespace: "Sluice" }] } });
  });

  it("reads SLUICE_REDACT_KEYS and SLUICE_LOG_MAX_BYTES", () => {
    const { logger } = createObservability({
      serviceName: "svc",
      env: { SLUICE_REDACT_KEYS: "customerRef", SLUICE_LOG_MAX_BYTES: "5000" },
    });

    logger.info("x", { customerRef: "c-1", blob: "b".repeat(10_000) });

    expect(logLines()[0]).toMatchObject({ customerRef: "[REDACTED:customerref]", truncated: true });
    expect(byteLength(stdout.chunks[0] ?? "")).toBeLessThanOrEqual(5001);
  });

  it.each(["abc", "100", "2000000", "4096.5"])("refuses SLUICE_LOG_MAX_BYTES=%s", (value) => {
    expect(() => maxLogBytesFromEnv({ SLUICE_LOG_MAX_BYTES: value })).toThrow(InvalidObservabilityConfig);
  });

  it("refuses an unusable SLUICE_REDACT_PATTERNS at creation", () => {
    expect(() => createObservability({ serviceName: "svc", env: { SLUICE_REDACT_PATTERNS: "{" } })).toThrow(
      InvalidObservabilityConfig,
    );
  });
});

describe("withObservability", () => {
  it("adds the Lambda context to every line, the correlation id for the invocation only, and flushes metrics", async () => {
    const observability = createObservability({
      serviceName: "file-mover",
      correlationId: { path: "requestId", search },
    });
    const handler = withObservability(async (event: { requestId: string; key: string }) => {
      observability.logger.info("moving", { key: event.key });
      observability.metrics.addMetric("FilesMoved", MetricUnit.Count, 1);
      return { moved: 1 };
    }, observability);

    const first = await handler({ requestId: "corr-1", key: "a.csv" }, lambdaContext("req-1"));
    observability.logger.info("between invocations");

    expect(first).toEqual({ moved: 1 });
    const [moving, between] = logLines();
    expect(moving).toMatchObject({
      level: "INFO",
      message: "moving",
      key: "a.csv",
      service: "file-mover",
      function_name: "FileMover",
      function_request_id: "req-1",
      cold_start: true,
      correlation_id: "corr-1",
    });
    expect(between).not.toHaveProperty("correlation_id");
    const documents = metricDocuments();
    expect(documents.map((doc) => Object.keys(doc).find((key) => key === "ColdStart" || key === "FilesMoved"))).toEqual(
      ["ColdStart", "FilesMoved"],
    );
    expect(documents[1]).toMatchObject({ service: "file-mover", FilesMoved: 1 });
  });

  it("logs a failure as one JSON line, publishes the metrics, and rethrows", async () => {
    const observability = createObservability({ serviceName: "svc" });
    const failure = new Error("cannot write to bob@example.com");
    const handler = withObservability(async () => {
      observability.metrics.addMetric("Attempts", MetricUnit.Count, 1);
      throw failure;
    }, observability);

    await expect(handler({}, lambdaContext())).rejects.toBe(failure);

    expect(logLines()).toEqual([
      expect.objectContaining({
        level: "ERROR",
        message: "Invocation failed",
        function_request_id: "req-1",
        error: expect.objectContaining({ message: "cannot write to [REDACTED:email]" }),
      }),
    ]);
    expect(metricDocuments().some((doc) => doc.Attempts === 1)).toBe(true);
    expect(stderr.chunks).toEqual([]);
  });

  it("stays quiet when an invocation records no metric", async () => {
    const observability = createObservability({ serviceName: "svc" });
    const handler = withObservability(async () => "ok", observability, { captureColdStartMetric: false });

    await handler({}, lambdaContext());

    expect(printed()).toEqual([]);
    expect(stderr.chunks).toEqual([]);
  });
});
