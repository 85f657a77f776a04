export { lambdaContext } from "./lambda-context.ts";
export { type CapturedWrites, captureWrites, isMetricDocument } from "./output.ts";
export { catalogItem, STRONG_DEMAND, WEAK_DEMAND } from "./pricing.ts";
export { seededRandom } from "./random.ts";
export { pgrep, waitUntil } from "./wait.ts";
