/**
 * S3 buckets, one per wiring bucket: encrypted at rest (SSE-S3), public access blocked, a bucket policy that
 * denies any request not made over TLS, versioning as the wiring says, and no CORS (no browser reads them).
 */
import type { Wiring } from "./wiring.ts";

/** Creates every bucket of the wiring, keyed by its component name (the name handlers read as `Resource.<Name>`). */
export function createBuckets(specs: Wiring["buckets"]): Record<string, sst.aws.Bucket> {
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
    buckets[name] = bucket;
  }
  return buckets;
}
