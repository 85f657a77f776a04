/**
 * IAM in the local cloud, end to end: functions call the emulators with credentials of their own, and what their
 * deployed role's policy does not allow fails as on AWS and takes the handler's ordinary error path.
 *
 * The cloud runs the real wiring with one action removed: FileMover may no longer `s3:PutObject` into the Lake.
 * A file put into the Inbox is then not filed: the copy is refused with AccessDenied, Lambda retries the
 * invocation, and the event ends in FileMoverDlq with the reason, the source object untouched.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { DynamoDBClient, GetItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { HeadObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { InvokeEndpointCommand, SageMakerRuntimeClient } from "@aws-sdk/client-sagemaker-runtime";
import { ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, expect, it } from "vitest";
import * as realWiring from "../../infra/wiring.ts";
import { type LocalCloud, startLocalCloud } from "../../packages/local/src/cloud.ts";
import { createKinesisClient } from "../../packages/local/src/emulators/kinesalite.ts";
import { putRecords } from "../../packages/local/src/push/sinks/kinesis.ts";
import { localOnly } from "./target.ts";

const admin = { accessKeyId: "local", secretAccessKey: "local" };
const region = "us-east-1";

/** The real wiring, except that FileMover may not write into the Lake. */
const withoutLakeWrites = {
  ...realWiring,
  functions: {
    ...realWiring.functions,
    FileMover: {
      ...realWiring.functions.FileMover,
      access: {
        ...realWiring.functions.FileMover.access,
        Lake: realWiring.functions.FileMover.access.Lake.filter((action) => action !== "s3:PutObject"),
      },
    },
  },
};

localOnly("the local cloud's own IAM enforcement, with a wiring one action short").describe(
  "IAM on the local cloud",
  () => {
    let cloud: LocalCloud;
    let s3: S3Client;
    let sqs: SQSClient;
    const denied: string[] = [];

    beforeAll(async () => {
      cloud = await startLocalCloud({
        basePort: 0,
        stateDir: mkdtempSync(path.join(tmpdir(), "sluice-iam-")),
        writeEnvFile: false,
        asyncRetryDelaysMs: [50, 100],
        models: [],
        wiring: withoutLakeWrites,
        onIamDenied: (fn, message) => denied.push(`${fn}: ${message}`),
      });
      s3 = new S3Client({ region, endpoint: cloud.endpoints.s3, forcePathStyle: true, credentials: admin });
      sqs = new SQSClient({ region, endpoint: cloud.endpoints.sqs, credentials: admin });
    }, 180_000);

    afterAll(async () => {
      s3?.destroy();
      sqs?.destroy();
      await cloud?.stop();
    });

    /** The credentials a function's sandbox runs with. */
    function credentialsOf(functionName: string) {
      const env = cloud.host.environmentOf(functionName);
      return {
        accessKeyId: env.AWS_ACCESS_KEY_ID as string,
        secretAccessKey: env.AWS_SECRET_ACCESS_KEY as string,
        sessionToken: env.AWS_SESSION_TOKEN as string,
      };
    }

    it("gives each function credentials of its own, none of them the administrator's", () => {
      const keys = Object.keys(realWiring.functions).map((fn) => credentialsOf(fn).accessKeyId);
      expect(new Set(keys).size).toBe(keys.length);
      for (const key of keys) expect(key).toMatch(/^ASIA[A-Z2-7]{16}$/);
    });

    it("fails a flow whose function lacks one action: AccessDenied, retries, then the DLQ, the source kept", async () => {
      const inbox = cloud.resources.buckets.Inbox as string;
      const key = "incoming/iam/orders.csv";
      await s3.send(new PutObjectCommand({ Bucket: inbox, Key: key, Body: "id\n1\n" }));
      await cloud.idle();

      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: cloud.resources.queues.FileMoverDlq, MaxNumberOfMessages: 10 }),
      );
      expect(Messages).toHaveLength(1);
      const failure = JSON.parse(Messages[0]?.Body ?? "{}");
      expect(failure.requestContext).toMatchObject({ condition: "RetriesExhausted", approximateInvokeCount: 3 });
      expect(failure.requestPayload.Records[0].s3.object.key).toBe("incoming/iam/orders.csv");
      expect(failure.responsePayload.errorMessage).toMatch(
        /is not authorized to perform: s3:PutObject on resource: arn:aws:s3:::sluice-local-lake\/raw\/iam\/dt=[\d-]+\/orders\.csv because no identity-based policy allows the s3:PutObject action/,
      );
      expect(denied.filter((d) => d.startsWith("FileMover: s3:PutObject"))).toHaveLength(3);
      // Nothing lost: the source is still in the Inbox.
      await s3.send(new HeadObjectCommand({ Bucket: inbox, Key: key }));
    });

    it("answers DynamoDB, Kinesis and SageMaker calls outside a function's policy as those services do", async () => {
      const credentials = credentialsOf("PriceInference");
      const dynamo = new DynamoDBClient({ region, endpoint: cloud.endpoints.dynamodb, credentials, maxAttempts: 1 });
      const kinesis = createKinesisClient(cloud.endpoints.kinesis, { region, credentials, maxAttempts: 1 });
      const sagemaker = new SageMakerRuntimeClient({
        region,
        endpoint: cloud.endpoints.sagemakerRuntime,
        credentials,
        maxAttempts: 1,
      });
      const failure = (promise: Promise<unknown>) =>
        promise.then(
          () => ({ name: "no error", status: 0, message: "" }),
          (e: { name: string; message: string; $metadata: { httpStatusCode?: number } }) => ({
            name: e.name,
            status: e.$metadata.httpStatusCode,
            message: e.message,
          }),
        );
      const principal = "arn:aws:sts::000000000000:assumed-role/sluice-local-PriceInferenceRole/PriceInference";
      try {
        // Allowed: reading the catalog.
        await dynamo.send(
          new GetItemCommand({ TableName: cloud.resources.tables.Catalog, Key: { productId: { S: "x" } } }),
        );
        const state = cloud.resources.tables.AnomalyState as string;
        expect(await failure(dynamo.send(new PutItemCommand({ TableName: state, Item: { pk: { S: "x" } } })))).toEqual({
          name: "AccessDeniedException",
          status: 400,
          message: `User: ${principal} is not authorized to perform: dynamodb:PutItem on resource: arn:aws:dynamodb:us-east-1:000000000000:table/${state} because no identity-based policy allows the dynamodb:PutItem action`,
        });
        const stream = cloud.resources.streams.Clickstream as string;
        expect(
          await failure(putRecords(kinesis, stream, [{ partitionKey: "p", data: new Uint8Array([1]) }])),
        ).toMatchObject({
          name: "AccessDeniedException",
          status: 400,
          message: expect.stringContaining(
            `kinesis:PutRecords on resource: arn:aws:kinesis:us-east-1:000000000000:stream/${stream}`,
          ),
        });
        expect(
          await failure(
            sagemaker.send(
              new InvokeEndpointCommand({ EndpointName: "someone-elses-model", Body: new Uint8Array([123, 125]) }),
            ),
          ),
        ).toMatchObject({
          name: "AccessDeniedException",
          status: 403,
          message: expect.stringContaining(
            "sagemaker:InvokeEndpoint on resource: arn:aws:sagemaker:us-east-1:000000000000:endpoint/someone-elses-model",
          ),
        });
      } finally {
        dynamo.destroy();
        kinesis.destroy();
        sagemaker.destroy();
      }
    });
  },
);
