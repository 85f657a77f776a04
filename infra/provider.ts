/**
 * The AWS provider's arguments for a stage, as sst.config.ts's `app()` gives them to SST: plain TypeScript (no SST
 * globals), so it is tested on its own (test/infra/stages.test.ts).
 */
import { type StagesFile, stageSettings } from "./stages.ts";

export interface AwsProviderArgs {
  /** Only an explicit region: without one, SST uses the AWS profile's region (then us-east-1). */
  region?: string;
  /** The stage's `awsAccountIds` (config/stages.json): the provider refuses credentials of any other account. */
  allowedAccountIds?: string[];
}

/**
 * The region when `AWS_REGION` (else `AWS_DEFAULT_REGION`) names one, and the accounts config/stages.json pins the
 * stage to when it does; neither otherwise. Checks the whole stages file (`file`, default config/stages.json) first.
 */
export function awsProviderArgs(
  stage: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
  file?: StagesFile,
): AwsProviderArgs {
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION;
  const { awsAccountIds } = stageSettings(stage, file);
  return {
    ...(region ? { region } : {}),
    ...(awsAccountIds ? { allowedAccountIds: [...awsAccountIds] } : {}),
  };
}
