/**
 * Adapters of the anomaly pipeline (@sluice/anomaly): its state in DynamoDB (the `AnomalyState` table) and its
 * alerts on SNS (the `Alerts` topic).
 *
 * State layout (hash key `pk`), copy-on-write with the stream item as the commit point:
 * - `stream#<stream>`: the head, with the state's `version` and a JSON document, gzipped (`docz`): the stream state
 *   (windowing, alert policies, outbox) and `series`, the tag of the item holding each series' current state. Every
 *   batch rewrites it and DynamoDB bills writes per KB: gzip makes it about a fifth. A compressed document over
 *   350 000 bytes is kept in `pages` items `stream#<stream>@<tag>#<i>` (350 000 bytes each), which the head
 *   names.
 * - `series#<site>#<metric>@<tag>`: one series' detector state (at most 64 KB of JSON), gzipped (`statez`; items
 *   written before 2026-12-06 hold it as plain JSON, `state`, and are read as well), written once, never changed.
 *
 * A commit writes the new series items (and pages) under a tag of its own, in as many `BatchWriteItem` requests as
 * they need, then puts the head on condition that its version is still the one loaded: that one write is the commit
 * point. Until it succeeds nothing it wrote is named by the head, so readers see the state before or after it, never
 * a mix, however many series it holds; the loser of a race (or a commit cut off half-way) leaves only unnamed items,
 * which it deletes when it can. After the head is written the previous pages are deleted, and the series items it no
 * longer names (the series' previous states, evicted sites' series) too, unless series items have a time to live
 * (`retentionSeconds`: `expiresAt` on each, then they are left to expire, as DynamoDB's TTL deletions are free). A
 * reader holding an older head may find those gone: it gets `StateConflict` and reloads, as its commit would have
 * failed anyway. A series item gone while the current head names it (expired, deleted by hand) starts that series
 * afresh (`onExpired`).
 */
import { randomBytes } from "node:crypto";
import { gunzipSync, gzipSync } from "node:zlib";
import {
  type AttributeValue,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  type WriteRequest,
} from "@aws-sdk/client-dynamodb";
import { PublishCommand, type SNSClient } from "@aws-sdk/client-sns";
import {
  type AlertPublisher,
  AlertRefused,
  type AnomalyStateStore,
  type SeriesState,
  StateConflict,
  type StreamState,
} from "@sluice/anomaly/pipeline";
import type { AlertMessage } from "@sluice/messages";
import { attributeText } from "./audit.ts";
import { batchGetAll, batchWriteAll } from "./dynamodb-batch.ts";

/** Largest document kept in the head item (DynamoDB items hold at most 400 KB), and the size of each page. */
export const PAGE_BYTES = 350_000;
/** Requests in flight at once when writing, reading or deleting items. */
const PARALLEL_REQUESTS = 8;

/** What the head names: the series items, and the pages when the document is not inline. */
interface Head {
  version: number;
  /** Series key -> the tag of its item `series#<key>@<tag>` (absent: the series has no state yet). */
  series: Record<string, string>;
  pages: string[];
}

interface StoreOptions {
  /** The stream whose state this is (the head's key). */
  stream?: string;
  /** Told about items left behind when their deletion failed (they are never read again). */
  onGarbage?: (keys: readonly string[], error: unknown) => void;
  /**
   * Time to live of the series items, in seconds (the table's TTL attribute `expiresAt`): when set, each series item
   * expires that long after it was written, and the items a commit replaces are left to expire instead of being
   * deleted (DynamoDB's TTL deletions are free; a deletion is billed like a write). Unset: replaced items are deleted
   * at once and series items never expire.
   */
  retentionSeconds?: number;
  /**
   * Told about the series whose item the current head names but which is gone: expired (the stream was silent for
   * longer than `retentionSeconds`) or deleted by hand. They start learning again, as new series.
   */
  onExpired?: (keys: readonly string[]) => void;
  /** Epoch ms (tests). */
  now?: () => number;
}

/** The item holding a series' state written under `tag`. */
const seriesItemKey = (key: string, tag: string) => `series#${key}@${tag}`;

export function createDynamoAnomalyStore(
  client: DynamoDBClient,
  tableName: string,
  options: StoreOptions | string = {},
): AnomalyStateStore {
  const {
    stream = "Clickstream",
    onGarbage,
    retentionSeconds,
    onExpired,
    now = Date.now,
  } = typeof options === "string" ? { stream: options } : options;
  const streamKey = `stream#${stream}`;
  /** Heads recently loaded or committed by this store, by version (an optimisation: a miss re-reads the head). */
  const heads = new Map<number, Head>();
  const remember = (head: Head) => {
    heads.set(head.version, head);
    for (const version of heads.keys()) if (heads.size > 4 && version !== head.version) heads.delete(version);
  };

  /** Puts and deletes, every one written (dynamodb-batch.ts). */
  const writeAll = (requests: WriteRequest[]) =>
    batchWriteAll(client, tableName, requests, { parallel: PARALLEL_REQUESTS });

  /** Items by key (consistent reads); missing keys are absent from the map. */
  async function getAll(keys: readonly string[]): Promise<Map<string, Record<string, AttributeValue>>> {
    const items = await batchGetAll(
      client,
      tableName,
      keys.map((pk) => ({ pk: { S: pk } })),
      { parallel: PARALLEL_REQUESTS },
    );
    return new Map(items.map((item) => [item.pk?.S ?? "", item]));
  }

  async function deleteAll(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    try {
      await writeAll(keys.map((pk) => ({ DeleteRequest: { Key: { pk: { S: pk } } } })));
    } catch (error) {
      onGarbage?.(keys, error);
    }
  }

  /** The head and its state; undefined before the first commit. */
  async function read(): Promise<{ head: Head; state: StreamState } | undefined> {
    const { Item } = await client.send(
      new GetItemCommand({ TableName: tableName, Key: { pk: { S: streamKey } }, ConsistentRead: true }),
    );
    if (!Item) return undefined;
    const version = Number(Item.version?.N ?? 0);
    let document: string;
    const pages = Item.pages?.L?.map((page) => page.S ?? "") ?? [];
    if (pages.length > 0) {
      const items = await getAll(pages);
      const parts = pages.map((key) => items.get(key)?.part?.B);
      // A page deleted after a newer commit: this head is no longer the current one.
      if (parts.some((part) => part === undefined)) throw new StateConflict(`${streamKey} changed while read`);
      document = gunzipSync(Buffer.concat(parts as Uint8Array[])).toString("utf8");
    } else if (Item.docz?.B !== undefined) {
      document = gunzipSync(Item.docz.B).toString("utf8");
    } else {
      throw new Error(`${streamKey}: a head without its document`);
    }
    const parsed = JSON.parse(document) as { state: StreamState; series: Record<string, string> };
    const head: Head = { version, series: parsed.series ?? {}, pages };
    return { head, state: parsed.state };
  }

  /** Whether the commit `tag` was applied: the current head is its own, or names series it wrote. */
  async function isCommitted(tag: string): Promise<boolean> {
    const { Item } = await client.send(
      new GetItemCommand({
        TableName: tableName,
        Key: { pk: { S: streamKey } },
        ConsistentRead: true,
        ProjectionExpression: "#commit",
        ExpressionAttributeNames: { "#commit": "commit" },
      }),
    );
    if (Item?.commit?.S === tag) return true;
    // Applied, then built on: another invocation committed on top of this head before the retry found its version
    // taken, and its head still names series this commit wrote; deleting them would leave that head naming items
    // that are gone. (A head that cannot be read throws: the commit then keeps everything, as when it may be applied.)
    const current = await read();
    return current !== undefined && Object.values(current.head.series).includes(tag);
  }

  /** The head committed at `version`, or StateConflict when the table has moved on. */
  async function headAt(version: number): Promise<Head> {
    const known = heads.get(version);
    if (known) return known;
    const current = await read();
    const head = current?.head ?? { version: 0, series: {}, pages: [] };
    if (head.version !== version) throw new StateConflict(`${streamKey} is at version ${head.version}, not ${version}`);
    remember(head);
    return head;
  }

  return {
    async loadStream() {
      const current = await read();
      if (!current) return undefined;
      remember(current.head);
      return current.state;
    },

    async loadSeries(keys, streamVersion) {
      const head = await headAt(streamVersion);
      // Series the head does not name have no state yet.
      const named = keys.flatMap((key) => {
        const tag = head.series[key];
        return tag === undefined ? [] : [{ key, itemKey: seriesItemKey(key, tag) }];
      });
      const items = await getAll(named.map(({ itemKey }) => itemKey));
      const out = new Map<string, SeriesState>();
      const gone: string[] = [];
      for (const { key, itemKey } of named) {
        const item = items.get(itemKey);
        // `statez` (gzipped JSON) since 2026-12-06; `state` (plain JSON) in items written before.
        const text = item?.statez?.B !== undefined ? gunzipSync(item.statez.B).toString("utf8") : item?.state?.S;
        if (text === undefined) gone.push(key);
        else out.set(key, JSON.parse(text) as SeriesState);
      }
      if (gone.length > 0) {
        // Deleted after a newer commit (this version is no longer the current one: the commit would fail anyway),
        // or gone while the current head still names it: expired, or deleted by hand. Failing then would fail every
        // batch for good, so the series starts again.
        const current = await read();
        if (current?.head.version !== streamVersion) {
          throw new StateConflict(
            `${seriesItemKey(gone[0] as string, head.series[gone[0] as string] ?? "")} was replaced`,
          );
        }
        onExpired?.(gone);
      }
      return out;
    },

    async commit(next, expectedVersion, series, dropped = []) {
      const base = await headAt(expectedVersion);
      const tag = `${next.version.toString(36)}-${randomBytes(6).toString("hex")}`;
      const refs = { ...base.series };
      const written: string[] = [];
      const puts: WriteRequest[] = [];
      const expiry: Record<string, AttributeValue> =
        retentionSeconds === undefined ? {} : { expiresAt: { N: String(Math.floor(now() / 1000) + retentionSeconds) } };
      for (const [key, state] of series) {
        const itemKey = seriesItemKey(key, tag);
        refs[key] = tag;
        written.push(itemKey);
        // Gzipped: DynamoDB bills a write unit per KB, and a series' JSON (1.3 to 2 KB after two hours) gzips to about
        // two thirds, under 1 KB for most series of a small site.
        puts.push({
          PutRequest: { Item: { pk: { S: itemKey }, statez: { B: gzipSync(JSON.stringify(state)) }, ...expiry } },
        });
      }
      for (const key of dropped) delete refs[key];
      const document = gzipSync(JSON.stringify({ state: next, series: refs }));
      const pages: string[] = [];
      if (document.length > PAGE_BYTES) {
        for (let offset = 0, i = 0; offset < document.length; offset += PAGE_BYTES, i++) {
          const pageKey = `${streamKey}@${tag}#${i}`;
          pages.push(pageKey);
          written.push(pageKey);
          puts.push({
            PutRequest: { Item: { pk: { S: pageKey }, part: { B: document.subarray(offset, offset + PAGE_BYTES) } } },
          });
        }
      }
      const head: Record<string, AttributeValue> = {
        pk: { S: streamKey },
        version: { N: String(next.version) },
        // Which commit wrote the head: an attempt that cannot tell whether its write was applied asks the table.
        commit: { S: tag },
        ...(pages.length > 0 ? { pages: { L: pages.map((key) => ({ S: key })) } } : { docz: { B: document } }),
      };
      const condition =
        expectedVersion === 0
          ? { ConditionExpression: "attribute_not_exists(pk)" }
          : {
              ConditionExpression: "version = :expected",
              ExpressionAttributeValues: { ":expected": { N: String(expectedVersion) } },
            };
      try {
        await writeAll(puts);
      } catch (error) {
        // Cut off before the commit point: nothing names these items.
        await deleteAll(written);
        throw error;
      }
      try {
        // The commit point.
        await client.send(new PutItemCommand({ TableName: tableName, Item: head, ...condition }));
      } catch (error) {
        if ((error as Error).name !== "ConditionalCheckFailedException") throw error; // maybe applied: keep all
        // The condition failed, perhaps because an earlier attempt of this very write was applied and its answer
        // lost (the SDK then retries it): then the head is this commit's, and its items are live.
        if (!(await isCommitted(tag))) {
          await deleteAll(written);
          throw new StateConflict(`${streamKey} changed`);
        }
      }
      remember({ version: next.version, series: refs, pages });
      // What the new head no longer names: series items with a time to live are left to expire; pages never expire.
      const replaced = [...series.keys(), ...dropped].flatMap((key) => {
        const tag = base.series[key];
        return tag === undefined || retentionSeconds !== undefined ? [] : [seriesItemKey(key, tag)];
      });
      await deleteAll([...replaced, ...base.pages]);
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
 * Publishes each alert as one JSON message on the `Alerts` topic, indented so that an e-mail shows each field and
 * each line of its `summary` on a line of its own (e-mail subscribers read the subject and the body as they are; the
 * site is in the subject as far as SNS allows, and exactly in the message). A request SNS refuses as invalid throws
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
        // Laid out a field (and a summary line) a line: e-mail subscribers read the body as it is.
        Message: JSON.stringify(alert, null, 2),
        MessageAttributes: {
          severity: { DataType: "String", StringValue: severityAttribute(alert) },
          status: { DataType: "String", StringValue: alert.status },
          site: { DataType: "String", StringValue: attributeText(alert.site) },
          correlationId: {
            DataType: "String",
            StringValue: attributeText(`${alert.site}#${alert.openedAt ?? alert.windowStart}`),
          },
        },
      }),
    );
  }
}
