import { describe, expect, it } from "vitest";
import { parseColumnType, parseTablesConfig } from "./config.ts";
import { InvalidTableConfig } from "./errors.ts";

describe("parseTablesConfig", () => {
  it("accepts the issue's example and fills defaults", () => {
    const { tables } = parseTablesConfig({
      tables: {
        "sales.orders": {
          primaryKey: ["id"],
          columns: [
            { name: "id", type: "int64" },
            { name: "name", type: "string" },
            { name: "dms_commit_ts", type: "timestamp" },
            { name: "ar_h_change_seq", type: "string" },
          ],
          header: false,
          includeOpForFullLoad: false,
          timestampColumn: "dms_commit_ts",
          changeSeqColumn: "ar_h_change_seq",
        },
      },
    });
    expect(tables.get("sales.orders")).toMatchObject({
      schema: "sales",
      table: "orders",
      keyIndexes: [0],
      orderIndex: 3,
      buckets: 16,
    });
  });

  it.each([
    ["int32", { kind: "int32" }],
    ["decimal(38, 10)", { kind: "decimal", precision: 38, scale: 10 }],
    ["decimal(5,6)", undefined],
    ["decimal(39,0)", undefined],
    ["varchar", undefined],
  ])("parses the column type %s", (text, expected) => {
    expect(parseColumnType(text)).toEqual(expected);
  });

  it.each([
    [{ tables: { orders: { primaryKey: ["id"], columns: [{ name: "id", type: "int64" }] } } }, /<schema>.<table>/],
    [{ tables: { "a.b": { primaryKey: ["nope"], columns: [{ name: "id", type: "int64" }] } } }, /nope is not a column/],
    [{ tables: { "a.b": { primaryKey: ["id"], columns: [{ name: "id", type: "text" }] } } }, /columns.0.type/],
    [
      { tables: { "a.b": { primaryKey: ["id"], columns: [{ name: "id", type: "int64" }], timestampColumn: "id" } } },
      /timestampColumn: must be a timestamp or string column/,
    ],
    [{ tables: { "a.b": { primaryKey: ["id"], columns: [{ name: "id", type: "int64" }], extra: 1 } } }, /extra/],
    [
      {
        tables: {
          "a.b": {
            primaryKey: ["id"],
            columns: [{ name: "id", type: "string" }],
            bucketBy: { column: "id", width: 10 },
          },
        },
      },
      /bucketBy: must name the primary key, a single int32 or int64 column/,
    ],
  ])("rejects %j", (json, message) => {
    expect(() => parseTablesConfig(json)).toThrow(InvalidTableConfig);
    expect(() => parseTablesConfig(json)).toThrow(message);
  });
});
