import type * as z from "zod/mini";

/** Presence and type problems (`missing`, `expected a string, got number`, `empty`) are read before format problems. */
const presenceCodes = new Set(["invalid_type", "too_small"]);

/**
 * The problems of a failed parse, one phrase each: `<path>: <message>` (the message alone for the value itself).
 * Presence and type problems come first, then format problems (an unknown action, a timestamp that is not one), each
 * group in field order: the order a producer fixes them in.
 */
export function issuePhrases(error: z.core.$ZodError): string[] {
  const ranked = error.issues.map((issue, index) => ({
    phrase: issue.path.length === 0 ? issue.message : `${issue.path.join(".")}: ${issue.message}`,
    rank: presenceCodes.has(issue.code) ? 0 : 1,
    index,
  }));
  return ranked.sort((a, b) => a.rank - b.rank || a.index - b.index).map((r) => r.phrase);
}
