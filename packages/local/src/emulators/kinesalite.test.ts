import net from "node:net";
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  PutRecordCommand,
} from "@aws-sdk/client-kinesis";
import { describe, expect, it } from "vitest";
import { createKinesisClient, startKinesalite } from "./kinesalite.ts";

const connects = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });

describe("kinesalite", () => {
  it("serves Kinesis on a free loopback port to an HTTP/1.1 SDK v3 client, with instant stream creation", async () => {
    // Prepare
    const kinesalite = await startKinesalite();
    const client = createKinesisClient(kinesalite.endpoint);
    try {
      // Act
      await client.send(new CreateStreamCommand({ StreamName: "s", ShardCount: 1 }));
      // Instant: the first description after the creation says ACTIVE (no CREATING to poll through).
      const { StreamDescriptionSummary } = await client.send(new DescribeStreamSummaryCommand({ StreamName: "s" }));
      expect(StreamDescriptionSummary?.StreamStatus).toBe("ACTIVE");
      const { ShardId, SequenceNumber } = await client.send(
        new PutRecordCommand({ StreamName: "s", PartitionKey: "k", Data: Buffer.from("hello") }),
      );
      const { ShardIterator } = await client.send(
        new GetShardIteratorCommand({ StreamName: "s", ShardId, ShardIteratorType: "TRIM_HORIZON" }),
      );
      const { Records = [] } = await client.send(new GetRecordsCommand({ ShardIterator }));
      // Assess
      expect(kinesalite.endpoint).toBe(`http://127.0.0.1:${kinesalite.port}`);
      expect(Records.map((r) => [r.SequenceNumber, Buffer.from(r.Data ?? []).toString()])).toEqual([
        [SequenceNumber, "hello"],
      ]);
    } finally {
      client.destroy();
      await kinesalite.stop();
    }
    expect(await connects(kinesalite.port)).toBe(false);
  });
});
