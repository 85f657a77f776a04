/**
 * CdcMerge's configuration, from its environment (set in infra/wiring.ts; unset or blank: the default):
 * `CDC_TABLE_FORMAT`, the table format the merge writes: `iceberg` (default: Iceberg v2 tables, merge-on-read,
 * committed through the Glue Data Catalog, `CdcCatalog`) or `parquet` (copy-on-write Parquet buckets behind an Athena
 * symlink manifest: the earlier engine, kept reachable until it is retired).
 */
import * as z from "zod/mini";
import { configOf, oneOf } from "#kit/config";

export const cdcMergeEnv = z.object({
  CDC_TABLE_FORMAT: oneOf(["iceberg", "parquet"], "iceberg"),
});

export type CdcMergeConfig = z.output<typeof cdcMergeEnv>;

/** The configuration from `env` (default: the process's); throws `InvalidConfiguration` naming the variable. */
export function cdcMergeConfigOf(env: Readonly<Record<string, string | undefined>> = process.env): CdcMergeConfig {
  return configOf("CdcMerge", cdcMergeEnv, env);
}
