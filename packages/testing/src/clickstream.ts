/**
 * A clickstream generator in the spirit of the Kinesis Data Generator: sites with a realistic daily shape of
 * traffic (quiet nights, a morning climb, an evening peak), a funnel (impression -> click -> add to cart ->
 * purchase), and injectable incidents. Pure and seeded: the same options give the same events, in event-time
 * order, as fast as they are asked for (hours of event time in seconds).
 */
import type { ClickstreamEvent } from "@sluice/messages";
import { seededRandom } from "@sluice/testing";

export const INCIDENT_KINDS = ["ctr-collapse", "traffic-spike", "traffic-drop"] as const;
export type IncidentKind = (typeof INCIDENT_KINDS)[number];

export interface Incident {
  kind: IncidentKind;
  /** Epoch ms. */
  start: number;
  durationMs: number;
  /** Affected site (default: the first). */
  site?: string;
}

export interface GeneratorOptions {
  sites: number;
  /** Average events per second over all sites (the daily shape swings around it). */
  rate: number;
  /** Epoch ms of the first event time. */
  start: number;
  durationMs: number;
  incidents?: readonly Incident[];
  seed?: number;
  /**
   * Site sizes: by default each site gets 0.8 of the previous one's traffic (a few sites); with `zipf` = s, the site
   * of rank r gets traffic in proportion to 1/r^s (a platform of many sites, most of them small).
   */
  zipf?: number;
}

/** Funnel probabilities: click per impression, add to cart per click, purchase per add to cart. */
export const FUNNEL = { ctr: 0.08, cartPerClick: 0.25, purchasePerCart: 0.3 } as const;
/** Events per impression on average (1 + clicks + carts + purchases). */
const EVENTS_PER_IMPRESSION = 1 + FUNNEL.ctr * (1 + FUNNEL.cartPerClick * (1 + FUNNEL.purchasePerCart));

export function siteNames(count: number): string[] {
  const names = ["fast-sneakers", "green-kitchen", "book-nook", "pixel-games", "trail-gear", "tea-house"];
  return Array.from(
    { length: count },
    (_, i) => `${names[i % names.length]}${i >= names.length ? `-${i}` : ""}.example`,
  );
}

/** Traffic multiplier at an instant (mean 1 over a day): low at 04:00 UTC, high around 19:00 UTC. */
export function dailyShape(time: number): number {
  const hour = (time / 3_600_000) % 24;
  return 1 + 0.6 * Math.sin((2 * Math.PI * (hour - 10)) / 24) + 0.1 * Math.sin((4 * Math.PI * (hour - 7)) / 24);
}

function poisson(lambda: number, random: () => number): number {
  if (lambda > 30) return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * gaussian(random)));
  const limit = Math.exp(-lambda);
  let k = 0;
  let p = random();
  while (p > limit) {
    k++;
    p *= random();
  }
  return k;
}

function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(random() || 1e-12)) * Math.cos(2 * Math.PI * random());
}

/** The events, second by second of event time, each second's events sorted by time. */
export function* generateClickstream(options: GeneratorOptions): Generator<ClickstreamEvent> {
  const random = seededRandom(options.seed ?? 1);
  const sites = siteNames(options.sites);
  // Sites differ in size: weights 1, 0.8, 0.65, ... or, with `zipf`, 1, 1/2^s, 1/3^s, ...
  const zipf = options.zipf;
  const weights = sites.map((_, i) => (zipf === undefined ? 0.8 ** i : 1 / (i + 1) ** zipf));
  const totalWeight = weights.reduce((a, b) => a + b, 0);
  const hex = () =>
    Math.floor(random() * 0x100000000)
      .toString(16)
      .padStart(8, "0");
  const products = 40;
  let sessionCounter = 0;
  for (let second = 0; second * 1000 < options.durationMs; second++) {
    const t0 = options.start + second * 1000;
    const shape = dailyShape(t0);
    const batch: ClickstreamEvent[] = [];
    for (const [i, site] of sites.entries()) {
      let impressionRate = ((options.rate * (weights[i] as number)) / totalWeight / EVENTS_PER_IMPRESSION) * shape;
      let ctr = FUNNEL.ctr;
      for (const incident of options.incidents ?? []) {
        if ((incident.site ?? sites[0]) !== site || t0 < incident.start || t0 >= incident.start + incident.durationMs)
          continue;
        if (incident.kind === "ctr-collapse") ctr *= 0.1;
        else if (incident.kind === "traffic-spike") impressionRate *= 4;
        else impressionRate *= 0.1;
      }
      const impressions = poisson(impressionRate, random);
      for (let k = 0; k < impressions; k++) {
        const ts = t0 + Math.floor(random() * 1000);
        const productId = `sku-${1 + Math.floor(random() * products)}`;
        const sessionId = `s-${(sessionCounter++).toString(36)}`;
        const event = (action: ClickstreamEvent["action"], at: number): ClickstreamEvent => ({
          eventId: `${hex()}-${hex()}-${hex()}-${hex()}`,
          ts: new Date(Math.min(at, t0 + 999)).toISOString(),
          site,
          page: `/product/${productId}`,
          productId,
          action,
          sessionId,
        });
        batch.push(event("impression", ts));
        if (random() < ctr) {
          batch.push(event("click", ts + 100));
          if (random() < FUNNEL.cartPerClick) {
            batch.push(event("add_to_cart", ts + 200));
            if (random() < FUNNEL.purchasePerCart) batch.push(event("purchase", ts + 300));
          }
        }
      }
    }
    batch.sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0));
    yield* batch;
  }
}

/** `90s`, `30m`, `6h`, `2d` (or a bare number of seconds) in milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new Error(`"${text}" is not a duration like 90s, 30m, 6h or 2d`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? "s") as "s"];
  return Number(m[1]) * unit;
}

/** An ISO-8601 instant, or an offset from `base` such as `+5h` or `-30m`. */
export function parseInstant(text: string, base: number): number {
  const offset = /^([+-])(.+)$/.exec(text.trim());
  if (offset) return base + (offset[1] === "-" ? -1 : 1) * parseDuration(offset[2] as string);
  const time = Date.parse(text);
  if (Number.isNaN(time))
    throw new Error(`"${text}" is not an ISO-8601 time (2026-03-01T12:00:00Z) or an offset (+5h)`);
  return time;
}

/** `<kind>@<time>[/<duration>][@<site>]`, e.g. `ctr-collapse@+5h/20m` or `traffic-drop@2026-03-01T12:00:00Z`. */
export function parseIncident(text: string, base: number): Incident {
  const [kind, when, site, ...extra] = text.trim().split("@");
  if (!kind || !when || extra.length > 0 || !(INCIDENT_KINDS as readonly string[]).includes(kind)) {
    throw new Error(
      `"${text}": expected <kind>@<time>[/<duration>][@<site>] with kind one of ${INCIDENT_KINDS.join(", ")}`,
    );
  }
  const [time, duration] = when.split("/");
  return {
    kind: kind as IncidentKind,
    start: parseInstant(time as string, base),
    durationMs: duration ? parseDuration(duration) : 20 * 60_000,
    ...(site ? { site } : {}),
  };
}
