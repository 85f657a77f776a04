/**
 * Links without SST's blanket grants. `link: [bucket]` normally gives the function `s3:*` on the bucket (`sns:*`,
 * `kinesis:*`, `dynamodb:*` for the others). Here a link only carries what the handler reads at runtime
 * (`Resource.<Name>.name` / `.arn`, the same properties SST exposes and the local cloud writes), and each function's
 * IAM comes from infra/permissions.ts, narrowed to what its wiring says it does.
 */

/**
 * Re-declares the link of every data component SST would otherwise grant `<service>:*` on, keeping its
 * properties and dropping the permissions. Uses the documented `sst.Linkable.wrap` ("Modify built-in links").
 * Global and idempotent: call it before creating functions.
 */
export function linkWithoutPermissions(): void {
  sst.Linkable.wrap(sst.aws.Bucket, (bucket) => ({ properties: { name: bucket.name }, include: [] }));
  sst.Linkable.wrap(sst.aws.SnsTopic, (topic) => ({ properties: { arn: topic.arn }, include: [] }));
  sst.Linkable.wrap(sst.aws.KinesisStream, (stream) => ({ properties: { name: stream.name }, include: [] }));
  sst.Linkable.wrap(sst.aws.Dynamo, (table) => ({ properties: { name: table.name }, include: [] }));
}
