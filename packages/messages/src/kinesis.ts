/**
 * Kinesis record data as Lambda hands it over (`Records[i].kinesis.data`: the record's bytes, base64), decoded
 * into what the `Clickstream` stream carries: one JSON clickstream event per record.
 */
import { type ClickstreamEvent, clickstreamEvent } from "./clickstream.ts";
import { issuePhrases } from "./issues.ts";

/** Record data that is not what the stream carries: not JSON, or not a clickstream event. The message says which. */
export class UndecodableRecord extends Error {
  override name = "UndecodableRecord";
}

/**
 * The JSON value a record's data holds (UTF-8).
 *
 * @throws UndecodableRecord `not JSON: "<its first 80 characters>"`.
 */
export function decodeKinesisJson(data: string): unknown {
  const text = Buffer.from(data, "base64").toString("utf8");
  try {
    return JSON.parse(text);
  } catch {
    throw new UndecodableRecord(`not JSON: ${JSON.stringify(text.slice(0, 80))}`);
  }
}

/**
 * The clickstream event a record's data holds.
 *
 * @throws UndecodableRecord `not JSON: ...`, or `not a clickstream event: <every issue>`.
 */
export function decodeClickstreamRecord(data: string): ClickstreamEvent {
  const parsed = clickstreamEvent.safeParse(decodeKinesisJson(data));
  if (!parsed.success) throw new UndecodableRecord(`not a clickstream event: ${issuePhrases(parsed.error).join("; ")}`);
  return parsed.data;
}
