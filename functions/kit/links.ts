/**
 * A function's links, typed from infra/wiring.ts: `linksOf<"FileMover">()` has `Inbox`, `Lake` and `Audit` (the
 * `links` of FileMover there) and nothing else, so a renamed or unlinked resource does not compile.
 */
import type { FunctionName, LinksOf } from "@sluice/infra/wiring";
import { Resource } from "sst";

/**
 * The resources function `F` is linked to, read through SST's `Resource` (its `SST_RESOURCE_<Name>` variables on
 * AWS and in the local cloud). A link the function is not given at runtime throws SST's "is not linked" error on
 * first read, at cold start, where handlers read their links.
 */
export function linksOf<F extends FunctionName>(): LinksOf<F> {
  const resource: object = Resource;
  // SST types `Resource` from a generated `sst-env.d.ts` (every resource of the app, in every function); the wiring
  // knows which resources THIS function gets, a subset of what the object holds at runtime.
  return resource as LinksOf<F>;
}
