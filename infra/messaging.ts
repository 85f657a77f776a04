/**
 * SNS topics, one per wiring topic: encrypted at rest with the stage's own KMS key, and a topic policy that keeps
 * the account's default access and refuses any publish not made over TLS.
 *
 * Why a customer-managed key: a topic encrypted with the AWS-managed `aws/sns` key cannot receive CloudWatch alarm
 * notifications (that key's policy cannot be changed to let CloudWatch use it), and the dead-letter alarms publish
 * to a topic. This key's policy lets the account administer it (and grant its use through IAM: the publishing
 * functions get `topicKeyActions` from infra/permissions.ts) and lets CloudWatch alarms of this account use it.
 */
import type { Wiring } from "./wiring.ts";

export interface Messaging {
  topics: Record<string, sst.aws.SnsTopic>;
  /** The key the topics are encrypted with; absent when the wiring has no topic. */
  key?: aws.kms.Key;
}

/** What SNS's own default topic policy allows the topic owner's account: kept, since a topic policy replaces it. */
export const ownerTopicActions = [
  "SNS:GetTopicAttributes",
  "SNS:SetTopicAttributes",
  "SNS:AddPermission",
  "SNS:RemovePermission",
  "SNS:DeleteTopic",
  "SNS:Subscribe",
  "SNS:ListSubscriptionsByTopic",
  "SNS:Publish",
] as const;

/** The topic key's policy (AWS's default account statement, and AWS's statement for CloudWatch alarm topics). */
export function topicKeyPolicy(partition: string, account: string) {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "AccountAdministersTheKeyAndGrantsItsUseThroughIam",
        Effect: "Allow",
        Principal: { AWS: `arn:${partition}:iam::${account}:root` },
        Action: "kms:*",
        Resource: "*",
      },
      {
        Sid: "CloudWatchAlarmsPublishToEncryptedTopics",
        Effect: "Allow",
        Principal: { Service: "cloudwatch.amazonaws.com" },
        Action: ["kms:GenerateDataKey*", "kms:Decrypt"],
        Resource: "*",
        // Confused deputy: CloudWatch may use the key on behalf of this account's alarms only.
        Condition: { StringEquals: { "aws:SourceAccount": account } },
      },
    ],
  };
}

/** A topic's policy: the owner account's default access, and no publishing without TLS. */
export function topicPolicy(topicArn: string, account: string) {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "OwnerAccountDefaultAccess",
        Effect: "Allow",
        Principal: { AWS: "*" },
        Action: [...ownerTopicActions],
        Resource: topicArn,
        Condition: { StringEquals: { "AWS:SourceOwner": account } },
      },
      {
        Sid: "DenyPublishWithoutTls",
        Effect: "Deny",
        Principal: "*",
        Action: "sns:Publish",
        Resource: topicArn,
        Condition: { Bool: { "aws:SecureTransport": "false" } },
      },
    ],
  };
}

/** Creates the topics' key and every topic of the wiring with its policy (sst.aws.SnsTopic creates none itself). */
export function createTopics(specs: Wiring["topics"]): Messaging {
  const names = Object.keys(specs);
  if (names.length === 0) return { topics: {} };
  const partition = aws.getPartitionOutput().partition;
  const account = aws.getCallerIdentityOutput().accountId;
  const key = new aws.kms.Key("TopicKey", {
    description: `${$app.name} ${$app.stage}: SNS topics at rest`,
    enableKeyRotation: true,
    policy: $resolve([partition, account]).apply(([p, a]) => JSON.stringify(topicKeyPolicy(p, a))),
  });
  const topics: Record<string, sst.aws.SnsTopic> = {};
  for (const name of names) {
    const topic = new sst.aws.SnsTopic(name, { transform: { topic: { kmsMasterKeyId: key.arn } } });
    new aws.sns.TopicPolicy(`${name}TopicPolicy`, {
      arn: topic.arn,
      policy: $resolve([topic.arn, account]).apply(([arn, a]) => JSON.stringify(topicPolicy(arn, a))),
    });
    topics[name] = topic;
  }
  return { topics, key };
}
