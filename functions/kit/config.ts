/**
 * A function's configuration: its environment variables read through one zod schema, once, at cold start. A value
 * that does not fit fails the cold start (so every invocation, loudly) with an `InvalidConfiguration` naming the
 * function, the variable, what it holds and what was expected.
 */
import type { FunctionName } from "@sluice/infra/wiring";
import * as z from "zod/mini";

export class InvalidConfiguration extends Error {
  override name = "InvalidConfiguration";
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Parses `env` (default `process.env`) with `schema`, an object of variables (the helpers below). A variable set to
 * an empty or blank value counts as unset, as a missing one does: it takes its default.
 */
export function configOf<S extends z.ZodMiniObject>(
  functionName: FunctionName,
  schema: S,
  env: Env = process.env,
): z.output<S> {
  const set = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value.trim() !== ""));
  const result = schema.safeParse(set);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const name = String(issue.path[0]);
    return `${name}=${JSON.stringify(env[name])}: expected ${issue.message}`;
  });
  throw new InvalidConfiguration(`${functionName} configuration: ${problems.join("; ")}`);
}

/** A number that `valid` accepts, `expected` describing it (for the error); `fallback` when unset. */
function numberVariable(expected: string, valid: (value: number) => boolean, fallback: number) {
  return z._default(
    z.pipe(
      z.string().check(z.refine((text) => valid(Number(text)), { error: `${expected} (unset: ${fallback})` })),
      z.transform(Number),
    ),
    fallback,
  );
}

/** A whole number from `min` (default 0); `fallback` when unset. */
export function wholeNumber(fallback: number, { min = 0 }: { min?: number } = {}) {
  return numberVariable(`a whole number >= ${min}`, (value) => Number.isInteger(value) && value >= min, fallback);
}

/** A number within the bounds given (`min`/`max` included, `above`/`below` excluded); `fallback` when unset. */
export function decimal(fallback: number, bounds: { min?: number; max?: number; above?: number; below?: number }) {
  const { min = -Infinity, max = Infinity, above = -Infinity, below = Infinity } = bounds;
  const expected = [
    bounds.min !== undefined && `>= ${min}`,
    bounds.above !== undefined && `> ${above}`,
    bounds.max !== undefined && `<= ${max}`,
    bounds.below !== undefined && `< ${below}`,
  ].filter(Boolean);
  return numberVariable(
    `a number ${expected.join(" and ")}`,
    (value) => Number.isFinite(value) && value >= min && value > above && value <= max && value < below,
    fallback,
  );
}

/** One of `values`; `fallback` when unset. */
export function oneOf<const T extends string>(values: readonly T[], fallback: NoInfer<T>) {
  return z._default(
    z.custom<T>((value) => values.includes(value as T), { error: `one of ${values.join(", ")} (unset: ${fallback})` }),
    fallback,
  );
}

/** A comma-separated list (spaces around items ignored, empty items dropped); `null` when unset. */
export function list() {
  return z._default(
    z.pipe(
      z.string(),
      z.transform((text) => {
        const items = text
          .split(",")
          .map((item) => item.trim())
          .filter((item) => item !== "");
        return items.length > 0 ? items : null;
      }),
    ),
    null,
  );
}
