/** The local cloud's account, region and app stage: what its ARNs and physical names are made of. */
export const REGION = "us-east-1";
export const ACCOUNT_ID = "000000000000";
export const APP = { name: "sluice", stage: "local" };

/** Default ports, one per emulator, from `basePort` up: SNS+SQS, S3, DynamoDB, Kinesis, SageMaker runtime, Glue. */
export const DEFAULT_BASE_PORT = 4566;
