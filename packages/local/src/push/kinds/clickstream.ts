import { clickstreamEventIssues } from "@sluice/messages";
import {
  generateClickstream,
  INCIDENT_KINDS,
  type Incident,
  parseDuration,
  parseIncident,
  parseInstant,
  siteNames,
} from "@sluice/testing/clickstream";
import { UsageError } from "../errors.ts";
import { defineKind } from "../kind.ts";
import { formatCount, formatThroughput } from "../progress.ts";
import { type KinesisEntry, putRecords } from "../sinks/kinesis.ts";

export const clickstreamKind = defineKind({
  name: "clickstream",
  summary: "generate clickstream traffic (daily shape, funnel, injectable incidents) into the Clickstream stream",
  usage:
    "clickstream --sites 3 --rate <events/s> --duration <time> [--start <ISO time>] [--anomaly <kind>@<time>] [--seed n]",
  help: `Generates clickstream events like the Kinesis Data Generator, for N sites of different sizes, with a daily
shape (quiet nights, an evening peak) and a funnel (impression -> click 8% -> add to cart 25% -> purchase 30%),
and puts them into the Clickstream stream (partition key: eventId).

With --start the events cover [start, start + duration) of event time and are sent as fast as the stream takes
them: hours of traffic backfilled in seconds. Without it they cover the last --duration up to now.

Options:
  --sites <n>            number of sites (default 3): fast-sneakers.example, green-kitchen.example, ...
  --rate <events/s>      average events per second over all sites (default 20)
  --duration <time>      event time covered: 90s, 30m, 6h, 2d (default 1h)
  --start <time>         first event time: ISO-8601 (2026-03-01T00:00:00Z) or an offset from now (--start=-6h)
  --anomaly <spec>       an incident, repeatable: <kind>@<time>[/<duration>][@<site>]; kind one of
                         ${INCIDENT_KINDS.join(", ")}; time ISO or an offset from --start (+5h); duration
                         default 20m; site default the first
  --seed <n>             random seed (default 1): the same options give the same events
  --stream <Name>        stream component (default Clickstream)

Examples:
  pnpm push clickstream --sites 3 --rate 50 --duration 8h --start=-8h --anomaly ctr-collapse@+6h
  pnpm push clickstream --rate 20 --duration 2h --start 2026-03-01T00:00:00Z --anomaly traffic-spike@+90m/10m@book-nook.example`,
  options: {
    sites: { type: "string", default: "3" },
    rate: { type: "string", default: "20" },
    duration: { type: "string", default: "1h" },
    start: { type: "string" },
    anomaly: { type: "string", multiple: true },
    seed: { type: "string", default: "1" },
    stream: { type: "string", default: "Clickstream" },
  },
  async run(context, { values }) {
    const sites = Number(values.sites);
    const rate = Number(values.rate);
    const seed = Number(values.seed);
    if (!Number.isInteger(sites) || sites < 1)
      throw new UsageError("--sites must be a whole number >= 1", "clickstream");
    if (!(rate > 0)) throw new UsageError("--rate must be a number of events per second > 0", "clickstream");
    if (!Number.isInteger(seed)) throw new UsageError("--seed must be a whole number", "clickstream");
    let durationMs: number;
    let start: number;
    let incidents: Incident[];
    try {
      durationMs = parseDuration(values.duration);
      const now = Date.now();
      start = values.start === undefined ? now - durationMs : parseInstant(values.start, now);
      incidents = (values.anomaly ?? []).map((spec) => parseIncident(spec, start));
    } catch (error) {
      throw new UsageError((error as Error).message, "clickstream");
    }
    const known = siteNames(sites);
    for (const incident of incidents) {
      if (incident.site !== undefined && !known.includes(incident.site)) {
        throw new UsageError(`--anomaly site ${incident.site} is not one of ${known.join(", ")}`, "clickstream");
      }
    }
    const stream = context.resolve("stream", values.stream);
    const expected = Math.round((rate * durationMs) / 1000);
    const progress = context.progress(`generating clickstream into ${stream.component}`, "events", expected);
    async function* entries(): AsyncGenerator<KinesisEntry> {
      for (const event of generateClickstream({ sites, rate, start, durationMs, incidents, seed })) {
        const issues = clickstreamEventIssues(event);
        if (issues.length > 0) throw new Error(`generator produced an invalid event: ${issues.join("; ")}`);
        yield { data: Buffer.from(JSON.stringify(event)), partitionKey: event.eventId };
      }
    }
    const report = await putRecords(context.clients.kinesis(), stream.physical, entries(), {
      onStored: (n) => progress.add(n),
      onRetry: (pending) => progress.note(pending ? `retrying ${formatCount(pending)}` : undefined),
    }).finally(() => progress.done());
    const span = `${new Date(start).toISOString()} .. ${new Date(start + durationMs).toISOString()}`;
    const injected = incidents.map((i) => `${i.kind}@${new Date(i.start).toISOString()}`).join(", ");
    return (
      `put ${formatThroughput(report.records, "events", progress.elapsedMs)} for ${sites} site(s), event time ${span}` +
      `${injected ? `, incidents: ${injected}` : ""} into ${stream.component} (${stream.physical})`
    );
  },
});
