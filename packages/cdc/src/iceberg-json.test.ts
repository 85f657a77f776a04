/**
 * Other writers' Iceberg files as this engine reads them: 63-bit snapshot ids kept exact through metadata JSON and Avro
 * `long`s, and Avro containers compressed with `deflate` (Iceberg Java's default codec) or `snappy`.
 */
import { deflateRawSync } from "node:zlib";
import avro from "avsc";
import { describe, expect, it } from "vitest";
import { avroRecordType, readAvroContainer, writeAvroContainer } from "./avro.ts";
import { readManifestList, writeManifestList } from "./iceberg-manifest.ts";
import { icebergJson, parseIcebergJson } from "./iceberg-metadata.ts";
import { snappyCompress } from "./snappy.ts";

describe("Iceberg JSON", () => {
  it("keeps integers a double cannot hold as bigints, safe ones as numbers, and strings untouched", () => {
    const text =
      '{"current-snapshot-id":5637457382938474823,"parent":-9223372036854775807,"seq":12,' +
      '"s":"5637457382938474823","f":1.12345678901234567,"list":[9007199254740993, 3]}';
    const value = parseIcebergJson<Record<string, unknown>>(text);
    expect(value["current-snapshot-id"]).toBe(5637457382938474823n);
    expect(value.parent).toBe(-9223372036854775807n);
    expect(value.seq).toBe(12);
    expect(value.s).toBe("5637457382938474823");
    expect(value.list).toEqual([9007199254740993n, 3]);
    expect(icebergJson(value)).toBe(
      '{"current-snapshot-id":5637457382938474823,"parent":-9223372036854775807,"seq":12,' +
        '"s":"5637457382938474823","f":1.1234567890123457,"list":[9007199254740993,3]}',
    );
  });
});

describe("Avro containers of other writers", () => {
  const type = avroRecordType({ type: "record", name: "r", fields: [{ name: "id", type: "long" }] } as avro.Schema);
  const records = [{ id: 1 }, { id: 5637457382938474823n }, { id: -2 }];

  /** The same records framed with `codec`, the block compressed by `compress`. */
  function framed(codec: string, compress: (block: Buffer) => Buffer): Uint8Array {
    const plain = Buffer.from(readAvroContainerBlock(writeAvroContainer(type, records)));
    const header = avro.Type.forSchema({ type: "map", values: "bytes" }).toBuffer({
      "avro.schema": Buffer.from(type.schemaJson),
      "avro.codec": Buffer.from(codec),
    });
    const sync = Buffer.alloc(16, 7);
    const block = compress(plain);
    const long = avro.Type.forSchema("long");
    return Buffer.concat([
      Buffer.from("Obj\x01", "latin1"),
      header,
      sync,
      long.toBuffer(records.length),
      long.toBuffer(block.length),
      block,
      sync,
    ]);
  }

  it("reads null, deflate and snappy blocks, longs beyond 2^53 as bigints", () => {
    expect(readAvroContainer(writeAvroContainer(type, records)).records).toEqual(records);
    expect(readAvroContainer(framed("deflate", (b) => deflateRawSync(b))).records).toEqual(records);
    const snappy = (b: Buffer) => Buffer.concat([Buffer.from(snappyCompress(b)), Buffer.alloc(4)]);
    expect(readAvroContainer(framed("snappy", snappy)).records).toEqual(records);
    expect(() => readAvroContainer(framed("zstandard", (b) => b))).toThrow(/zstandard/);
  });

  it("writes and reads a manifest list naming a manifest of a 63-bit snapshot", () => {
    const entry = {
      path: "s3://b/t/metadata/m.avro",
      length: 10,
      content: 0 as const,
      sequenceNumber: 3,
      minSequenceNumber: 2,
      addedSnapshotId: 5637457382938474823n,
      addedFiles: 1,
      existingFiles: 2,
      deletedFiles: 3,
      addedRows: 4,
      existingRows: 5,
      deletedRows: 6,
    };
    expect(readManifestList(writeManifestList([entry], 5637457382938474823n, 7, 3))).toEqual([entry]);
  });
});

/** The encoded records of a one-block, codec-null container (the bytes between the block header and the sync). */
function readAvroContainerBlock(bytes: Uint8Array): Uint8Array {
  const buffer = Buffer.from(bytes);
  const header = avro.Type.forSchema({ type: "map", values: "bytes" }).decode(buffer, 4);
  const long = avro.Type.forSchema("long");
  const count = long.decode(buffer, header.offset + 16);
  const size = long.decode(buffer, count.offset);
  return buffer.subarray(size.offset, size.offset + Number(size.value));
}
