/**
 * Step of `startLocalCloud`: the function runtime. The function host runs the handlers with their own credentials
 * and links; the dead-letter sink sends to a function's on-failure destination with Lambda's credentials of the
 * function's role; the async invoker retries S3 and SNS invocations as Lambda does.
 */
import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { deadLetterQueueOf } from "@sluice/infra/wiring";
import { eventSourcePermissionProblems } from "../iam/policies.ts";
import type { PolicyDocument } from "../iam/policy.ts";
import { ACCOUNT_ID, REGION } from "../names.ts";
import { repoRoot } from "../paths.ts";
import type { CreatedResources, WiringResources } from "../resources.ts";
import { type AsyncInvoker, createAsyncInvoker } from "../runtime/async-invoke.ts";
import { createFunctionHost, type FunctionHost } from "../runtime/function-host.ts";
import type { DeadLetterSink } from "../runtime/types.ts";
import type { CloudEndpoints } from "./emulators.ts";
import { credentialsOf, localNames, serviceCredentialsOf } from "./identities.ts";
import { clientConfig, endpointEnv } from "./provision.ts";

export interface RuntimeOptions {
  spec: WiringResources;
  endpoints: CloudEndpoints;
  resources: CreatedResources;
  policies: Record<string, PolicyDocument>;
  /** Whether IAM policies are enforced: then the event-source permissions are checked as Lambda checks them. */
  enforce: boolean;
  logDir: string;
  onLog?: (functionName: string, line: string) => void;
  asyncRetryDelaysMs?: readonly number[];
}

export interface FunctionRuntime {
  host: FunctionHost;
  deadLetter: DeadLetterSink;
  asyncInvoker: AsyncInvoker;
}

/** Starts the function host and the async invoker; each stop is pushed onto `stops` as soon as its piece runs. */
export function startFunctionRuntime(options: RuntimeOptions, stops: Array<() => Promise<void>>): FunctionRuntime {
  const { spec, endpoints, resources } = options;
  const host = createFunctionHost({
    repoRoot,
    functions: spec.functions,
    baseEnv: endpointEnv(endpoints),
    resourceLinks: resources.links,
    deadLetterQueueUrls: Object.fromEntries(
      Object.keys(spec.functions).flatMap((name) => {
        const url = resources.queues[deadLetterQueueOf(name)];
        return url === undefined ? [] : [[name, url]];
      }),
    ),
    credentialsOf: (name) => credentialsOf(name),
    logDir: options.logDir,
    region: REGION,
    accountId: ACCOUNT_ID,
    onLog: options.onLog,
  });
  stops.push(() => host.stop());

  const deadLetter = deadLetterSink(spec, endpoints, resources, stops);
  // What Lambda checks when a function's destinations and stream mappings are configured.
  if (options.enforce) {
    for (const problem of eventSourcePermissionProblems(spec, options.policies, localNames)) throw new Error(problem);
  }
  const asyncInvoker = createAsyncInvoker({
    invoker: host,
    deadLetter,
    retryDelaysMs: options.asyncRetryDelaysMs,
  });
  stops.push(async () => asyncInvoker.stop());
  return { host, deadLetter, asyncInvoker };
}

/** Sends to the dead-letter queues, each with the credentials of its function's role, as Lambda does. */
function deadLetterSink(
  spec: WiringResources,
  endpoints: CloudEndpoints,
  resources: CreatedResources,
  stops: Array<() => Promise<void>>,
): DeadLetterSink {
  const clients = new Map<string, SQSClient>();
  for (const name of Object.keys(spec.functions)) {
    const client = new SQSClient({ ...clientConfig(endpoints.sqs), credentials: serviceCredentialsOf(name) });
    clients.set(deadLetterQueueOf(name), client);
    stops.push(async () => client.destroy());
  }
  return {
    async send(queueName, body) {
      const url = resources.queues[queueName];
      const client = clients.get(queueName);
      if (!url || !client) throw new Error(`no dead-letter queue named ${queueName}`);
      await client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: JSON.stringify(body) }));
    },
  };
}
