/**
 * Reads the Elasticsearch sink back for `verify`: every table's CONCRETE index (`<prefix>orders_v1`,
 * from the sink's own index catalog, so soft-delete markers are seen too and the alias's filter
 * does not hide anything), `_source` read by the sink's own `rowFromSource` (a marker is a deleted
 * row), `_version` mapped back to the LSN (inverse of document.ts `externalVersion`).
 *
 * Responses are parsed with core's exact JSON parser: an int8 or jsonb number beyond a double and
 * the 2^62-based external versions come through unrounded.
 */
import type { Row } from '../../consumers/core/change-event.js';
import { parsePlainJson } from '../../consumers/core/json.js';
import { documentId, rowFromSource, STREAMED_EXTERNAL_BASE } from '../../consumers/elasticsearch/document.js';
import { resolveCatalog, type ResolvedIndex } from '../../consumers/elasticsearch/index-catalog.js';
import type { SinkReader, SinkRow, SkipReason } from './sink-reader.js';
import { keyTextOf, type TableInfo } from './source-rows.js';

const PAGE = 5000;

interface Hit {
  _id: string;
  _version?: number | string;
  _source?: Record<string, unknown>;
  found?: boolean;
}

/** Elasticsearch's external version back to the LSN of the change (see externalVersion in document.ts). */
export function lsnFromExternalVersion(version: number | string | undefined): string | null {
  if (version === undefined) return null;
  const value = BigInt(version);
  return (value >= STREAMED_EXTERNAL_BASE ? value - STREAMED_EXTERNAL_BASE : value).toString();
}

export class ElasticsearchReader implements SinkReader {
  readonly name = 'elasticsearch' as const;
  private readonly url: string;
  private readonly catalog: Map<string, ResolvedIndex>;

  constructor(url: string, private readonly indexPrefix: string) {
    this.url = url.replace(/\/$/, '');
    this.catalog = resolveCatalog(indexPrefix);
  }

  private async request(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    const response = await fetch(`${this.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(60_000),
    });
    const text = await response.text();
    return { status: response.status, json: text === '' ? null : parsePlainJson(text) };
  }

  private index(table: string): string {
    const index = this.catalog.get(table);
    if (!index) throw new Error(`the Elasticsearch sink has no index for table ${table}`);
    return index.indexName;
  }

  async skipReason(tables: readonly string[]): Promise<SkipReason | null> {
    let health;
    try {
      health = await this.request('GET', '/_cluster/health');
    } catch (error) {
      return { kind: 'unreachable', reason: `Elasticsearch at ${this.url} does not answer (${(error as Error).message})` };
    }
    if (health.status !== 200) return { kind: 'unreachable', reason: `Elasticsearch at ${this.url} answers HTTP ${health.status}` };
    const names = tables.filter((t) => this.catalog.has(t)).map((t) => this.index(t));
    if (names.length === 0) return { kind: 'empty', reason: 'none of the tables has an Elasticsearch index' };
    const counts = await this.request('GET', `/${names.join(',')}/_count?ignore_unavailable=true&allow_no_indices=true`);
    const count = Number((counts.json as { count?: number }).count ?? 0);
    return count > 0 ? null : { kind: 'empty', reason: `no documents in ${names.join(', ')} (ES_INDEX_PREFIX=${JSON.stringify(this.indexPrefix)})` };
  }

  private sinkRow(hit: Hit): SinkRow {
    return { values: rowFromSource(hit._source) as Row | null, lsn: lsnFromExternalVersion(hit._version) };
  }

  /**
   * The report's key text for a document id. A single-column key's id is the value's text, as
   * keyTextOf writes it; a composite id ("a|b") cannot be split back exactly, so readAll supports
   * single-column keys only (every shop table), and readKeys (by source key) supports both.
   */
  private keyText(info: TableInfo, id: string): string {
    if (info.primaryKey.length !== 1) throw new Error(`${info.table}: verify reads Elasticsearch by scan only for single-column keys`);
    return id;
  }

  async readAll(info: TableInfo, onProgress: (done: number) => void): Promise<Map<string, SinkRow>> {
    const result = new Map<string, SinkRow>();
    const index = this.index(info.table);
    let page = await this.request('POST', `/${index}/_search?scroll=2m`, { size: PAGE, sort: ['_doc'], version: true, query: { match_all: {} } });
    if (page.status === 404) return result;
    if (page.status !== 200) throw new Error(`Elasticsearch search on ${index}: HTTP ${page.status} ${JSON.stringify(page.json).slice(0, 300)}`);
    let scrollId: string | undefined;
    try {
      for (;;) {
        const body = page.json as { _scroll_id?: string; hits: { hits: Hit[] } };
        scrollId = body._scroll_id ?? scrollId;
        for (const hit of body.hits.hits) result.set(this.keyText(info, hit._id), this.sinkRow(hit));
        onProgress(result.size);
        if (body.hits.hits.length < PAGE || !scrollId) break;
        page = await this.request('POST', '/_search/scroll', { scroll: '2m', scroll_id: scrollId });
        if (page.status !== 200) throw new Error(`Elasticsearch scroll on ${index}: HTTP ${page.status}`);
      }
    } finally {
      if (scrollId) await this.request('DELETE', '/_search/scroll', { scroll_id: scrollId }).catch(() => undefined);
    }
    return result;
  }

  async readKeys(info: TableInfo, keys: readonly Row[]): Promise<Map<string, SinkRow>> {
    const result = new Map<string, SinkRow>();
    const index = this.index(info.table);
    for (let start = 0; start < keys.length; start += PAGE) {
      const chunk = keys.slice(start, start + PAGE);
      const { status, json } = await this.request('POST', `/${index}/_mget`, { ids: chunk.map((key) => documentId(key)) });
      if (status === 404) return result;
      if (status !== 200) throw new Error(`Elasticsearch mget on ${index}: HTTP ${status}`);
      for (const [i, doc] of ((json as { docs: Hit[] }).docs ?? []).entries()) {
        if (doc.found) result.set(keyTextOf(chunk[i]!), this.sinkRow(doc));
      }
    }
    return result;
  }

  async close(): Promise<void> {}
}
