/**
 * Avro object container files (Avro 1.11 spec, "Object Container Files"), as Iceberg manifests and manifest lists
 * are stored: the records are encoded by avsc; this module frames them (magic, metadata map, sync marker, one block,
 * codec `null`). The schema written in the header keeps its extra attributes (`field-id`, `element-id`...), which
 * Iceberg readers use to map fields by id. It also reads other writers' containers (Athena's manifests: codecs
 * `null`, `deflate`, `snappy`), with the writer's schema from the header.
 */
import { randomBytes } from "node:crypto";
import { inflateRawSync } from "node:zlib";
import avro from "avsc";
import { snappyUncompress } from "hyparquet";

const MAGIC = Buffer.from([0x4f, 0x62, 0x6a, 0x01]); // "Obj" 1
const metadataType = avro.Type.forSchema({ type: "map", values: "bytes" });
const longType = avro.Type.forSchema("long");

/** A record type and the schema text to write in the header (with its field ids). */
export interface AvroRecordType {
  type: avro.Type;
  schemaJson: string;
}

/**
 * Avro `long` as a number when a double holds it exactly, else a bigint (Iceberg Java's snapshot ids use 63 bits);
 * either is written.
 */
const exactLong = avro.types.LongType.__with({
  fromBuffer: (buffer: Buffer) => {
    const value = buffer.readBigInt64LE();
    return Number.isSafeInteger(Number(value)) ? Number(value) : value;
  },
  toBuffer: (value: number | bigint) => {
    const buffer = Buffer.alloc(8);
    buffer.writeBigInt64LE(BigInt(value));
    return buffer;
  },
  fromJSON: (value: number | bigint) => value,
  toJSON: (value: number | bigint) => Number(value),
  isValid: (value: unknown) => typeof value === "bigint" || (typeof value === "number" && Number.isInteger(value)),
  compare: (a: number | bigint, b: number | bigint) => (a < b ? -1 : a > b ? 1 : 0),
});

const typeOptions = () => ({ wrapUnions: "auto" as const, registry: { long: exactLong } });

/** Compiles an Avro schema once; unions of `null` and one type take the value or null as it is. */
export function avroRecordType(schema: avro.Schema): AvroRecordType {
  return { type: avro.Type.forSchema(schema, typeOptions()), schemaJson: JSON.stringify(schema) };
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

/** A container file's records, decoded with the schema in its header, and its header's other metadata. */
export function readAvroContainer(bytes: Uint8Array): { records: unknown[]; metadata: Record<string, string> } {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!buffer.subarray(0, 4).equals(MAGIC)) throw new Error("not an Avro container file");
  const header = metadataType.decode(buffer, 4);
  if (header.offset < 0) throw new Error("truncated Avro header");
  const raw = header.value as Record<string, Buffer>;
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw)) metadata[key] = value.toString("utf8");
  const codec = metadata["avro.codec"] ?? "null";
  const type = avro.Type.forSchema(JSON.parse(metadata["avro.schema"] ?? "null"), typeOptions());
  const sync = buffer.subarray(header.offset, header.offset + 16);
  let offset = header.offset + 16;
  const records: unknown[] = [];
  while (offset < buffer.length) {
    const count = longType.decode(buffer, offset);
    const size = longType.decode(buffer, count.offset);
    if (count.offset < 0 || size.offset < 0) throw new Error("truncated Avro block");
    const start = size.offset;
    const end = start + Number(size.value);
    let block = buffer.subarray(start, end);
    if (codec === "deflate") block = inflateRawSync(block);
    else if (codec === "snappy") {
      // Avro's snappy: the compressed block, then a CRC-32 of the uncompressed bytes (not checked here).
      const compressed = block.subarray(0, block.length - 4);
      let length = 0;
      for (let i = 0, shift = 0; i < compressed.length; i++, shift += 7) {
        const byte = compressed[i] as number;
        length += (byte & 0x7f) * 2 ** shift;
        if (byte < 0x80) break;
      }
      const output = new Uint8Array(length);
      snappyUncompress(compressed, output);
      block = Buffer.from(output.buffer);
    } else if (codec !== "null") throw new Error(`Avro codec ${codec} is not read here`);
    let at = 0;
    for (let i = 0; i < Number(count.value); i++) {
      const decoded = type.decode(block, at);
      if (decoded.offset < 0) throw new Error("truncated Avro record");
      records.push(decoded.value);
      at = decoded.offset;
    }
    if (!buffer.subarray(end, end + 16).equals(sync)) throw new Error("Avro sync marker mismatch");
    offset = end + 16;
  }
  return { records, metadata };
}
