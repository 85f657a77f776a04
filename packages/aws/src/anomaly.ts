/**
 * Adapters of the anomaly pipeline (@sluice/anomaly): its state in DynamoDB (the `AnomalyState` table) and its
 * alerts on SNS (the `Alerts` topic).
 *
 * State layout (hash key `pk`): one item `stream#<stream>` holding the windowing, the alert policies and the
 * outbox as JSON with a `version` number, and one item `series#<site>#<metric>` per series holding its detector
 * state (at most 64 KB). A commit is one TransactWriteItems: the stream item put on condition that its version is
 * still the one loaded, with the touched series items; the loser of a race gets a `StateConflict` and redoes its
 * batch. Series items are only ever written together with the stream item, so the stream's version guards them too.
 */
import {
  BatchGetItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  type TransactWriteItem,
  TransactWriteItemsCommand,
} from "@aws-sdk/client-dynamodb";
import { PublishCommand, type SNSClient } from "@aws-sdk/client-sns";
import type { AlertMessage } from "@sluice/anomaly/alert-policy";
import {
  type AlertPublisher,
  AlertRefused,
  type AnomalyStateStore,
  type SeriesState,
  StateConflict,
  type StreamState,
} from "@sluice/anomaly/pipeline";

/** DynamoDB's limit on the items of one transaction (the stream item plus 99 series: 19 sites of 5 metrics). */
const MAX_TRANSACTION_ITEMS = 100;

export function createDynamoAnomalyStore(
  client: DynamoDBClient,
  tableName: string,
  stream = "Clickstream",
): AnomalyStateStore {
  const streamKey = `stream#${stream}`;
  return {
    async loadStream() {
      const { Item } = await client.send(
        new GetItemCommand({ TableName: tableName, Key: { pk: { S: streamKey } }, ConsistentRead: true }),
      );
      if (!Item?.state?.S) return undefined;
      return JSON.parse(Item.state.S) as StreamState;
    },

    async loadSeries(keys) {
      const out = new Map<string, SeriesState>();
      for (let i = 0; i < keys.length; i += 100) {
        let pending: Record<string, { S: string }>[] = keys
          .slice(i, i + 100)
          .map((k) => ({ pk: { S: `series#${k}` } }));
        for (let attempt = 0; pending.length > 0; attempt++) {
          if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 50 * 2 ** attempt)));
          const result = await client.send(
            new BatchGetItemCommand({ RequestItems: { [tableName]: { Keys: pending, ConsistentRead: true } } }),
          );
          for (const item of result.Responses?.[tableName] ?? []) {
            const pk = item.pk?.S ?? "";
            if (item.state?.S) out.set(pk.slice("series#".length), JSON.parse(item.state.S) as SeriesState);
          }
          pending = (result.UnprocessedKeys?.[tableName]?.Keys ?? []) as typeof pending;
        }
      }
      return out;
    },

    async commit(next, expectedVersion, series) {
      const condition =
        expectedVersion === 0
          ? { ConditionExpression: "attribute_not_exists(pk)" }
          : {
              ConditionExpression: "version = :expected",
              ExpressionAttributeValues: { ":expected": { N: String(expectedVersion) } },
            };
      const streamPut = {
        TableName: tableName,
        Item: { pk: { S: streamKey }, version: { N: String(next.version) }, state: { S: JSON.stringify(next) } },
        ...condition,
      };
      if (series.size === 0) {
        try {
          await client.send(new PutItemCommand(streamPut));
        } catch (error) {
          if ((error as Error).name === "ConditionalCheckFailedException")
            throw new StateConflict(`${streamKey} changed`);
          throw error;
        }
        return;
      }
      if (series.size + 1 > MAX_TRANSACTION_ITEMS) {
        throw new Error(
          `${series.size} series in one commit: DynamoDB transactions hold at most ${MAX_TRANSACTION_ITEMS - 1}`,
        );
      }
      const items: TransactWriteItem[] = [{ Put: streamPut }];
      for (const [key, state] of series) {
        items.push({
          Put: { TableName: tableName, Item: { pk: { S: `series#${key}` }, state: { S: JSON.stringify(state) } } },
        });
      }
      try {
        await client.send(new TransactWriteItemsCommand({ TransactItems: items }));
      } catch (error) {
        const reasons = (error as { CancellationReasons?: Array<{ Code?: string }> }).CancellationReasons ?? [];
        if (
          (error as Error).name === "TransactionCanceledException" &&
          reasons.some((r) => r.Code === "ConditionalCheckFailed")
        ) {
          throw new StateConflict(`${streamKey} changed`);
        }
        throw error;
      }
    },
  };
}

/** SnsLogger levels: a critical open incident is an error, a warning a warning, a resolution information. */
function severityAttribute(alert: AlertMessage): string {
  if (alert.status === "resolved") return "INFO";
  return alert.severity === "critical" ? "ERROR" : "WARN";
}

/** SNS's rule for a Subject: printable ASCII, no line breaks or other control characters, under 100 characters. */
export const MAX_SUBJECT_LENGTH = 99;

/**
 * A Subject SNS accepts, whatever the text: every run of characters outside printable ASCII (line breaks, control
 * characters, non-ASCII) becomes one space, spaces are collapsed and trimmed, and the result is cut to 99 characters
 * (with `...` when cut).
 */
export function snsSubject(text: string): string {
  const printable = text.replace(/[^\x21-\x7e]+/g, " ").trim();
  if (printable.length <= MAX_SUBJECT_LENGTH) return printable || "-";
  return `${printable.slice(0, MAX_SUBJECT_LENGTH - 3).trimEnd()}...`;
}

/** SNS errors that mean the request itself is invalid: sending it again cannot succeed. */
const REFUSALS = new Set(["InvalidParameterException", "InvalidParameterValueException", "ValidationException"]);

/**
 * Publishes each alert as one JSON message on the `Alerts` topic (e-mail subscribers read the subject; the site is
 * in it as far as SNS allows, and exactly in the message). A request SNS refuses as invalid throws
 * {@link AlertRefused}; any other failure is thrown as it is (worth retrying).
 */
export function createSnsAlertPublisher(client: SNSClient, topicArn: string): AlertPublisher {
  return {
    async publish(alert) {
      try {
        await send(alert);
      } catch (error) {
        if (error instanceof Error && REFUSALS.has(error.name)) {
          throw new AlertRefused(`${error.name}: ${error.message}`);
        }
        throw error;
      }
    },
  };

  async function send(alert: AlertMessage): Promise<void> {
    await client.send(
      new PublishCommand({
        TopicArn: topicArn,
        Subject: snsSubject(`[${alert.status}] ${alert.metric} anomaly on ${alert.site} at ${alert.windowStart}`),
        Message: JSON.stringify(alert),
        MessageAttributes: {
          severity: { DataType: "String", StringValue: severityAttribute(alert) },
          status: { DataType: "String", StringValue: alert.status },
          site: { DataType: "String", StringValue: alert.site },
          correlationId: {
            DataType: "String",
            StringValue: `${alert.site}#${alert.openedAt ?? alert.windowStart}`,
          },
        },
      }),
    );
  }
}
