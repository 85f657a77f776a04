/** SNS topics, one per wiring topic. */
import type { Wiring } from "./wiring.ts";

/**
 * Creates every topic of the wiring. Topics stay unencrypted at rest on purpose: a topic encrypted with the
 * AWS-managed `aws/sns` key cannot receive CloudWatch alarm notifications or S3 events (that key's policy cannot
 * be changed), and the dead-letter alarms publish to a topic.
 */
export function createTopics(specs: Wiring["topics"]): Record<string, sst.aws.SnsTopic> {
  const topics: Record<string, sst.aws.SnsTopic> = {};
  for (const name of Object.keys(specs)) {
    topics[name] = new sst.aws.SnsTopic(name);
  }
  return topics;
}
