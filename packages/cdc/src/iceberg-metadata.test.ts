/**
 * The snapshot retention a table carries for Athena's VACUUM: a table committed every minute keeps one snapshot per
 * commit in its metadata, which every commit parses and writes whole (17 280 snapshots, 11.6 MB, at Athena's default
 * of 5 days with a weekly VACUUM), so the merge sets a day; a value set on the table (ALTER TABLE SET TBLPROPERTIES)
 * is kept.
 */
import { describe, expect, it } from "vitest";
import { testTable } from "./fixtures/dms.ts";
import {
  expireSnapshots,
  type IcebergSnapshot,
  type IcebergTableMetadata,
  newSnapshotId,
  newTableMetadata,
  SNAPSHOT_RETENTION,
  snapshotRetention,
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
      "write.metadata.previous-versions-max": "100",
      "write.metadata.delete-after-commit.enabled": "true",
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

const HOUR = 3_600_000;

/** A table of `count` snapshots, each the parent of the next, committed an hour apart (the last at `end`). */
function history(count: number, end: number, properties: Record<string, string> = {}): IcebergTableMetadata {
  let metadata = newTableMetadata(testTable(), "mem://t", 0);
  metadata = { ...metadata, properties: { ...metadata.properties, ...properties } };
  for (let i = 1; i <= count; i++) {
    const parent = metadata["current-snapshot-id"];
    metadata = withSnapshot(
      metadata,
      {
        ...snapshot(i),
        "timestamp-ms": end - (count - i) * HOUR,
        ...(parent !== undefined ? { "parent-snapshot-id": parent } : {}),
      },
      `mem://t/metadata/v${i}.metadata.json`,
      {},
    );
  }
  return metadata;
}
const sequences = (metadata: IcebergTableMetadata) => metadata.snapshots.map((s) => s["sequence-number"]);

describe("snapshot expiry at commit (the table's retention, as Iceberg's expire_snapshots)", () => {
  const end = 1_765_000_000_000;
  const small = {
    vacuum_max_snapshot_age_seconds: String(5 * 3600),
    vacuum_min_snapshots_to_keep: "3",
    "history.expire.max-snapshot-age-ms": String(5 * HOUR),
    "history.expire.min-snapshots-to-keep": "3",
  };

  it("drops the snapshots older than the age limit beyond the newest to keep, and their log entries", () => {
    // 30 snapshots an hour apart: the 6 of the last 5 hours are kept (ages 0 to 5 h).
    const expired = expireSnapshots(history(30, end, small), end);
    expect(sequences(expired)).toEqual([25, 26, 27, 28, 29, 30]);
    expect(expired["snapshot-log"].map((e) => e["snapshot-id"])).toEqual(
      expired.snapshots.map((s) => s["snapshot-id"]),
    );
    expect(expired["current-snapshot-id"]).toBe(expired.snapshots.at(-1)?.["snapshot-id"]);
  });

  it("keeps at least the newest `min-snapshots-to-keep`, however old", () => {
    expect(sequences(expireSnapshots(history(30, end, small), end + 100 * HOUR))).toEqual([28, 29, 30]);
  });

  it("keeps what the more generous of Athena's and Iceberg's properties asks for", () => {
    const athenaLonger = { ...small, vacuum_max_snapshot_age_seconds: String(10 * 3600) };
    expect(sequences(expireSnapshots(history(30, end, athenaLonger), end))).toHaveLength(11);
    const icebergMore = { ...small, "history.expire.min-snapshots-to-keep": "8" };
    expect(sequences(expireSnapshots(history(30, end, icebergMore), end + 100 * HOUR))).toHaveLength(8);
  });

  it("keeps the history whole from the first snapshot it keeps (an older one with a later clock is not kept alone)", () => {
    const metadata = history(30, end, small);
    // Snapshot 10's writer had a clock 30 hours fast: it is inside the age limit, but 11 to 24 are not.
    const skewed = {
      ...metadata,
      snapshots: metadata.snapshots.map((s) => (s["sequence-number"] === 10 ? { ...s, "timestamp-ms": end } : s)),
    };
    expect(sequences(expireSnapshots(skewed, end))).toEqual([25, 26, 27, 28, 29, 30]);
  });

  it("takes a retention property that is not a non-negative number as unset (the default, or the other name's)", () => {
    const garbage = {
      vacuum_max_snapshot_age_seconds: "soon",
      vacuum_min_snapshots_to_keep: "-3",
      "history.expire.max-snapshot-age-ms": "",
      "history.expire.min-snapshots-to-keep": "NaN",
    };
    expect(snapshotRetention(garbage)).toEqual({ maxAgeMs: 86_400_000, minKeep: 100 });
    expect(snapshotRetention({ ...garbage, "history.expire.min-snapshots-to-keep": "3" })).toEqual({
      maxAgeMs: 86_400_000,
      minKeep: 100,
    });
    expect(snapshotRetention({ vacuum_max_snapshot_age_seconds: "60", vacuum_min_snapshots_to_keep: "0" })).toEqual({
      maxAgeMs: 86_400_000,
      minKeep: 100,
    });
  });

  it("expires nothing while the table has a branch or tag other than main, or a snapshot off the current history", () => {
    const metadata = history(30, end, small);
    const tagged = {
      ...metadata,
      refs: {
        ...metadata.refs,
        audit: { "snapshot-id": metadata.snapshots[3]?.["snapshot-id"] ?? 0, type: "tag" as const },
      },
    };
    expect(expireSnapshots(tagged, end)).toBe(tagged);
    const stray = { ...metadata, snapshots: [...metadata.snapshots, { ...snapshot(31), "parent-snapshot-id": 1 }] };
    expect(expireSnapshots(stray, end)).toBe(stray);
  });

  it("with the default retention (a day, 100 snapshots), keeps a day of snapshots committed every minute", () => {
    let metadata = newTableMetadata(testTable(), "mem://t", 0);
    for (let i = 1; i <= 1_600; i++) {
      const parent = metadata["current-snapshot-id"];
      const s = {
        ...snapshot(i),
        "timestamp-ms": end + i * 60_000,
        ...(parent !== undefined ? { "parent-snapshot-id": parent } : {}),
      };
      metadata = expireSnapshots(withSnapshot(metadata, s, undefined, {}), end + i * 60_000);
    }
    // Kept: the 1 441 of the last 24 hours (ages 0 to 1 440 minutes).
    expect(sequences(metadata)).toEqual(Array.from({ length: 1_441 }, (_, i) => 160 + i));
  });
});
