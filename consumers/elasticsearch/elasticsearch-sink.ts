/**
 * The Elasticsearch sink: keeps one search index per table in step with the database.
 *
 * Contract (see consumers/core/sink.ts):
 * - `start()` waits for the cluster (up to `startupWaitMs`), then creates indexes and aliases
 *   (index-setup.ts). It throws if they cannot be made right.
 * - `write(events)` turns the batch into document writes (write-plan.ts), reads the stored
 *   documents it needs for unchanged-TOAST columns with one mget, and sends bulk requests split
 *   by count and bytes, in order. Every write is an `index` with `version_type: external` and the
 *   event's row version (`source.version` mapped into a long, see externalVersion in
 *   document.ts) as version, so Elasticsearch itself refuses anything older than what it holds.
 *   Per-item results become per-event results (bulk-results.ts); a refused write is `stale`.
 * - TRUNCATE: the index's truncate version is recorded in a state index every lane and instance
 *   reads (truncate-guard.ts) before the index is soft-deleted; a row write at or below it
 *   becomes a marker and answers `stale`, and rows written while a TRUNCATE ran are swept. After the first request that
 *   must be retried, nothing more is sent: the runner will hand those events over again.
 * - The sink does not retry by itself (the client is built with maxRetries 0): the runner owns
 *   backoff, so one place decides how long to wait.
 * - Before sending, the truncate versions are read (one realtime mget): if that fails, every
 *   event answers `retry` (tombstones and bad events keep their answers). A failed TOAST read is
 *   thrown; the runner treats it as `retry` for every event.
 */
import { Client, type ClientOptions } from '@elastic/elasticsearch';
import { compareLsn, type ChangeEvent, type Row } from '../core/change-event.js';
import { RetriableError, toError } from '../core/errors.js';
import { maskUrlCredentials } from '../core/mask-credentials.js';
import type { Logger } from '../core/logger.js';
import { ok, retry, stale, type Sink, type WriteResult } from '../core/sink.js';
import { externalIndexOperation, splitIntoBulks, type BulkLimits, type BulkOperation } from './bulk-body.js';
import { resultForBulkItem, resultForRequestError, worstOf, type BulkItem } from './bulk-results.js';
import { deletedDocument, META_FIELD, rowFromSource } from './document.js';
import type { ElasticsearchConfig } from './elasticsearch-config.js';
import { INDEX_CATALOG, resolveCatalog, type IndexDefinition, type ResolvedIndex } from './index-catalog.js';
import { ensureIndexes } from './index-setup.js';
import { TRUNCATIONS_INDEX, TruncateGuard, type TruncateMark } from './truncate-guard.js';
import { planWrites, type DocumentWrite, type Step } from './write-plan.js';

/** Only what a bulk response needs to say per item; keeps responses small. */
const BULK_FILTER_PATH = 'errors,items.*.status,items.*.error';
const HEALTH_TIMEOUT_MS = 2_000;

export interface ElasticsearchSinkOptions {
  readonly config: ElasticsearchConfig;
  readonly logger: Logger;
  /** Tables and mappings; default INDEX_CATALOG. */
  readonly catalog?: readonly IndexDefinition[];
}

export class ElasticsearchSink implements Sink {
  readonly name = 'elasticsearch';
  readonly client: Client;
  /** Resolved indexes by table name. */
  readonly indexes: ReadonlyMap<string, ResolvedIndex>;
  private readonly config: ElasticsearchConfig;
  private readonly logger: Logger;
  private readonly limits: BulkLimits;
  /** Each index's last TRUNCATE, shared by every lane and instance (truncate-guard.ts). */
  readonly truncates: TruncateGuard;
  private closed: Promise<void> | null = null;

  constructor(options: ElasticsearchSinkOptions) {
    this.config = options.config;
    this.logger = options.logger;
    this.indexes = resolveCatalog(options.config.indexPrefix, options.catalog ?? INDEX_CATALOG);
    this.limits = { maxDocs: options.config.bulkMaxDocs, maxBytes: options.config.bulkMaxBytes };
    this.client = createClient(options.config);
    this.truncates = new TruncateGuard(this.client, `${options.config.indexPrefix}${TRUNCATIONS_INDEX}`);
  }

  async start(): Promise<void> {
    await this.waitForCluster();
    await ensureIndexes(this.client, this.indexes.values(), this.logger);
    await this.truncates.ensure();
  }

  async write(events: readonly ChangeEvent[]): Promise<WriteResult[]> {
    const steps = planWrites(events, this.indexes);
    const results: WriteResult[] = new Array(events.length);
    const touched = new Set<string>();
    for (const step of steps) {
      if (step.kind === 'writes') for (const write of step.writes) touched.add(write.index);
      else if (step.kind === 'truncate') touched.add(step.index.indexName);
    }
    // Each index's last TRUNCATE, as every lane and instance recorded it (truncate-guard.ts).
    let marks: Map<string, TruncateMark>;
    try {
      marks = await this.truncates.read([...touched]);
    } catch (error) {
      // Nothing was sent: tombstones and bad events keep their answers, the rest is retried.
      const result = retry(toError(error));
      return steps.map((step) => (step.kind === 'result' ? step.result : result));
    }
    const applied: AppliedWrite[] = [];
    let done = true;
    // Row writes between truncates go out together; a truncate runs alone, in order.
    let group: Step[] = [];
    const flush = async (): Promise<boolean> => {
      const sent = await this.writeGroup(group, results, marks, applied);
      group = [];
      return sent;
    };
    for (const step of steps) {
      if (step.kind !== 'truncate') {
        group.push(step);
        continue;
      }
      if (!(done = await flush())) break;
      results[step.owner] = await this.truncate(step, marks);
      if (!(done = results[step.owner]!.status !== 'retry')) break;
    }
    if (done) await flush();
    await this.sweepAfterTruncate(applied, marks, results);
    return fillRetry(results);
  }

  /** Every concrete index this sink writes: the table indexes and the truncate state (tests, tools). */
  ownedIndexes(): string[] {
    return [...[...this.indexes.values()].map((index) => index.indexName), this.truncates.indexName];
  }

  async isReady(): Promise<boolean> {
    try {
      const health = await this.client.cluster.health({ timeout: '1s' }, { requestTimeout: HEALTH_TIMEOUT_MS });
      return health.status !== 'red';
    } catch {
      return false;
    }
  }

  close(): Promise<void> {
    this.closed ??= this.client.close();
    return this.closed;
  }

  /**
   * Writes the row steps of one group into `results`. A write at or below its index's truncate
   * version becomes a soft-delete marker at that version (the row was truncated: a document
   * that slipped in is removed, a newer one refuses it) and its event answers `stale`. Applied
   * live writes are noted in `applied` for the sweep after the write. Returns false when a
   * request must be retried: the results of unsent steps are then left unset.
   */
  private async writeGroup(steps: readonly Step[], results: WriteResult[], marks: ReadonlyMap<string, TruncateMark>, applied: AppliedWrite[]): Promise<boolean> {
    const writes: DocumentWrite[] = [];
    const truncated = new Set<DocumentWrite>();
    for (const step of steps) {
      if (step.kind === 'result') results[step.owner] = step.result;
      else if (step.kind === 'writes') {
        for (const write of step.writes) {
          const mark = marks.get(write.index);
          if (mark && compareLsn(write.version, mark.version) <= 0) {
            const marker: DocumentWrite = { ...write, version: mark.version, document: truncatedMarker(mark), missing: [] };
            truncated.add(marker);
            writes.push(marker);
          } else {
            writes.push(write);
          }
        }
      }
    }
    await this.fillFromIndex(writes.filter((write) => !truncated.has(write)));
    const operations = writes.map((write) => externalIndexOperation(write.owner, write.index, write.id, write.version, write.document));
    return this.sendOperations(operations, results, (position, result) => {
      const write = writes[position]!;
      if (truncated.has(write)) return result.status === 'ok' ? stale : result;
      if (result.status === 'ok' && !result.stale && !Object.hasOwn(write.document, META_FIELD)) {
        applied.push({ owner: write.owner, index: write.index, id: write.id, version: write.version });
      }
      return result;
    });
  }

  /**
   * After the bulks: a TRUNCATE recorded while this call wrote (by another lane or instance) may
   * have read its index before our documents landed. Reads the truncate versions again and
   * soft-deletes what this call wrote below a new one. If that cannot be done now, the events
   * concerned answer retry: written again, they meet the truncate version and become markers.
   */
  private async sweepAfterTruncate(applied: readonly AppliedWrite[], before: ReadonlyMap<string, TruncateMark>, results: WriteResult[]): Promise<void> {
    if (applied.length === 0) return;
    const retryOwners = (writes: readonly AppliedWrite[], error: unknown) => {
      const result = retry(new RetriableError('a TRUNCATE came while these rows were written: they must be checked against it again', { cause: error }));
      for (const write of writes) results[write.owner] = result;
    };
    let now: Map<string, TruncateMark>;
    try {
      now = await this.truncates.read([...new Set(applied.map((write) => write.index))]);
    } catch (error) {
      // Only rows of indexes that ever saw a TRUNCATE could be affected; without knowing, all are.
      retryOwners(applied, error);
      return;
    }
    const late = applied.filter((write) => {
      const mark = now.get(write.index);
      const earlier = before.get(write.index);
      return mark !== undefined && (earlier === undefined || compareLsn(mark.version, earlier.version) > 0) && compareLsn(write.version, mark.version) < 0;
    });
    if (late.length === 0) return;
    const operations = late.map((write, position) => externalIndexOperation(position, write.index, write.id, now.get(write.index)!.version, truncatedMarker(now.get(write.index)!)));
    const itemResults = await sendBulk(this.client, operations);
    const failedWrites = late.filter((_, position) => itemResults[position]!.status === 'retry');
    if (failedWrites.length > 0) retryOwners(failedWrites, (itemResults.find((r) => r.status === 'retry') as { error?: Error }).error);
    this.logger.info({ rows: late.length }, 'rows written while a TRUNCATE ran: soft-deleted them at its version');
  }

  /**
   * Fills unchanged-TOAST columns that neither the event nor the batch could supply from the
   * documents the index holds now (one realtime mget). If the stored document is newer than the
   * event, the external version refuses our write anyway; if there is no stored row (never
   * indexed, or deleted), the row is indexed without those columns and a warning is logged.
   * Throws RetriableError when the cluster cannot be read.
   */
  private async fillFromIndex(writes: readonly DocumentWrite[]): Promise<void> {
    const needy = writes.filter((write) => write.missing.length > 0);
    if (needy.length === 0) return;
    let docs: { found?: boolean; _source?: Record<string, unknown> }[];
    try {
      const response = await this.client.mget<Record<string, unknown>>({
        docs: needy.map((write) => ({ _index: write.index, _id: write.id, _source: [...write.missing, META_FIELD] })),
        realtime: true,
      });
      docs = response.docs as typeof docs;
    } catch (error) {
      throw new RetriableError('cannot read stored documents for unchanged-TOAST columns', { cause: error });
    }
    needy.forEach((write, position) => {
      const doc = docs[position];
      const stored = doc?.found ? rowFromSource(doc._source) : null;
      const row = write.document as Row;
      const unfilled = write.missing.filter((column) => {
        if (stored && Object.hasOwn(stored, column)) {
          row[column] = stored[column]!;
          return false;
        }
        return true;
      });
      if (unfilled.length > 0) {
        this.logger.warn(
          { index: write.index, id: write.id, lsn: write.version, columns: unfilled },
          'unchanged-TOAST columns are not in the index (row never indexed or deleted): indexing the row without them',
        );
      }
    });
  }

  /**
   * Sends operations in bulk requests, in order. False after the first request to retry.
   * `onItem` (position in `operations`, item result) may note an item and change what is recorded.
   */
  private async sendOperations(
    operations: readonly BulkOperation[],
    results: WriteResult[],
    onItem: (position: number, result: WriteResult) => WriteResult = (_position, result) => result,
  ): Promise<boolean> {
    const record = (operation: BulkOperation, result: WriteResult) => {
      const previous = results[operation.owner];
      results[operation.owner] = previous ? worstOf(previous, result) : result;
    };
    const bulks = splitIntoBulks(operations, this.limits);
    let offset = 0;
    for (let i = 0; i < bulks.length; i++) {
      const itemResults = await sendBulk(this.client, bulks[i]!);
      bulks[i]!.forEach((operation, position) => record(operation, onItem(offset + position, itemResults[position]!)));
      offset += bulks[i]!.length;
      if (itemResults.some((result) => result.status === 'retry')) {
        // An event whose other write was already sent must not look done.
        const result = notSent();
        for (const later of bulks.slice(i + 1)) for (const operation of later) record(operation, result);
        return false;
      }
    }
    return true;
  }

  /**
   * TRUNCATE: records the index's truncate version first (truncate-guard.ts: from then on every
   * lane and instance turns older row writes into markers), then gives every document in the
   * index a soft-delete marker at the truncate's version. Rows written after the TRUNCATE carry
   * bigger versions, so their documents refuse the marker (409, fine) and stay. Refreshes the
   * index, reads it with a scroll, writes with the same bulk path. An older TRUNCATE than the
   * recorded one is `stale`; the same one again (a replay, or a retry after the pass failed) runs
   * the pass again, which is harmless, and answers `stale`.
   */
  private async truncate(step: Extract<Step, { kind: 'truncate' }>, marks: Map<string, TruncateMark>): Promise<WriteResult> {
    const index = step.index.indexName;
    const recorded = marks.get(index);
    const order = recorded ? compareLsn(step.version, recorded.version) : 1;
    if (order < 0) return stale;
    const mark: TruncateMark = { version: step.version, lsn: step.event.source.lsn, truncatedAt: new Date(step.event.source.commitTimeMs).toISOString() };
    let scrollId: string | undefined;
    try {
      if (order > 0 && (await this.truncates.record(index, mark)) === 'stale') return stale; // a newer one came meanwhile
      marks.set(index, mark); // the rest of this batch is checked against it too
      const marker = truncatedMarker(mark);
      // Search is near-real-time: make every write so far (this batch's too) visible to it.
      await this.client.indices.refresh({ index });
      let page = await this.client.search({ index, scroll: '1m', size: this.limits.maxDocs, sort: ['_doc'], _source: false });
      for (;;) {
        scrollId = page.hits.hits.length > 0 ? page._scroll_id : undefined;
        if (page.hits.hits.length === 0) break;
        const operations = page.hits.hits.map((hit) => externalIndexOperation(0, index, hit._id!, step.version, marker));
        const outcomes: WriteResult[] = [];
        await this.sendOperations(operations, outcomes);
        // 409 (a document newer than the TRUNCATE) is what we want; only retry/failed count.
        if (outcomes[0] && outcomes[0].status !== 'ok') return outcomes[0];
        page = await this.client.scroll({ scroll_id: page._scroll_id!, scroll: '1m' });
      }
      this.logger.info({ index, version: step.version }, 'applied TRUNCATE: soft-deleted every row older than it');
      return order === 0 ? stale : ok;
    } catch (error) {
      return resultForRequestError(error);
    } finally {
      if (scrollId) await this.client.clearScroll({ scroll_id: scrollId }).catch(() => undefined);
    }
  }

  private async waitForCluster(): Promise<void> {
    const deadline = Date.now() + this.config.startupWaitMs;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.client.cluster.health({ wait_for_status: 'yellow', timeout: '5s' }, { requestTimeout: 10_000 });
        return;
      } catch (error) {
        if (Date.now() >= deadline) {
          throw new RetriableError(`Elasticsearch at ${maskUrlCredentials(this.config.url)} did not answer within ${this.config.startupWaitMs} ms`, { cause: error });
        }
        this.logger.warn({ attempt, err: toError(error) }, 'waiting for Elasticsearch');
        await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 500 * attempt)));
      }
    }
  }
}

/**
 * One bulk request; one result per operation, in order. A request that fails as a whole gives
 * every operation the same result. Shared with the throughput benchmark's raw ceiling.
 */
export async function sendBulk(client: Client, operations: readonly BulkOperation[]): Promise<WriteResult[]> {
  let response: { items?: Record<string, BulkItem>[] };
  try {
    response = (await client.transport.request(
      { method: 'POST', path: '/_bulk', querystring: { filter_path: BULK_FILTER_PATH }, bulkBody: operations.map((operation) => operation.ndjson).join('') },
    )) as typeof response;
  } catch (error) {
    const result = resultForRequestError(error);
    return operations.map(() => result);
  }
  const items = response.items ?? [];
  if (items.length !== operations.length) {
    const result = retry(new RetriableError(`bulk response has ${items.length} items for ${operations.length} operations`));
    return operations.map(() => result);
  }
  return items.map((item) => resultForBulkItem(Object.values(item)[0] ?? { status: 500 }));
}

/** A live write this call made: the sweep after a concurrent TRUNCATE may have to undo it. */
interface AppliedWrite {
  readonly owner: number;
  readonly index: string;
  readonly id: string;
  readonly version: string;
}

/** The soft-delete marker a TRUNCATE leaves on a row. */
function truncatedMarker(mark: TruncateMark) {
  return deletedDocument(mark.lsn, Date.parse(mark.truncatedAt) || 0);
}

const notSent = (): WriteResult => retry(new RetriableError('not sent: an earlier request of this batch must be retried first'));

/** Marks every event whose result is still unset as retry (not sent this time). */
function fillRetry(results: WriteResult[]): WriteResult[] {
  const result = notSent();
  for (let i = 0; i < results.length; i++) results[i] ??= result;
  return results;
}

export function createClient(config: ElasticsearchConfig): Client {
  const options: ClientOptions = {
    node: config.url,
    requestTimeout: config.requestTimeoutMs,
    maxRetries: 0,
    // The integ-test distribution answers `GET /` with 405; the client's product check reads the
    // `x-elastic-product` header of every 2xx response instead, which both distributions send.
  };
  if (config.auth) options.auth = config.auth;
  return new Client(options);
}
