/**
 * The contract between the pipeline and any pricing model container (SageMaker's `POST /invocations`): several
 * records per request, answers in the same order, a model version in every answer, and a per-record error slot
 * so that one bad record does not fail its neighbours. Dependency-free: the reference container uses it too.
 *
 * `text/csv` (no header):
 *   request line:  `views,clicks,addToCart,purchases,inventory`
 *   answer line:   `adjustment,modelVersion` or, for a record the model cannot score, `,modelVersion,error text`
 *
 * `application/json`:
 *   request: `{"instances": [{"views":..,"clicks":..,"addToCart":..,"purchases":..,"inventory":..}, ...]}`
 *   answer:  `{"modelVersion": "demand-v1", "predictions": [{"adjustment": 0.08} | {"error": "..."}, ...]}`
 *
 * The container also sets `X-Amzn-SageMaker-Custom-Attributes: model-version=<version>`.
 */
import type { DemandFeatures } from "./schemas.ts";

export type ModelContentType = "text/csv" | "application/json";

export const MODEL_CONTENT_TYPES: readonly ModelContentType[] = ["text/csv", "application/json"];

export type Prediction = { adjustment: number } | { error: string };

export interface ModelAnswer {
  modelVersion: string;
  predictions: Prediction[];
}

const FEATURES = ["views", "clicks", "addToCart", "purchases", "inventory"] as const;

/** A model answer that does not follow the contract (wrong count, unparsable): the whole call failed. */
export class InvalidModelAnswer extends Error {
  override readonly name = "InvalidModelAnswer";
}

/** The request body for several records. */
export function encodeModelRequest(records: readonly DemandFeatures[], contentType: ModelContentType): string {
  if (contentType === "text/csv") {
    return records.map((r) => FEATURES.map((f) => String(r[f])).join(",")).join("\n");
  }
  return JSON.stringify({ instances: records.map((r) => Object.fromEntries(FEATURES.map((f) => [f, r[f]]))) });
}

/** Bytes of one record in a request body (with its separator), for batching under the payload limit. */
export function encodedRecordBytes(record: DemandFeatures, contentType: ModelContentType): number {
  const text =
    contentType === "text/csv"
      ? FEATURES.map((f) => String(record[f])).join(",")
      : JSON.stringify(Object.fromEntries(FEATURES.map((f) => [f, record[f]])));
  return Buffer.byteLength(text) + 1;
}

/** Fixed bytes of a request body around its records. */
export function requestEnvelopeBytes(contentType: ModelContentType): number {
  return contentType === "text/csv" ? 0 : Buffer.byteLength('{"instances":[]}');
}

/** The records of a request body, as the model server reads them (values unchecked: the model checks them). */
export function decodeModelRequest(body: string, contentType: string): Array<Record<string, unknown>> {
  if (contentType.startsWith("text/csv")) {
    return body
      .split(/\r?\n/)
      .filter((line) => line.trim() !== "")
      .map((line) => {
        const cells = line.split(",");
        return Object.fromEntries(
          FEATURES.map((f, i) => [f, cells[i] === undefined || cells[i]?.trim() === "" ? undefined : Number(cells[i])]),
        );
      });
  }
  if (contentType.startsWith("application/json")) {
    const parsed = JSON.parse(body) as { instances?: unknown };
    if (!Array.isArray(parsed.instances)) throw new Error('expected {"instances": [...]}');
    return parsed.instances.map((i) => (i !== null && typeof i === "object" ? (i as Record<string, unknown>) : {}));
  }
  throw new Error(`unsupported content type ${contentType}`);
}

/** The answer body, in the request's content type. */
export function encodeModelAnswer(answer: ModelAnswer, contentType: ModelContentType): string {
  if (contentType === "text/csv") {
    return answer.predictions
      .map((p) =>
        "error" in p
          ? `,${answer.modelVersion},${p.error.replace(/[\r\n,]/g, " ")}`
          : `${p.adjustment},${answer.modelVersion}`,
      )
      .join("\n");
  }
  return JSON.stringify(answer);
}

/** Reads a model's answer for `expected` records; throws {@link InvalidModelAnswer} if it breaks the contract. */
export function decodeModelAnswer(body: string, contentType: string, expected: number): ModelAnswer {
  let answer: ModelAnswer;
  if (contentType.startsWith("text/csv")) {
    const lines = body.split(/\r?\n/).filter((line) => line.trim() !== "");
    const versions = new Set<string>();
    const predictions = lines.map((line): Prediction => {
      const [value = "", version = "", ...error] = line.split(",");
      versions.add(version.trim());
      if (value.trim() === "") return { error: error.join(",").trim() || "model gave no adjustment" };
      const adjustment = Number(value);
      return Number.isFinite(adjustment) ? { adjustment } : { error: `adjustment "${value}" is not a number` };
    });
    if (versions.size > 1) throw new InvalidModelAnswer("model answered with several model versions");
    answer = { modelVersion: [...versions][0] ?? "", predictions };
  } else if (contentType.startsWith("application/json")) {
    let parsed: { modelVersion?: unknown; predictions?: unknown };
    try {
      parsed = JSON.parse(body);
    } catch (err) {
      throw new InvalidModelAnswer(`model answer is not JSON: ${(err as Error).message}`);
    }
    if (!Array.isArray(parsed.predictions)) throw new InvalidModelAnswer("model answer has no predictions array");
    answer = {
      modelVersion: typeof parsed.modelVersion === "string" ? parsed.modelVersion : "",
      predictions: parsed.predictions.map((p): Prediction => {
        const record = (p ?? {}) as { adjustment?: unknown; error?: unknown };
        if (typeof record.adjustment === "number" && Number.isFinite(record.adjustment)) {
          return { adjustment: record.adjustment };
        }
        return { error: typeof record.error === "string" ? record.error : "model gave no adjustment" };
      }),
    };
  } else {
    throw new InvalidModelAnswer(`model answered with unsupported content type ${contentType}`);
  }
  if (answer.modelVersion === "") throw new InvalidModelAnswer("model answer has no model version");
  if (answer.predictions.length !== expected) {
    throw new InvalidModelAnswer(`model answered ${answer.predictions.length} predictions for ${expected} records`);
  }
  return answer;
}
