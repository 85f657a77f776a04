/**
 * Which IAM actions an AWS API operation needs, for the services the local cloud emulates. One table, read by the
 * local cloud's IAM gateway (to authorize each request) and by the check that every SDK command a function's bundle
 * contains is allowed by its policy (test/infra/commands.test.ts).
 *
 * Sources: the Service Authorization Reference ("Actions, resources, and condition keys for Amazon S3 / DynamoDB /
 * Kinesis / SNS / SQS / SageMaker / AWS Glue") and each API reference's "Permissions" notes.
 */

/** Services by the name their IAM actions carry (`s3:`, `dynamodb:`...). */
export type IamService = "s3" | "dynamodb" | "kinesis" | "sns" | "sqs" | "sagemaker" | "glue" | "athena" | "s3express";

/** The resource an S3 action applies to: the request's object, its bucket, the copy source, or the account. */
export type S3Target = "object" | "bucket" | "source" | "account";

export interface S3Check {
  action: string;
  /** The action instead, when the request names an object version (`versionId`). */
  versioned?: string;
  on: S3Target;
}

const object = (action: string, versioned?: string): S3Check => ({ action, versioned, on: "object" });
const bucket = (action: string): S3Check => ({ action, on: "bucket" });

/** S3 operations (SDK names) and the checks S3 makes for each. */
export const s3Operations: Readonly<Record<string, readonly S3Check[]>> = {
  GetObject: [object("s3:GetObject", "s3:GetObjectVersion")],
  HeadObject: [object("s3:GetObject", "s3:GetObjectVersion")],
  SelectObjectContent: [object("s3:GetObject")],
  GetObjectAttributes: [object("s3:GetObjectAttributes", "s3:GetObjectVersionAttributes")],
  PutObject: [object("s3:PutObject")],
  // The copy needs to read the source and write the destination.
  CopyObject: [object("s3:PutObject"), { action: "s3:GetObject", versioned: "s3:GetObjectVersion", on: "source" }],
  CreateMultipartUpload: [object("s3:PutObject")],
  UploadPart: [object("s3:PutObject")],
  UploadPartCopy: [object("s3:PutObject"), { action: "s3:GetObject", versioned: "s3:GetObjectVersion", on: "source" }],
  CompleteMultipartUpload: [object("s3:PutObject")],
  AbortMultipartUpload: [object("s3:AbortMultipartUpload")],
  ListParts: [object("s3:ListMultipartUploadParts")],
  DeleteObject: [object("s3:DeleteObject", "s3:DeleteObjectVersion")],
  // Checked per key: S3 answers AccessDenied for each key it may not delete, in a 200 response.
  DeleteObjects: [object("s3:DeleteObject", "s3:DeleteObjectVersion")],
  GetObjectTagging: [object("s3:GetObjectTagging", "s3:GetObjectVersionTagging")],
  PutObjectTagging: [object("s3:PutObjectTagging", "s3:PutObjectVersionTagging")],
  DeleteObjectTagging: [object("s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging")],
  GetObjectAcl: [object("s3:GetObjectAcl", "s3:GetObjectVersionAcl")],
  PutObjectAcl: [object("s3:PutObjectAcl", "s3:PutObjectVersionAcl")],
  GetObjectRetention: [object("s3:GetObjectRetention")],
  PutObjectRetention: [object("s3:PutObjectRetention")],
  GetObjectLegalHold: [object("s3:GetObjectLegalHold")],
  PutObjectLegalHold: [object("s3:PutObjectLegalHold")],
  RestoreObject: [object("s3:RestoreObject")],
  ListObjects: [bucket("s3:ListBucket")],
  ListObjectsV2: [bucket("s3:ListBucket")],
  HeadBucket: [bucket("s3:ListBucket")],
  ListObjectVersions: [bucket("s3:ListBucketVersions")],
  ListMultipartUploads: [bucket("s3:ListBucketMultipartUploads")],
  GetBucketLocation: [bucket("s3:GetBucketLocation")],
  CreateBucket: [bucket("s3:CreateBucket")],
  DeleteBucket: [bucket("s3:DeleteBucket")],
  GetBucketVersioning: [bucket("s3:GetBucketVersioning")],
  PutBucketVersioning: [bucket("s3:PutBucketVersioning")],
  GetBucketPolicy: [bucket("s3:GetBucketPolicy")],
  PutBucketPolicy: [bucket("s3:PutBucketPolicy")],
  DeleteBucketPolicy: [bucket("s3:DeleteBucketPolicy")],
  GetBucketNotificationConfiguration: [bucket("s3:GetBucketNotification")],
  PutBucketNotificationConfiguration: [bucket("s3:PutBucketNotification")],
  GetBucketTagging: [bucket("s3:GetBucketTagging")],
  PutBucketTagging: [bucket("s3:PutBucketTagging")],
  DeleteBucketTagging: [bucket("s3:PutBucketTagging")],
  GetBucketCors: [bucket("s3:GetBucketCORS")],
  PutBucketCors: [bucket("s3:PutBucketCORS")],
  DeleteBucketCors: [bucket("s3:PutBucketCORS")],
  GetBucketLifecycleConfiguration: [bucket("s3:GetLifecycleConfiguration")],
  PutBucketLifecycleConfiguration: [bucket("s3:PutLifecycleConfiguration")],
  DeleteBucketLifecycle: [bucket("s3:PutLifecycleConfiguration")],
  GetBucketEncryption: [bucket("s3:GetEncryptionConfiguration")],
  PutBucketEncryption: [bucket("s3:PutEncryptionConfiguration")],
  GetBucketAcl: [bucket("s3:GetBucketAcl")],
  PutBucketAcl: [bucket("s3:PutBucketAcl")],
  GetPublicAccessBlock: [bucket("s3:GetBucketPublicAccessBlock")],
  PutPublicAccessBlock: [bucket("s3:PutBucketPublicAccessBlock")],
  ListBuckets: [{ action: "s3:ListAllMyBuckets", on: "account" }],
};

/**
 * Operations whose IAM action is not `<service>:<Operation>`. A list means the request needs each action that
 * applies to it (a transaction: the action of each of its items); `[]` means no IAM check.
 */
const renamed: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>> = {
  dynamodb: {
    TransactWriteItems: [
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
      "dynamodb:DeleteItem",
      "dynamodb:ConditionCheckItem",
    ],
    TransactGetItems: ["dynamodb:GetItem"],
    ExecuteStatement: [
      "dynamodb:PartiQLSelect",
      "dynamodb:PartiQLInsert",
      "dynamodb:PartiQLUpdate",
      "dynamodb:PartiQLDelete",
    ],
    BatchExecuteStatement: [
      "dynamodb:PartiQLSelect",
      "dynamodb:PartiQLInsert",
      "dynamodb:PartiQLUpdate",
      "dynamodb:PartiQLDelete",
    ],
    ExecuteTransaction: [
      "dynamodb:PartiQLSelect",
      "dynamodb:PartiQLInsert",
      "dynamodb:PartiQLUpdate",
      "dynamodb:PartiQLDelete",
    ],
    // Endpoint discovery needs no permission.
    DescribeEndpoints: [],
  },
  sqs: {
    SendMessageBatch: ["sqs:SendMessage"],
    DeleteMessageBatch: ["sqs:DeleteMessage"],
    ChangeMessageVisibilityBatch: ["sqs:ChangeMessageVisibility"],
  },
  sns: { PublishBatch: ["sns:Publish"] },
  sagemaker: {
    InvokeEndpoint: ["sagemaker:InvokeEndpoint"],
    InvokeEndpointAsync: ["sagemaker:InvokeEndpointAsync"],
    InvokeEndpointWithResponseStream: ["sagemaker:InvokeEndpoint"],
  },
};

/**
 * The IAM actions an operation may need. For operations that need one action per item (transactions, PartiQL),
 * every action the operation can need is listed: a request needs those of its items.
 */
export function iamActionsOf(service: IamService, operation: string): readonly string[] {
  if (service === "s3") {
    const checks = s3Operations[operation];
    if (!checks) throw new Error(`no IAM mapping for S3 operation ${operation}`);
    return checks.map((check) => check.action);
  }
  return renamed[service]?.[operation] ?? [`${service}:${operation}`];
}
