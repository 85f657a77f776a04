import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { startLocalCloud } from "./cloud.ts";
import type { WiringResources } from "./resources.ts";

describe("startLocalCloud", () => {
  const stateDir = mkdtempSync(path.join(tmpdir(), "sluice-cloud-"));
  afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

  it("removes a local.env left by a run that did not stop cleanly before anything else (its presence means ready)", async () => {
    // Prepare: the env file of a killed run, and a wiring that stops the start at its first check.
    const envFile = path.join(stateDir, "local.env");
    writeFileSync(envFile, "export AWS_ENDPOINT_URL_S3='http://127.0.0.1:4567'\n");
    const undeployable: WiringResources = {
      buckets: {},
      topics: {},
      streams: {},
      tables: {},
      functions: {
        Orphan: {
          description: "triggered by a bucket this wiring does not define",
          handler: "test/fixtures/functions/behaviours.echo",
          timeout: 2,
          memory: 128,
          links: [],
          triggers: [{ kind: "s3", bucket: "Inbox", events: ["s3:ObjectCreated:*"] }],
        },
      },
    };
    // Act
    const start = startLocalCloud({ stateDir, wiring: undeployable, models: [] });
    // Assess
    await expect(start).rejects.toThrow(/cannot be deployed/);
    expect(existsSync(envFile)).toBe(false);
  });
});
