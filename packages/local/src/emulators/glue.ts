/**
 * The three AWS Glue Data Catalog calls the CDC merge's Iceberg catalog makes (`@sluice/aws/iceberg-catalog`), in
 * Glue's own protocol (JSON 1.1, `X-Amz-Target: AWSGlue.<Operation>`, errors as `{"__type", "Message"}`), so that
 * `@aws-sdk/client-glue` raises the same exception classes as on AWS:
 *
 * - `GetTable`: the table, with its `VersionId` ("0" when created, one more per update) and times in epoch seconds;
 *   `EntityNotFoundException` for a missing database or table.
 * - `CreateTable`: `AlreadyExistsException` when the name is taken, `EntityNotFoundException` without the database.
 * - `UpdateTable`: replaces the table input; with a `VersionId` that is not the table's current one, refused with
 *   `ConcurrentModificationException` (the optimistic lock Iceberg commits rely on). `SkipArchive` is accepted; no
 *   table versions are kept (`GetTableVersions` is not emulated).
 * Every other operation is answered 400 `UnknownOperationException`, as AWS answers an operation it does not have.
 * Names are kept in lower case, as Glue keeps them. Databases are created by the local cloud from the wiring (not
 * through the API); the catalog lives in memory for the life of the local cloud, like the other emulators' state.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { listen } from "./ports.ts";

export interface GlueCatalogEmulator {
  endpoint: string;
  /** Creates a database (the local cloud's provisioning, in place of `sst deploy`'s `aws.glue.CatalogDatabase`). */
  createDatabase(name: string): void;
  stop(): Promise<void>;
}

interface StoredTable {
  input: Record<string, unknown>;
  versionId: number;
  createTime: number;
  updateTime: number;
}

type Json = Record<string, unknown>;

class GlueError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const str = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);

/** Glue refuses a request without a required member with `InvalidInputException`. */
function required(body: Json, name: string): string {
  const value = str(body[name]);
  if (!value) throw new GlueError("InvalidInputException", `${name} is required`);
  return value;
}

export async function startGlueCatalog(options: { port?: number; accountId: string }): Promise<GlueCatalogEmulator> {
  const databases = new Map<string, Map<string, StoredTable>>();
  const databaseOf = (body: Json) => {
    const catalogId = str(body.CatalogId);
    const name = required(body, "DatabaseName").toLowerCase();
    const tables = catalogId && catalogId !== options.accountId ? undefined : databases.get(name);
    if (!tables) throw new GlueError("EntityNotFoundException", `Database ${name} not found.`);
    return { name, tables };
  };
  const tableInputOf = (body: Json) => {
    const input = body.TableInput as Json | undefined;
    if (!input || typeof input !== "object") throw new GlueError("InvalidInputException", "TableInput is required");
    return { ...input, Name: required(input, "Name").toLowerCase() };
  };
  const now = () => Date.now() / 1000;

  const operations: Record<string, (body: Json) => Json> = {
    GetTable(body) {
      const database = databaseOf(body);
      const name = required(body, "Name").toLowerCase();
      const table = database.tables.get(name);
      if (!table) throw new GlueError("EntityNotFoundException", `Table ${name} not found.`);
      return {
        Table: {
          ...table.input,
          DatabaseName: database.name,
          CatalogId: options.accountId,
          CreateTime: table.createTime,
          UpdateTime: table.updateTime,
          VersionId: String(table.versionId),
          IsRegisteredWithLakeFormation: false,
        },
      };
    },
    CreateTable(body) {
      const database = databaseOf(body);
      const input = tableInputOf(body);
      if (database.tables.has(input.Name)) throw new GlueError("AlreadyExistsException", "Table already exists.");
      const at = now();
      database.tables.set(input.Name, { input, versionId: 0, createTime: at, updateTime: at });
      return {};
    },
    UpdateTable(body) {
      const database = databaseOf(body);
      const input = tableInputOf(body);
      const table = database.tables.get(input.Name);
      if (!table) throw new GlueError("EntityNotFoundException", `Table ${input.Name} not found.`);
      const versionId = str(body.VersionId);
      if (versionId !== undefined && versionId !== String(table.versionId))
        throw new GlueError(
          "ConcurrentModificationException",
          `Update table failed due to concurrent modifications. Expected version ${versionId}, current version ${table.versionId}.`,
        );
      database.tables.set(input.Name, {
        input,
        versionId: table.versionId + 1,
        createTime: table.createTime,
        updateTime: now(),
      });
      return {};
    },
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const answer = (status: number, body: Json) => {
        const text = JSON.stringify(body);
        res.writeHead(status, {
          "content-type": "application/x-amz-json-1.1",
          "content-length": String(Buffer.byteLength(text)),
          "x-amzn-requestid": crypto.randomUUID(),
        });
        res.end(text);
      };
      const target = String(req.headers["x-amz-target"] ?? "");
      const operation = target.startsWith("AWSGlue.") ? target.slice("AWSGlue.".length) : undefined;
      const handler = operation ? operations[operation] : undefined;
      try {
        if (req.method !== "POST" || !handler)
          throw new GlueError("UnknownOperationException", operation ? `${operation} is not supported here` : "");
        let body: Json;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as Json;
        } catch {
          throw new GlueError("SerializationException", "Start of structure or map found where not expected.");
        }
        answer(200, handler(body));
      } catch (error) {
        if (error instanceof GlueError) answer(error.status, { __type: error.type, Message: error.message });
        else answer(500, { __type: "InternalServiceException", Message: (error as Error).message });
      }
    });
  });
  await listen(server, options.port ?? 0);
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    createDatabase(name) {
      if (!databases.has(name.toLowerCase())) databases.set(name.toLowerCase(), new Map());
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
