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
 *   Per-item results become per-event results (bulk-results.ts); a refused write is `stale`. After the first request that
 *   must be retried, nothing more is sent: the runner will hand those events over again.
 * - The sink does not retry by itself (the client is built with maxRetries 0): the runner owns
 *   backoff, so one place decides how long to wait.
 * - A whole-batch failure (cluster unreachable during the TOAST read) is thrown; the runner
 *   treats it as `retry` for every event.
 */
import { Client, type ClientOptions } from '@elastic/elasticsearch';
import type { ChangeEvent, Row } from '../core/change-event.js';
import { RetriableError, toError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { retry, type Sink, type WriteResult } from '../core/sink.js';
import { externalIndexOperation, splitIntoBulks, type BulkLimits, type BulkOperation } from './bulk-body.js';
import { resultForBulkItem, resultForRequestError, worstOf, type BulkItem } from './bulk-results.js';
import { deletedDocument, META_FIELD, rowFromSource } from './document.js';
import type { ElasticsearchConfig } from './elasticsearch-config.js';
import { INDEX_CATALOG, resolveCatalog, type IndexDefinition, type ResolvedIndex } from './index-catalog.js';
import { ensureIndexes } from './index-setup.js';
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
  private closed: Promise<void> | null = null;

  constructor(options: ElasticsearchSinkOptions) {
    this.config = options.config;
    this.logger = options.logger;
    this.indexes = resolveCatalog(options.config.indexPrefix, options.catalog ?? INDEX_CATALOG);
    this.limits = { maxDocs: options.config.bulkMaxDocs, maxBytes: options.config.bulkMaxBytes };
    this.client = createClient(options.config);
  }

  async start(): Promise<void> {
    await this.waitForCluster();
    await ensureIndexes(this.client, this.indexes.values(), this.logger);
  }

  async write(events: readonly ChangeEvent[]): Promise<WriteResult[]> {
    const steps = planWrites(events, this.indexes);
    const results: WriteResult[] = new Array(events.length);
    // Row writes between truncates go out together; a truncate runs alone, in order.
    let group: Step[] = [];
    const flush = async (): Promise<boolean> => {
      const done = await this.writeGroup(group, results);
      group = [];
      return done;
    };
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i]!;
      if (step.kind !== 'truncate') {
        group.push(step);
        continue;
      }
      if (!(await flush())) return fillRetry(results);
      results[step.owner] = await this.truncate(step);
      if (results[step.owner]!.status === 'retry') return fillRetry(results);
    }
    if (!(await flush())) return fillRetry(results);
    return results;
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
   * Writes the row steps of one group into `results`. Returns false when a request must be
   * retried: the results of unsent steps are then left unset (the caller marks them retry).
   */
  private async writeGroup(steps: readonly Step[], results: WriteResult[]): Promise<boolean> {
    const writes: DocumentWrite[] = [];
    for (const step of steps) {
      if (step.kind === 'result') results[step.owner] = step.result;
      else if (step.kind === 'writes') writes.push(...step.writes);
    }
    await this.fillFromIndex(writes);
    const operations = writes.map((write) => externalIndexOperation(write.owner, write.index, write.id, write.version, write.document));
    return this.sendOperations(operations, results);
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

  /** Sends operations in bulk requests, in order. False after the first request to retry. */
  private async sendOperations(operations: readonly BulkOperation[], results: WriteResult[]): Promise<boolean> {
    const record = (operation: BulkOperation, result: WriteResult) => {
      const previous = results[operation.owner];
      results[operation.owner] = previous ? worstOf(previous, result) : result;
    };
    const bulks = splitIntoBulks(operations, this.limits);
    for (let i = 0; i < bulks.length; i++) {
      const itemResults = await sendBulk(this.client, bulks[i]!);
      bulks[i]!.forEach((operation, position) => record(operation, itemResults[position]!));
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
   * TRUNCATE: every document in the table's index gets a soft-delete marker at the truncate's
   * LSN. Rows written after the TRUNCATE carry bigger LSNs, so their documents refuse the marker
   * (409, fine) and stay. Refreshes the index, reads it with a scroll, writes with the same bulk
   * path.
   */
  private async truncate(step: Extract<Step, { kind: 'truncate' }>): Promise<WriteResult> {
    const marker = deletedDocument(step.event.source.lsn, step.event.source.commitTimeMs);
    let scrollId: string | undefined;
    try {
      // Search is near-real-time: make every write so far (this batch's too) visible to it.
      await this.client.indices.refresh({ index: step.index.indexName });
      let page = await this.client.search({ index: step.index.indexName, scroll: '1m', size: this.limits.maxDocs, sort: ['_doc'], _source: false });
      let result: WriteResult | undefined;
      for (;;) {
        scrollId = page.hits.hits.length > 0 ? page._scroll_id : undefined;
        if (page.hits.hits.length === 0) break;
        const operations = page.hits.hits.map((hit) => externalIndexOperation(0, step.index.indexName, hit._id!, step.version, marker));
        const outcomes: WriteResult[] = [];
        await this.sendOperations(operations, outcomes);
        result = outcomes[0] ? (result ? worstOf(result, outcomes[0]) : outcomes[0]) : result;
        if (result?.status === 'retry') return result;
        page = await this.client.scroll({ scroll_id: page._scroll_id!, scroll: '1m' });
      }
      this.logger.info({ index: step.index.indexName, lsn: step.version }, 'applied TRUNCATE: soft-deleted every row older than it');
      return result ?? { status: 'ok' };
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
          throw new RetriableError(`Elasticsearch at ${this.config.url} did not answer within ${this.config.startupWaitMs} ms`, { cause: error });
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
