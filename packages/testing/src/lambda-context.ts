import type { Context } from "aws-lambda";

export interface LambdaContextOptions {
  awsRequestId?: string;
  region?: string;
  memoryLimitInMB?: string;
  /** What `getRemainingTimeInMillis()` answers; 10 s by default. */
  remainingMs?: number;
}

/**
 * The context Lambda passes a handler, for function `functionName` in account 123456789012: what Powertools reads
 * from it (name, ARN, memory, request id) and a fixed remaining time.
 */
export function lambdaContext(functionName: string, options: LambdaContextOptions = {}): Context {
  const { awsRequestId = "req-1", region = "us-east-1", memoryLimitInMB = "256", remainingMs = 10_000 } = options;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: "$LATEST",
    invokedFunctionArn: `arn:aws:lambda:${region}:123456789012:function:${functionName}`,
    memoryLimitInMB,
    awsRequestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: "2026/08/20/[$LATEST]0123456789abcdef",
    getRemainingTimeInMillis: () => remainingMs,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
