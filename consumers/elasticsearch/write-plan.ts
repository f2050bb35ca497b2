/**
 * Turns a batch of change events into document writes, without I/O.
 *
 * - create/read/update -> index the row at (concrete index, primary-key id) with the event's row
 *   version as external version (mapped into a long, see externalVersion in document.ts);
 * - delete -> index a soft-delete marker at the delete's version (see document.ts);
 * - an update whose `before` has a different primary key than the event key (a PK change
 *   reported as one update) -> also a marker for the old id, at the same LSN. Debezium normally
 *   reports a PK change as delete(old key) + create(new key), which needs nothing special;
 * - tombstone -> nothing (`ok`): the soft-delete marker already holds the delete;
 * - truncate -> a `truncate` step the sink runs in order (it needs to list the index);
 * - an event that can never be written (unknown table, no key, LSN at or beyond 2^62) -> `failed`.
 *
 * Unchanged-TOAST columns (listed in `unavailableColumns`, absent from `after`) are filled here
 * from `before` when it has them, else from the newest earlier write of the same document in
 * this batch; whatever is still missing is listed in `missing`, for the sink to read from the
 * index (mget) before sending. An indexed document is always a whole row, so the external
 * version check protects TOAST updates exactly like any other write.
 */
import { compareLsn, type ChangeEvent, type Row, type RowChangeEvent, type TruncateEvent } from '../core/change-event.js';
import { PermanentError, resultForError } from '../core/errors.js';
import { ok, type WriteResult } from '../core/sink.js';
import { deletedDocument, documentId, externalVersion, keyOf, liveDocument, type DeletedMarker } from './document.js';
import type { ResolvedIndex } from './index-catalog.js';

export interface DocumentWrite {
  /** Position of the event in the batch. */
  readonly owner: number;
  readonly index: string;
  readonly id: string;
  /** External version: the event's row version, mapped into a long (externalVersion). */
  readonly version: string;
  readonly document: Row | DeletedMarker;
  /** Unchanged-TOAST columns still to be filled from the stored document (live rows only). */
  readonly missing: string[];
}

export type Step =
  | { readonly kind: 'result'; readonly owner: number; readonly result: WriteResult }
  | { readonly kind: 'writes'; readonly owner: number; readonly writes: DocumentWrite[] }
  | { readonly kind: 'truncate'; readonly owner: number; readonly index: ResolvedIndex; readonly version: string; readonly event: TruncateEvent };

/** One step per event, in batch order. */
export function planWrites(events: readonly ChangeEvent[], indexes: ReadonlyMap<string, ResolvedIndex>): Step[] {
  const latest = new Map<string, { version: string; row: Row | null }>();
  return events.map((event, owner): Step => {
    if (event.op === 'tombstone') return { kind: 'result', owner, result: ok };
    try {
      const index = indexes.get(event.table);
      if (!index) throw new PermanentError(`table "${event.table}" has no search index (known: ${[...indexes.keys()].join(', ')})`);
      const version = externalVersion(event.source.version);
      if (event.op === 'truncate') return { kind: 'truncate', owner, index, version, event };
      return { kind: 'writes', owner, writes: rowWrites(event, owner, index.indexName, version, latest) };
    } catch (error) {
      return { kind: 'result', owner, result: resultForError(error) };
    }
  });
}

function rowWrites(
  event: RowChangeEvent,
  owner: number,
  index: string,
  version: string,
  latest: Map<string, { version: string; row: Row | null }>,
): DocumentWrite[] {
  const id = documentId(event.key);
  const remember = (docId: string, row: Row | null) => {
    const slot = `${index}\u0000${docId}`;
    const seen = latest.get(slot);
    if (!seen || compareLsn(event.source.version, seen.version) > 0) latest.set(slot, { version: event.source.version, row });
  };
  const marker = (docId: string): DocumentWrite => {
    remember(docId, null);
    return { owner, index, id: docId, version, document: deletedDocument(event.source.lsn, event.source.commitTimeMs), missing: [] };
  };

  if (event.op === 'delete') return [marker(id)];
  if (event.after === null) throw new PermanentError(`a ${event.op} event without an "after" row`);

  const writes: DocumentWrite[] = [];
  const oldKey = event.op === 'update' && event.before ? keyOf(event.before, event.key) : null;
  if (oldKey) {
    const oldId = documentId(oldKey);
    if (oldId !== id) writes.push(marker(oldId));
  }

  // Copied only when unchanged-TOAST columns are filled in below (or later, from the index):
  // the decoded row is otherwise sent as it is (one object less per event).
  const row: Row = event.unavailableColumns.length > 0 ? { ...event.after } : event.after;
  const missing: string[] = [];
  const earlier = event.unavailableColumns.length > 0 ? (latest.get(`${index}\u0000${id}`)?.row ?? null) : null;
  for (const column of event.unavailableColumns) {
    if (Object.hasOwn(row, column)) continue;
    if (event.before && Object.hasOwn(event.before, column)) row[column] = event.before[column]!;
    else if (earlier && Object.hasOwn(earlier, column)) row[column] = earlier[column]!;
    else missing.push(column);
  }
  remember(id, row);
  writes.push({ owner, index, id, version, document: liveDocument(row), missing });
  return writes;
}
