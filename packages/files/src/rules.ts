/**
 * The routing rules deployed with the file mover. Change them here, bump `version`, deploy: every move reports the
 * version and rule that filed it.
 */
import type { RoutingRules } from "./routing.ts";

export const defaultRoutingRules = {
  version: 1,
  rules: [
    {
      // incoming/<dataset>/<rest> -> Lake raw/<dataset>/dt=<YYYY-MM-DD>/<rest>
      name: "dataset",
      match: { glob: "incoming/*/**" },
      destination: { bucket: "Lake", key: "raw/{dataset}/dt={yyyy}-{mm}-{dd}/{path}" },
    },
    {
      // incoming/<name> -> Lake raw/_unsorted/dt=<YYYY-MM-DD>/<name>
      name: "unsorted",
      match: { glob: "incoming/*" },
      destination: { bucket: "Lake", key: "raw/_unsorted/dt={yyyy}-{mm}-{dd}/{name}" },
    },
  ],
} as const satisfies RoutingRules;
