import { type MessageAttributeValue, PublishCommand } from "@aws-sdk/client-sns";
import { InvalidInput, UsageError } from "../errors.ts";
import { textArgument } from "../input.ts";
import { defineKind } from "../kind.ts";
import { formatBytes } from "../progress.ts";

/** SNS's limit on a message, body and attributes together. */
export const MAX_MESSAGE_BYTES = 256 * 1024;
const MAX_SUBJECT_LENGTH = 100;
const ATTRIBUTE_TYPES = ["String", "Number", "String.Array", "Binary"] as const;

/**
 * `key=value` (a String attribute) or `key:Type=value` with Type one of String, Number, String.Array (a JSON
 * array) and Binary (base64), as SNS message attributes.
 */
export function parseAttributes(specs: readonly string[]): Record<string, MessageAttributeValue> {
  const attributes: Record<string, MessageAttributeValue> = {};
  for (const spec of specs) {
    const eq = spec.indexOf("=");
    if (eq <= 0) throw new UsageError(`--attr "${spec}": expected key=value or key:Type=value`, "publish");
    const [name = "", type = "String"] = spec.slice(0, eq).split(":", 2);
    const value = spec.slice(eq + 1);
    if (
      !/^[A-Za-z0-9_.-]{1,256}$/.test(name) ||
      name.startsWith(".") ||
      name.endsWith(".") ||
      name.startsWith("AWS.")
    ) {
      throw new UsageError(`--attr "${spec}": invalid attribute name "${name}"`, "publish");
    }
    if (name in attributes) throw new UsageError(`--attr: attribute "${name}" given twice`, "publish");
    switch (type) {
      case "String":
        attributes[name] = { DataType: "String", StringValue: value };
        break;
      case "Number":
        if (value.trim() === "" || !Number.isFinite(Number(value))) {
          throw new UsageError(`--attr "${spec}": "${value}" is not a number`, "publish");
        }
        attributes[name] = { DataType: "Number", StringValue: value };
        break;
      case "String.Array": {
        let parsed: unknown;
        try {
          parsed = JSON.parse(value);
        } catch {
          parsed = undefined;
        }
        if (!Array.isArray(parsed)) throw new UsageError(`--attr "${spec}": a String.Array is a JSON array`, "publish");
        attributes[name] = { DataType: "String.Array", StringValue: value };
        break;
      }
      case "Binary":
        attributes[name] = { DataType: "Binary", BinaryValue: Buffer.from(value, "base64") };
        break;
      default:
        throw new UsageError(`--attr "${spec}": type "${type}" is not one of ${ATTRIBUTE_TYPES.join(", ")}`, "publish");
    }
  }
  return attributes;
}

/** Bytes SNS counts against the 256 KiB limit: body, attribute names, types and values. */
function messageBytes(message: string, attributes: Record<string, MessageAttributeValue>): number {
  let bytes = Buffer.byteLength(message);
  for (const [name, a] of Object.entries(attributes)) {
    bytes += Buffer.byteLength(name) + Buffer.byteLength(a.DataType ?? "");
    bytes += a.BinaryValue ? a.BinaryValue.byteLength : Buffer.byteLength(a.StringValue ?? "");
  }
  return bytes;
}

export const publishKind = defineKind({
  name: "publish",
  summary: "publish one message to a topic",
  usage: "publish --topic <Name> --message <text | @file | @-> [--subject <text>] [--attr key[:Type]=value ...]",
  help: `Publishes one message to a topic, with optional subject and message attributes.

Options:
  --topic <Name>              topic component name (Audit, Alerts)
  --message <text>            the message; @path reads it from a file, @- from stdin, @@text sends "@text"
  --subject <text>            subject (at most ${MAX_SUBJECT_LENGTH} characters)
  --attr key=value            a String message attribute; repeatable. key:Type=value sets the type:
                              Number, String.Array (a JSON array), Binary (base64)

Examples:
  pnpm push publish --topic Audit --message '{"pipeline":"file-mover","moved":3}' --attr severity=INFO
  pnpm push publish --topic Alerts --message @alert.json --subject "CTR drop" --attr score:Number=0.97`,
  options: {
    topic: { type: "string" },
    message: { type: "string" },
    subject: { type: "string" },
    attr: { type: "string", multiple: true, default: [] },
  },
  async run(context, { values }) {
    if (!values.topic) throw new UsageError("--topic is required", "publish");
    if (values.message === undefined) throw new UsageError("--message is required", "publish");
    if (values.subject !== undefined && (values.subject.length > MAX_SUBJECT_LENGTH || /[\r\n]/.test(values.subject))) {
      throw new UsageError(`--subject must be one line of at most ${MAX_SUBJECT_LENGTH} characters`, "publish");
    }
    const attributes = parseAttributes(values.attr);
    const topic = context.resolve("topic", values.topic);
    const message = await textArgument(values.message, context.cwd, context.stdin);
    if (message.length === 0) throw new InvalidInput("the message is empty (SNS refuses empty messages)");
    const bytes = messageBytes(message, attributes);
    if (bytes > MAX_MESSAGE_BYTES) {
      throw new InvalidInput(`the message is ${formatBytes(bytes)} with its attributes; SNS takes at most 256 KB`);
    }
    const { MessageId } = await context.clients.sns().send(
      new PublishCommand({
        TopicArn: topic.physical,
        Message: message,
        ...(values.subject !== undefined ? { Subject: values.subject } : {}),
        ...(Object.keys(attributes).length ? { MessageAttributes: attributes } : {}),
      }),
    );
    return `published 1 message (${formatBytes(bytes)}) to ${topic.component}: MessageId ${MessageId ?? "?"}`;
  },
});
