import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

// What SST (and the local cloud) give FileMover: one `SST_RESOURCE_<Name>` variable per link.
beforeAll(() => {
  vi.stubEnv("SST_RESOURCE_App", JSON.stringify({ name: "sluice", stage: "test" }));
  vi.stubEnv("SST_RESOURCE_Inbox", JSON.stringify({ name: "sluice-test-inbox" }));
  vi.stubEnv("SST_RESOURCE_Lake", JSON.stringify({ name: "sluice-test-lake" }));
  vi.stubEnv("SST_RESOURCE_Audit", JSON.stringify({ arn: "arn:aws:sns:us-east-1:000000000000:Audit" }));
  vi.stubEnv("AWS_LAMBDA_FUNCTION_NAME", "FileMover");
});
afterAll(() => vi.unstubAllEnvs());

describe("linksOf", () => {
  it("reads the function's links through SST's Resource", async () => {
    const { linksOf } = await import("./links.ts");

    const links = linksOf<"FileMover">();

    expect(links.Inbox.name).toBe("sluice-test-inbox");
    expect(links.Lake.name).toBe("sluice-test-lake");
    expect(links.Audit.arn).toBe("arn:aws:sns:us-east-1:000000000000:Audit");
  });

  it("throws SST's error, naming the function, for a link it was not given at runtime", async () => {
    const { linksOf } = await import("./links.ts");

    expect(() => linksOf<"CdcMerge">().CdcRaw.name).toThrow(
      '"CdcRaw" is not linked in your sst.config.ts to FileMover',
    );
  });

  it("types each link from infra/wiring.ts: the function's links only, a topic's arn, any other resource's name", () => {
    // Checked by `pnpm typecheck` (this file is in tsconfig.json); never run, since reading a link has effects.
    const typeOnly = async () => {
      const { linksOf } = await import("./links.ts");
      const mover = linksOf<"FileMover">();
      const names: string[] = [mover.Inbox.name, mover.Lake.name, mover.Audit.arn];
      // @ts-expect-error FileMover does not link CdcRaw
      names.push(mover.CdcRaw.name);
      // @ts-expect-error no resource is named Inbx
      names.push(mover.Inbx.name);
      // @ts-expect-error a topic's link carries its arn, not a name
      names.push(mover.Audit.name);
      // @ts-expect-error a bucket's link carries its name, not an arn
      names.push(mover.Inbox.arn);
      // @ts-expect-error SnsLogger links nothing
      names.push(linksOf<"SnsLogger">().Audit.arn);
      // @ts-expect-error no function is named FileMovers
      linksOf<"FileMovers">();
      const pricing = linksOf<"PriceInference">();
      names.push(pricing.PricingModel.name, pricing.Catalog.name, pricing.PriceHistory.name);
      return names;
    };
    expect(typeof typeOnly).toBe("function");
  });
});
