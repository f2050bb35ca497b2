/**
 * What a run of row changes does to the warehouse, decided in memory (pure: no I/O), so that the
 * sink sends each batch as two unordered bulk writes: the change_log entries, then one
 * current-state write per row.
 *
 * Per row, its events are walked in Kafka order against the state the warehouse holds (read by the
 * sink just before) and the table's TRUNCATEs:
 * - an event whose version (`source.version`, compared with compareLsn) is not newer than the row's
 *   is `stale`: nothing is written for it (a replay, or a re-snapshot of a row changed since);
 * - a newer one becomes a change_log entry (version number = the row's count of versions + 1) and
 *   the row's next state. Unchanged-TOAST columns are filled from the state before it.
 * - deletes are soft: the row keeps its last values, marked deleted with the time and LSN; a later
 *   create revives it as a new version.
 * - a TRUNCATE newer than the row's version and older than the event (or any newer one, after the
 *   last event) applies to the row first: an entry `truncate` and the row soft-deleted by it. The
 *   sink applies each TRUNCATE to the rows stored at that moment; this catches rows whose changes
 *   arrive later (other partitions), so the history is the same in whatever order they are read.
 * - an event that cannot be converted (a NUMERIC column holding "lots") fails alone; the row goes
 *   on from the state before it.
 *
 * The current-state write is guarded by the version it was planned against (see RowWrite), so a
 * concurrent writer makes it fail (and the runner retry) instead of being overwritten.
 */
import { compareLsn, type ChangeEvent, type Row, type RowChangeEvent, type Value } from '../core/change-event.js';
import { isoFromEpochMicros } from '../core/debezium/temporal.js';
import { PermanentError, toError } from '../core/errors.js';
import { failed, stale, type WriteResult } from '../core/sink.js';
import { dateFromIso, fromDocument, toDocument, type BsonDocument, type BsonValue } from './bson-values.js';
import { changeLogId, documentId, keyText, paddedVersion } from './row-keys.js';
import { tableDefinition, type TableCatalog, type TableDefinition } from './table-catalog.js';

/** The bookkeeping sub-document of every current-state document. */
export const CDC_FIELD = '_cdc';

/** One TRUNCATE as the table's meta document remembers it (see warehouse-sink.ts). */
export interface TruncateRecord {
  readonly version: string; // padded
  readonly lsn: string;
  readonly commit_time_us: string;
  readonly tx_id: number | null;
  readonly kafka: { readonly topic: string; readonly partition: number; readonly offset: string } | null;
}

/** A row's state as the warehouse holds it, in event terms (exact JS values). */
export interface RowState {
  readonly values: Row;
  readonly version: string; // padded
  readonly lsn: string;
  readonly versionNumber: number;
  readonly op: string;
  readonly txId: number | null;
  readonly deleted: boolean;
  readonly deletedAtUs: string | null;
  readonly deletedLsn: string | null;
  readonly firstSeenUs: string;
  readonly lastChangedUs: string;
}

/** A change_log entry to insert; `owner` is the index of the event it records (-1: a TRUNCATE's row entry). */
export interface LogInsert {
  readonly owner: number;
  readonly document: BsonDocument;
}

/** The current-state write of one row: guarded by the version read (`expectedVersion`), or an insert when there was none. */
export interface RowWrite {
  readonly table: string;
  readonly id: Value;
  readonly expectedVersion: string | null;
  readonly document: BsonDocument;
}

export interface RowPlan {
  readonly table: string;
  readonly id: Value;
  /** Events whose effect this row's writes carry: each is ok only once its log entry and the row write are. */
  readonly owners: number[];
  readonly logs: LogInsert[];
  /** Null when nothing changed (every event stale or failed). */
  readonly write: RowWrite | null;
  /** Columns the event could not supply and the warehouse did not hold (logged by the sink). */
  readonly unfilled: { owner: number; columns: string[] }[];
}

export interface BatchPlan {
  readonly rows: RowPlan[];
  /** Results decided without writing (stale, failed), by event index. */
  readonly settled: Map<number, WriteResult>;
}

/** `indexed` are the row events (not tombstones or truncates) with their positions in the sink's batch. */
export function planRowChanges(
  indexed: readonly { index: number; event: RowChangeEvent }[],
  stored: ReadonlyMap<string, ReadonlyMap<string, Record<string, unknown>>>,
  truncates: ReadonlyMap<string, readonly TruncateRecord[]>,
  catalog: TableCatalog,
): BatchPlan {
  const settled = new Map<number, WriteResult>();
  const byRow = new Map<string, { table: string; id: Value; items: { index: number; event: RowChangeEvent }[] }>();
  for (const item of indexed) {
    const table = tableDefinition(catalog, item.event.table);
    const id = documentId(item.event.key, table);
    const rowKey = `${item.event.table}\u0000${keyText(id)}`;
    let group = byRow.get(rowKey);
    if (!group) byRow.set(rowKey, (group = { table: item.event.table, id, items: [] }));
    group.items.push(item);
  }

  const rows: RowPlan[] = [];
  for (const { table: tableName, id, items } of byRow.values()) {
    const table = tableDefinition(catalog, tableName);
    const storedDocument = stored.get(tableName)?.get(keyText(id)) ?? null;
    const initial = storedDocument ? stateFromDocument(storedDocument, table) : null;
    const tableTruncates = [...(truncates.get(tableName) ?? [])].sort((a, b) => compareLsn(a.version, b.version));
    let state = initial;
    const plan: RowPlan = { table: tableName, id, owners: [], logs: [], write: null, unfilled: [] };

    for (const { index, event } of items) {
      const version = paddedVersion(event.source.version);
      if (state && compareLsn(version, state.version) <= 0) {
        settled.set(index, stale);
        continue;
      }
      try {
        // A TRUNCATE between the row's version and this event's: it happened to the row first.
        const truncate = state && !state.deleted ? firstTruncateAfter(tableTruncates, state.version, version) : undefined;
        let base = state;
        const pending: LogInsert[] = [];
        if (base && truncate) {
          const truncated = truncateRow(base, truncate);
          pending.push({ owner: -1, document: logDocument(tableName, id, table, truncated.entry) });
          base = truncated.state;
        }
        const applied = applyEvent(base, event, version, table);
        pending.push({ owner: index, document: logDocument(tableName, id, table, applied.entry) });
        plan.logs.push(...pending);
        plan.owners.push(index);
        if (applied.unfilled.length > 0) plan.unfilled.push({ owner: index, columns: applied.unfilled });
        state = applied.state;
      } catch (error) {
        settled.set(index, failed(error instanceof PermanentError ? error : new PermanentError(`cannot record the change in the warehouse: ${toError(error).message}`, { cause: error })));
      }
    }

    // A TRUNCATE newer than everything this row has seen (its changes were read after it).
    if (state && !state.deleted) {
      const truncate = firstTruncateAfter(tableTruncates, state.version, null);
      if (truncate) {
        const truncated = truncateRow(state, truncate);
        plan.logs.push({ owner: -1, document: logDocument(tableName, id, table, truncated.entry) });
        state = truncated.state;
      }
    }

    if (state && state !== initial) {
      (plan as { write: RowWrite | null }).write = {
        table: tableName,
        id,
        expectedVersion: initial?.version ?? null,
        document: stateDocument(id, state, table, tableName),
      };
    }
    if (plan.owners.length > 0 || plan.write) rows.push(plan);
  }
  return { rows, settled };
}

/** What one change_log entry says, before typing. */
export interface LogEntry {
  readonly op: string;
  readonly key: Row | null;
  readonly before: Row | null;
  readonly after: Row | null;
  readonly changedFields: string[];
  readonly unavailable: string[];
  readonly lsn: string;
  readonly version: string;
  readonly versionNumber: number;
  readonly txId: number | null;
  readonly commitUs: string;
  readonly captureMs: number | null;
  readonly snapshot: boolean;
  readonly kafka: { topic: string; partition: number; offset: string } | null;
}

function applyEvent(state: RowState | null, event: RowChangeEvent, version: string, table: TableDefinition): { state: RowState; entry: LogEntry; unfilled: string[] } {
  const commitUs = commitMicrosIso(event);
  const previous = state?.values ?? null;
  const versionNumber = (state?.versionNumber ?? 0) + 1;
  let values: Row;
  let before: Row | null = null;
  let after: Row | null = null;
  let unfilled: string[] = [];
  if (event.op === 'delete') {
    // Soft delete: the row keeps the values it had (the full old row, with REPLICA IDENTITY FULL).
    before = fill(event.before ?? previous ?? {}, previous, event.unavailableColumns).row;
    values = before;
  } else {
    const filled = fill(event.after ?? {}, previous ?? event.before, event.unavailableColumns);
    after = filled.row;
    unfilled = filled.unfilled;
    before = event.op === 'update' ? fill(event.before ?? previous ?? {}, previous, event.unavailableColumns).row : null;
    values = after;
  }
  const deleted = event.op === 'delete';
  const next: RowState = {
    values,
    version,
    lsn: event.source.lsn,
    versionNumber,
    op: event.op,
    txId: event.source.txId,
    deleted,
    deletedAtUs: deleted ? commitUs : null,
    deletedLsn: deleted ? event.source.lsn : null,
    firstSeenUs: state?.firstSeenUs ?? commitUs,
    lastChangedUs: commitUs,
  };
  const entry: LogEntry = {
    op: event.op,
    key: event.key,
    before,
    after,
    changedFields: changedFields(event.op, before, after),
    unavailable: unfilled,
    lsn: event.source.lsn,
    version,
    versionNumber,
    txId: event.source.txId,
    commitUs,
    captureMs: event.source.captureTimeMs ?? null,
    snapshot: event.source.snapshot,
    kafka: { topic: event.kafka.topic, partition: event.kafka.partition, offset: event.kafka.offset },
  };
  return { state: next, entry, unfilled };
}

/** The row soft-deleted by a TRUNCATE, and the row's change_log entry for it. */
export function truncateRow(state: RowState, truncate: TruncateRecord): { state: RowState; entry: LogEntry } {
  const versionNumber = state.versionNumber + 1;
  const next: RowState = {
    ...state,
    version: truncate.version,
    lsn: truncate.lsn,
    versionNumber,
    op: 'truncate',
    txId: truncate.tx_id,
    deleted: true,
    deletedAtUs: truncate.commit_time_us,
    deletedLsn: truncate.lsn,
    lastChangedUs: truncate.commit_time_us,
  };
  const entry: LogEntry = {
    op: 'truncate',
    key: null,
    before: state.values,
    after: null,
    changedFields: Object.keys(state.values),
    unavailable: [],
    lsn: truncate.lsn,
    version: truncate.version,
    versionNumber,
    txId: truncate.tx_id,
    commitUs: truncate.commit_time_us,
    captureMs: null,
    snapshot: false,
    kafka: truncate.kafka,
  };
  return { state: next, entry };
}

/** The first TRUNCATE with after < version < before (before null: no upper bound). */
function firstTruncateAfter(truncates: readonly TruncateRecord[], after: string, before: string | null): TruncateRecord | undefined {
  return truncates.find((t) => compareLsn(t.version, after) > 0 && (before === null || compareLsn(t.version, before) < 0));
}

/** `row` with its unavailable (unchanged-TOAST) columns taken from `from` where it has them. */
function fill(row: Row, from: Row | null, unavailable: readonly string[]): { row: Row; unfilled: string[] } {
  if (unavailable.length === 0) return { row, unfilled: [] };
  const filled: Row = { ...row };
  const unfilled: string[] = [];
  for (const column of unavailable) {
    if (Object.hasOwn(filled, column)) continue;
    if (from && Object.hasOwn(from, column)) filled[column] = from[column]!;
    else unfilled.push(column);
  }
  return { row: filled, unfilled };
}

/** Columns whose values differ: every column for a create, read or delete; the changed ones for an update. */
function changedFields(op: string, before: Row | null, after: Row | null): string[] {
  if (op !== 'update' || !before || !after) return Object.keys(after ?? before ?? {});
  const columns = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...columns].filter((column) => JSON.stringify(before[column] ?? null) !== JSON.stringify(after[column] ?? null));
}

/** The commit time as an ISO string with microseconds: Debezium's `source.ts_us` when sent, else `ts_ms`. */
export function commitMicrosIso(event: { source: { commitTimeUs?: string; commitTimeMs: number } }): string {
  const micros = event.source.commitTimeUs !== undefined ? BigInt(event.source.commitTimeUs) : BigInt(event.source.commitTimeMs) * 1000n;
  return isoFromEpochMicros(micros);
}

export function logDocument(tableName: string, id: Value, table: TableDefinition, entry: LogEntry): BsonDocument {
  const commitTime = dateFromIso(entry.commitUs);
  return {
    _id: changeLogId(tableName, id, entry.version),
    table: tableName,
    op: entry.op,
    key: (entry.key ?? keyOf(id, table)) as BsonValue,
    before: entry.before ? toDocument(entry.before, table, tableName) : null,
    after: entry.after ? toDocument(entry.after, table, tableName) : null,
    changed_fields: entry.changedFields,
    ...(entry.unavailable.length > 0 ? { unavailable_columns: entry.unavailable } : {}),
    lsn: entry.lsn,
    version: entry.version,
    version_number: entry.versionNumber,
    tx_id: entry.txId,
    commit_time: commitTime,
    commit_time_us: entry.commitUs,
    capture_time: entry.captureMs === null ? null : new Date(entry.captureMs),
    // What the seed's `db.change_log.find().sort({timestamp: -1})` sorts by: the commit time.
    timestamp: commitTime,
    snapshot: entry.snapshot,
    kafka: entry.kafka as BsonValue,
  };
}

/** The row key as a `{column: value}` document (a TRUNCATE's row entries have no event key). */
function keyOf(id: Value, table: TableDefinition): Row {
  if (id !== null && typeof id === 'object' && !Array.isArray(id)) return id as Row;
  return { [table.primaryKey[0] ?? 'id']: id };
}

/** The current-state document: `_id`, the typed values, and the bookkeeping under `_cdc`. */
export function stateDocument(id: Value, state: RowState, table: TableDefinition, tableName: string): BsonDocument {
  return {
    _id: id as BsonValue,
    ...toDocument(state.values, table, tableName),
    [CDC_FIELD]: {
      version: state.version,
      lsn: state.lsn,
      version_number: state.versionNumber,
      op: state.op,
      tx_id: state.txId,
      deleted: state.deleted,
      deleted_at: state.deletedAtUs === null ? null : dateFromIso(state.deletedAtUs),
      deleted_at_us: state.deletedAtUs,
      deleted_lsn: state.deletedLsn,
      first_seen: dateFromIso(state.firstSeenUs),
      first_seen_us: state.firstSeenUs,
      last_changed: dateFromIso(state.lastChangedUs),
      last_changed_us: state.lastChangedUs,
    },
  };
}

/** The state a stored current-state document describes. */
export function stateFromDocument(document: Record<string, unknown>, table: TableDefinition): RowState {
  const cdc = (document[CDC_FIELD] ?? {}) as Record<string, unknown>;
  return {
    values: fromDocument(document, table),
    version: String(cdc.version),
    lsn: String(cdc.lsn),
    versionNumber: Number(cdc.version_number ?? 0),
    op: String(cdc.op ?? ''),
    txId: typeof cdc.tx_id === 'number' ? cdc.tx_id : null,
    deleted: cdc.deleted === true,
    deletedAtUs: typeof cdc.deleted_at_us === 'string' ? cdc.deleted_at_us : null,
    deletedLsn: typeof cdc.deleted_lsn === 'string' ? cdc.deleted_lsn : null,
    firstSeenUs: String(cdc.first_seen_us ?? cdc.last_changed_us ?? ''),
    lastChangedUs: String(cdc.last_changed_us ?? ''),
  };
}

export type { ChangeEvent };
