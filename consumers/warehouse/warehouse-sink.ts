/**
 * WarehouseSink: keeps the MongoDB warehouse (database `ecommerce_warehouse`) in step with the
 * captured tables, as current state per table plus every version in `change_log`.
 *
 * Contract (see consumers/core/sink.ts):
 * - `start()` waits for MongoDB (up to `startupWaitMs`) and creates the indexes (warehouse-setup.ts).
 * - `write(events)` handles a run of row changes with three round trips, whatever its size: one
 *   read of the rows it touches (`_id: {$in: [...]}`, index-backed) and of the tables' TRUNCATE
 *   records, then one unordered bulk insert of the change_log entries, then one unordered bulk of
 *   current-state writes, one per row (write-plan.ts decides them in memory). A TRUNCATE is handled
 *   on its own, in order (truncate below).
 * - Idempotent and guarded by the row version (`source.version`): an event not newer than the row
 *   is answered `stale` and writes nothing; a change_log entry's `_id` is (table, key, version), so
 *   inserting it twice is a no-op. Every current-state write names the version it was planned
 *   against: `replaceOne({_id, '_cdc.version': <read>}, doc, {upsert: true})` (a new row:
 *   `insertOne`). If another writer changed the row in between, the upsert collides on `_id`
 *   (E11000) and the row's events are answered `retry`, to be planned again from the new state.
 *   Both filters name `_id`, so every write uses the `_id` index, on MongoDB and on the native
 *   server alike (scripts/native/MongoWireServer.java).
 * - Order of writes: a row's current state is written only after all its change_log entries are
 *   in, so a row at version N always has its history up to N; a retried event finds its entry
 *   already there.
 * - Results: `ok` once the entry and the row are written; `stale`; `failed` for an event that can
 *   never be stored (a value its column cannot hold, a document MongoDB refuses); `retry` for
 *   anything transient. The sink never retries by itself: the runner backs off and sends again.
 */
import { MongoBulkWriteError, MongoClient, type AnyBulkWriteOperation, type Collection, type Db, type Document } from 'mongodb';
import { compareLsn, type ChangeEvent, type RowChangeEvent, type TruncateEvent, type Value } from '../core/change-event.js';
import { PermanentError, RetriableError, toError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { failed, ok, retry, type Sink, type WriteResult } from '../core/sink.js';
import { dateFromIso, type BsonDocument } from './bson-values.js';
import { documentId, keyText, paddedVersion, truncateLogId } from './row-keys.js';
import { TableLocks } from './table-locks.js';
import { TABLE_CATALOG, tableDefinition, type TableCatalog } from './table-catalog.js';
import type { WarehouseConfig } from './warehouse-config.js';
import { CHANGE_LOG, META_COLLECTION, ensureWarehouse } from './warehouse-setup.js';
import { CDC_FIELD, commitMicrosIso, logDocument, planRowChanges, stateDocument, stateFromDocument, truncateRow, type RowPlan, type TruncateRecord } from './write-plan.js';

export interface WarehouseSinkOptions {
  readonly config: WarehouseConfig;
  readonly logger: Pick<Logger, 'warn' | 'info'>;
  /** Column kinds per table; default TABLE_CATALOG. */
  readonly catalog?: TableCatalog;
}

/** MongoDB error codes that mean "this document can never be written", not "try again later". */
const PERMANENT_CODES = new Set([2, 9, 14, 17, 52, 55, 56, 57, 10334, 15974, 16755, 17419, 17280, 4781300]);
const DUPLICATE_KEY = 11000;
const READ_CHUNK = 1000;

type Outcome = WriteResult;

export class WarehouseSink implements Sink {
  readonly name = 'warehouse';
  readonly client: MongoClient;
  readonly db: Db;
  private readonly config: WarehouseConfig;
  private readonly logger: Pick<Logger, 'warn' | 'info'>;
  private readonly catalog: TableCatalog;
  private readonly locks = new TableLocks();
  private closed: Promise<void> | null = null;

  constructor(options: WarehouseSinkOptions) {
    this.config = options.config;
    this.logger = options.logger;
    this.catalog = options.catalog ?? TABLE_CATALOG;
    this.client = new MongoClient(options.config.url, {
      // The runner owns retrying (with backoff and heartbeats): fail fast while MongoDB is away.
      serverSelectionTimeoutMS: 5_000,
      connectTimeoutMS: 5_000,
      socketTimeoutMS: options.config.requestTimeoutMs,
      retryWrites: false,
      retryReads: false,
      // Whole batches at a time: a few connections are plenty (one per partition lane and a spare).
      maxPoolSize: 8,
      ignoreUndefined: true,
    });
    this.db = this.client.db(options.config.database);
  }

  async start(): Promise<void> {
    await this.waitForServer();
    await ensureWarehouse(this.db, this.catalog);
  }

  async write(events: readonly ChangeEvent[]): Promise<WriteResult[]> {
    const results: WriteResult[] = new Array(events.length);
    let run: { index: number; event: RowChangeEvent }[] = [];
    const flush = async (): Promise<boolean> => {
      const rows = run;
      run = [];
      if (rows.length === 0) return true;
      await this.locks.shared(rows.map((item) => item.event.table), () => this.writeRows(rows, results));
      return !rows.some((item) => results[item.index]?.status === 'retry');
    };
    for (let index = 0; index < events.length; index++) {
      const event = events[index]!;
      if (event.op === 'tombstone') {
        results[index] = ok; // the delete before it already recorded everything
      } else if (event.op === 'truncate') {
        // In order: the rows before the TRUNCATE first, and nothing after a retry.
        if (!(await flush())) return fillRetry(results);
        results[index] = await this.locks.exclusive(event.table, () => this.truncate(event));
        if (results[index]!.status === 'retry') return fillRetry(results);
      } else {
        run.push({ index, event });
      }
    }
    if (!(await flush())) return fillRetry(results);
    return results;
  }

  async isReady(): Promise<boolean> {
    try {
      await this.db.command({ ping: 1 }, { timeoutMS: 2_000 });
      return true;
    } catch {
      return false;
    }
  }

  close(): Promise<void> {
    this.closed ??= this.client.close().catch(() => undefined);
    return this.closed;
  }

  /** The current-state collection of `table` (same name as the table). */
  collection(table: string): Collection<Document> {
    return this.db.collection(table);
  }

  private async writeRows(items: { index: number; event: RowChangeEvent }[], results: WriteResult[]): Promise<void> {
    let plan;
    try {
      const [stored, truncates] = await Promise.all([this.readRows(items), this.readTruncates(items.map((item) => item.event.table))]);
      plan = planRowChanges(items, stored, truncates, this.catalog);
    } catch (error) {
      const failure = resultForMongoError(error, 'cannot read the rows this batch changes');
      for (const { index } of items) results[index] = failure.status === 'failed' ? retry(toError(error)) : failure;
      return;
    }
    for (const [index, result] of plan.settled) results[index] = result;
    for (const row of plan.rows) {
      for (const { owner, columns } of row.unfilled) {
        const event = items.find((item) => item.index === owner)?.event;
        this.logger.warn(
          { table: row.table, key: event?.key, lsn: event?.source.lsn, columns },
          'unchanged-TOAST columns are not in the warehouse (row never seen before): storing the row without them',
        );
      }
    }

    // 1. change_log entries; a row's state is written only once all of its entries are in.
    const logs = plan.rows.flatMap((row) => row.logs.map((log) => ({ row, log })));
    const logOutcomes = await bulkOutcomes(this.db.collection(CHANGE_LOG), logs.map(({ log }) => ({ insertOne: { document: log.document as Document } })), true);
    const rowBlocked = new Map<RowPlan, Outcome>();
    logs.forEach(({ row, log }, i) => {
      const outcome = logOutcomes[i]!;
      if (outcome.status === 'retry') rowBlocked.set(row, outcome);
      // A change_log entry MongoDB refuses for good fails its event (dead-lettered, so it is seen);
      // the row's other changes still go in.
      else if (outcome.status === 'failed' && log.owner >= 0) results[log.owner] = outcome;
    });

    // 2. current state, one guarded write per row, grouped per collection.
    const byTable = new Map<string, RowPlan[]>();
    for (const row of plan.rows) {
      if (!row.write || rowBlocked.has(row)) continue;
      let list = byTable.get(row.table);
      if (!list) byTable.set(row.table, (list = []));
      list.push(row);
    }
    const rowOutcome = new Map<RowPlan, Outcome>(rowBlocked);
    await Promise.all([...byTable].map(async ([table, rows]) => {
      const operations = rows.map((row) => guardedWrite(row.write!));
      const outcomes = await bulkOutcomes(this.collection(table), operations, false);
      rows.forEach((row, i) => rowOutcome.set(row, outcomes[i]!));
    }));

    for (const row of plan.rows) {
      const outcome = rowOutcome.get(row) ?? ok;
      for (const owner of row.owners) {
        if (results[owner]?.status === 'failed') continue;
        results[owner] = outcome;
      }
    }
  }

  /** Stored current-state documents of the rows `items` touch, per table, by key text. */
  private async readRows(items: readonly { event: RowChangeEvent }[]): Promise<Map<string, Map<string, Record<string, unknown>>>> {
    const idsByTable = new Map<string, Map<string, Value>>();
    for (const { event } of items) {
      const table = tableDefinition(this.catalog, event.table);
      const id = documentId(event.key, table);
      let ids = idsByTable.get(event.table);
      if (!ids) idsByTable.set(event.table, (ids = new Map()));
      ids.set(keyText(id), id);
    }
    const stored = new Map<string, Map<string, Record<string, unknown>>>();
    await Promise.all([...idsByTable].map(async ([table, ids]) => {
      const found = new Map<string, Record<string, unknown>>();
      stored.set(table, found);
      const all = [...ids.values()];
      for (let start = 0; start < all.length; start += READ_CHUNK) {
        const documents = await this.collection(table).find({ _id: { $in: all.slice(start, start + READ_CHUNK) } } as Document).toArray();
        for (const document of documents) found.set(keyText(document._id as unknown as Value), document);
      }
    }));
    return stored;
  }

  private async readTruncates(tables: readonly string[]): Promise<Map<string, TruncateRecord[]>> {
    const names = [...new Set(tables)];
    const documents = await this.db.collection(META_COLLECTION).find({ _id: { $in: names } } as Document).toArray();
    return new Map(documents.map((document) => [String(document._id), (document.truncates ?? []) as TruncateRecord[]]));
  }

  /**
   * TRUNCATE: recorded once for the table in change_log and in the table's meta document (so row
   * changes older than it that are read later still end soft-deleted, see write-plan.ts), then
   * every stored row older than it is soft-deleted with a change_log entry of its own. Rows newer
   * than the TRUNCATE (written after it) stay. Safe to repeat: every write is idempotent.
   */
  private async truncate(event: TruncateEvent): Promise<WriteResult> {
    const table = tableDefinition(this.catalog, event.table);
    const version = paddedVersion(event.source.version);
    const commitUs = commitMicrosIso(event);
    const record: TruncateRecord = {
      version,
      lsn: event.source.lsn,
      commit_time_us: commitUs,
      tx_id: event.source.txId,
      kafka: { topic: event.kafka.topic, partition: event.kafka.partition, offset: event.kafka.offset },
    };
    try {
      await this.db.collection(META_COLLECTION).updateOne({ _id: event.table } as Document, { $addToSet: { truncates: record } }, { upsert: true });
      const commitTime = dateFromIso(commitUs);
      const tableEntry: BsonDocument = {
        _id: truncateLogId(event.table, version),
        table: event.table,
        op: 'truncate',
        key: null,
        before: null,
        after: null,
        changed_fields: [],
        lsn: event.source.lsn,
        version,
        version_number: null,
        tx_id: event.source.txId,
        commit_time: commitTime,
        commit_time_us: commitUs,
        capture_time: event.source.captureTimeMs === undefined ? null : new Date(event.source.captureTimeMs),
        timestamp: commitTime,
        snapshot: false,
        kafka: record.kafka as BsonDocument,
      };
      const [tableOutcome] = await bulkOutcomes(this.db.collection(CHANGE_LOG), [{ insertOne: { document: tableEntry as Document } }], true);
      if (tableOutcome!.status !== 'ok') return tableOutcome!;

      let soft = 0;
      const cursor = this.collection(event.table).find({ [`${CDC_FIELD}.deleted`]: false }).batchSize(READ_CHUNK);
      let page: Record<string, unknown>[] = [];
      const flushPage = async (): Promise<WriteResult | null> => {
        const rows = page;
        page = [];
        const planned = rows
          .map((document) => ({ id: document._id as unknown as Value, before: stateFromDocument(document, table) }))
          .filter(({ before }) => compareLsn(before.version, version) < 0)
          .map(({ id, before }) => ({ id, before, ...truncateRow(before, record) }));
        if (planned.length === 0) return null;
        const logs = planned.map(({ id, entry }) => logDocument(event.table, id, table, entry));
        const logOutcomes = await bulkOutcomes(this.db.collection(CHANGE_LOG), logs.map((document) => ({ insertOne: { document: document as Document } })), true);
        const bad = logOutcomes.find((outcome) => outcome.status !== 'ok');
        if (bad) return bad;
        const writes = planned.map(({ id, before, state }) => guardedWrite({
          id,
          expectedVersion: before.version,
          document: stateDocument(id, state, table, event.table),
        }));
        const outcomes = await bulkOutcomes(this.collection(event.table), writes, false);
        soft += planned.length;
        return outcomes.find((outcome) => outcome.status !== 'ok') ?? null;
      };
      for await (const document of cursor) {
        page.push(document);
        if (page.length >= READ_CHUNK) {
          const problem = await flushPage();
          if (problem) return problem;
        }
      }
      const problem = await flushPage();
      if (problem) return problem;
      this.logger.info({ table: event.table, lsn: event.source.lsn, rows: soft }, 'applied TRUNCATE: soft-deleted every row older than it');
      return ok;
    } catch (error) {
      return resultForMongoError(error, `cannot apply the TRUNCATE of ${event.table}`);
    }
  }

  private async waitForServer(): Promise<void> {
    const deadline = Date.now() + this.config.startupWaitMs;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.client.connect();
        await this.db.command({ ping: 1 });
        return;
      } catch (error) {
        if (Date.now() >= deadline) {
          throw new RetriableError(`MongoDB at ${redactUrl(this.config.url)} did not answer within ${this.config.startupWaitMs} ms`, { cause: error });
        }
        this.logger.warn({ attempt, err: toError(error) }, 'waiting for MongoDB');
        await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 500 * attempt)));
      }
    }
  }
}

/** The guarded current-state write (see the header). */
function guardedWrite(write: { id: Value; expectedVersion: string | null; document: BsonDocument }): AnyBulkWriteOperation<Document> {
  if (write.expectedVersion === null) return { insertOne: { document: write.document as Document } };
  return {
    replaceOne: {
      filter: { _id: write.id, [`${CDC_FIELD}.version`]: write.expectedVersion } as Document,
      replacement: withoutId(write.document),
      upsert: true,
    },
  };
}

function withoutId(document: BsonDocument): Document {
  const { _id: _ignored, ...rest } = document;
  return rest;
}

/**
 * Runs `operations` as one unordered bulk write and answers per operation. For change_log inserts
 * (`duplicateIsOk`) a duplicate key means "already recorded": ok. For current-state writes it means
 * another writer changed the row after it was read: retry.
 */
async function bulkOutcomes(collection: Collection<Document>, operations: AnyBulkWriteOperation<Document>[], duplicateIsOk: boolean): Promise<Outcome[]> {
  if (operations.length === 0) return [];
  const outcomes: Outcome[] = operations.map(() => ok);
  try {
    await collection.bulkWrite(operations, { ordered: false });
    return outcomes;
  } catch (error) {
    if (!(error instanceof MongoBulkWriteError) || !Array.isArray(error.writeErrors) || error.writeErrors.length === 0) {
      const failure = resultForMongoError(error, `bulk write to ${collection.collectionName} failed`);
      // A whole-request failure is never the fault of one event.
      const result = failure.status === 'failed' && !isRequestLevelPermanent(error) ? retry(toError(error)) : failure;
      return operations.map(() => result);
    }
    for (const writeError of error.writeErrors) {
      const index = writeError.index;
      if (writeError.code === DUPLICATE_KEY) {
        outcomes[index] = duplicateIsOk ? ok : retry(new RetriableError(`row changed in ${collection.collectionName} while this batch was planned: it will be planned again`, { cause: writeError }));
      } else if (PERMANENT_CODES.has(writeError.code)) {
        outcomes[index] = failed(new PermanentError(`MongoDB refused the document for ${collection.collectionName}: ${writeError.errmsg ?? writeError.code}`, { cause: writeError }));
      } else {
        outcomes[index] = retry(new RetriableError(`MongoDB write to ${collection.collectionName} failed: ${writeError.errmsg ?? writeError.code}`, { cause: writeError }));
      }
    }
    // Operations after a batch-level failure of an unordered bulk may not have run at all.
    if (error.writeConcernError) for (let i = 0; i < outcomes.length; i++) if (outcomes[i] === ok) outcomes[i] = retry(toError(error));
    return outcomes;
  }
}

/** Client-side errors that mean the document itself cannot be sent (BSON serialisation). */
function isRequestLevelPermanent(error: unknown): boolean {
  return error instanceof Error && (error.name === 'BSONError' || error.name === 'MongoInvalidArgumentError');
}

function resultForMongoError(error: unknown, what: string): WriteResult {
  const code = (error as { code?: unknown })?.code;
  if (isRequestLevelPermanent(error) || (typeof code === 'number' && PERMANENT_CODES.has(code))) {
    return failed(new PermanentError(`${what}: ${toError(error).message}`, { cause: error }));
  }
  return retry(new RetriableError(`${what}: ${toError(error).message}`, { cause: error }));
}

function fillRetry(results: WriteResult[]): WriteResult[] {
  const result = retry(new RetriableError('not written: an earlier event of this batch must be retried first'));
  for (let i = 0; i < results.length; i++) results[i] ??= result;
  return results;
}

/** The URL without its password, for logs. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}
