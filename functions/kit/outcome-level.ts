/**
 * The level a handler logs an outcome at: the severity its audit message gets (`@sluice/aws/audit`), so that a search
 * of a function's logs for WARN and ERROR finds every outcome someone must act on.
 */

export type OutcomeLevel = "info" | "warn" | "error";

const levels: Readonly<Record<string, OutcomeLevel>> = {
  // Input its sender must fix: a refused request or event, a rejected (corrupt) file.
  refused: "warn",
  rejected: "warn",
  // An error: what was asked was not done.
  failed: "error",
};

/** WARN for `refused` and `rejected`, ERROR for `failed`, INFO for anything else (done, skipped, continuing...). */
export function levelOf(outcome: string): OutcomeLevel {
  return levels[outcome] ?? "info";
}
