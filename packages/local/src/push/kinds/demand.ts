import { randomUUID } from "node:crypto";
import { UsageError } from "../errors.ts";
import { defineKind } from "../kind.ts";
import { formatThroughput } from "../progress.ts";
import { putRecords } from "../sinks/kinesis.ts";
import { DEMAND_PROFILES } from "./inference-request.ts";

const WINDOW_MS = 5 * 60_000;
/** Past the window's end plus DemandHydration's default lateness (1 minute), with a minute to spare. */
const CLOSE_AFTER_MS = 7 * 60_000;

/**
 * The site of the events `push demand` makes: a storefront of its own, which `pnpm push clickstream` never generates
 * (`fast-sneakers.example`, `green-kitchen.example`...), so that AnomalyAlert, which counts every event of the
 * stream per site, counts these apart and an alert on them names what pushed them.
 */
export const DEMAND_SITE = "push-demand.example";

/**
 * Clickstream events for one product over one 5-minute window, following a demand profile scaled by `scale`
 * (impressions = views, click, add_to_cart, purchase), spread evenly over the window; with `close`, one more
 * impression 7 minutes after the window starts, which moves the shard's watermark past the window so that
 * DemandHydration closes it.
 */
export function demandEvents(options: {
  productId: string;
  profile: keyof typeof DEMAND_PROFILES;
  scale: number;
  windowStartMs: number;
  close: boolean;
}): Array<Record<string, string>> {
  const p = DEMAND_PROFILES[options.profile];
  const actions = [
    ...Array<string>(Math.round(p.views * options.scale)).fill("impression"),
    ...Array<string>(Math.round(p.clicks * options.scale)).fill("click"),
    ...Array<string>(Math.round(p.addToCart * options.scale)).fill("add_to_cart"),
    ...Array<string>(Math.round(p.purchases * options.scale)).fill("purchase"),
  ];
  const step = WINDOW_MS / Math.max(actions.length, 1);
  const event = (action: string, atMs: number, i: number) => ({
    eventId: randomUUID(),
    ts: new Date(atMs).toISOString(),
    site: DEMAND_SITE,
    page: `/product/${options.productId}`,
    productId: options.productId,
    action,
    sessionId: `s-${i % 97}`,
  });
  const events = actions.map((action, i) => event(action, options.windowStartMs + Math.floor(i * step), i));
  if (options.close) events.push(event("impression", options.windowStartMs + CLOSE_AFTER_MS, events.length));
  return events;
}

export const demandKind = defineKind({
  name: "demand",
  summary: "push clickstream for one product's 5-minute window (strong or weak demand) to drive DemandHydration",
  usage: "demand --product <id> [--profile strong|weak] [--scale 0.1] [--window-start <iso>] [--no-close]",
  help: `Generates the clickstream events of one product over one 5-minute event-time window and puts them on the
Clickstream stream (partition key: the product, so its events share a shard and its watermark), on the site
${DEMAND_SITE}, which push clickstream never generates (AnomalyAlert counts these events apart). The counts are
the profile's features times --scale: strong = views 5000, clicks 1500, addToCart 600, purchases 300;
weak = views 5000, clicks 50, addToCart 5, purchases 1. Inventory comes from the Catalog item's "inventory".

One extra impression 7 minutes after the window start closes the window (watermark past end + 1 minute of
lateness): DemandHydration then writes the window's inference request, and PriceInference prices it.
That event moves its shard's watermark to about now: a backfill pushed afterwards (push clickstream --start=-7h)
loses its events on that shard as late (DemandHydration logs "late clickstream events not counted" at WARN), and
AnomalyAlert, whose watermark is the stream's, may drop nearly all of it: run such a backfill on a fresh pnpm local.

Options:
  --product <id>        the product (required)
  --profile strong|weak default strong
  --scale <x>           fraction of the profile's counts (default 0.1: 500 impressions for strong)
  --window-start <iso>  default: the 5-minute window that started 10 minutes ago
  --no-close            leave the window open (no closing event)

Examples:
  pnpm push catalog --sample 5 && pnpm push demand --product fs-0001
  pnpm push demand --product fs-0002 --profile weak --scale 1`,
  options: {
    product: { type: "string" },
    profile: { type: "string", default: "strong" },
    scale: { type: "string", default: "0.1" },
    "window-start": { type: "string" },
    "no-close": { type: "boolean", default: false },
  },
  async run(context, { values }) {
    if (!values.product) throw new UsageError("--product is required", "demand");
    if (!(values.profile in DEMAND_PROFILES)) throw new UsageError("--profile is strong or weak", "demand");
    const scale = Number(values.scale);
    if (!Number.isFinite(scale) || scale <= 0 || scale > 10)
      throw new UsageError("--scale takes a number in (0, 10]", "demand");
    const start = values["window-start"]
      ? Date.parse(values["window-start"])
      : Math.floor((Date.now() - 10 * 60_000) / WINDOW_MS) * WINDOW_MS;
    if (!Number.isFinite(start) || start % WINDOW_MS !== 0) {
      throw new UsageError("--window-start must be an ISO instant on a 5-minute boundary", "demand");
    }
    const events = demandEvents({
      productId: values.product,
      profile: values.profile as keyof typeof DEMAND_PROFILES,
      scale,
      windowStartMs: start,
      close: !values["no-close"],
    });
    const stream = context.resolve("stream", "Clickstream");
    const progress = context.progress("putting clickstream", "records", events.length);
    const report = await putRecords(
      context.clients.kinesis(),
      stream.physical,
      events.map((e) => ({ partitionKey: values.product as string, data: Buffer.from(JSON.stringify(e)) })),
      { onStored: (n: number) => progress.add(n) },
    ).finally(() => progress.done());
    return `put ${formatThroughput(report.records, "clickstream events", progress.elapsedMs)} for ${values.product}, window ${new Date(start).toISOString()}${values["no-close"] ? " (left open)" : " (closed)"}`;
  },
});
