/**
 * The event wiring of Sluice as plain data: which resources exist, which function each trigger invokes, with
 * which batch options, and which resources each function is linked to.
 *
 * This file is the ONE source of truth read by both `infra/*.ts` (SST v4, deployed stacks) and
 * `packages/local` (the local cloud). It imports nothing, so both sides can read it without pulling in SST or
 * the AWS SDK. `test/infra/wiring.test.ts` fails if the deployed stacks and this data diverge.
 */

/** S3 buckets (SST component names). */
export const buckets = {
  /** Landing zone: files pushed in, delete requests, reports. */
  Inbox: { versioning: false },
  /** The data lake the file mover files into. Versioned so that deletes are recoverable until purged. */
  Lake: { versioning: true },
  /** AWS DMS output (full-load and change files). */
  CdcRaw: { versioning: false },
  /** Curated current-state tables (Parquet) merged from CdcRaw. */
  Curated: { versioning: false },
} as const satisfies Record<string, BucketSpec>;

/** SNS topics. */
export const topics = {
  /** Every pipeline reports what it did (and what it refused) here. */
  Audit: {},
  /** Anomaly alerts (e-mail subscribers on AWS). */
  Alerts: {},
} as const satisfies Record<string, TopicSpec>;

/** Kinesis data streams. */
export const streams = {
  /** Clickstream events: see `docs` in README ("Clickstream event"). */
  Clickstream: { shardCount: 2 },
} as const satisfies Record<string, StreamSpec>;

/** DynamoDB tables. */
export const tables = {
  Catalog: { hashKey: "productId" },
  InferenceRequests: { hashKey: "requestId", stream: "new-image" },
  /** Every price change PriceInference applies (old, new, reason, request, model version, time), by product. */
  PriceHistory: { hashKey: "productId", rangeKey: "changeId" },
  /**
   * DemandHydration's per-shard window counts and watermarks (see packages/aws/src/demand-windows.ts). Window items
   * carry `expiresAt`, a day after their window starts (or after their write, if later): DynamoDB deletes them then.
   */
  DemandWindows: { hashKey: "pk", rangeKey: "sk", ttl: "expiresAt" },
  /**
   * AnomalyAlert's state: windowing and alert policies (one item per stream), detector state (one item per series).
   * Series items carry `expiresAt` (`ANOMALY_STATE_RETENTION_HOURS` after their write): the ones a commit replaces are
   * left to DynamoDB's time to live, whose deletions are free, instead of deleted by the function (billed as writes).
   */
  AnomalyState: { hashKey: "pk", ttl: "expiresAt" },
} as const satisfies Record<string, TableSpec>;

/**
 * SageMaker endpoints functions call with `InvokeEndpoint`. On AWS, `sst deploy` builds the container in `model`
 * (its Dockerfile) and serves it as a serverless endpoint named per app and stage, unless the stage names an endpoint
 * of its own (infra/README.md, "Pricing model"); locally, the local cloud serves `model`'s `server.ts` under the
 * same physical name. A function reads the name as `Resource.<Name>.name`.
 */
export const endpoints = {
  /**
   * The pricing model PriceInference calls (contract: packages/pricing/README.md). A serverless endpoint serves 5
   * invocations at once (1 GB): PriceInference's reserved concurrency and model parallelism keep within it.
   */
  PricingModel: { model: "packages/pricing/model", maxConcurrency: 5 },
} as const satisfies Record<string, EndpointSpec>;

/**
 * Glue Data Catalog databases of Iceberg tables. A catalog here is one Glue database per DMS schema of the table
 * configuration file `tables` (the file the writing function bundles), named `<app>_<stage>_<schema>`
 * (`catalogDatabaseName`), the tables' files in `bucket`. The databases are created by `sst deploy` (and by the local
 * cloud); the tables in them by the function that writes them, on its first commit. A function linked to a catalog
 * reads the databases' name prefix as `Resource.<Name>.name`, and is granted its Glue actions on the catalog, those
 * databases and their tables.
 */
export const catalogs = {
  /** The Iceberg tables CdcMerge merges AWS DMS output into, in Curated (packages/cdc/ICEBERG.md). */
  CdcCatalog: { bucket: "Curated", tables: "config/cdc-tables.json" },
} as const satisfies Record<string, CatalogSpec>;

/**
 * Stream batch defaults: report partial failures, bisect, 10 retries of a failing record, then the dead-letter queue;
 * no age limit.
 *
 * - `maximumRecordAgeInSeconds: -1`: when Lambda cannot invoke the function at all (throttling, concurrency used up,
 *   a broken deploy), it retries until the records pass this age, whatever `maximumRetryAttempts` says, then discards
 *   them to the DLQ. With no age limit, records wait through such an outage for as long as the stream keeps them: 24
 *   hours for Clickstream (infra/streams.ts, `streamRetentionHours`) and for every DynamoDB stream (fixed). The
 *   IteratorAge alarm (infra/functions.ts) says so after 5 minutes.
 * - `maximumRetryAttempts: 10`: function errors. Bisection (not counted as a retry) and partial batch responses narrow
 *   a failure down to the failing record, so the retries are spent on that record alone: a dependency down for a
 *   minute must not send good records to the DLQ after 3 quick retries. Poison records (malformed, dated too far
 *   ahead, refused) do not count: the consumers send them to their DLQ themselves, with their data, and go on. The
 *   price is a record failing for good otherwise (its DLQ refusing it, a model failing every call) holding its shard
 *   for 10 retries before the shard moves on; records after it are replayed meanwhile, which the consumers recognise.
 */
const streamDefaults = {
  batchSize: 100,
  maximumBatchingWindowInSeconds: 1,
  startingPosition: "TRIM_HORIZON",
  bisectBatchOnFunctionError: true,
  maximumRetryAttempts: 10,
  maximumRecordAgeInSeconds: -1,
  reportBatchItemFailures: true,
} as const satisfies StreamBatchOptions;

/** Async invocation defaults (S3 and SNS triggers): AWS's two retries, then the on-failure destination. */
const asyncDefaults = {
  maximumRetryAttempts: 2,
  maximumEventAgeInSeconds: 21600,
} as const satisfies AsyncInvokeOptions;

/**
 * Lambda functions. `handler` is `<path from repo root without extension>.<export>`, exactly what SST's
 * `sst.aws.Function` `handler` takes. Every function gets an SQS dead-letter queue named `<Function>Dlq` as its
 * on-failure destination (async invocations and stream mappings alike) and alarms (infra/functions.ts, `createAlarms`).
 */
export const functions = {
  SnsLogger: {
    description: "Logs every message on the system's topics as one structured, redacted JSON record",
    handler: "functions/sns-logger/index.handler",
    timeout: 10,
    memory: 256,
    links: [],
    environment: {
      POWERTOOLS_SERVICE_NAME: "sns-logger",
      POWERTOOLS_METRICS_NAMESPACE: "Sluice",
    },
    async: asyncDefaults,
    triggers: [
      { kind: "sns", topic: "Audit" },
      { kind: "sns", topic: "Alerts" },
    ],
  },
  FileMover: {
    description:
      "Files objects landing in Inbox incoming/ into the Lake by routing rules: copy, verify, delete the copied version",
    handler: "functions/file-mover/index.handler",
    // Server-side copies only (no bytes through the function): memory is for the SDK. The timeout is Lambda's
    // maximum, for multipart copies of objects up to 5 TiB.
    timeout: 900,
    memory: 256,
    links: ["Inbox", "Lake", "Audit"],
    access: {
      // HeadObject and copy source (GetObject), tags copied with the object, delete of the copied object; ListBucket
      // so that a missing object answers 404, not 403.
      Inbox: ["s3:GetObject", "s3:GetObjectTagging", "s3:DeleteObject", "s3:ListBucket"],
      // Copy destination (PutObject covers UploadPartCopy), tags, HeadObject of the copy, aborting a failed upload,
      // and removing a copy that failed verification (its own version, or its own ETag: never another object).
      Lake: [
        "s3:PutObject",
        "s3:PutObjectTagging",
        "s3:GetObject",
        "s3:ListBucket",
        "s3:AbortMultipartUpload",
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
      ],
      Audit: ["sns:Publish"],
    },
    environment: {
      POWERTOOLS_SERVICE_NAME: "file-mover",
      POWERTOOLS_METRICS_NAMESPACE: "Sluice",
    },
    async: asyncDefaults,
    triggers: [{ kind: "s3", bucket: "Inbox", events: ["s3:ObjectCreated:*"], filterPrefix: "incoming/" }],
  },
  FileDeleter: {
    description: "Deletes objects or prefixes (every version with allVersions) on request, in batches, with a report",
    handler: "functions/file-deleter/index.handler",
    // A deletion runs until 20 s before the timeout, then continues in a new invocation from its saved cursor.
    timeout: 900,
    memory: 512,
    // That new invocation is triggered by a continuation object the function writes under its own trigger's prefix
    // (requests/delete/.continue/<name>/<step>.json): a loop, which Lambda would stop after about 16 steps. It ends:
    // each step commits at least one batch and the cursor only moves forward through the listing; a continuation is
    // written only while the cursor is not done, and a duplicate or stale one finds its step claimed or done and
    // writes none (packages/files/README.md, "Continuation").
    selfContinuing: true,
    // The allow-list: a request can target only these data buckets.
    links: ["Inbox", "Lake", "CdcRaw", "Curated", "Audit"],
    access: {
      Inbox: [
        // Deletions in the Inbox itself (it is on the allow-list), consumed continuation objects among them.
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:ListBucket",
        "s3:ListBucketVersions",
        // What it reads: the request or continuation object that triggered it, and the request's report.
        { actions: ["s3:GetObject"], prefixes: ["requests/delete/", "reports/delete/"] },
        // What it writes: reports (conditional puts) and continuation objects, nothing else.
        { actions: ["s3:PutObject"], prefixes: ["reports/delete/", "requests/delete/.continue/"] },
      ],
      Lake: ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:ListBucket", "s3:ListBucketVersions"],
      CdcRaw: ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:ListBucket", "s3:ListBucketVersions"],
      Curated: ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:ListBucket", "s3:ListBucketVersions"],
      Audit: ["sns:Publish"],
    },
    environment: {
      POWERTOOLS_SERVICE_NAME: "file-deleter",
      POWERTOOLS_METRICS_NAMESPACE: "Sluice",
    },
    async: asyncDefaults,
    triggers: [
      {
        kind: "s3",
        bucket: "Inbox",
        events: ["s3:ObjectCreated:*"],
        filterPrefix: "requests/delete/",
        filterSuffix: ".json",
      },
    ],
  },
  CdcMerge: {
    description:
      "Merges each AWS DMS file landing in CdcRaw into its current-state Iceberg table in Curated (Glue Data Catalog)",
    handler: "functions/cdc-merge/index.handler",
    // A merge streams the DMS file and holds the touched buckets of one table: memory is the limit of what a single
    // file can touch (see packages/cdc/README.md). The timeout is Lambda's maximum, for large full-load files.
    timeout: 900,
    memory: 3008,
    links: ["CdcRaw", "Curated", "Audit", "CdcCatalog"],
    access: {
      // Read the DMS file; ListBucket so that a missing object answers 404, not 403.
      CdcRaw: ["s3:GetObject", "s3:ListBucket"],
      // The tables' files (data and delete files, manifests, metadata, key index, merge state) and their leases:
      // read, write (a lease epoch is a conditional PutObject), list (the orphan sweep, the lease's epochs), delete
      // (superseded index shards, orphans of killed merges, old lease epochs).
      Curated: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"],
      Audit: ["sns:Publish"],
      // An Iceberg table's commit: read the table's metadata location, create the table on the first commit, then
      // swap the location with Glue's optimistic lock (UpdateTable with VersionId).
      CdcCatalog: ["glue:GetTable", "glue:CreateTable", "glue:UpdateTable"],
    },
    environment: {
      POWERTOOLS_SERVICE_NAME: "cdc-merge",
      POWERTOOLS_METRICS_NAMESPACE: "Sluice",
      // An explicit V8 heap limit inside the 3008 MB (rows live in typed arrays outside the heap; the merge spills
      // held changes once resident memory passes half the function's memory).
      NODE_OPTIONS: "--max-old-space-size=2048",
    },
    async: asyncDefaults,
    triggers: [{ kind: "s3", bucket: "CdcRaw", events: ["s3:ObjectCreated:*"] }],
  },
  CdcMaintenance: {
    description:
      "Starts Athena's OPTIMIZE (big CDC Iceberg tables with many delete or small files) and VACUUM (every table) on a schedule",
    handler: "functions/cdc-maintenance/index.handler",
    // Lists the tables, reads one metadata file each and starts the statements: Athena runs them, not the function.
    timeout: 300,
    memory: 512,
    links: ["Curated"],
    access: {
      // Athena runs the statements with the caller's credentials: it reads the tables' files, writes the rewritten
      // data and new metadata, deletes what VACUUM expires, and writes the query results under the workgroup's
      // location in the same bucket (infra/maintenance.ts); the function itself reads the current metadata files.
      Curated: [
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts",
        "s3:ListBucket",
        "s3:GetBucketLocation",
        "s3:ListBucketMultipartUploads",
      ],
    },
    environment: {
      POWERTOOLS_SERVICE_NAME: "cdc-maintenance",
      POWERTOOLS_METRICS_NAMESPACE: "Sluice",
    },
    cdcMaintenance: true,
    async: asyncDefaults,
    // Started by EventBridge Scheduler (infra/maintenance.ts: the schedules and the workgroup), which the local cloud
    // does not run.
    triggers: [],
  },
  PriceInference: {
    description:
      "Prices new inference requests with the pricing model endpoint and applies them to the Catalog under guardrails, exactly once, with history and audit",
    handler: "functions/price-inference/index.handler",
    // A batch is a model call (SageMaker allows a model 60 s, a serverless endpoint's cold start comes on top: each
    // call gives up after PRICING_MODEL_TIMEOUT_SECONDS) with retries and back-off, then the catalog writes. No call or
    // retry starts that could not end within the invocation with 10 s left for the writes (packages/pricing/README.md,
    // "Time and concurrency"); requests not priced in time are batch item failures, which the stream retries.
    timeout: 120,
    memory: 512,
    // One invocation per stream shard, each with PRICING_MODEL_PARALLELISM (1) model call in flight: as many calls
    // as the table's stream has shards in progress (DynamoDB decides; a few for most tables), within the endpoint's
    // 5 up to 5 shards, throttled and retried beyond. No reserved concurrency by default: AWS refuses any reservation
    // that leaves the account under 100 unreserved, so it would fail the deploy in accounts with a low quota (new
    // accounts get a reduced one). `reservedConcurrency: endpoints.PricingModel.maxConcurrency` bounds it where it can.
    links: ["Catalog", "PriceHistory", "Audit", "PricingModel"],
    access: {
      // Reads of the batch's items; a change is one TransactWriteItems (IAM checks its UpdateItem and PutItem); a
      // replay reads its change's history record (GetItem) to audit it.
      Catalog: ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:UpdateItem"],
      PriceHistory: ["dynamodb:PutItem", "dynamodb:GetItem"],
      Audit: ["sns:Publish"],
      PricingModel: ["sagemaker:InvokeEndpoint"],
    },
    environment: {
      POWERTOOLS_SERVICE_NAME: "price-inference",
      POWERTOOLS_METRICS_NAMESPACE: "Sluice",
      // A batch of 100 records is one call (100 records per call): parallelism would only serve larger batches.
      PRICING_MODEL_PARALLELISM: "1",
      PRICING_MODEL_TIMEOUT_SECONDS: "75",
    },
    triggers: [{ kind: "dynamodb", table: "InferenceRequests", batch: streamDefaults }],
  },
  DemandHydration: {
    description:
      "Aggregates clickstream events into per-product demand features per event-time window and writes one inference request per closed window",
    handler: "functions/demand-hydration/index.handler",
    timeout: 60,
    memory: 512,
    links: ["Catalog", "InferenceRequests", "DemandWindows", "Audit"],
    access: {
      // Inventory of the products whose windows close.
      Catalog: ["dynamodb:BatchGetItem"],
      // One conditional put per closed window.
      InferenceRequests: ["dynamodb:PutItem"],
      // Window counts are loaded and written in batches (packages/aws/src/demand-windows.ts).
      DemandWindows: [
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
        "dynamodb:BatchWriteItem",
      ],
      // Events refused for being dated too far in the future, with their reason.
      Audit: ["sns:Publish"],
    },
    environment: {
      POWERTOOLS_SERVICE_NAME: "demand-hydration",
      POWERTOOLS_METRICS_NAMESPACE: "Sluice",
      DEMAND_WINDOW_SECONDS: "300",
      DEMAND_LATENESS_SECONDS: "60",
      DEMAND_MAX_FUTURE_SECONDS: "300",
    },
    // Counting is idempotent per shard: a failed batch is retried (the events counted are recognised). Invalid events
    // and events dated too far in the future go to DemandHydrationDlq with their data (the function sends them);
    // partial failures report only those its DLQ did not take.
    triggers: [{ kind: "kinesis", stream: "Clickstream", batch: streamDefaults }],
  },
  AnomalyAlert: {
    description:
      "Counts clickstream events per site into event-time windows, scores each metric with a streaming detector and publishes one alert per incident (open, then resolved)",
    handler: "functions/anomaly-alert/index.handler",
    timeout: 60,
    memory: 512,
    links: ["AnomalyState", "Alerts", "Audit"],
    access: {
      // Load the stream head and the series it names; a commit writes new series items (and pages) in batches,
      // then the head with a conditional PutItem (the commit point), then deletes the pages it replaced (replaced
      // series items expire), in batches.
      AnomalyState: ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:BatchWriteItem"],
      Alerts: ["sns:Publish"],
      // Malformed records, alerts given up, events of sites over the limit, with their reason.
      Audit: ["sns:Publish"],
    },
    environment: {
      POWERTOOLS_SERVICE_NAME: "anomaly-alert",
      POWERTOOLS_METRICS_NAMESPACE: "Sluice",
      ANOMALY_WINDOW_SECONDS: "60",
      ANOMALY_LATENESS_SECONDS: "30",
      ANOMALY_ALERT_THRESHOLD: "0.5",
      // The watermark waits for every shard of Clickstream: the stream's own shard count, the one source of it.
      ANOMALY_STREAM_SHARDS: String(streams.Clickstream.shardCount),
      // A site silent for a day is forgotten; at most 1 000 sites at once; ANOMALY_SITES (comma-separated) would
      // count only the sites it names.
      ANOMALY_SITE_IDLE_SECONDS: "86400",
      ANOMALY_MAX_SITES: "1000",
      // A series item expires 3 days after its write; every closed minute rewrites every known site's series, so
      // only a stream silent for longer loses what its series learnt (they warm up again: 2 hours).
      ANOMALY_STATE_RETENTION_HOURS: "72",
      ANOMALY_MAX_FUTURE_SECONDS: "300",
    },
    // Large batches: the state is loaded and committed once per batch. Malformed records go to AnomalyAlertDlq with
    // their data (the function sends them); partial failures report only those its DLQ did not take.
    triggers: [
      {
        kind: "kinesis",
        stream: "Clickstream",
        batch: { ...streamDefaults, batchSize: 1000, maximumBatchingWindowInSeconds: 5 },
      },
    ],
  },
} as const satisfies Record<string, FunctionSpec>;

export { asyncDefaults, streamDefaults };

/** The dead-letter (on-failure) queue name of a function. */
export function deadLetterQueueOf(functionName: string): string {
  return `${functionName}Dlq`;
}

/**
 * The environment variable holding the URL of the function's own `<Function>Dlq`, which every function is given
 * (`sst deploy` and the local cloud alike) beside its wiring `environment`: a stream consumer sends its poison records
 * there itself, with their data (`@sluice/aws/dead-letter`), under the `sqs:SendMessage` its role has on that queue.
 */
export const DEAD_LETTER_QUEUE_URL = "SLUICE_DEAD_LETTER_QUEUE_URL";

/**
 * The name prefix of a catalog's databases in an app's stage, `<app>_<stage>` (Glue database names are lower case;
 * Athena takes letters, digits and underscores): what a linked function reads as `Resource.<Catalog>.name`.
 */
export function catalogDatabasePrefix(app: string, stage: string): string {
  return `${app}_${stage}`.toLowerCase().replace(/[^a-z0-9_]/g, "_");
}

/** The Glue database of a DMS schema in a catalog whose databases are named `<prefix>_<schema>`. */
export function catalogDatabaseName(prefix: string, schema: string): string {
  return `${prefix}_${schema}`.toLowerCase().replace(/[^a-z0-9_]/g, "_");
}

/**
 * The physical name of a wiring endpoint in an app's stage: `<app>-<stage>-<name>` in lower case (SageMaker names
 * are at most 63 characters of letters, digits and hyphens, and unique per account and region; its ARNs are lower
 * case). `sst deploy` and the local cloud both name endpoints with it.
 */
export function endpointPhysicalName(app: string, stage: string, name: string): string {
  const full = `${app}-${stage}-${name}`.toLowerCase().replace(/[^a-z0-9-]/g, "-");
  return full.length <= 63 ? full : full.slice(0, 63).replace(/-+$/, "");
}

// ---------------------------------------------------------------------------------------------------------------
// Types

export type BucketName = keyof typeof buckets;
export type TopicName = keyof typeof topics;
export type StreamName = keyof typeof streams;
export type TableName = keyof typeof tables;
export type EndpointName = keyof typeof endpoints;
export type CatalogName = keyof typeof catalogs;
export type FunctionName = keyof typeof functions;
export type ResourceName = BucketName | TopicName | StreamName | TableName | EndpointName | CatalogName;

/**
 * What `Resource.<Name>` holds in a function linked to the resource: a topic's ARN, any other resource's name (a
 * catalog's: its databases' name prefix). infra/links.ts, infra/pricing.ts and infra/catalog.ts declare these
 * properties for SST; the local cloud writes the same.
 */
export type LinkProperties<R extends ResourceName> = R extends TopicName
  ? { readonly arn: string }
  : { readonly name: string };

/** The resources a function links (its `links`), as `Resource` holds them in that function and nothing else. */
export type LinksOf<F extends FunctionName> = {
  readonly [R in (typeof functions)[F]["links"][number]]: LinkProperties<R>;
};

export interface BucketSpec {
  versioning: boolean;
}
// biome-ignore lint/complexity/noBannedTypes: topics have no options yet; the type keeps the shape extensible
export type TopicSpec = {};
export interface StreamSpec {
  shardCount: number;
}
export interface TableSpec {
  hashKey: string;
  rangeKey?: string;
  /** DynamoDB stream view type; absent means no stream. */
  stream?: "new-image" | "old-image" | "new-and-old-images" | "keys-only";
  /**
   * Time to live: the attribute holding an item's expiry time (epoch seconds, a number). DynamoDB deletes an item
   * some time after it (typically within a few days; reads may still see it until then); items without the
   * attribute never expire. Absent means no TTL.
   */
  ttl?: string;
}

export interface CatalogSpec {
  /** The bucket holding the tables' files (their metadata, data and delete files). */
  bucket: BucketName;
  /** The table configuration file (repository path) whose DMS schemas are the catalog's databases. */
  tables: string;
}

export interface EndpointSpec {
  /**
   * The model container's directory, relative to the repository root: a `Dockerfile` (built for linux/amd64 and
   * deployed on AWS) and the `server.ts` it runs (served by the local cloud).
   */
  model: string;
  /** Invocations the endpoint serves at once (its serverless `MaxConcurrency` on AWS; more are throttled). */
  maxConcurrency: number;
}

export type S3EventName =
  | "s3:ObjectCreated:*"
  | "s3:ObjectCreated:Put"
  | "s3:ObjectCreated:Post"
  | "s3:ObjectCreated:Copy"
  | "s3:ObjectCreated:CompleteMultipartUpload"
  | "s3:ObjectRemoved:*"
  | "s3:ObjectRemoved:Delete"
  | "s3:ObjectRemoved:DeleteMarkerCreated";

/** Options of a Kinesis or DynamoDB stream event-source mapping (AWS names and meanings). */
export interface StreamBatchOptions {
  batchSize: number;
  maximumBatchingWindowInSeconds: number;
  startingPosition: "TRIM_HORIZON" | "LATEST";
  bisectBatchOnFunctionError: boolean;
  /** -1 means retry until the record expires. */
  maximumRetryAttempts: number;
  /** -1 means never expire (up to the stream's retention). */
  maximumRecordAgeInSeconds: number;
  /** `FunctionResponseTypes: ["ReportBatchItemFailures"]`. */
  reportBatchItemFailures: boolean;
  /** Tumbling window in seconds (1-900); absent means no window. */
  tumblingWindowInSeconds?: number;
  parallelizationFactor?: number;
}

/** Lambda asynchronous invocation configuration (S3 and SNS triggers). */
export interface AsyncInvokeOptions {
  maximumRetryAttempts: 0 | 1 | 2;
  maximumEventAgeInSeconds: number;
}

export type Trigger =
  | {
      kind: "s3";
      bucket: BucketName;
      events: readonly S3EventName[];
      filterPrefix?: string;
      filterSuffix?: string;
    }
  | {
      kind: "sns";
      topic: TopicName;
      /** SNS subscription filter policy. */
      filterPolicy?: Record<string, unknown>;
      filterPolicyScope?: "MessageAttributes" | "MessageBody";
    }
  | { kind: "kinesis"; stream: StreamName; batch: StreamBatchOptions }
  | { kind: "dynamodb"; table: TableName; batch: StreamBatchOptions };

/** An `access` entry: an IAM action on the whole resource, or object-level S3 actions under key prefixes only. */
export type AccessEntry = string | PrefixedAccess;

/** Object-level S3 actions (`s3:GetObject`, `s3:PutObject`...) granted on `<bucket arn>/<prefix>*` for each prefix. */
export interface PrefixedAccess {
  actions: readonly string[];
  /** Key prefixes, such as `reports/delete/`: literal text, no `*` or `?`. */
  prefixes: readonly string[];
}

export interface FunctionSpec {
  description: string;
  /** `<path from repo root without extension>.<export>` */
  handler: string;
  /** Seconds. */
  timeout: number;
  /** MB. */
  memory: number;
  /** Resources the function reads through `Resource.<Name>` (and is granted access to). */
  links: readonly ResourceName[];
  /**
   * IAM actions the function is granted on a linked resource, replacing that resource kind's default set
   * (`defaultLinkActions` in infra/permissions.ts). The deployed role and the local cloud's IAM enforce the same
   * statements (`pnpm --silent iam` prints them). An entry is an action, or, on a bucket, object-level actions
   * allowed only under some key prefixes (`{ actions: ["s3:PutObject"], prefixes: ["reports/"] }`).
   */
  access?: { readonly [R in ResourceName]?: readonly AccessEntry[] };
  environment?: Readonly<Record<string, string>>;
  /**
   * The function invokes itself again through its own trigger (an object it writes where its S3 trigger listens, a
   * message to a topic it is subscribed to). Lambda's recursive-loop detection stops such a chain after about 16
   * invocations; `true` deploys the function with its recursive loop allowed (`aws.lambda.FunctionRecursionConfig`).
   * Only for a chain that ends by construction: say why next to it.
   */
  selfContinuing?: boolean;
  /**
   * The function starts Athena's maintenance of the CDC tables: beside its links it is granted
   * `athena:StartQueryExecution` (and the reads of how its statements ended) on the stage's maintenance workgroup
   * and the Glue reads and `UpdateTable` on the
   * catalog, the CDC databases and their tables (`cdcMaintenanceStatements` in infra/permissions.ts; the workgroup and
   * the schedules are infra/maintenance.ts's).
   */
  cdcMaintenance?: boolean;
  /**
   * Reserved concurrency: at most this many invocations at once (and that many kept from the account's pool); more
   * are throttled, and a stream mapping retries them. Absent: none reserved, no limit but the account's.
   */
  reservedConcurrency?: number;
  /** Async invocation config; required when the function has S3 or SNS triggers. */
  async?: AsyncInvokeOptions;
  triggers: readonly Trigger[];
}

/** The whole wiring: this module's shape, and what infra builders and tests (with fixture wirings) take. */
export interface Wiring {
  buckets: Readonly<Record<string, BucketSpec>>;
  topics: Readonly<Record<string, TopicSpec>>;
  streams: Readonly<Record<string, StreamSpec>>;
  tables: Readonly<Record<string, TableSpec>>;
  /** SageMaker endpoints; absent means none (test wirings). */
  endpoints?: Readonly<Record<string, EndpointSpec>>;
  /** Glue Data Catalog databases; absent means none (test wirings). */
  catalogs?: Readonly<Record<string, CatalogSpec>>;
  functions: Readonly<Record<string, FunctionSpec>>;
}
