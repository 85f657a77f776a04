import { randomBytes } from "node:crypto";
import { marshall } from "@aws-sdk/util-dynamodb";
import { describeIssues, inferenceRequestSchema } from "@sluice/pricing";
import { InvalidInput, UsageError } from "../errors.ts";
import { textArgument } from "../input.ts";
import { defineKind } from "../kind.ts";
import { writeItems } from "../sinks/dynamodb.ts";

/** The demand profiles of the pricing issue: strong demand with low stock, weak demand with high stock. */
export const DEMAND_PROFILES = {
  strong: { views: 5000, clicks: 1500, addToCart: 600, purchases: 300, inventory: 12 },
  weak: { views: 5000, clicks: 50, addToCart: 5, purchases: 1, inventory: 5000 },
} as const;

const FEATURES = ["views", "clicks", "addToCart", "purchases", "inventory"] as const;

/** The request the options describe (features from the profile, overridden one by one). */
export function requestFromOptions(
  values: Partial<Record<(typeof FEATURES)[number] | "product" | "demand" | "request-id" | "window-end", string>>,
  now = new Date(),
): Record<string, unknown> {
  const profile = DEMAND_PROFILES[(values.demand ?? "strong") as keyof typeof DEMAND_PROFILES];
  if (!profile) throw new UsageError(`--demand is strong or weak, not "${values.demand}"`, "inference-request");
  const end = values["window-end"] ? Date.parse(values["window-end"]) : Math.floor(now.getTime() / 300_000) * 300_000;
  if (!Number.isFinite(end)) throw new UsageError("--window-end must be an ISO instant", "inference-request");
  const request: Record<string, unknown> = {
    requestId:
      values["request-id"] ?? `manual-${now.toISOString().replace(/[:.]/g, "-")}-${randomBytes(3).toString("hex")}`,
    productId: values.product,
    windowStart: new Date(end - 300_000).toISOString(),
    windowEnd: new Date(end).toISOString(),
    ...profile,
  };
  for (const feature of FEATURES) {
    const text = values[feature];
    // Kept as text when not a number, so that --unchecked can push a poison request on purpose.
    if (text !== undefined)
      request[feature] = Number.isFinite(Number(text)) && text.trim() !== "" ? Number(text) : text;
  }
  return request;
}

export const inferenceRequestKind = defineKind({
  name: "inference-request",
  summary: "put an inference request into InferenceRequests for PriceInference (a demand profile or your features)",
  usage:
    "inference-request (--product <id> [--demand strong|weak] [--views N ...] | <json | @file | @->) [--unchecked]",
  help: `Puts one inference request into the InferenceRequests table, where its stream triggers PriceInference.

Either describe it with options, or give the request as JSON ({"requestId", "productId", "windowStart",
"windowEnd", "views", "clicks", "addToCart", "purchases", "inventory"}).

Options:
  --product <id>        the product (required without JSON)
  --demand strong|weak  feature profile: strong = views 5000, clicks 1500, addToCart 600, purchases 300,
                        inventory 12; weak = views 5000, clicks 50, addToCart 5, purchases 1, inventory 5000
                        (default strong)
  --views, --clicks, --add-to-cart, --purchases, --inventory <N>   override one feature
  --request-id <id>     default: manual-<time>-<random>; the same id again is a replay (applied once)
  --window-end <iso>    default: the current 5-minute boundary
  --unchecked           send it without checking it (a poison request, to see it refused and dead-lettered)

Examples:
  pnpm push inference-request --product fs-0001 --demand strong
  pnpm push inference-request --product fs-0002 --demand weak --inventory 20000
  pnpm push inference-request --product fs-0003 --views lots --unchecked`,
  options: {
    product: { type: "string" },
    demand: { type: "string" },
    views: { type: "string" },
    clicks: { type: "string" },
    "add-to-cart": { type: "string" },
    purchases: { type: "string" },
    inventory: { type: "string" },
    "request-id": { type: "string" },
    "window-end": { type: "string" },
    unchecked: { type: "boolean", default: false },
  },
  positionals: [0, 1],
  async run(context, { values, positionals }) {
    let request: Record<string, unknown>;
    if (positionals[0] !== undefined) {
      const text = await textArgument(positionals[0], context.cwd, context.stdin);
      try {
        request = JSON.parse(text);
      } catch (err) {
        throw new InvalidInput(`the request is not JSON (${(err as Error).message}); nothing was sent`);
      }
    } else {
      if (!values.product)
        throw new UsageError("--product is required (or give the request as JSON)", "inference-request");
      request = requestFromOptions({ ...values, addToCart: values["add-to-cart"] });
    }
    if (!values.unchecked) {
      const parsed = inferenceRequestSchema.safeParse(request);
      if (!parsed.success)
        throw new InvalidInput(`the request is malformed, nothing was sent: ${describeIssues(parsed.error)}`);
    }
    const table = context.resolve("table", "InferenceRequests");
    await writeItems(context.clients.dynamodb(), table.physical, [marshall(request, { removeUndefinedValues: true })], {
      keyOf: () => "one",
    });
    return `inference request ${String(request.requestId)} for ${String(request.productId)} put into InferenceRequests (${table.physical})`;
  },
});
