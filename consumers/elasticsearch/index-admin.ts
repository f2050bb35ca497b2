/**
 * Small operator tools over the sink's indexes, used by tests, the benchmark and anyone checking
 * the index by hand: read live rows through the alias, drop a namespace.
 */
import type { Client } from '@elastic/elasticsearch';
import { errors } from '@elastic/elasticsearch';
import type { Row } from '../core/change-event.js';
import { rowFromSource } from './document.js';
import type { ResolvedIndex } from './index-catalog.js';

/** Makes every write so far visible to search (tests and tools only: the consumer never forces it). */
export async function refresh(client: Client, indexes: Iterable<ResolvedIndex>): Promise<void> {
  await client.indices.refresh({ index: [...indexes].map((index) => index.indexName) });
}

/** Live rows matching `query` through the table alias (deleted rows are filtered by the alias), by id. */
export async function searchRows(client: Client, alias: string, query: Record<string, unknown> = { match_all: {} }, size = 10_000): Promise<Map<string, Row>> {
  const response = await client.search<Record<string, unknown>>({ index: alias, query, size, sort: ['_doc'] });
  const rows = new Map<string, Row>();
  for (const hit of response.hits.hits) {
    const row = rowFromSource(hit._source);
    if (row) rows.set(hit._id!, row);
  }
  return rows;
}

/** Deletes the concrete indexes (their aliases go with them), given resolved or by name. Missing ones are fine. */
export async function deleteIndexes(client: Client, indexes: Iterable<ResolvedIndex | string>): Promise<void> {
  for (const index of indexes) {
    try {
      await client.indices.delete({ index: typeof index === 'string' ? index : index.indexName });
    } catch (error) {
      if (!(error instanceof errors.ResponseError && error.statusCode === 404)) throw error;
    }
  }
}

/** A live document as a search user sees it: id, external version (the LSN) and row. */
export interface DumpedDocument {
  readonly id: string;
  readonly version: number | undefined;
  readonly row: Row;
}

/** Every live document behind the alias, sorted by id (scrolls, so any size). */
export async function dumpAlias(client: Client, alias: string): Promise<DumpedDocument[]> {
  const documents: DumpedDocument[] = [];
  let page = await client.search<Record<string, unknown>>({ index: alias, scroll: '1m', size: 1_000, sort: ['_doc'], version: true });
  try {
    while (page.hits.hits.length > 0) {
      for (const hit of page.hits.hits) {
        const row = rowFromSource(hit._source);
        if (row) documents.push({ id: hit._id!, version: hit._version, row });
      }
      page = await client.scroll<Record<string, unknown>>({ scroll_id: page._scroll_id!, scroll: '1m' });
    }
  } finally {
    if (page._scroll_id) await client.clearScroll({ scroll_id: page._scroll_id }).catch(() => undefined);
  }
  return documents.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
