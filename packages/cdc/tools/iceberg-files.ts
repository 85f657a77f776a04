/**
 * The live files of an Iceberg table's current snapshot, as icebird (a third-party reader) lists them from the
 * metadata, manifest list and manifests: what `pnpm query` hands to DuckDB. Development only.
 */
import { icebergManifests, icebergMetadata } from "icebird";
import { withFileFetch } from "../src/fixtures/iceberg.ts";

export interface SnapshotFiles {
  /** Data file locations (as the manifests name them). */
  data: string[];
  /** Position-delete file locations. */
  positionDeletes: string[];
}

/** The current snapshot's data and position-delete files; none for a table without a snapshot. */
export async function snapshotFiles(tableUrl: string): Promise<SnapshotFiles> {
  return withFileFetch(async () => {
    const metadata = await icebergMetadata({ tableUrl });
    if (metadata["current-snapshot-id"] === undefined) return { data: [], positionDeletes: [] };
    const manifests = await icebergManifests(metadata);
    const data: string[] = [];
    const positionDeletes: string[] = [];
    for (const { entries } of manifests)
      for (const entry of entries) {
        if (entry.status === 2) continue;
        const content = Number(entry.data_file.content ?? 0);
        if (content === 0) data.push(entry.data_file.file_path);
        else if (content === 1) positionDeletes.push(entry.data_file.file_path);
        else throw new Error(`${tableUrl}: equality deletes are not read here`);
      }
    return { data, positionDeletes };
  });
}
