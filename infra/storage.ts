/**
 * S3 buckets, one per wiring bucket: encrypted at rest (SSE-S3), public access blocked, a bucket policy that
 * denies any request not made over TLS, versioning as the wiring says, no CORS (no browser reads them), and one
 * lifecycle configuration that aborts incomplete multipart uploads after a day.
 */
import type { Wiring } from "./wiring.ts";

/**
 * Every bucket's first lifecycle rule: a multipart upload left incomplete for a day is aborted and its parts deleted.
 * Such parts are billed as storage but listed by no ListObjects: a FileMover multipart copy (up to 5 TiB) killed by
 * its timeout, a CdcMerge or Athena write killed mid-upload, a `pnpm push` interrupted. A day is far longer than any
 * upload here takes (Lambda runs 15 minutes at most).
 */
export const abortIncompleteUploadsRule = {
  id: "abort-incomplete-multipart-uploads",
  status: "Enabled",
  // An empty filter: the whole bucket.
  filter: {},
  abortIncompleteMultipartUpload: { daysAfterInitiation: 1 },
};

export type LifecycleRule = aws.types.input.s3.BucketLifecycleConfigurationRule;

/**
 * More lifecycle rules for a bucket, after the abort rule. S3 keeps ONE lifecycle configuration per bucket (a second
 * resource on the same bucket would overwrite the first), so every rule of a bucket is set here. `formerName`: the
 * logical name of the resource that held these rules before (an alias, so that a deploy updates it in place instead
 * of creating the new one and then deleting the old, which would delete the bucket's whole configuration).
 */
export interface BucketLifecycleRules {
  rules: LifecycleRule[];
  formerName?: string;
}

/**
 * Creates every bucket of the wiring, keyed by its component name (the name handlers read as `Resource.<Name>`);
 * `lifecycle` adds rules to a bucket's lifecycle configuration.
 */
export function createBuckets(
  specs: Wiring["buckets"],
  lifecycle: Readonly<Record<string, BucketLifecycleRules>> = {},
): Record<string, sst.aws.Bucket> {
  const buckets: Record<string, sst.aws.Bucket> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const bucket = new sst.aws.Bucket(name, {
      versioning: spec.versioning,
      // SST's default, spelled out because it is a requirement: Deny s3:* when aws:SecureTransport is false.
      enforceHttps: true,
      // No `access`/`public`: SST then blocks all public access (BucketPublicAccessBlock, all four flags).
      cors: false,
    });
    new aws.s3.BucketServerSideEncryptionConfiguration(`${name}Encryption`, {
      bucket: bucket.name,
      // SSE-S3: no per-request KMS charge, and S3 notifications and CloudWatch need no key grants.
      rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }],
    });
    const extra = lifecycle[name];
    new aws.s3.BucketLifecycleConfiguration(
      `${name}Lifecycle`,
      { bucket: bucket.name, rules: [abortIncompleteUploadsRule, ...(extra?.rules ?? [])] },
      extra?.formerName ? { aliases: [{ name: extra.formerName }] } : {},
    );
    buckets[name] = bucket;
  }
  return buckets;
}
