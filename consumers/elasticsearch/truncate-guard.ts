/**
 * The per-index TRUNCATE version: what keeps rows of a truncated table from coming back.
 *
 * A TRUNCATE has no key, so it lands on ONE partition; older row changes of the same table may
 * still be queued on the others (another lane of this process, or another instance) and reach
 * Elasticsearch after the truncate soft-deleted everything. The Redis sink checks a per-table
 * truncate version inside its script; Elasticsearch cannot compare a document with another one,
 * so the version lives in a small state index every lane and instance reads:
 *
 *   <prefix>cdc_truncations/_doc/<concrete index>   { version, lsn, truncated_at }
 *
 * indexed with `version_type: external` = the truncate's external version, so a replayed or
 * older TRUNCATE can never lower it. The sink (elasticsearch-sink.ts) uses it twice per write:
 * - before: a row write whose version is at or below its index's truncate version is dropped
 *   and answers `stale`;
 * - after: it reads the versions again, and if a TRUNCATE was recorded meanwhile (its pass may
 *   have read the index before our bulk landed), it soft-deletes what it just wrote below it.
 * The truncate records its version BEFORE it reads the index, so for every row written at the
 * same time either the truncate's pass sees the row, or the writer's second read sees the
 * truncate. A row write found below the truncate version is not dropped but turned into a
 * soft-delete marker at that version (refused by a newer document), which also repairs a row
 * that slipped in when a second read could not be made.
 *
 * The state index is created at start-up (a read during its creation would fail), next to the
 * table indexes; reads of an index that is missing anyway (deleted by hand) find no TRUNCATE.
 */
import type { Client } from '@elastic/elasticsearch';
import { errors } from '@elastic/elasticsearch';
import { RetriableError } from '../core/errors.js';
import { externalIndexOperation } from './bulk-body.js';

/** The state index's name after the prefix. */
export const TRUNCATIONS_INDEX = 'cdc_truncations';

/** One index's last TRUNCATE. */
export interface TruncateMark {
  /** External version (see externalVersion in document.ts), decimal digits. */
  readonly version: string;
  /** The TRUNCATE's LSN and commit time, for the soft-delete markers. */
  readonly lsn: string;
  readonly truncatedAt: string;
}

const STATE_INDEX_BODY = {
  settings: { index: { number_of_shards: 1, auto_expand_replicas: '0-1' } },
  mappings: {
    dynamic: false,
    properties: { version: { type: 'keyword' }, lsn: { type: 'keyword' }, truncated_at: { type: 'date' } },
  },
} as const;

export class TruncateGuard {
  constructor(private readonly client: Client, readonly indexName: string) {}

  /** Creates the state index unless it exists (several instances may race). */
  async ensure(): Promise<void> {
    try {
      await this.client.indices.create({ index: this.indexName, ...STATE_INDEX_BODY });
    } catch (error) {
      const type = error instanceof errors.ResponseError ? (error.body as { error?: { type?: string } } | undefined)?.error?.type : undefined;
      if (type !== 'resource_already_exists_exception') throw error;
    }
  }

  /** The last TRUNCATE of each of `indexes` (realtime: what was recorded a moment ago counts). */
  async read(indexes: readonly string[]): Promise<Map<string, TruncateMark>> {
    const marks = new Map<string, TruncateMark>();
    if (indexes.length === 0) return marks;
    let docs: { found?: boolean; _id?: string; _source?: { version?: string; lsn?: string; truncated_at?: string }; error?: { type?: string } }[];
    try {
      const response = await this.client.mget<{ version?: string; lsn?: string; truncated_at?: string }>({ index: this.indexName, ids: [...indexes], realtime: true });
      docs = response.docs as typeof docs;
    } catch (error) {
      if (error instanceof errors.ResponseError && error.statusCode === 404) return marks; // no TRUNCATE yet
      throw new RetriableError(`cannot read the truncate versions in ${this.indexName}`, { cause: error });
    }
    for (const doc of docs) {
      // No state index yet (no TRUNCATE so far): Elasticsearch answers per document.
      if (doc.error?.type === 'index_not_found_exception') continue;
      if (doc.error) throw new RetriableError(`cannot read the truncate version of ${doc._id} in ${this.indexName}: ${JSON.stringify(doc.error)}`);
      const source = doc.found ? doc._source : undefined;
      if (doc._id && source?.version) marks.set(doc._id, { version: source.version, lsn: source.lsn ?? '', truncatedAt: source.truncated_at ?? '' });
    }
    return marks;
  }

  /**
   * Records a TRUNCATE of `index`. 'stale' when the same or a newer one is recorded already.
   * Throws (the caller answers retry) when Elasticsearch cannot be written.
   */
  async record(index: string, mark: TruncateMark): Promise<'applied' | 'stale'> {
    const operation = externalIndexOperation(0, this.indexName, index, mark.version, { version: mark.version, lsn: mark.lsn, truncated_at: mark.truncatedAt });
    const response = (await this.client.transport.request({ method: 'POST', path: '/_bulk', querystring: { filter_path: 'items.*.status,items.*.error' }, bulkBody: operation.ndjson })) as {
      items?: Record<string, { status: number; error?: unknown }>[];
    };
    const item = response.items?.[0] ? Object.values(response.items[0])[0] : undefined;
    if (item && item.status >= 200 && item.status < 300) return 'applied';
    if (item?.status === 409) return 'stale';
    throw new RetriableError(`recording the TRUNCATE of ${index} failed: ${JSON.stringify(item ?? response)}`);
  }
}
