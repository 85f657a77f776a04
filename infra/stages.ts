/**
 * Per-stage deployment settings that live in the repository, `config/stages.json`: `{ "<stage>": { ... } }`. A stage
 * the file does not list gets every default; keys starting with `$` (such as `$comment`) are not stages. The file is
 * checked whole on every deploy, so a misspelt setting fails the deploy instead of being ignored.
 */
import stagesFile from "../config/stages.json" with { type: "json" };

export interface StageSettings {
  /**
   * An existing SageMaker endpoint (its name, in the stage's account and region) that PriceInference calls as
   * `PricingModel`. The stage then deploys no model image, model or endpoint of its own.
   */
  pricingEndpoint?: string;
  /**
   * The AWS accounts (12-digit ids) the stage may be deployed to: the AWS provider's `allowedAccountIds`, so a deploy
   * run with credentials of any other account fails before the provider creates, changes or deletes anything.
   */
  awsAccountIds?: readonly string[];
}

export type StagesFile = Readonly<Record<string, unknown>>;

const settingNames: readonly (keyof StageSettings)[] = ["pricingEndpoint", "awsAccountIds"];

/** SageMaker's endpoint name rule: letters, digits and single or repeated hyphens inside, at most 63 characters. */
const endpointNamePattern = /^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/;

/** An AWS account id: 12 digits, written as a string (a leading zero is part of it). */
const accountIdPattern = /^[0-9]{12}$/;

function accountIdsProblems(stage: string, value: unknown): string[] {
  const ids = Array.isArray(value) ? (value as unknown[]) : [];
  if (ids.length === 0 || !ids.every((id) => typeof id === "string" && accountIdPattern.test(id))) {
    return [
      `stage "${stage}": awsAccountIds ${JSON.stringify(value)} is not a list of AWS account ids (12-digit strings)`,
    ];
  }
  const twice = [...new Set(ids.filter((id, i) => ids.indexOf(id) !== i))];
  return twice.map((id) => `stage "${stage}": awsAccountIds names ${id} twice`);
}

/** Every problem of a stages file, as sentences; empty when it is valid. */
export function stagesProblems(file: StagesFile): string[] {
  const problems: string[] = [];
  for (const [stage, settings] of Object.entries(file)) {
    if (stage.startsWith("$")) continue;
    if (typeof settings !== "object" || settings === null || Array.isArray(settings)) {
      problems.push(`stage "${stage}": expected an object of settings`);
      continue;
    }
    for (const [key, value] of Object.entries(settings)) {
      if (!settingNames.includes(key as keyof StageSettings)) {
        problems.push(`stage "${stage}": unknown setting "${key}" (known: ${settingNames.join(", ")})`);
      } else if (key === "pricingEndpoint" && (typeof value !== "string" || !endpointNamePattern.test(value))) {
        problems.push(`stage "${stage}": pricingEndpoint ${JSON.stringify(value)} is not a SageMaker endpoint name`);
      } else if (key === "awsAccountIds") {
        problems.push(...accountIdsProblems(stage, value));
      }
    }
  }
  return problems;
}

/** The settings of one stage, after checking the whole file; `file` defaults to config/stages.json. */
export function stageSettings(stage: string, file: StagesFile = stagesFile): StageSettings {
  const problems = stagesProblems(file);
  if (problems.length > 0) throw new Error(`config/stages.json:\n- ${problems.join("\n- ")}`);
  return stage.startsWith("$") ? {} : ((file[stage] as StageSettings | undefined) ?? {});
}
