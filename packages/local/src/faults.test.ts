/**
 * Fault injection: the spec language, the seeded draws, and what a client sees through the gateway (the real S3 and
 * SNS clients against the fauxqs emulator).
 */
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { CreateTopicCommand, PublishCommand, SNSClient } from "@aws-sdk/client-sns";
import { type FauxqsServer, startFauxqs } from "fauxqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFaultInjector, describeFaults, type FaultRules, parseFaultSpec } from "./faults.ts";
import { type IamGateway, startIamGateway } from "./iam/gateway.ts";
import { type FunctionIdentity, functionCredentials, functionPrincipal } from "./iam/identities.ts";

describe("parseFaultSpec", () => {
  it("spreads a bare rate over every service and every kind", () => {
    const rules = parseFaultSpec("5%");
    expect(Object.keys(rules).sort()).toEqual(["dynamodb", "glue", "kinesis", "s3", "sagemaker", "sns", "sqs"]);
    expect(rules.s3).toEqual({ rate: 0.05, kinds: ["throttle", "5xx", "reset", "timeout"] });
  });

  it("reads per-service rates and kinds, later entries overriding earlier ones", () => {
    expect(parseFaultSpec("2%,s3=5%,dynamodb=10%:throttle,kinesis=0.5%:timeout+reset")).toMatchObject({
      s3: { rate: 0.05 },
      dynamodb: { rate: 0.1, kinds: ["throttle"] },
      kinesis: { rate: 0.005, kinds: ["timeout", "reset"] },
      sns: { rate: 0.02 },
    });
  });

  it.each([
    ["", /expected e.g. 5%/],
    ["5", /is not \[service=\]N%/],
    ["s4=5%", /unknown service "s4"/],
    ["s3=5%:slow", /unknown kind "slow"/],
    ["150%", /at most 100%/],
  ])("refuses %j", (spec, message) => {
    expect(() => parseFaultSpec(spec)).toThrow(message);
  });

  it("describes the rules with their seed", () => {
    expect(describeFaults(parseFaultSpec("s3=5%:throttle"), 42)).toBe("s3 5% (throttle); seed 42");
  });
});

describe("seeded draws", () => {
  it("replays the same faults for the same seed, and draws about the configured share", () => {
    const rules: FaultRules = { s3: { rate: 0.1, kinds: ["throttle", "reset"] } };
    const draws = (seed: number) => {
      const injector = createFaultInjector(rules, { seed });
      return Array.from({ length: 2000 }, () => injector.draw("s3") ?? "-");
    };
    expect(draws(7)).toEqual(draws(7));
    expect(draws(7)).not.toEqual(draws(8));
    const faulted = draws(7).filter((d) => d !== "-").length;
    expect(faulted).toBeGreaterThan(150);
    expect(faulted).toBeLessThan(250);
    expect(createFaultInjector(rules, { seed: 1 }).draw("sns")).toBeUndefined();
  });
});

describe("faults through the gateway (S3 and SNS emulator behind it)", () => {
  const region = "us-east-1";
  const accountId = "000000000000";
  const app = { name: "sluice", stage: "test" };
  const identity = (name: string, faultable: boolean): FunctionIdentity => ({
    functionName: name,
    credentials: functionCredentials(app, name),
    principal: functionPrincipal(app, accountId, name),
    policy: { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "*", Resource: "*" }] },
    faultable,
  });
  const handler = identity("Worker", true);
  const lambda = identity("Worker#lambda", false);
  let fauxqs: FauxqsServer;
  const gateways: IamGateway[] = [];
  const faults: string[] = [];

  async function gatewayWith(family: "s3" | "sns-sqs", rules: FaultRules): Promise<string> {
    const gateway = await startIamGateway({
      family,
      upstream: `http://127.0.0.1:${fauxqs.port}`,
      region,
      accountId,
      identityOf: (key) => [handler, lambda].find((i) => i.credentials.accessKeyId === key),
      faults: createFaultInjector(rules, { seed: 1, slowMs: 100 }),
      onFault: (fn, message) => faults.push(`${fn}: ${message}`),
    });
    gateways.push(gateway);
    return gateway.endpoint;
  }
  const s3 = (endpoint: string, credentials: { accessKeyId: string; secretAccessKey: string }, maxAttempts = 1) =>
    new S3Client({
      region,
      endpoint,
      credentials,
      forcePathStyle: true,
      maxAttempts,
      requestChecksumCalculation: "WHEN_REQUIRED",
    });
  const admin = { accessKeyId: "local", secretAccessKey: "local" };
  const error = (promise: Promise<unknown>) =>
    promise.then(
      () => undefined,
      (e: { name: string; code?: string; $metadata?: { httpStatusCode?: number; attempts?: number } }) => e,
    );

  beforeAll(async () => {
    fauxqs = await startFauxqs({ port: 0, logger: false });
    const clean = s3(await gatewayWith("s3", {}), admin);
    await clean.send(new CreateBucketCommand({ Bucket: "faults" }));
    clean.destroy();
  });
  afterAll(async () => {
    for (const gateway of gateways) await gateway.stop();
    await fauxqs?.stop();
  });

  it("throttles a handler's S3 call with SlowDown 503, which the SDK retries", async () => {
    const client = s3(await gatewayWith("s3", { s3: { rate: 1, kinds: ["throttle"] } }), handler.credentials, 2);
    const err = await error(client.send(new PutObjectCommand({ Bucket: "faults", Key: "a", Body: "a" })));
    expect(err).toMatchObject({
      name: "SlowDown",
      $metadata: { httpStatusCode: 503, attempts: 2 },
    });
    client.destroy();
  });

  it("fails a call with a 5xx or a reset connection, not applied", async () => {
    const endpoint = await gatewayWith("s3", { s3: { rate: 1, kinds: ["5xx", "reset"] } });
    const client = s3(endpoint, handler.credentials);
    const seen = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const err = await error(client.send(new PutObjectCommand({ Bucket: "faults", Key: `b${i}`, Body: "b" })));
      seen.add(
        err?.$metadata?.httpStatusCode ? String(err.$metadata.httpStatusCode) : (err?.code ?? err?.name ?? "none"),
      );
    }
    expect([...seen].some((s) => s === "500" || s === "503")).toBe(true);
    expect([...seen].some((s) => /ECONNRESET|socket hang up|EPIPE/i.test(s))).toBe(true);
    const root = s3(endpoint, admin);
    expect(await error(root.send(new GetObjectCommand({ Bucket: "faults", Key: "b0" })))).toMatchObject({
      name: "NoSuchKey",
    });
    client.destroy();
    root.destroy();
  });

  it("applies a call and drops its answer on a timeout fault (what idempotency is for)", async () => {
    const endpoint = await gatewayWith("s3", { s3: { rate: 1, kinds: ["timeout"] } });
    const client = s3(endpoint, handler.credentials);
    const err = await error(client.send(new PutObjectCommand({ Bucket: "faults", Key: "applied", Body: "yes" })));
    expect(err).toBeDefined();
    const root = s3(endpoint, admin);
    const got = await root.send(new GetObjectCommand({ Bucket: "faults", Key: "applied" }));
    expect(await got.Body?.transformToString()).toBe("yes");
    expect(faults).toContain("Worker: s3:PutObject applied, answer dropped after 100 ms");
    client.destroy();
    root.destroy();
  });

  it("leaves Lambda's own calls with the role, and everyone else's, clean", async () => {
    const endpoint = await gatewayWith("sns-sqs", { sns: { rate: 1, kinds: ["throttle"] } });
    const topic = (credentials: { accessKeyId: string; secretAccessKey: string }) =>
      new SNSClient({ region, endpoint, credentials, maxAttempts: 2 });
    const root = topic(admin);
    const { TopicArn } = await root.send(new CreateTopicCommand({ Name: "FaultTopic" }));
    await root.send(new PublishCommand({ TopicArn, Message: "admin" }));
    await topic(lambda.credentials).send(new PublishCommand({ TopicArn, Message: "lambda service" }));
    expect(
      await error(topic(handler.credentials).send(new PublishCommand({ TopicArn, Message: "handler" }))),
    ).toMatchObject({
      name: "Throttling",
      $metadata: { httpStatusCode: 400, attempts: 2 },
    });
  });
});
