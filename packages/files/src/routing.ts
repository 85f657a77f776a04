/**
 * Routing rules: which objects landing under `incoming/` go where. Rules are data, typed and versioned in the repo
 * (`rules.ts`), deployed with the function; the first rule that matches an object decides its destination bucket
 * and key.
 */
// zod/mini: the same validation as zod, a tenth of the bundle (cold starts).
import * as z from "zod/mini";
import { InvalidRoutingRules } from "./errors.ts";

/** The folder of the Inbox the file mover is triggered under; `{dataset}` and `{path}` are relative to it. */
export const INCOMING_ROOT = "incoming/";

/** Tokens a key template may use. */
export const TEMPLATE_TOKENS = ["dataset", "path", "name", "stem", "ext", "key", "yyyy", "mm", "dd", "hh"] as const;
export type TemplateToken = (typeof TEMPLATE_TOKENS)[number];

/** Tokens that must not render empty for a rule to apply (an empty one would make an empty path segment). */
const NON_EMPTY_TOKENS: readonly TemplateToken[] = ["dataset", "name", "path", "stem"];

const storageClasses = [
  "STANDARD",
  "STANDARD_IA",
  "ONEZONE_IA",
  "INTELLIGENT_TIERING",
  "GLACIER",
  "GLACIER_IR",
  "DEEP_ARCHIVE",
  "REDUCED_REDUNDANCY",
] as const;
export type StorageClassName = (typeof storageClasses)[number];

const nonEmpty = () => z.string().check(z.minLength(1));

const ruleSchema = z.strictObject({
  /** Shown in audit messages: which rule filed the object. */
  name: nonEmpty(),
  match: z.strictObject({
    /** The key starts with this. */
    prefix: z.optional(z.string()),
    /** The whole key matches: `*` any characters but `/`, `**` any characters, `?` one character but `/`. */
    glob: z.optional(z.string()),
    /** The key ends with this (e.g. `.csv`). */
    suffix: z.optional(z.string()),
    /** The object's content type is one of these (parameters such as `; charset=` ignored). */
    contentTypes: z.optional(z.array(nonEmpty()).check(z.minLength(1))),
    /** Bytes, inclusive. */
    minSize: z.optional(z.int().check(z.nonnegative())),
    maxSize: z.optional(z.int().check(z.nonnegative())),
  }),
  destination: z.strictObject({
    /** Bucket component name (`Lake`), resolved through the function's links. */
    bucket: nonEmpty(),
    /** Key template, e.g. `raw/{dataset}/dt={yyyy}-{mm}-{dd}/{path}`. */
    key: nonEmpty(),
    /** Storage class of the copy; default: the source's. */
    storageClass: z.optional(z.enum(storageClasses)),
  }),
});

const rulesSchema = z.strictObject({
  /** Bumped whenever the rules change meaning; reported with every move. */
  version: z.int().check(z.positive()),
  rules: z.array(ruleSchema).check(z.minLength(1)),
});

export type RoutingRule = z.infer<typeof ruleSchema>;
export type RoutingRules = z.infer<typeof rulesSchema>;

/** What a rule is matched against. */
export interface RoutedObject {
  /** The decoded key in the source bucket. */
  key: string;
  size: number;
  /** Unknown when the object is gone (a late duplicate event): rules on content type then do not match. */
  contentType?: string;
  /** The event time: partitions are the time the file landed, in UTC. */
  eventTime: Date;
}

export interface Route {
  rule: string;
  rulesVersion: number;
  bucket: string;
  key: string;
  storageClass?: StorageClassName;
}

/**
 * Checks rules once, at load: the shape, every template token known, no destination in the source bucket (the
 * mover never writes where it is triggered, so it can never trigger itself).
 *
 * @throws InvalidRoutingRules listing every problem.
 */
export function validateRoutingRules(
  input: unknown,
  context: { sourceBucket: string; destinations: readonly string[] },
): RoutingRules {
  const parsed = rulesSchema.safeParse(input);
  if (!parsed.success) {
    throw new InvalidRoutingRules(`routing rules: ${z.prettifyError(parsed.error)}`);
  }
  const problems: string[] = [];
  for (const rule of parsed.data.rules) {
    const { match, destination } = rule;
    if (!match.prefix && !match.glob && !match.suffix && !match.contentTypes) {
      problems.push(`rule "${rule.name}" matches everything: give a prefix, glob, suffix or content type`);
    }
    if (destination.bucket === context.sourceBucket) {
      problems.push(`rule "${rule.name}" writes to ${destination.bucket}, the bucket the mover is triggered by`);
    } else if (!context.destinations.includes(destination.bucket)) {
      problems.push(
        `rule "${rule.name}" writes to ${destination.bucket}, not one of the mover's destinations (${context.destinations.join(", ")})`,
      );
    }
    for (const token of tokensOf(destination.key)) {
      if (!(TEMPLATE_TOKENS as readonly string[]).includes(token)) {
        problems.push(`rule "${rule.name}": unknown token {${token}} (known: ${TEMPLATE_TOKENS.join(", ")})`);
      }
    }
    if (match.minSize !== undefined && match.maxSize !== undefined && match.minSize > match.maxSize) {
      problems.push(`rule "${rule.name}": minSize is above maxSize`);
    }
  }
  if (problems.length > 0) throw new InvalidRoutingRules(`routing rules:\n- ${problems.join("\n- ")}`);
  return parsed.data;
}

function tokensOf(template: string): string[] {
  return [...template.matchAll(/\{([^{}]*)\}/g)].map((m) => m[1] ?? "");
}

const globCache = new Map<string, RegExp>();

/** A glob as an anchored regular expression: `**` any characters, `*` any but `/`, `?` one but `/`. */
export function globToRegExp(glob: string): RegExp {
  const cached = globCache.get(glob);
  if (cached) return cached;
  let source = "";
  for (let i = 0; i < glob.length; i++) {
    const char = glob[i] as string;
    if (char === "*" && glob[i + 1] === "*") {
      source += "[\\s\\S]*";
      i++;
    } else if (char === "*") source += "[^/]*";
    else if (char === "?") source += "[^/]";
    else source += char.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  const regex = new RegExp(`^${source}$`, "u");
  globCache.set(glob, regex);
  return regex;
}

/** The values of every template token for one object. */
export function tokenValues(object: RoutedObject): Record<TemplateToken, string> {
  const relative = object.key.startsWith(INCOMING_ROOT) ? object.key.slice(INCOMING_ROOT.length) : object.key;
  const slash = relative.indexOf("/");
  const dataset = slash === -1 ? "" : relative.slice(0, slash);
  const path = slash === -1 ? relative : relative.slice(slash + 1);
  const name = object.key.slice(object.key.lastIndexOf("/") + 1);
  const dot = name.lastIndexOf(".");
  // A leading dot (".env") is part of the name, not an extension.
  const stem = dot > 0 ? name.slice(0, dot) : name;
  const ext = dot > 0 ? name.slice(dot + 1) : "";
  const t = object.eventTime;
  const pad = (n: number) => String(n).padStart(2, "0");
  return {
    dataset,
    path,
    name,
    stem,
    ext,
    key: object.key,
    yyyy: String(t.getUTCFullYear()).padStart(4, "0"),
    mm: pad(t.getUTCMonth() + 1),
    dd: pad(t.getUTCDate()),
    hh: pad(t.getUTCHours()),
  };
}

/**
 * Renders a key template. Returns undefined when a token that names a path segment (`dataset`, `path`, `name`,
 * `stem`) is empty: the rule does not apply to that object.
 */
export function renderKeyTemplate(template: string, values: Record<TemplateToken, string>): string | undefined {
  let empty = false;
  const key = template.replace(/\{([^{}]*)\}/g, (_, token: string) => {
    const value = values[token as TemplateToken];
    if (value === undefined) throw new InvalidRoutingRules(`unknown token {${token}}`);
    if (value === "" && NON_EMPTY_TOKENS.includes(token as TemplateToken)) empty = true;
    return value;
  });
  return empty ? undefined : key;
}

function baseContentType(contentType: string): string {
  return (contentType.split(";")[0] ?? "").trim().toLowerCase();
}

/** Whether a rule's conditions hold for an object (the template is not rendered). */
export function ruleMatches(rule: RoutingRule, object: RoutedObject): boolean {
  const { match } = rule;
  if (match.prefix !== undefined && !object.key.startsWith(match.prefix)) return false;
  if (match.suffix !== undefined && !object.key.endsWith(match.suffix)) return false;
  if (match.glob !== undefined && !globToRegExp(match.glob).test(object.key)) return false;
  if (match.minSize !== undefined && object.size < match.minSize) return false;
  if (match.maxSize !== undefined && object.size > match.maxSize) return false;
  if (match.contentTypes !== undefined) {
    if (object.contentType === undefined) return false;
    const type = baseContentType(object.contentType);
    if (!match.contentTypes.some((wanted) => baseContentType(wanted) === type)) return false;
  }
  return true;
}

/** S3's limit on a key, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;

/**
 * Why no rule routes an object: the first rule that matches it but renders no usable key, and why; or that no rule
 * matches. For the report of an object `routeObject` leaves where it is.
 */
export function whyUnrouted(rules: RoutingRules, object: RoutedObject): string {
  const values = tokenValues(object);
  for (const rule of rules.rules) {
    if (!ruleMatches(rule, object)) continue;
    const key = renderKeyTemplate(rule.destination.key, values);
    const matches = `rule "${rule.name}" (v${rules.version}) matches, but its destination key`;
    if (key === undefined || key === "") return `${matches} would have an empty segment`;
    const bytes = Buffer.byteLength(key);
    if (bytes > MAX_KEY_BYTES) return `${matches} would be ${bytes} bytes (S3 allows ${MAX_KEY_BYTES})`;
  }
  return `no routing rule (v${rules.version}) matches`;
}

/**
 * The destination of an object: the first rule that matches and renders a usable key (non-empty segments, at
 * most 1024 bytes). Undefined when no rule applies (`whyUnrouted` says why).
 */
export function routeObject(rules: RoutingRules, object: RoutedObject): Route | undefined {
  const values = tokenValues(object);
  for (const rule of rules.rules) {
    if (!ruleMatches(rule, object)) continue;
    const key = renderKeyTemplate(rule.destination.key, values);
    if (key === undefined || key === "" || Buffer.byteLength(key) > MAX_KEY_BYTES) continue;
    return {
      rule: rule.name,
      rulesVersion: rules.version,
      bucket: rule.destination.bucket,
      key,
      ...(rule.destination.storageClass ? { storageClass: rule.destination.storageClass } : {}),
    };
  }
  return undefined;
}
