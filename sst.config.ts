/// <reference path="./.sst/platform/config.d.ts" />

/**
 * Sluice on AWS. Everything deployed is derived from infra/wiring.ts, the same data the local cloud runs from.
 * Type-check offline with `pnpm typecheck` (after `scripts/sst-install.sh`); deploy with `sst deploy --stage <name>`.
 */

/**
 * `@pulumi/docker-build`, which builds and pushes the pricing model's image during a deploy (infra/pricing.ts): the
 * version SST's own platform bundles and uses for its container images (.sst/platform/package.json), so `sst install`
 * adds no second copy. `sst install` refuses a version lower than the platform's: raise it with SST.
 */
const dockerBuildVersion = "0.0.14";

export default $config({
  async app(input) {
    const production = input?.stage === "production";
    // The region when the environment names one (else the AWS profile's, then us-east-1), and the accounts the stage
    // may deploy to when config/stages.json pins them (`awsAccountIds`): infra/provider.ts.
    const { awsProviderArgs } = await import("./infra/provider.ts");
    return {
      name: "sluice",
      home: "aws",
      removal: production ? "retain" : "remove",
      protect: production,
      providers: {
        // A stage stays in the region of its first deploy: deploy it again with the same region.
        aws: awsProviderArgs(input?.stage ?? "", process.env),
        "docker-build": dockerBuildVersion,
      },
    };
  },
  async run() {
    const wiring = await import("./infra/wiring.ts");
    const { deploySluice } = await import("./infra/app.ts");
    return deploySluice(wiring);
  },
});
