/**
 * sst.config.ts and infra/ type-check against SST v4's platform types, installed offline by
 * scripts/sst-install.sh (the first run takes about 30 s; later runs skip the install).
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { beforeAll, expect, it } from "vitest";
import { ensurePlatform, repoRoot } from "./harness.ts";

beforeAll(() => {
  ensurePlatform();
}, 180_000);

it("tsc -p infra/tsconfig.json reports no error", () => {
  const tsc = spawnSync(
    process.execPath,
    [
      path.join(repoRoot, "node_modules/typescript/bin/tsc"),
      "-p",
      "infra/tsconfig.json",
      "--noEmit",
      "--pretty",
      "false",
    ],
    { cwd: repoRoot, encoding: "utf8" },
  );
  const diagnostics = `${tsc.stdout}${tsc.stderr}`.trim();
  expect({ exitCode: tsc.status, diagnostics }).toEqual({ exitCode: 0, diagnostics: "" });
}, 120_000);
