/**
 * The reference pricing model as a SageMaker inference container: `GET /ping` and `POST /invocations` on
 * `SAGEMAKER_BIND_TO_PORT` (8080 by default, what SageMaker uses), `text/csv` and `application/json`, several
 * records per request, the model version in every answer (body and `X-Amzn-SageMaker-Custom-Attributes`).
 * A record the model cannot score gets an error in its own slot; a request it cannot read at all is a 400.
 *
 * `MODEL_LATENCY_MS` adds a fixed delay to every invocation (benchmarks of the pipeline against a slow model).
 * Dependency-free: runs with `node --experimental-strip-types` in the container, or tsx locally.
 */
import http from "node:http";
import {
  decodeModelRequest,
  encodeModelAnswer,
  type ModelContentType,
  type Prediction,
} from "../src/model-contract.ts";
import { featureError, REFERENCE_MODEL_VERSION, suggestAdjustment } from "../src/reference-model.ts";
import type { DemandFeatures } from "../src/schemas.ts";

const MAX_BODY_BYTES = 6 * 1024 * 1024;

/** The answers to one request body (per-record errors in their slots). */
export function scoreBody(body: string, contentType: string): string[] | Prediction[] {
  return decodeModelRequest(body, contentType).map((features): Prediction => {
    const error = featureError(features);
    return error ? { error } : { adjustment: suggestAdjustment(features as unknown as DemandFeatures) };
  });
}

function contentTypeOf(header: string | undefined): ModelContentType | undefined {
  const type = (header ?? "").split(";")[0]?.trim().toLowerCase();
  return type === "text/csv" || type === "application/json" ? type : undefined;
}

export function createPricingModelServer(options: { latencyMs?: number } = {}): http.Server {
  const latencyMs = options.latencyMs ?? 0;
  return http.createServer((req, res) => {
    if (req.method === "GET" && req.url === "/ping") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok");
      return;
    }
    if (req.method !== "POST" || req.url !== "/invocations") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on("end", async () => {
      const contentType = contentTypeOf(req.headers["content-type"]);
      if (!contentType) {
        res.writeHead(415, { "content-type": "text/plain" }).end("content type must be text/csv or application/json");
        return;
      }
      if (size > MAX_BODY_BYTES) {
        res.writeHead(413, { "content-type": "text/plain" }).end("request body too large");
        return;
      }
      let predictions: Prediction[];
      try {
        predictions = scoreBody(Buffer.concat(chunks).toString("utf8"), contentType) as Prediction[];
      } catch (err) {
        res.writeHead(400, { "content-type": "text/plain" }).end(`cannot read the request: ${(err as Error).message}`);
        return;
      }
      if (latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, latencyMs));
      // The answer comes back in the request's content type (SageMaker's `Accept` defaults to it).
      res
        .writeHead(200, {
          "content-type": contentType,
          "x-amzn-sagemaker-custom-attributes": `model-version=${REFERENCE_MODEL_VERSION}`,
        })
        .end(encodeModelAnswer({ modelVersion: REFERENCE_MODEL_VERSION, predictions }, contentType));
    });
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const port = Number(process.env.SAGEMAKER_BIND_TO_PORT ?? 8080);
  const latencyMs = Number(process.env.MODEL_LATENCY_MS ?? 0);
  // Loopback by default (a laptop); the Dockerfile sets MODEL_BIND_HOST=0.0.0.0, as SageMaker calls from outside.
  const host = process.env.MODEL_BIND_HOST ?? "127.0.0.1";
  const server = createPricingModelServer({ latencyMs }).listen(port, host, () => {
    // The port bound: the one asked for, or the one the system picked for port 0.
    const address = server.address();
    process.send?.({ type: "listening", port: typeof address === "object" && address ? address.port : port });
  });
  process.on("SIGTERM", () => process.exit(0));
}
