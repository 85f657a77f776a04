/**
 * SST component names (`Inbox`, `Audit`, `Clickstream`, `Catalog`) to physical names and ARNs, through the
 * `SST_RESOURCE_<Name>` JSON that `sst shell` (or the local cloud's env file) provides: the same values a linked
 * function reads with `Resource.<Name>`.
 */
import type { Env } from "../cli/env.ts";
import { UnknownResource } from "./errors.ts";

export type ResourceKind = "bucket" | "topic" | "stream" | "table";

interface KindSpec {
  /** The SST component type in the link's `type` field. */
  sstType: string;
  /** The link property that addresses the resource in API calls. */
  property: "name" | "arn";
  plural: string;
}

const kinds: Record<ResourceKind, KindSpec> = {
  bucket: { sstType: "sst.aws.Bucket", property: "name", plural: "buckets" },
  topic: { sstType: "sst.aws.SnsTopic", property: "arn", plural: "topics" },
  // kinesalite routes by stream name only (no ARN); real Kinesis takes either.
  stream: { sstType: "sst.aws.KinesisStream", property: "name", plural: "streams" },
  table: { sstType: "sst.aws.Dynamo", property: "name", plural: "tables" },
};

export interface ResolvedResource {
  kind: ResourceKind;
  /** The SST component name the user typed. */
  component: string;
  /** Bucket, stream or table name, or topic ARN. */
  physical: string;
  /** The whole link, as `Resource.<component>` would return it. */
  link: Readonly<Record<string, unknown>>;
}

/** Every parseable `SST_RESOURCE_<Name>` link in `env`, by component name (`App` excluded). */
export function linksOf(env: Env): Map<string, Record<string, unknown>> {
  const links = new Map<string, Record<string, unknown>>();
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith("SST_RESOURCE_") || key === "SST_RESOURCE_App" || value === undefined) continue;
    try {
      const parsed: unknown = JSON.parse(value);
      if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) {
        links.set(key.slice("SST_RESOURCE_".length), parsed as Record<string, unknown>);
      }
    } catch {
      // Not a link SST wrote; resolving that name reports it.
    }
  }
  return links;
}

/** Whether a link is a resource of this kind: by its SST type, or (links without one) by the property it has. */
function isKind(link: Readonly<Record<string, unknown>>, kind: ResourceKind): boolean {
  const spec = kinds[kind];
  if (typeof link.type === "string") return link.type === spec.sstType;
  return typeof link[spec.property] === "string";
}

/** The component names of one kind of resource among the links. */
export function componentsOf(env: Env, kind: ResourceKind): string[] {
  return [...linksOf(env)]
    .filter(([, link]) => isKind(link, kind))
    .map(([name]) => name)
    .sort();
}

/**
 * Resolves a component name of the given kind, or fails with {@link UnknownResource} naming what exists
 * (and the likely intended name when only the case differs).
 */
export function resolveResource(
  env: Env,
  kind: ResourceKind,
  component: string,
  where = "the target",
): ResolvedResource {
  const spec = kinds[kind];
  const raw = env[`SST_RESOURCE_${component}`];
  const available = componentsOf(env, kind);
  const known = available.length
    ? `${spec.plural} there: ${available.join(", ")}`
    : `there are no ${spec.plural} there`;
  if (raw === undefined) {
    const alike = available.find((name) => name.toLowerCase() === component.toLowerCase());
    const hint = alike ? `did you mean ${alike}? ` : "";
    throw new UnknownResource(`no ${kind} named "${component}" in ${where}; ${hint}${known}`);
  }
  let link: Record<string, unknown>;
  try {
    link = JSON.parse(raw) as Record<string, unknown>;
  } catch {
    throw new UnknownResource(`SST_RESOURCE_${component} is not JSON: ${raw.slice(0, 80)}`);
  }
  if (!link || typeof link !== "object" || !isKind(link, kind)) {
    const actual = typeof link?.type === "string" ? `a ${link.type}` : "not one";
    throw new UnknownResource(`"${component}" is ${actual}, not a ${kind}; ${known}`);
  }
  const physical = link[spec.property];
  if (typeof physical !== "string" || !physical) {
    throw new UnknownResource(`SST_RESOURCE_${component} has no "${spec.property}": ${raw.slice(0, 120)}`);
  }
  return { kind, component, physical, link };
}
