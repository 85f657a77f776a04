/**
 * Avro object container files (Avro 1.11 spec, "Object Container Files"), as Iceberg manifests and manifest lists
 * are stored: the records are encoded by avsc; this module frames them (magic, metadata map, sync marker, one block,
 * codec `null`). The schema written in the header keeps its extra attributes (`field-id`, `element-id`...), which
 * Iceberg readers use to map fields by id.
 */
import { randomBytes } from "node:crypto";
import avro from "avsc";

const MAGIC = Buffer.from([0x4f, 0x62, 0x6a, 0x01]); // "Obj" 1
const metadataType = avro.Type.forSchema({ type: "map", values: "bytes" });
const longType = avro.Type.forSchema("long");

/** A record type and the schema text to write in the header (with its field ids). */
export interface AvroRecordType {
  type: avro.Type;
  schemaJson: string;
}

/** Compiles an Avro schema once; unions of `null` and one type take the value or null as it is. */
export function avroRecordType(schema: avro.Schema): AvroRecordType {
  return { type: avro.Type.forSchema(schema, { wrapUnions: "auto" }), schemaJson: JSON.stringify(schema) };
}

/** One container file holding `records` in a single block; `metadata` entries go into the header next to the schema. */
export function writeAvroContainer(
  recordType: AvroRecordType,
  records: readonly unknown[],
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, Buffer> = {
    "avro.schema": Buffer.from(recordType.schemaJson),
    "avro.codec": Buffer.from("null"),
  };
  for (const [key, value] of Object.entries(metadata)) header[key] = Buffer.from(value);
  const sync = randomBytes(16);
  const parts: Buffer[] = [MAGIC, metadataType.toBuffer(header), sync];
  if (records.length > 0) {
    const body = Buffer.concat(records.map((r) => recordType.type.toBuffer(r)));
    parts.push(longType.toBuffer(records.length), longType.toBuffer(body.length), body, sync);
  }
  return new Uint8Array(Buffer.concat(parts));
}
