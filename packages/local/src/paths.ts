import path from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root: handler paths in the wiring are relative to it. */
export const repoRoot = path.resolve(fileURLToPath(new URL(".", import.meta.url)), "../../..");
