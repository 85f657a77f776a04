/**
 * The answer AWS gives a request its caller's policy does not allow, per service: status, headers and body in the
 * service's own protocol, so the SDK raises the same error class with the same code and message as on AWS.
 *
 * - S3: 403 `AccessDenied` (REST-XML `<Error>`; a HEAD answer has no body).
 * - DynamoDB and DynamoDB Streams: 400 `AccessDeniedException` (DynamoDB developer guide, "Error handling").
 * - Kinesis: 400 `AccessDeniedException` (Kinesis API reference, "Common errors").
 * - SQS (JSON protocol): 403 `AccessDenied`, with the `x-amzn-query-error` header query-compatible clients read.
 * - SNS and SQS (query protocol): 403 `AuthorizationError` / `AccessDenied` in an `<ErrorResponse>`.
 * - SageMaker runtime (REST-JSON): 403 `AccessDeniedException` in `x-amzn-ErrorType`.
 * - Glue (JSON 1.1): 400 `AccessDeniedException` (AWS Glue API reference, "Common errors").
 *
 * The message is IAM's: `User: <principal> is not authorized to perform: <action> on resource: <arn> because no
 * identity-based policy allows the <action> action` (or `with an explicit deny in an identity-based policy`).
 */
import { randomUUID } from "node:crypto";
import type { AccessRequest } from "./policy.ts";
import type { ClassifiedRequest, Protocol } from "./requests.ts";

export interface Denial {
  principal: string;
  request: AccessRequest;
  reason: "explicit-deny" | "implicit-deny";
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** IAM's sentence for a denied request (SNS writes its action prefix in capitals, as SNS does). */
export function denialMessage(denial: Denial, api?: ClassifiedRequest["api"]): string {
  const action = api === "sns" ? denial.request.action.replace(/^sns:/, "SNS:") : denial.request.action;
  const why =
    denial.reason === "explicit-deny"
      ? "with an explicit deny in an identity-based policy"
      : `because no identity-based policy allows the ${action} action`;
  return `User: ${denial.principal} is not authorized to perform: ${action} on resource: ${denial.request.resource} ${why}`;
}

export function xmlEscape(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

const requestIdHeaders = (requestId: string) => ({ "x-amzn-requestid": requestId, "x-amz-request-id": requestId });

/** The answer to a denied request of a classified operation. */
export function accessDenied(classified: ClassifiedRequest, denial: Denial, method: string): HttpAnswer {
  return deniedAnswer(classified.protocol, classified.api, denialMessage(denial, classified.api), method);
}

/**
 * The answer to a request the local cloud cannot authorize because it cannot tell what it is: AWS would
 * know, so this is a gap of the local cloud, said as such.
 */
export function unclassifiable(protocol: Protocol, problem: string, method: string): HttpAnswer {
  return deniedAnswer(
    protocol,
    undefined,
    `The local cloud cannot authorize this request (${problem}); run it with --no-iam or extend packages/local/src/iam/requests.ts`,
    method,
  );
}

/**
 * A 400 client error of the service, in its protocol: for a request AWS refuses as invalid whoever sends it (a
 * repeated parameter, a stream named two ways, a batch too long), or SNS's `KMSAccessDenied`.
 */
export function serviceError(
  protocol: Protocol,
  api: ClassifiedRequest["api"] | undefined,
  code: string,
  message: string,
): HttpAnswer {
  const requestId = randomUUID();
  if (protocol === "query") {
    const namespace =
      api === "sqs" ? "http://queue.amazonaws.com/doc/2012-11-05/" : "http://sns.amazonaws.com/doc/2010-03-31/";
    return {
      status: 400,
      headers: { "content-type": "text/xml", ...requestIdHeaders(requestId) },
      body: `<ErrorResponse xmlns="${namespace}">\n  <Error>\n    <Type>Sender</Type>\n    <Code>${xmlEscape(code)}</Code>\n    <Message>${xmlEscape(message)}</Message>\n  </Error>\n  <RequestId>${requestId}</RequestId>\n</ErrorResponse>\n`,
    };
  }
  if (protocol === "json" && api === "sqs") {
    return {
      status: 400,
      headers: {
        "content-type": "application/x-amz-json-1.0",
        "x-amzn-query-error": `${code};Sender`,
        ...requestIdHeaders(requestId),
      },
      body: JSON.stringify({ __type: `com.amazonaws.sqs#${code}`, message }),
    };
  }
  return {
    status: 400,
    headers: { "content-type": "application/x-amz-json-1.1", ...requestIdHeaders(requestId) },
    body: JSON.stringify({ __type: code, message }),
  };
}

/** An S3 error other than AccessDenied (REST-XML `<Error>`; a HEAD answer has no body), e.g. 501 NotImplemented. */
export function s3ErrorAnswer(error: { status: number; code: string }, message: string, method: string): HttpAnswer {
  const requestId = randomUUID();
  return {
    status: error.status,
    headers: { "content-type": "application/xml", ...requestIdHeaders(requestId) },
    body:
      method === "HEAD"
        ? ""
        : `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${error.code}</Code><Message>${xmlEscape(message)}</Message><RequestId>${requestId}</RequestId><HostId>${requestId}</HostId></Error>`,
  };
}

function deniedAnswer(
  protocol: Protocol,
  api: ClassifiedRequest["api"] | undefined,
  message: string,
  method: string,
): HttpAnswer {
  const requestId = randomUUID();
  switch (protocol) {
    case "rest-xml":
      return {
        status: 403,
        headers: { "content-type": "application/xml", ...requestIdHeaders(requestId) },
        body:
          method === "HEAD"
            ? ""
            : `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>${xmlEscape(message)}</Message><RequestId>${requestId}</RequestId><HostId>${requestId}</HostId></Error>`,
      };
    case "json": {
      if (api === "sqs") {
        return {
          status: 403,
          headers: {
            "content-type": "application/x-amz-json-1.0",
            "x-amzn-query-error": "AccessDenied;Sender",
            ...requestIdHeaders(requestId),
          },
          body: JSON.stringify({ __type: "com.amazon.coral.service#AccessDeniedException", message }),
        };
      }
      const json11 = api === "kinesis" || api === "glue";
      return {
        status: 400,
        headers: {
          "content-type": json11 ? "application/x-amz-json-1.1" : "application/x-amz-json-1.0",
          ...requestIdHeaders(requestId),
        },
        body: JSON.stringify(
          api === "kinesis"
            ? { __type: "AccessDeniedException", message }
            : api === "glue"
              ? { __type: "AccessDeniedException", Message: message }
              : { __type: "com.amazon.coral.service#AccessDeniedException", Message: message },
        ),
      };
    }
    case "query": {
      const sqs = api === "sqs";
      const namespace = sqs ? "http://queue.amazonaws.com/doc/2012-11-05/" : "http://sns.amazonaws.com/doc/2010-03-31/";
      const code = sqs ? "AccessDenied" : "AuthorizationError";
      return {
        status: 403,
        headers: { "content-type": "text/xml", ...requestIdHeaders(requestId) },
        body: `<ErrorResponse xmlns="${namespace}">\n  <Error>\n    <Type>Sender</Type>\n    <Code>${code}</Code>\n    <Message>${xmlEscape(message)}</Message>\n  </Error>\n  <RequestId>${requestId}</RequestId>\n</ErrorResponse>\n`,
      };
    }
    case "rest-json":
      return {
        status: 403,
        headers: {
          "content-type": "application/json",
          "x-amzn-errortype": "AccessDeniedException",
          ...requestIdHeaders(requestId),
        },
        body: JSON.stringify({ message }),
      };
  }
}
