/**
 * Runs the infra code (infra/app.ts) under Pulumi runtime mocks, the way SST's own platform tests do, and records
 * every resource it registers with its resolved inputs. Nothing touches AWS or the internet.
 *
 * Three things stand in for `sst deploy`:
 * - the globals SST's shim gives `sst.config.ts` (`sst`, `aws`, `$app`, `$cli`, `$dev`, `$interpolate`...),
 *   taken from the platform SST installed offline in `.sst/platform` (the same code `sst deploy` runs);
 * - Pulumi mocks that give each cloud resource plausible outputs (ARNs, names, an image's digest) and answer the
 *   provider calls the components make (region, partition, IAM policy documents, an ECR authorization token);
 * - a stand-in for the SST CLI's RPC server, which `sst.aws.Function` calls to bundle its handler
 *   (`Runtime.Build`) and to find the bootstrap asset bucket. It records each build request (handler, links,
 *   runtime) and answers with an empty bundle, so the real Function component runs, role and all.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Wiring } from "../../infra/wiring.ts";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const platformDir = path.join(repoRoot, ".sst/platform");
export const region = "us-east-1";
export const accountId = "123456789012";
export const app = { name: "sluice", stage: "test" };

/**
 * Installs SST's platform offline if it is not there yet (about 40 s the first time), or again (a few seconds) when
 * sst.config.ts changed since, as its providers may have: scripts/sst-install.sh's own rule.
 */
export function ensurePlatform(): void {
  const types = path.join(platformDir, "config.d.ts");
  if (existsSync(types) && statSync(types).mtimeMs >= statSync(path.join(repoRoot, "sst.config.ts")).mtimeMs) return;
  execFileSync("bash", [path.join(repoRoot, "scripts/sst-install.sh")], { cwd: repoRoot, stdio: "pipe" });
}

/** One resource registered by the program, with its inputs as Pulumi resolved them. */
export interface Registered {
  type: string;
  name: string;
  custom: boolean;
  inputs: Record<string, unknown>;
  /** The state the mock returned (inputs plus generated outputs such as `arn`). */
  state: Record<string, unknown>;
}

/** One `Runtime.Build` request `sst.aws.Function` made (what SST would bundle, and the links it would embed). */
export interface BuildRequest {
  functionID: string;
  handler: string;
  runtime: string;
  links: Record<string, Record<string, unknown>>;
  properties: Record<string, unknown>;
}

export interface Synth {
  resources: Registered[];
  builds: BuildRequest[];
  outputs: Record<string, unknown>;
  /** The resources of one type (`aws:lambda/function:Function`...). */
  ofType(type: string): Registered[];
  /** The one resource with this type and logical name; throws when absent. */
  get(type: string, name: string): Registered;
}

const arn = (service: string, resource: string) => `arn:aws:${service}:${region}:${accountId}:${resource}`;

/** Plausible outputs per resource type: what AWS would return and the components read back. */
function outputsFor(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
  const physical = (inputs.name as string | undefined) ?? name;
  switch (type) {
    case "aws:s3/bucket:Bucket": {
      const bucket = (inputs.bucket as string | undefined) ?? name.toLowerCase();
      return { bucket, arn: `arn:aws:s3:::${bucket}`, bucketDomainName: `${bucket}.s3.amazonaws.com` };
    }
    case "aws:sns/topic:Topic":
      return { name: physical, arn: arn("sns", physical) };
    case "aws:sqs/queue:Queue":
      return {
        name: physical,
        arn: arn("sqs", physical),
        url: `https://sqs.${region}.amazonaws.com/${accountId}/${physical}`,
      };
    case "aws:kinesis/stream:Stream":
      return { name: physical, arn: arn("kinesis", `stream/${physical}`) };
    case "aws:dynamodb/table:Table": {
      const tableArn = arn("dynamodb", `table/${physical}`);
      return {
        name: physical,
        arn: tableArn,
        ...(inputs.streamEnabled ? { streamArn: `${tableArn}/stream/2026-01-01T00:00:00.000` } : {}),
      };
    }
    case "aws:lambda/function:Function": {
      const fnArn = arn("lambda", `function:${physical}`);
      return {
        name: physical,
        arn: fnArn,
        qualifiedArn: `${fnArn}:$LATEST`,
        invokeArn: `arn:aws:apigateway:${region}:lambda:path/2015-03-31/functions/${fnArn}/invocations`,
        publish: inputs.publish ?? false,
      };
    }
    case "aws:iam/role:Role":
      return { name: physical, arn: `arn:aws:iam::${accountId}:role/${physical}` };
    case "aws:cloudwatch/logGroup:LogGroup":
      return { arn: arn("logs", `log-group:${physical}`) };
    case "aws:cloudwatch/metricAlarm:MetricAlarm":
      return { arn: arn("cloudwatch", `alarm:${physical}`) };
    case "aws:ecr/repository:Repository": {
      const repository = physical.toLowerCase();
      return {
        name: repository,
        arn: arn("ecr", `repository/${repository}`),
        registryId: accountId,
        repositoryUrl: `${accountId}.dkr.ecr.${region}.amazonaws.com/${repository}`,
      };
    }
    case "docker-build:index:Image": {
      // What a push reports: the manifest digest, and the first tag with it.
      const digest = `sha256:${createHash("sha256").update(JSON.stringify(inputs)).digest("hex")}`;
      const tags = (inputs.tags as string[] | undefined) ?? [];
      return { digest, ref: tags[0] ? `${tags[0]}@${digest}` : "", contextHash: "mock-context-hash" };
    }
    case "aws:glue/catalogDatabase:CatalogDatabase":
      return { name: physical, arn: arn("glue", `database/${physical}`) };
    case "aws:kms/key:Key":
      return { keyId: `${name}-key-id`, arn: arn("kms", `key/${name}-key-id`) };
    case "random:index/randomBytes:RandomBytes":
      return { base64: Buffer.alloc(32, 1).toString("base64"), hex: "01".repeat(32) };
    default:
      return {};
  }
}

/** `aws.iam.getPolicyDocument`, as AWS's provider renders it (enough for assertions: Effect/Action/Resource). */
function policyDocument(inputs: { statements?: Record<string, unknown>[] }) {
  const statements = (inputs.statements ?? []).map((s) => ({
    Effect: (s.effect as string | undefined) ?? "Allow",
    Action: s.actions,
    Resource: s.resources,
    ...(s.principals ? { Principal: s.principals } : {}),
    ...(s.conditions ? { Condition: s.conditions } : {}),
  }));
  return { ...inputs, json: JSON.stringify({ Version: "2012-10-17", Statement: statements }) };
}

interface FakeSstServer {
  url: string;
  builds: BuildRequest[];
  close(): Promise<void>;
}

/** The SST CLI's RPC server, reduced to the calls the components used here make. */
async function startFakeSstServer(bundleDir: string): Promise<FakeSstServer> {
  const builds: BuildRequest[] = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => {
      body += chunk;
    });
    req.on("end", () => {
      const { method, params } = JSON.parse(body) as { method: string; params: [Record<string, unknown>] };
      const reply = (result: unknown) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ result, error: null }));
      };
      switch (method) {
        case "Runtime.Build": {
          builds.push(params[0] as unknown as BuildRequest);
          return reply({ handler: "index.handler", out: bundleDir, errors: [], sourcemaps: [] });
        }
        case "Provider.Aws.Bootstrap":
          return reply({
            asset: "sst-asset-mock",
            assetEcrRegistryId: accountId,
            assetEcrUrl: `${accountId}.dkr.ecr.${region}.amazonaws.com/sst-asset`,
            state: "sst-state-mock",
          });
        default:
          res.writeHead(200, { "content-type": "application/json" });
          res.end(JSON.stringify({ result: null, error: `rpc: can't find method ${method}` }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    builds,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

type PulumiModule = typeof import("../../.sst/platform/node_modules/@pulumi/pulumi/index.js");

/**
 * Runs a program in a mocked Pulumi stack and returns what it registered: by default `deploySluice(wiring)`; pass
 * `program` to run something else (e.g. sst.config.ts's own `run()`). `wiring` is the one the checks compare with.
 * Call once per test file: Pulumi's runtime state and SST's link registry are process-wide.
 */
export async function synthesize(
  wiring: Wiring,
  program?: (wiring: Wiring) => Record<string, unknown> | Promise<Record<string, unknown>>,
): Promise<Synth> {
  ensurePlatform();
  const work = mkdtempSync(path.join(os.tmpdir(), "sluice-infra-"));
  const bundleDir = path.join(work, "bundle");
  mkdirSync(bundleDir);
  writeFileSync(path.join(bundleDir, "index.mjs"), "export const handler = async () => {};\n");
  const server = await startFakeSstServer(bundleDir);
  process.env.SST_SERVER = server.url;

  const pulumi: PulumiModule = await import("../../.sst/platform/node_modules/@pulumi/pulumi/index.js");
  const resources: Registered[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const inputs = (args.inputs ?? {}) as Record<string, unknown>;
        const state = { ...inputs, ...outputsFor(args.type, args.name, inputs) };
        resources.push({ type: args.type, name: args.name, custom: args.custom ?? true, inputs, state });
        return { id: `${args.name}-id`, state };
      },
      call(args) {
        switch (args.token) {
          case "aws:index/getPartition:getPartition":
            return { partition: "aws", dnsSuffix: "amazonaws.com", id: "aws" };
          case "aws:index/getRegion:getRegion":
            // Without `name`, deprecated in pulumi-aws 7: code reading it gets undefined, and the ARN checks fail.
            return { region, id: region };
          case "aws:index/getCallerIdentity:getCallerIdentity":
            return { accountId, arn: `arn:aws:iam::${accountId}:root`, userId: "mock", id: accountId };
          case "aws:iam/getPolicyDocument:getPolicyDocument":
            return policyDocument(args.inputs);
          case "aws:ecr/getAuthorizationToken:getAuthorizationToken": {
            const registry = (args.inputs.registryId as string | undefined) ?? accountId;
            return {
              id: registry,
              registryId: registry,
              authorizationToken: Buffer.from("AWS:mock-password").toString("base64"),
              expiresAt: "2026-01-01T12:00:00Z",
              proxyEndpoint: `https://${registry}.dkr.ecr.${region}.amazonaws.com`,
              userName: "AWS",
              password: "mock-password",
            };
          }
          default:
            return args.inputs;
        }
      },
    },
    "sluice",
    app.stage,
    false,
  );

  // The mock monitor puts the root stack's type into the URN of every top-level resource
  // (`pulumi:pulumi:Stack$sst:aws:Bucket`); the real engine leaves it out, and SST reads a link's type from the URN.
  const monitor = pulumi.runtime.getMonitor() as unknown as {
    newUrn(parent: string | undefined, type: string, name: string): string;
  };
  const newUrn = monitor.newUrn.bind(monitor);
  monitor.newUrn = (parent, type, name) =>
    newUrn(parent?.split("::")[2] === "pulumi:pulumi:Stack" ? undefined : parent, type, name);

  // The globals of sst.config.ts's `run()`, from the platform's own modules (src/shim/run.js, config.d.ts).
  const src = (file: string) => path.join(platformDir, "src", file);
  const aws = await import("../../.sst/platform/node_modules/@pulumi/aws/index.js");
  // The `dockerbuild` global of the `docker-build` provider sst.config.ts lists.
  const dockerbuild = await import("../../.sst/platform/node_modules/@pulumi/docker-build/index.js");
  const component = await import(src("components/component.ts"));
  const { Linkable } = await import(src("components/linkable.ts"));
  const { Link } = await import(src("components/link.ts"));
  const { $config } = await import(src("config.ts"));
  const sstAws = {
    ...(await import(src("components/aws/bucket.ts"))),
    ...(await import(src("components/aws/sns-topic.ts"))),
    ...(await import(src("components/aws/kinesis-stream.ts"))),
    ...(await import(src("components/aws/dynamo.ts"))),
    ...(await import(src("components/aws/queue.ts"))),
    ...(await import(src("components/aws/function.ts"))),
    ...(await import(src("components/aws/permission.ts"))),
  };
  Object.assign(globalThis, {
    sst: { aws: sstAws, Linkable },
    aws,
    dockerbuild,
    $app: { ...app, removal: "remove", protect: false, providers: {} },
    $dev: false,
    $cli: { command: "deploy", paths: { root: repoRoot, work, platform: platformDir }, state: {} },
    $util: pulumi,
    $output: pulumi.output,
    $resolve: pulumi.all,
    $interpolate: pulumi.interpolate,
    $concat: pulumi.concat,
    $jsonParse: pulumi.jsonParse,
    $jsonStringify: pulumi.jsonStringify,
    $transform: component.$transform,
    $asset: component.$asset,
    $config,
  });

  const run = program ?? (async (w: Wiring) => (await import("../../infra/app.ts")).deploySluice(w));
  try {
    const outputs = (await pulumi.runtime.runInPulumiStack(async () => {
      // What `sst deploy` does before the program (src/auto/run.ts): unique component names, link refs.
      Link.reset();
      return run(wiring);
    })) as Record<string, unknown>;
    // Components create resources inside `apply` callbacks: drain Pulumi's RPC queue (internal, not typed), then
    // wait until no new registration shows up.
    const runtime = pulumi.runtime as unknown as { waitForRPCs?: () => Promise<void> };
    await runtime.waitForRPCs?.();
    await settle(() => resources.length);
    return {
      resources,
      builds: server.builds,
      outputs,
      ofType: (type) => resources.filter((r) => r.type === type),
      get(type, name) {
        const found = resources.find((r) => r.type === type && r.name === name);
        if (!found) {
          const names = resources.filter((r) => r.type === type).map((r) => r.name);
          throw new Error(`no ${type} named ${name}; registered: ${names.join(", ") || "none"}`);
        }
        return found;
      },
    };
  } finally {
    await server.close();
    rmSync(work, { recursive: true, force: true });
  }
}

/** Resolves once `count()` has stopped changing for a while (Pulumi has no public "all registered" hook). */
async function settle(count: () => number, quietMs = 300, timeoutMs = 30_000): Promise<void> {
  const started = Date.now();
  let last = -1;
  let stableSince = Date.now();
  while (Date.now() - started < timeoutMs) {
    const now = count();
    if (now !== last) {
      last = now;
      stableSince = Date.now();
    } else if (Date.now() - stableSince >= quietMs) {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error("resources were still being registered after 30 s");
}

/** A policy document (JSON string) as an object. */
export function parsePolicy(json: unknown): { Statement: { Effect: string; Action: string[]; Resource: string[] }[] } {
  if (typeof json !== "string") throw new Error(`expected a policy JSON string, got ${JSON.stringify(json)}`);
  return JSON.parse(json);
}
