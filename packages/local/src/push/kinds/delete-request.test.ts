import { Readable } from "node:stream";
import { GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { describe, expect, it } from "vitest";
import { InvalidInput } from "../errors.ts";
import type { PushContext } from "../kind.ts";
import { deleteRequestKind } from "./delete-request.ts";

const INBOX = "sluice-local-inbox";
const request = JSON.stringify({ bucket: "Lake", prefixes: ["raw/sales/"], reason: "GDPR #42" });

/** A context whose S3 client takes the request and answers every GET of the report with `report`. */
function contextAnswering(report: Record<string, unknown>): { context: PushContext; gets: () => number } {
  let gets = 0;
  const s3 = {
    send: async (command: unknown) => {
      if (command instanceof PutObjectCommand) return {};
      if (command instanceof GetObjectCommand) {
        gets++;
        return { Body: { transformToString: async () => JSON.stringify(report) } };
      }
      throw new Error(`unexpected command ${(command as object).constructor.name}`);
    },
  } as unknown as S3Client;
  const context = {
    cwd: process.cwd(),
    stdin: Readable.from([]),
    resolve: (kind: "bucket", component: string) => ({ kind, component, physical: INBOX, link: {} }),
    clients: { s3: () => s3 },
  } as unknown as PushContext;
  return { context, gets: () => gets };
}

const run = (context: PushContext) =>
  deleteRequestKind.run(context, {
    values: { name: "gdpr-42", wait: true, timeout: "2", unchecked: false },
    positionals: [request],
  });

describe("pnpm push delete-request --wait", () => {
  it("takes a failed report as final: prints its failure and exits non-zero, as for a refused one", async () => {
    const { context, gets } = contextAnswering({
      status: "failed",
      failure: "the listing of raw/sales/ changed under the deletion",
      counts: { listed: 3, deleted: 2, failed: 0, skipped: 0 },
      progress: { step: 1 },
    });

    const outcome = run(context);

    await expect(outcome).rejects.toThrow(InvalidInput);
    await expect(outcome).rejects.toThrow(
      `delete request gdpr-42: failed: the listing of raw/sales/ changed under the deletion; 2 deleted, 0 failed, 0 skipped, step 1; report: s3://${INBOX}/reports/delete/gdpr-42.json`,
    );
    expect(gets()).toBe(1);
  });

  it("exits non-zero on a refused report, and returns a completed one", async () => {
    await expect(
      run(contextAnswering({ status: "refused", refusal: { message: "no reason" } }).context),
    ).rejects.toThrow("delete request gdpr-42: refused: no reason; report:");
    await expect(
      run(contextAnswering({ status: "completed", counts: { deleted: 3, failed: 0 }, progress: { step: 0 } }).context),
    ).resolves.toBe(
      `delete request gdpr-42: completed: 3 deleted, 0 failed, 0 skipped, step 0; report: s3://${INBOX}/reports/delete/gdpr-42.json`,
    );
  });
});
