/**
 * Kinesis Data Streams on loopback: kinesalite, in-process and in memory, with streams that become ACTIVE at once.
 *
 * kinesalite speaks HTTP/1.1 only, and SDK v3's Kinesis client defaults to an HTTP/2 handler (for SubscribeToShard),
 * which fails against it with a protocol error: build clients with {@link createKinesisClient}, or pass
 * `requestHandler: new NodeHttpHandler()` yourself. Address streams by name, not ARN (kinesalite has no ARN routing).
 */
import type http from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { KinesisClient, type KinesisClientConfig } from "@aws-sdk/client-kinesis";
import { NodeHttpHandler } from "@smithy/node-http-handler";

interface KinesaliteOptions {
  path?: string;
  ssl?: boolean;
  createStreamMs?: number;
  deleteStreamMs?: number;
  updateStreamMs?: number;
  shardLimit?: number;
}

const kinesalite = createRequire(import.meta.url)("kinesalite") as (options?: KinesaliteOptions) => http.Server;

export interface KinesaliteOptionsForSluice {
  /** Port on 127.0.0.1; `0` or absent picks a free one. */
  port?: number;
  /** Account-wide shard limit. Default 100 (AWS's default is per region and much higher). */
  shardLimit?: number;
}

export interface Kinesalite {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  port: number;
  stop(): Promise<void>;
}

/** Starts kinesalite in this process, in memory; CreateStream, DeleteStream and resharding take no time. */
export async function startKinesalite(options: KinesaliteOptionsForSluice = {}): Promise<Kinesalite> {
  const server = kinesalite({
    createStreamMs: 0,
    deleteStreamMs: 0,
    updateStreamMs: 0,
    shardLimit: options.shardLimit ?? 100,
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  let stopping: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    stop() {
      stopping ??= new Promise<void>((resolve, reject) => {
        // Keep-alive sockets of SDK clients would hold `close` open until they time out.
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      });
      return stopping;
    },
  };
}

/**
 * A Kinesis client for a local endpoint, over HTTP/1.1. Credentials default to dummy ones (kinesalite checks
 * only that a signature is present).
 */
export function createKinesisClient(
  endpoint: string,
  config: Omit<KinesisClientConfig, "endpoint" | "requestHandler"> = {},
): KinesisClient {
  return new KinesisClient({
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
    ...config,
    endpoint,
    requestHandler: new NodeHttpHandler(),
  });
}
