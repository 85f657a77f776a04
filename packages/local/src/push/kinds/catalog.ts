import { readFileSync } from "node:fs";
import path from "node:path";
import { type DynamoDBClient, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { marshall } from "@aws-sdk/util-dynamodb";
import { catalogItemSchema, describeIssues, mapBounded } from "@sluice/pricing";
import { InvalidInput, UsageError } from "../errors.ts";
import { assertFile } from "../input.ts";
import { defineKind } from "../kind.ts";
import { formatThroughput } from "../progress.ts";

/** Items of a catalog file: `.jsonl`/`.ndjson` one per line, otherwise a JSON array (or one item). */
export function readCatalogFile(file: string): unknown[] {
  const text = readFileSync(file, "utf8").replace(/^\uFEFF/, "");
  const parse = (line: string, at: string) => {
    try {
      return JSON.parse(line) as unknown;
    } catch (err) {
      throw new InvalidInput(`${at}: not JSON (${(err as Error).message}); nothing was written`);
    }
  };
  if (/\.(jsonl|ndjson)$/i.test(file)) {
    return text
      .split(/\r?\n/)
      .map((line, i) => ({ line, i }))
      .filter(({ line }) => line.trim() !== "")
      .map(({ line, i }) => parse(line, `line ${i + 1}`));
  }
  const document = parse(text, path.basename(file));
  return Array.isArray(document) ? document : [document];
}

/**
 * `n` sample sneakers (`fs-0001`...): prices from 60 to 240, cost at 60 %, bounds at -20 % / +30 %, inventory from
 * 5 to 500. Deterministic, so a demo can name its products.
 */
export function sampleCatalog(n: number, now = new Date()): Array<Record<string, unknown>> {
  const models = ["Runner", "Court", "Trail", "Retro", "Knit", "High-Top", "Slip-On", "Racer"];
  return Array.from({ length: n }, (_, i) => {
    const price = 60 + ((i * 37) % 181);
    return {
      productId: `fs-${String(i + 1).padStart(4, "0")}`,
      name: `Fast ${models[i % models.length]} ${i + 1}`,
      price,
      currency: "USD",
      cost: Math.round(price * 60) / 100,
      minPrice: Math.round(price * 80) / 100,
      maxPrice: Math.round(price * 130) / 100,
      inventory: 5 + ((i * 53) % 496),
      version: 1,
      updatedAt: now.toISOString(),
    };
  });
}

export const catalogKind = defineKind({
  name: "catalog",
  summary: "seed the Catalog table: items from a file, or --sample N sneakers (checked against the pricing schema)",
  usage: "catalog (<items.json | items.jsonl> | --sample <N>)",
  help: `Writes catalog items into the Catalog table (BatchWriteItem, 25 a batch). Every item is checked first
against the pricing schema (productId, price, currency, cost, minPrice, maxPrice, version; inventory optional,
used by demand hydration); one bad item fails the run and nothing is written. An item without "version" gets 1.
An item the table already holds at the same or a newer version is kept as it is (reported): every writer of the
catalog raises "version", and PriceInference's conditional writes count on it never going back. To replace an item,
give it a higher version. A product named twice: its last item counts.

Options:
  --sample <N>    N sample sneakers fs-0001... (price 60-240, cost 60 %, bounds -20 % / +30 %, inventory 5-500)

Examples:
  pnpm push catalog --sample 20
  pnpm push catalog my-catalog.jsonl`,
  options: { sample: { type: "string" } },
  positionals: [0, 1],
  async run(context, { values, positionals }) {
    const file = positionals[0];
    if ((file === undefined) === (values.sample === undefined)) {
      throw new UsageError("give either a file of items or --sample <N> (not both)", "catalog");
    }
    let items: unknown[];
    let source: string;
    if (values.sample !== undefined) {
      const n = Number(values.sample);
      if (!Number.isInteger(n) || n < 1 || n > 100_000) throw new UsageError("--sample takes 1 to 100000", "catalog");
      items = sampleCatalog(n);
      source = `${n} sample items`;
    } else {
      const resolved = path.resolve(context.cwd, file as string);
      assertFile(resolved, "file");
      items = readCatalogFile(resolved);
      source = path.relative(context.cwd, resolved) || resolved;
    }
    const problems: string[] = [];
    const checked = items.map((value, i) => {
      const withVersion =
        value !== null && typeof value === "object" && !("version" in value) ? { ...value, version: 1 } : value;
      const parsed = catalogItemSchema.safeParse(withVersion);
      if (!parsed.success) problems.push(`  item ${i + 1}: ${describeIssues(parsed.error)}`);
      return withVersion as Record<string, unknown>;
    });
    if (problems.length > 0) {
      throw new InvalidInput(
        `${source}: ${problems.length} bad item(s), nothing was written:\n${problems.slice(0, 20).join("\n")}`,
      );
    }
    if (checked.length === 0) throw new UsageError(`${source} holds no items`, "catalog");
    const table = context.resolve("table", "Catalog");
    const latest = [...new Map(checked.map((item) => [String(item.productId), item])).values()];
    const progress = context.progress("writing catalog items", "items", latest.length);
    const { written, kept } = await putCatalogItems(context.clients.dynamodb(), table.physical, latest, (n) =>
      progress.add(n),
    ).finally(() => progress.done());
    const summary = `wrote ${formatThroughput(written, "catalog items", progress.elapsedMs)} into Catalog (${table.physical})`;
    if (kept.length === 0) return summary;
    const named = kept.slice(0, 5).join(", ") + (kept.length > 5 ? `, ... (${kept.length - 5} more)` : "");
    return `${summary}; kept ${kept.length} the table holds at the same or a newer version (${named}): give an item a higher version to replace it`;
  },
});

/**
 * Puts each item unless the table holds its product at the same or a newer version (a conditional PutItem, 16 at a
 * time): a seed never takes a catalog item back to an older version, which would undo a price change and let a
 * writer holding the older version overwrite the newer item. Returns how many were written and the products kept.
 */
async function putCatalogItems(
  client: DynamoDBClient,
  tableName: string,
  items: readonly Record<string, unknown>[],
  onStored: (n: number) => void,
): Promise<{ written: number; kept: string[] }> {
  // Each item's product when the table kept its own, else null.
  const outcomes = await mapBounded(items, 16, async (item) => {
    try {
      await client.send(
        new PutItemCommand({
          TableName: tableName,
          Item: marshall(item, { removeUndefinedValues: true }),
          ConditionExpression: "attribute_not_exists(productId) OR #version < :version",
          ExpressionAttributeNames: { "#version": "version" },
          ExpressionAttributeValues: { ":version": { N: String(item.version) } },
        }),
      );
      onStored(1);
      return null;
    } catch (err) {
      if ((err as { name?: string }).name !== "ConditionalCheckFailedException") throw err;
      return String(item.productId);
    }
  });
  const kept = outcomes.filter((productId) => productId !== null);
  return { written: items.length - kept.length, kept: kept.sort() };
}
