/**
 * What a row becomes in Elasticsearch: its document id, its external version and its body.
 *
 * - Id: the primary key. A single-column key is the value as text ("42"); a composite key joins
 *   the values in key-column order with "|", escaping "\" and "|" so two different keys never
 *   share an id.
 * - Version: the event's row version (`source.version`) mapped into a signed 64-bit long (see
 *   externalVersion), as exact decimal digits, used with `version_type: external`, so
 *   Elasticsearch itself refuses any write that is not newer than the stored one.
 * - Body of a live row: the row exactly as decoded (NUMERIC stays the exact string "25000.00";
 *   the mapping indexes it as a number for range queries, `_source` keeps the string).
 * - Body of a deleted row: a soft-delete marker `{ "_cdc": { "deleted": true, ... } }` indexed
 *   with the delete's LSN as version. Elasticsearch forgets a real delete's version after
 *   `index.gc_deletes` (60 s), after which a replayed older create would bring the row back; a
 *   marker document keeps its version for ever. The table alias filters markers out.
 */
import type { Row, Value } from '../core/change-event.js';
import { PermanentError } from '../core/errors.js';

/** Reserved top-level field holding this consumer's bookkeeping; never a column of a live row. */
export const META_FIELD = '_cdc';
/** The indexed boolean that marks a soft-deleted row (see the alias filter in index-catalog.ts). */
export const DELETED_FIELD = `${META_FIELD}.deleted`;

/** Elasticsearch rejects ids longer than 512 bytes. */
const MAX_ID_BYTES = 512;
/** Where streamed changes start in Elasticsearch's version space (see externalVersion). */
export const STREAMED_EXTERNAL_BASE = 1n << 62n;
/** Core's streamed row versions are 2^64 + LSN (rowVersion in core/change-event.ts). */
const STREAMED_ROW_VERSION_BASE = 1n << 64n;

/** The document id for a primary key. Throws PermanentError for an empty or oversized key. */
export function documentId(key: Row): string {
  const values = Object.values(key);
  if (values.length === 0) throw new PermanentError('the event has no primary key (table without a key?): it cannot be indexed by id');
  const id = values.length === 1 ? keyPart(values[0]!) : values.map((value) => keyPart(value).replace(/[\\|]/g, '\\$&')).join('|');
  if (Buffer.byteLength(id, 'utf8') > MAX_ID_BYTES) {
    throw new PermanentError(`primary key gives a document id longer than ${MAX_ID_BYTES} bytes`);
  }
  return id;
}

function keyPart(value: Value): string {
  if (value === null) return '';
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/** The primary key that `row` had, using the key columns of `key`; null if a key column is missing. */
export function keyOf(row: Row, key: Row): Row | null {
  const result: Row = {};
  for (const column of Object.keys(key)) {
    if (!Object.hasOwn(row, column)) return null;
    result[column] = row[column]!;
  }
  return result;
}

/**
 * The external version for a row version (`source.version`). Elasticsearch's external versions
 * are signed 64-bit longs (at most 2^63 - 1), but core's row versions reach 2^65 (streamed
 * changes are 2^64 + LSN, so they sort above every snapshot row). The same order in a long:
 *   snapshot row  (version = LSN)        -> LSN
 *   streamed      (version = 2^64 + LSN) -> 2^62 + LSN
 * which holds while LSNs stay below 2^62 (4 EiB of WAL: PostgreSQL would need centuries at any
 * realistic write rate). An LSN at or beyond 2^62 is refused permanently with a clear error
 * rather than mapped into an order that would be wrong.
 */
export function externalVersion(version: string): string {
  if (!/^\d+$/.test(version)) throw new PermanentError(`row version ${JSON.stringify(version)} is not decimal digits`);
  const value = BigInt(version);
  const streamed = value >= STREAMED_ROW_VERSION_BASE;
  const lsn = streamed ? value - STREAMED_ROW_VERSION_BASE : value;
  if (lsn >= STREAMED_EXTERNAL_BASE) {
    throw new PermanentError(
      `LSN ${lsn} is at or beyond 2^62: Elasticsearch external versions are signed 64-bit longs, and this sink keeps ` +
        'streamed changes above snapshot rows by mapping them to 2^62 + LSN, so it cannot order this change',
    );
  }
  return (streamed ? STREAMED_EXTERNAL_BASE + lsn : lsn).toString();
}

/** The body indexed for a live row: the row itself. */
export function liveDocument(row: Row): Row {
  if (Object.hasOwn(row, META_FIELD)) {
    throw new PermanentError(`column "${META_FIELD}" clashes with the search index's bookkeeping field`);
  }
  return row;
}

export interface DeletedMarker {
  readonly [META_FIELD]: { readonly deleted: true; readonly lsn: string; readonly deleted_at: string };
}

/** The soft-delete marker for a row deleted at `lsn`, committed at `commitTimeMs`. */
export function deletedDocument(lsn: string, commitTimeMs: number): DeletedMarker {
  return { [META_FIELD]: { deleted: true, lsn, deleted_at: new Date(commitTimeMs).toISOString() } };
}

/** A stored `_source` read back as a row: null for a soft-delete marker. */
export function rowFromSource(source: Record<string, unknown> | null | undefined): Row | null {
  if (source == null) return null;
  if (Object.hasOwn(source, META_FIELD)) return null;
  return source as Row;
}
