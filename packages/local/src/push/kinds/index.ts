/**
 * The push kinds, in the order `pnpm push --help` lists them. A new kind is one file in this folder that exports
 * `defineKind({...})`, and one line here.
 */
import type { RegisteredKind } from "../kind.ts";
import { catalogKind } from "./catalog.ts";
import { clickstreamKind } from "./clickstream.ts";
import { deleteRequestKind } from "./delete-request.ts";
import { demandKind } from "./demand.ts";
import { fileKind } from "./file.ts";
import { inferenceRequestKind } from "./inference-request.ts";
import { itemsKind } from "./items.ts";
import { publishKind } from "./publish.ts";
import { recordsKind } from "./records.ts";

export const pushKinds: readonly RegisteredKind[] = [
  fileKind,
  publishKind,
  recordsKind,
  itemsKind,
  deleteRequestKind,
  catalogKind,
  inferenceRequestKind,
  demandKind,
  clickstreamKind,
];
