/**
 * The live files of an Iceberg table's current snapshot, as icebird (a third-party reader) lists them from the
 * metadata, manifest list and manifests: what `pnpm query` hands to DuckDB. Development only.
 */
import { icebergManifests, icebergMetadata } from "icebird";
import { withFileFetch, withStoreFetch } from "../src/fixtures/iceberg.ts";
import type { ObjectStore } from "../src/storage.ts";

export interface SnapshotFiles {
  /** Data file locations (as the manifests name them). */
  data: string[];
  /** Position-delete file locations. */
  positionDeletes: string[];
}

/**
 * The current snapshot's data and position-delete files; none for a table without a snapshot. The table is a
 * directory (`file:` URL, its latest version from `version-hint.text`), or, with `store`, the table of the metadata
 * file `metadataLocation` (`s3://<bucket>/...`, as a catalog such as Glue names it) read from that bucket.
 */
export async function snapshotFiles(
  tableUrl: string,
  from?: { store: ObjectStore; metadataLocation: string },
): Promise<SnapshotFiles> {
  const within = from ? <T>(read: () => Promise<T>) => withStoreFetch(from.store, read) : withFileFetch;
  const metadataFileName = from?.metadataLocation.slice(from.metadataLocation.lastIndexOf("/") + 1);
  return within(async () => {
    const metadata = await icebergMetadata({ tableUrl, ...(metadataFileName ? { metadataFileName } : {}) });
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
