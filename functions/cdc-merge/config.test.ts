import { describe, expect, it } from "vitest";
import { InvalidConfiguration } from "#kit/config";
import { cdcMergeConfigOf } from "./config.ts";

describe("CdcMerge's configuration", () => {
  it("writes Iceberg unless told otherwise; parquet keeps the copy-on-write engine", () => {
    expect(cdcMergeConfigOf({}).CDC_TABLE_FORMAT).toBe("iceberg");
    expect(cdcMergeConfigOf({ CDC_TABLE_FORMAT: " " }).CDC_TABLE_FORMAT).toBe("iceberg");
    expect(cdcMergeConfigOf({ CDC_TABLE_FORMAT: "parquet" }).CDC_TABLE_FORMAT).toBe("parquet");
  });

  it("refuses any other format at cold start, naming the variable", () => {
    expect(() => cdcMergeConfigOf({ CDC_TABLE_FORMAT: "delta" })).toThrow(InvalidConfiguration);
    expect(() => cdcMergeConfigOf({ CDC_TABLE_FORMAT: "delta" })).toThrow(
      'CdcMerge configuration: CDC_TABLE_FORMAT="delta": expected one of iceberg, parquet (unset: iceberg)',
    );
  });
});
