/**
 * Applied-file entries of an Iceberg table's merge state past their retention, moved into archive objects: every
 * merge reads and writes the state, which would otherwise list every file ever applied (1 440 a day for one-minute
 * DMS files). The recent entries are what the Lambda's pass looks at; the CLI, which lists a whole source folder,
 * recognizes replays against the archived ones too.
 */
import type { IcebergMergeState } from "./iceberg-pass.ts";
import type { AppliedFile } from "./merge-pass.ts";
import type { ObjectStore } from "./storage.ts";

/** Archive about once a day: when the oldest entry is this far past the retention. */
const ARCHIVE_EVERY_MS = 24 * 3600_000;

/**
 * The state with its entries past `retentionMs` at `at` moved out, and the archive object (`key`) holding them, when
 * the oldest is a day past the retention; else the state unchanged.
 */
export function archiveApplied(
  state: IcebergMergeState,
  at: Date,
  retentionMs: number,
  key: string,
): { state: IcebergMergeState; archive?: { key: string; entries: Record<string, AppliedFile> } } {
  const age = (a: AppliedFile) => at.getTime() - Date.parse(a.appliedAt);
  const entries = Object.entries(state.applied);
  if (!entries.some(([, a]) => age(a) >= retentionMs + ARCHIVE_EVERY_MS)) return { state };
  const old = Object.fromEntries(entries.filter(([, a]) => age(a) >= retentionMs));
  const applied = Object.fromEntries(entries.filter(([, a]) => age(a) < retentionMs));
  return {
    state: { ...state, applied, archives: [...(state.archives ?? []), key] },
    archive: { key, entries: old },
  };
}

/** Every file the table applied: the archived entries, then the state's recent ones. */
export async function loadIcebergApplied(
  store: ObjectStore,
  state: IcebergMergeState,
): Promise<Record<string, AppliedFile>> {
  const all: Record<string, AppliedFile> = {};
  for (const key of state.archives ?? []) {
    const body = await store.get(key);
    if (!body) throw new Error(`applied-files archive ${key} is missing`);
    Object.assign(all, JSON.parse(new TextDecoder().decode(body)));
  }
  return Object.assign(all, state.applied);
}
