/**
 * The whole Sluice deployment, built from a wiring: storage, messaging, streams, then functions and their triggers.
 * `sst.config.ts` calls it with infra/wiring.ts; the wiring tests call it with the same wiring (and with fixtures)
 * under Pulumi mocks.
 */
import { createCdcCatalog, type DeployedCatalog } from "./catalog.ts";
import { createFunctions, subscribeTriggers } from "./functions.ts";
import { linkWithoutPermissions } from "./links.ts";
import { createMaintenance, maintenanceFunction, resultsLifecycle } from "./maintenance.ts";
import { createTopics } from "./messaging.ts";
import { createEndpoints, deployModels, pricingEndpoint } from "./pricing.ts";
import { type StagesFile, stageSettings } from "./stages.ts";
import { createBuckets } from "./storage.ts";
import { createStreams, createTables } from "./streams.ts";
import { assertDeployable } from "./validate.ts";
import type { Wiring } from "./wiring.ts";

/** The topic the functions' alarms notify, when the wiring has it (operators subscribe to it by e-mail). */
export const alarmTopicName = "Alerts";

export interface DeployOptions {
  /** The per-stage settings; default config/stages.json (tests give their own). */
  stages?: StagesFile;
}

/** The wiring's Glue catalogs (their databases) of tables in its buckets. */
function createCatalogs(wiring: Wiring, buckets: Record<string, sst.aws.Bucket>): Record<string, DeployedCatalog> {
  const catalogs: Record<string, DeployedCatalog> = {};
  for (const [name, spec] of Object.entries(wiring.catalogs ?? {})) {
    if (!buckets[spec.bucket]) throw new Error(`catalog ${name}: no bucket ${spec.bucket} in the wiring`);
    catalogs[name] = createCdcCatalog(name, spec);
  }
  return catalogs;
}

/** Creates every resource of the wiring and returns the stack outputs `sst deploy` prints. */
export function deploySluice(wiring: Wiring, options: DeployOptions = {}): Record<string, $util.Output<string>> {
  assertDeployable(wiring);
  const settings = stageSettings($app.stage, options.stages);
  linkWithoutPermissions();

  const messaging = createTopics(wiring.topics);
  // Athena's maintenance results in Curated expire: a rule of that bucket's one lifecycle configuration.
  const maintained = "Curated" in wiring.buckets && maintenanceFunction in wiring.functions;
  const buckets = createBuckets(wiring.buckets, maintained ? { Curated: resultsLifecycle } : {});
  const resources = {
    buckets,
    topics: messaging.topics,
    ...(messaging.key ? { topicKey: messaging.key } : {}),
    streams: createStreams(wiring.streams),
    tables: createTables(wiring.tables),
    // PriceInference's model endpoint: the stage's own, unless its settings name an existing one.
    endpoints: createEndpoints(wiring.endpoints, { [pricingEndpoint]: settings.pricingEndpoint }),
    catalogs: createCatalogs(wiring, buckets),
  };
  const functions = createFunctions(wiring, resources, { alarmTopic: resources.topics[alarmTopicName] });
  subscribeTriggers(wiring, resources, functions);
  // Athena's OPTIMIZE and VACUUM of the CDC tables, started by CdcMaintenance on a schedule.
  const maintenance = functions[maintenanceFunction];
  if (resources.buckets.Curated && maintenance) createMaintenance(resources.buckets.Curated, maintenance);
  // The models of the endpoints the stage deploys itself: image built and pushed, model, serverless endpoint.
  deployModels(wiring.endpoints, resources.endpoints);

  const outputs: Record<string, $util.Output<string>> = {};
  for (const [name, bucket] of Object.entries(resources.buckets)) outputs[`${name}Bucket`] = bucket.name;
  for (const [name, topic] of Object.entries(resources.topics)) outputs[`${name}Topic`] = topic.arn;
  for (const [name, stream] of Object.entries(resources.streams)) outputs[`${name}Stream`] = stream.name;
  for (const [name, table] of Object.entries(resources.tables)) outputs[`${name}Table`] = table.name;
  for (const [name, endpoint] of Object.entries(resources.endpoints))
    outputs[`${name}Endpoint`] = $output(endpoint.name);
  for (const [name, { fn, dlq }] of Object.entries(functions)) {
    outputs[`${name}Function`] = fn.name;
    // SST names the log group apart from the function: this is where `aws logs tail` must look.
    outputs[`${name}LogGroup`] = fn.nodes.logGroup.apply((group) => group?.name ?? $output(""));
    outputs[`${name}Dlq`] = dlq.url;
  }
  return outputs;
}
