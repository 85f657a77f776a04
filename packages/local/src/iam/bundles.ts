/**
 * Which AWS API operations a function's bundle can send, read from the bundle itself, and whether the function's
 * IAM policy allows each. A flow on the enforcing local cloud only proves the branches it runs; this covers every
 * command the handler and its adapters import, run or not.
 *
 * AWS SDK v3 clients build each command class with a per-client factory: `X = f(endpointParams, "AmazonS3",
 * "S3Client", ...)`, then `class extends X(params, plugins, "PutObject", schema) {}` (minified names vary, the
 * strings do not).
 */
import { type IamService, iamActionsOf } from "./actions.ts";
import { actionMatches, type PolicyDocument } from "./policy.ts";

export interface BundledCommand {
  client: string;
  operation: string;
}

/** The IAM service of each SDK client a function may use. */
export const clientServices: Readonly<Record<string, IamService>> = {
  S3Client: "s3",
  SNSClient: "sns",
  SQSClient: "sqs",
  DynamoDBClient: "dynamodb",
  DynamoDBStreamsClient: "dynamodb",
  KinesisClient: "kinesis",
  SageMakerRuntimeClient: "sagemaker",
  GlueClient: "glue",
  AthenaClient: "athena",
};

/**
 * Commands every bundle of a client contains that a function never sends with its role, and why.
 */
export const neverSent: Readonly<Record<string, string>> = {
  // The default credential chain's clients: a Lambda function's role credentials are in its environment, which the
  // chain reads first.
  SSOClient: "the SDK's default credential chain (SSO), not reached on Lambda",
  SSOOIDCClient: "the SDK's default credential chain (SSO), not reached on Lambda",
  STSClient: "the SDK's default credential chain (web identity, role profiles), not reached on Lambda",
  SigninClient: "the SDK's default credential chain (console sign-in), not reached on Lambda",
  "S3Client.CreateSession": "S3 Express One Zone session auth, used only with directory buckets (Sluice has none)",
};

/** Operations that need the action of each of their items: one allowed action makes some request possible. */
const perItem = new Set([
  "TransactWriteItems",
  "TransactGetItems",
  "ExecuteStatement",
  "BatchExecuteStatement",
  "ExecuteTransaction",
]);

/** The commands a bundle defines, by client. */
export function bundledCommands(source: string): BundledCommand[] {
  const clients = new Map<string, string>();
  for (const m of source.matchAll(/([\w$]+)=[\w$]+\([\w$]+,"[A-Za-z0-9_.]+","([A-Za-z0-9]+Client)",[\w$]+\)/g)) {
    clients.set(m[1] as string, m[2] as string);
  }
  const found = new Map<string, BundledCommand>();
  for (const m of source.matchAll(/class extends ([\w$]+)\([\w$]+,[\w$]+,"([A-Za-z0-9]+)",[\w$]+\)\{\}/g)) {
    const client = clients.get(m[1] as string) ?? `unknown client (${m[1]})`;
    found.set(`${client}.${m[2]}`, { client, operation: m[2] as string });
  }
  return [...found.values()].sort((a, b) => `${a.client}.${a.operation}`.localeCompare(`${b.client}.${b.operation}`));
}

/** Whether some Allow statement of the policy grants the action (on some resource) and no statement denies it everywhere. */
function grantsSomewhere(policy: PolicyDocument, action: string): boolean {
  const actions = (value: string | string[] | undefined) => (value === undefined ? [] : ([] as string[]).concat(value));
  return policy.Statement.some(
    (s) => s.Effect === "Allow" && actions(s.Action).some((pattern) => actionMatches(pattern, action)),
  );
}

/** One sentence per bundled command the policy does not allow. */
export function commandProblems(
  functionName: string,
  commands: readonly BundledCommand[],
  policy: PolicyDocument,
): string[] {
  const problems: string[] = [];
  for (const { client, operation } of commands) {
    if (neverSent[client] || neverSent[`${client}.${operation}`]) continue;
    const service = clientServices[client];
    if (!service) {
      problems.push(
        `${functionName} bundles ${client}.${operation}: no IAM mapping for ${client} (add it to clientServices)`,
      );
      continue;
    }
    const actions = iamActionsOf(service, operation);
    const missing = actions.filter((action) => !grantsSomewhere(policy, action));
    const refused = perItem.has(operation)
      ? missing.length === actions.length && actions.length > 0
      : missing.length > 0;
    if (refused) {
      problems.push(
        `${functionName} can send ${client}.${operation}, which needs ${missing.join(" and ")}: its policy allows it nowhere`,
      );
    }
  }
  return problems;
}
