import { readFileSync } from "node:fs";
import path from "node:path";
import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import { marshall } from "@aws-sdk/util-dynamodb";
import { type TableSpec, tables } from "@sluice/infra/wiring";
import { UsageError } from "../errors.ts";
import { assertFile, inlineJson, type JsonLine, ProblemList, readJsonLines } from "../input.ts";
import { defineKind } from "../kind.ts";
import { formatCount, formatThroughput } from "../progress.ts";
import { type Item, MAX_ITEMS_PER_BATCH, writeItems } from "../sinks/dynamodb.ts";

/** DynamoDB's item size limit (names and values). The JSON text is a close, slightly larger, estimate. */
const MAX_ITEM_BYTES = 400 * 1024;

const ATTRIBUTE_TYPES = new Set(["S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"]);

/**
 * DynamoDB JSON (`{"productId":{"S":"p1"}}`, what `aws dynamodb` prints) to SDK attribute values: the same shape,
 * with `B`/`BS` base64 strings decoded to bytes. Throws with the path of the first malformed value.
 */
export function fromDynamoDbJson(value: unknown, at = "item"): Item {
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new Error(`${at}: expected an object`);
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([name, v]) => [name, attributeValue(v, `${at}.${name}`)]),
  );
}

function attributeValue(value: unknown, at: string): AttributeValue {
  const entries = value !== null && typeof value === "object" && !Array.isArray(value) ? Object.entries(value) : [];
  const [type, inner] = entries[0] ?? [];
  if (entries.length !== 1 || !type || !ATTRIBUTE_TYPES.has(type)) {
    throw new Error(`${at}: expected one of {"S":..}, {"N":..}, {"M":..}, {"L":..}, ... (DynamoDB JSON)`);
  }
  switch (type) {
    case "B":
      return { B: Buffer.from(String(inner), "base64") };
    case "BS":
      return { BS: (inner as unknown[]).map((b) => Buffer.from(String(b), "base64")) };
    case "M":
      return { M: fromDynamoDbJson(inner, at) };
    case "L":
      if (!Array.isArray(inner)) throw new Error(`${at}: L must be an array`);
      return { L: inner.map((v, i) => attributeValue(v, `${at}[${i}]`)) };
    default:
      return { [type]: inner } as unknown as AttributeValue;
  }
}

export interface ItemRules {
  /** The table's key attributes (strings), from infra/wiring.ts; absent when the table is not in the wiring. */
  key?: readonly string[];
  dynamodbJson: boolean;
}

/**
 * The SDK's refusal of a number beyond the safe-integer range advises `NumberValue` from `@aws-sdk/lib-dynamodb`,
 * which a command-line user cannot use: the way here is DynamoDB JSON, where a number is a string of digits.
 */
function marshallProblem(message: string): string {
  const unsafe = /^Number (\S+) is (?:greater|lesser) than Number\.M(?:AX|IN)_SAFE_INTEGER\./.exec(message);
  if (!unsafe) return message;
  return (
    `number ${unsafe[1]} is beyond the safe-integer range (±${Number.MAX_SAFE_INTEGER}), where JSON numbers lose ` +
    'digits: give the item as DynamoDB JSON with --dynamodb-json, the number as a string ({"N":"<digits>"})'
  );
}

/** The SDK item of a parsed line, or why it cannot be written. */
export function itemOf(line: JsonLine, rules: ItemRules): { item: Item } | { problem: string } {
  if (!line.ok) return { problem: line.error };
  const value = line.value;
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return { problem: "an item is a JSON object" };
  }
  let item: Item;
  try {
    item = rules.dynamodbJson
      ? fromDynamoDbJson(value)
      : marshall(value as Record<string, unknown>, { removeUndefinedValues: true });
  } catch (err) {
    return { problem: marshallProblem((err as Error).message) };
  }
  for (const name of rules.key ?? []) {
    const attribute = item[name];
    if (!attribute) return { problem: `key attribute "${name}" is missing` };
    if (typeof attribute.S !== "string" || attribute.S === "") {
      return { problem: `key attribute "${name}" must be a non-empty string` };
    }
  }
  if (Buffer.byteLength(line.text) > MAX_ITEM_BYTES) return { problem: "item larger than 400 KB" };
  return { item };
}

/** Key of an item as a string, to keep two writes of one key out of one batch. */
export function keyOfItem(item: Item, key: readonly string[] | undefined): string {
  if (!key) return JSON.stringify(item);
  return JSON.stringify(key.map((name) => item[name]?.S));
}

/**
 * Items of a file: `.jsonl`/`.ndjson` one per line; otherwise a JSON document holding an array of items or one
 * item, or, if the document is not one JSON value, one item per line.
 */
function fileLines(file: string): { label: string; lines: () => AsyncIterable<JsonLine> | Iterable<JsonLine> } {
  const jsonLines = { label: "line", lines: () => readJsonLines(file) };
  if (/\.(jsonl|ndjson)$/i.test(file)) return jsonLines;
  const text = readFileSync(file, "utf8").replace(/^\uFEFF/, "");
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    return jsonLines;
  }
  if (Array.isArray(document)) {
    const items: JsonLine[] = document.map((value, index) => ({
      line: index + 1,
      text: JSON.stringify(value),
      ok: true,
      value,
    }));
    return { label: "item", lines: () => items };
  }
  return { label: "line", lines: () => [{ line: 1, text: text.trim(), ok: true, value: document }] };
}

function keyAttributes(spec: TableSpec | undefined): string[] | undefined {
  if (!spec) return undefined;
  return spec.rangeKey ? [spec.hashKey, spec.rangeKey] : [spec.hashKey];
}

export const itemsKind = defineKind({
  name: "items",
  summary: "put JSON items into a DynamoDB table (BatchWriteItem, 25 a batch, unprocessed items retried)",
  usage: "items --table <Name> (--file <items.json | items.jsonl> | --data <json> ...) [--dynamodb-json]",
  help: `Puts items into a table: plain JSON objects are converted to DynamoDB attribute values (numbers to N,
objects to M, arrays to L, null to NULL). Items go in BatchWriteItem batches of ${MAX_ITEMS_PER_BATCH}, one batch at
a time; items DynamoDB leaves unprocessed are sent again with back-off. An item whose key repeats an earlier
one replaces it (the last one in the input stays).

Everything is checked before anything is written: each item must be an object holding the table's key
attributes (strings); a bad item fails the run with its line (or array index) and nothing is written.

Options:
  --table <Name>     table component name (Catalog, InferenceRequests)
  --file <path>      .jsonl/.ndjson: one item per line; .json: an array of items, or one item
  --data <json>      one item; repeatable
  --dynamodb-json    items are already DynamoDB JSON ({"productId":{"S":"p1"}}), as \`aws dynamodb\` prints them
                     (the way to write a number beyond 2^53 exactly: {"count":{"N":"12345678901234567890"}})

Examples:
  pnpm push items --table Catalog --file catalog.json
  pnpm push items --table Catalog --data '{"productId":"sku-1","name":"Runner","price":89.5,"tags":["road"]}'`,
  options: {
    table: { type: "string" },
    file: { type: "string" },
    data: { type: "string", multiple: true },
    "dynamodb-json": { type: "boolean", default: false },
  },
  async run(context, { values }) {
    if (!values.table) throw new UsageError("--table is required", "items");
    if ((values.file === undefined) === (values.data === undefined)) {
      throw new UsageError("give either --file <items.json|items.jsonl> or --data <json> (not both)", "items");
    }
    const table = context.resolve("table", values.table);
    const key = keyAttributes((tables as Readonly<Record<string, TableSpec>>)[table.component]);
    const rules: ItemRules = { dynamodbJson: values["dynamodb-json"], ...(key ? { key } : {}) };

    let source: string;
    let input: { label: string; lines: () => AsyncIterable<JsonLine> | Iterable<JsonLine> };
    if (values.file !== undefined) {
      const file = path.resolve(context.cwd, values.file);
      assertFile(file, "--file");
      source = path.relative(context.cwd, file) || file;
      input = fileLines(file);
    } else {
      const data = inlineJson(values.data ?? []);
      source = "--data";
      input = { label: "--data value", lines: () => data };
    }

    const problems = new ProblemList(source, "items are", input.label);
    let total = 0;
    for await (const line of input.lines()) {
      total++;
      const result = itemOf(line, rules);
      if ("problem" in result) problems.add(line.line, result.problem);
    }
    problems.throwIfAny(total);
    if (total === 0) throw new UsageError(`${source} holds no items`, "items");

    async function* items(): AsyncGenerator<Item> {
      for await (const line of input.lines()) {
        const result = itemOf(line, rules);
        if ("item" in result) yield result.item;
      }
    }
    const progress = context.progress(`writing items into ${table.component}`, "items", total);
    const report = await writeItems(context.clients.dynamodb(), table.physical, items(), {
      keyOf: (item) => keyOfItem(item, key),
      onStored: (n) => progress.add(n),
      onRetry: (pending) => progress.note(pending ? `retrying ${formatCount(pending)} unprocessed` : undefined),
    }).finally(() => progress.done());
    const retried = report.retried ? `, ${formatCount(report.retried)} retried` : "";
    return (
      `wrote ${formatThroughput(report.items, "items", progress.elapsedMs)} into ${table.component} ` +
      `(${table.physical}): ${report.requests} BatchWriteItem ${report.requests === 1 ? "call" : "calls"}${retried}`
    );
  },
});
