import path from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root: handler paths in the wiring are relative to it. */
export const repoRoot = path.resolve(fileURLToPath(new URL(".", import.meta.url)), "../../..");

/** The env file the local cloud writes into its state directory when it is ready (its presence means ready). */
export function envFileOf(stateDir: string): string {
  return path.join(stateDir, "local.env");
}
