/**
 * How deep JSON may nest and still be logged as a structure. Powertools' logger (its `deepMerge` of a record's keys),
 * `JSON.stringify` and the redaction's walk all recurse: on Node's default stack a 10 KB array nested 5 000 levels
 * deep overflows them (`RangeError: Maximum call stack size exceeded`), while `JSON.parse` takes 100 000 levels.
 */

/** The most levels of nested objects and arrays walked or logged as a structure (serde_json's default limit). */
export const MAX_JSON_DEPTH = 128;

/**
 * Whether `value` has objects or arrays nested more than `limit` levels deep (`[]` is one level, `[[]]` two).
 * Iterative, so that it answers for any depth `JSON.parse` gives.
 */
export function nestedDeeperThan(value: unknown, limit: number = MAX_JSON_DEPTH): boolean {
  const pending: Array<{ node: unknown; depth: number }> = [{ node: value, depth: 0 }];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const { node, depth } = next;
    if (typeof node !== "object" || node === null) continue;
    if (depth >= limit) return true;
    for (const child of Array.isArray(node) ? node : Object.values(node)) {
      if (typeof child === "object" && child !== null) pending.push({ node: child, depth: depth + 1 });
    }
  }
  return false;
}
