/**
 * The local Glue catalog through the real `@aws-sdk/client-glue`: the three calls, Glue's exceptions, and the
 * optimistic lock on `VersionId`.
 */
import {
  AlreadyExistsException,
  ConcurrentModificationException,
  CreateTableCommand,
  DeleteTableCommand,
  EntityNotFoundException,
  GetTableCommand,
  GlueClient,
  GlueServiceException,
  UpdateTableCommand,
} from "@aws-sdk/client-glue";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type IamGateway, startIamGateway } from "../iam/gateway.ts";
import { type FunctionIdentity, functionCredentials, functionPrincipal } from "../iam/identities.ts";
import { type GlueCatalogEmulator, startGlueCatalog } from "./glue.ts";

let emulator: GlueCatalogEmulator;
let glue: GlueClient;
beforeAll(async () => {
  emulator = await startGlueCatalog({ accountId: "000000000000" });
  emulator.createDatabase("sluice_local_sales");
  glue = new GlueClient({
    region: "us-east-1",
    endpoint: emulator.endpoint,
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
    maxAttempts: 1,
  });
});
afterAll(() => emulator.stop());

const iceberg = (location: string, previous?: string) => ({
  Name: "Orders",
  TableType: "EXTERNAL_TABLE",
  Parameters: {
    table_type: "ICEBERG",
    metadata_location: location,
    ...(previous ? { previous_metadata_location: previous } : {}),
  },
  StorageDescriptor: { Location: "s3://curated/sales/orders", Columns: [{ Name: "order_id", Type: "bigint" }] },
});

describe("the local Glue Data Catalog", () => {
  it("creates a table (name in lower case, VersionId 0) and refuses a second one of the same name", async () => {
    await glue.send(
      new CreateTableCommand({ DatabaseName: "sluice_local_sales", TableInput: iceberg("s3://c/m/00001-a.json") }),
    );

    const { Table } = await glue.send(new GetTableCommand({ DatabaseName: "sluice_local_sales", Name: "ORDERS" }));
    expect(Table).toMatchObject({
      Name: "orders",
      DatabaseName: "sluice_local_sales",
      TableType: "EXTERNAL_TABLE",
      VersionId: "0",
      Parameters: { table_type: "ICEBERG", metadata_location: "s3://c/m/00001-a.json" },
      StorageDescriptor: { Location: "s3://curated/sales/orders" },
    });
    expect(Table?.CreateTime).toBeInstanceOf(Date);
    await expect(
      glue.send(
        new CreateTableCommand({ DatabaseName: "sluice_local_sales", TableInput: iceberg("s3://c/m/00001-b.json") }),
      ),
    ).rejects.toBeInstanceOf(AlreadyExistsException);
  });

  it("updates with the current VersionId and refuses a stale one (ConcurrentModificationException)", async () => {
    const update = (versionId: string, location: string) =>
      glue.send(
        new UpdateTableCommand({
          DatabaseName: "sluice_local_sales",
          TableInput: iceberg(location, "s3://c/m/00001-a.json"),
          VersionId: versionId,
          SkipArchive: true,
        }),
      );

    await update("0", "s3://c/m/00002-a.json");
    const stale = update("0", "s3://c/m/00002-b.json");

    await expect(stale).rejects.toBeInstanceOf(ConcurrentModificationException);
    const { Table } = await glue.send(new GetTableCommand({ DatabaseName: "sluice_local_sales", Name: "orders" }));
    expect(Table?.VersionId).toBe("1");
    expect(Table?.Parameters).toEqual({
      table_type: "ICEBERG",
      metadata_location: "s3://c/m/00002-a.json",
      previous_metadata_location: "s3://c/m/00001-a.json",
    });
  });

  it("answers EntityNotFoundException for a missing table or database", async () => {
    await expect(
      glue.send(new GetTableCommand({ DatabaseName: "sluice_local_sales", Name: "nothing" })),
    ).rejects.toBeInstanceOf(EntityNotFoundException);
    await expect(
      glue.send(new CreateTableCommand({ DatabaseName: "nowhere", TableInput: iceberg("s3://c/x") })),
    ).rejects.toThrow("Database nowhere not found.");
  });

  it("answers any other operation as one it does not have (UnknownOperationException)", async () => {
    const refused = await glue
      .send(new DeleteTableCommand({ DatabaseName: "sluice_local_sales", Name: "orders" }))
      .catch((error: unknown) => error);

    expect(refused).toBeInstanceOf(GlueServiceException);
    expect((refused as GlueServiceException).name).toBe("UnknownOperationException");
    expect((refused as GlueServiceException).$metadata.httpStatusCode).toBe(400);
  });
});

describe("the local Glue Data Catalog behind the IAM gateway", () => {
  const region = "us-east-1";
  const accountId = "000000000000";
  const app = { name: "sluice", stage: "test" };
  const arn = (resource: string) => `arn:aws:glue:${region}:${accountId}:${resource}`;
  const identity: FunctionIdentity = {
    functionName: "CdcMerge",
    credentials: functionCredentials(app, "CdcMerge"),
    principal: functionPrincipal(app, accountId, "CdcMerge"),
    policy: {
      Version: "2012-10-17",
      Statement: [
        {
          Effect: "Allow",
          Action: ["glue:GetTable", "glue:CreateTable", "glue:UpdateTable"],
          Resource: [arn("catalog"), arn("database/granted"), arn("table/granted/*")],
        },
      ],
    },
    faultable: false,
  };
  let gateway: IamGateway;
  let fn: GlueClient;
  const denied: string[] = [];
  beforeAll(async () => {
    emulator.createDatabase("granted");
    emulator.createDatabase("other");
    gateway = await startIamGateway({
      family: "glue",
      upstream: emulator.endpoint,
      region,
      accountId,
      identityOf: (key) => (key === identity.credentials.accessKeyId ? identity : undefined),
      onDenied: (name, message) => denied.push(`${name}: ${message}`),
    });
    fn = new GlueClient({ region, endpoint: gateway.endpoint, credentials: identity.credentials, maxAttempts: 1 });
  });
  afterAll(() => gateway.stop());

  it("lets a function call the table operations its policy grants on the catalog, database and table", async () => {
    await fn.send(new CreateTableCommand({ DatabaseName: "granted", TableInput: iceberg("s3://c/m/00001-a.json") }));

    const { Table } = await fn.send(new GetTableCommand({ DatabaseName: "Granted", Name: "Orders" }));

    expect(Table?.Parameters?.metadata_location).toBe("s3://c/m/00001-a.json");
  });

  it("refuses the same call on a database outside its policy as Glue does (400 AccessDeniedException)", async () => {
    const refused = await fn
      .send(new CreateTableCommand({ DatabaseName: "other", TableInput: iceberg("s3://c/m/00001-a.json") }))
      .catch((error: unknown) => error);

    expect((refused as GlueServiceException).name).toBe("AccessDeniedException");
    expect((refused as GlueServiceException).$metadata.httpStatusCode).toBe(400);
    expect((refused as Error).message).toBe(
      `User: ${identity.principal} is not authorized to perform: glue:CreateTable on resource: ${arn("database/other")} because no identity-based policy allows the glue:CreateTable action`,
    );
    expect(denied).toEqual([`CdcMerge: glue:CreateTable on ${arn("database/other")}`]);
  });
});
