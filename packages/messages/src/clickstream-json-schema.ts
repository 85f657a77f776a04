/**
 * The clickstream event as a JSON Schema (draft 2020-12), generated from its zod schema, for tools outside
 * TypeScript. A module of its own: the generator is not something a handler's bundle should carry.
 */
import * as z from "zod/mini";
import { type ClickstreamAction, type ClickstreamEvent, clickstreamEvent } from "./clickstream.ts";

interface PropertySchema {
  type?: string;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  description?: string;
  enum?: string[];
}

/** The generated document's shape, as far as readers rely on it (`clickstream.test.ts` pins it). */
export interface ClickstreamEventJsonSchema {
  $schema: string;
  title: string;
  type: "object";
  required: Array<keyof ClickstreamEvent>;
  properties: Record<keyof ClickstreamEvent, PropertySchema> & {
    ts: PropertySchema & { pattern: string };
    action: PropertySchema & { enum: ClickstreamAction[] };
  };
  additionalProperties: unknown;
}

const annotations = z.registry<Record<string, string>>();
annotations.add(clickstreamEvent, { title: "Sluice clickstream event" });
annotations.add(clickstreamEvent.shape.eventId, { description: "Unique per event; the default partition key" });
annotations.add(clickstreamEvent.shape.ts, { format: "date-time", description: "ISO-8601 UTC instant" });

export const clickstreamEventJsonSchema = z.toJSONSchema(clickstreamEvent, {
  metadata: annotations,
}) as unknown as ClickstreamEventJsonSchema;
