/**
 * The snapshot retention a table carries for Athena's VACUUM: a table committed every minute keeps one snapshot per
 * commit in its metadata, which every commit parses and writes whole (17 280 snapshots, 11.6 MB, at Athena's default
 * of 5 days with a weekly VACUUM), so the merge sets a day; a value set on the table (ALTER TABLE SET TBLPROPERTIES)
 * is kept.
 */
import { describe, expect, it } from "vitest";
import { testTable } from "./fixtures/dms.ts";
import {
  type IcebergSnapshot,
  newSnapshotId,
  newTableMetadata,
  SNAPSHOT_RETENTION,
  withProperties,
  withSnapshot,
} from "./iceberg-metadata.ts";

const snapshot = (sequence: number): IcebergSnapshot => ({
  "snapshot-id": newSnapshotId(),
  "sequence-number": sequence,
  "timestamp-ms": 1_765_000_000_000 + sequence,
  "manifest-list": `mem://t/metadata/snap-${sequence}.avro`,
  summary: { operation: "append" },
  "schema-id": 0,
});

describe("snapshot retention", () => {
  it("is a day and at least 100 snapshots, under Athena's names and Iceberg's", () => {
    expect(SNAPSHOT_RETENTION).toEqual({
      vacuum_max_snapshot_age_seconds: "86400",
      vacuum_min_snapshots_to_keep: "100",
      "history.expire.max-snapshot-age-ms": "86400000",
      "history.expire.min-snapshots-to-keep": "100",
    });
  });

  it("is set on a new table", () => {
    const metadata = newTableMetadata(testTable(), "mem://t", 0);
    expect(metadata.properties).toMatchObject(SNAPSHOT_RETENTION);
  });

  it("is added to a table written before it at its next commit, and a value set on the table is kept", () => {
    const fresh = newTableMetadata(testTable(), "mem://t", 0);
    const { vacuum_max_snapshot_age_seconds: _, ...older } = SNAPSHOT_RETENTION;
    const base = {
      ...fresh,
      properties: { "write.format.default": "parquet", ...older, vacuum_min_snapshots_to_keep: "7" },
    };
    const committed = withSnapshot(base, snapshot(1), "mem://t/metadata/00001.json", { "sluice.commit": "c1" });
    expect(committed.properties).toMatchObject({
      vacuum_max_snapshot_age_seconds: "86400",
      vacuum_min_snapshots_to_keep: "7",
      "write.format.default": "parquet",
      "sluice.commit": "c1",
    });
    const followed = withProperties(base, "mem://t/metadata/00001.json", 5, { "sluice.commit": "c2" });
    expect(followed.properties).toMatchObject({
      vacuum_max_snapshot_age_seconds: "86400",
      vacuum_min_snapshots_to_keep: "7",
    });
  });
});
