import { describe, expect, it } from "vitest";
import { parseTablesConfig } from "./config.ts";
import { type CdcAudit, mergeObject } from "./flow.ts";
import { createMemoryStore } from "./storage.ts";
import { stateRows } from "./testing/table.ts";

const config = parseTablesConfig({
  tables: {
    "sales.orders": {
      primaryKey: ["id"],
      columns: [
        { name: "id", type: "int64" },
        { name: "name", type: "string" },
      ],
    },
  },
});
const orders = config.tables.get("sales.orders");

function setup() {
  const source = createMemoryStore();
  const target = createMemoryStore();
  const messages: Parameters<CdcAudit["publish"]>[0][] = [];
  const audit: CdcAudit = { publish: async (m) => void messages.push(m) };
  const deps = { source, target, config, audit, correlationId: "req-1" };
  return { source, target, messages, deps };
}

describe("mergeObject", () => {
  it("merges a file of a configured table and reports it", async () => {
    const { source, target, messages, deps } = setup();
    await source.put("dms/sales/orders/20261101-1200000000.csv", "I,1,a\nI,2,b\n");
    const outcome = await mergeObject("dms/sales/orders/20261101-1200000000.csv", deps);
    expect(outcome).toMatchObject({ outcome: "merged", table: "sales.orders", rows: 2 });
    expect(messages).toEqual([
      expect.objectContaining({
        pipeline: "cdc-merge",
        action: "merge",
        outcome: "succeeded",
        file: "dms/sales/orders/20261101-1200000000.csv",
        table: "sales.orders",
        version: 1,
        rows: 2,
        correlationId: "req-1",
      }),
    ]);
    expect(await stateRows(target, orders as NonNullable<typeof orders>)).toEqual([
      ["1", "a"],
      ["2", "b"],
    ]);
  });

  it("reports a corrupt file as refused with row and reason, and leaves the table unchanged", async () => {
    const { source, target, messages, deps } = setup();
    await source.put("dms/sales/orders/20261101-1200000000.csv", "I,1,a\nQ,2,b\n");
    const outcome = await mergeObject("dms/sales/orders/20261101-1200000000.csv", deps);
    expect(outcome).toMatchObject({ outcome: "rejected", row: 2, reason: 'unknown Op "Q"' });
    expect(messages).toEqual([
      expect.objectContaining({ outcome: "refused", row: 2, reason: 'unknown Op "Q"', table: "sales.orders" }),
    ]);
    expect(target.objects.size).toBe(0);
  });

  it("reports replays and files of unconfigured tables as skipped", async () => {
    const { source, messages, deps } = setup();
    await source.put("dms/sales/orders/20261101-1200000000.csv", "I,1,a\n");
    await mergeObject("dms/sales/orders/20261101-1200000000.csv", deps);
    expect(await mergeObject("dms/sales/orders/20261101-1200000000.csv", deps)).toMatchObject({ outcome: "replay" });
    expect(await mergeObject("dms/crm/other/LOAD00000001.csv", deps)).toEqual({
      outcome: "ignored",
      file: "dms/crm/other/LOAD00000001.csv",
    });
    expect(messages.slice(1).map((m) => [m.outcome, m.reason])).toEqual([
      ["skipped", "already applied"],
      ["skipped", "not a DMS data file of a configured table"],
    ]);
  });
});
