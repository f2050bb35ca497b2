/**
 * Time travel, answered from `change_log` (every version of every row, see write-plan.ts):
 *
 *   rowHistory(db, 'orders', 42)                               every version, oldest first
 *   rowAsOf(db, 'orders', 42, '2026-11-24T10:00:00.000001Z')    the row as it was then (or not there)
 *   tableAsOf(db, 'orders', '2026-11-24T10:00:00Z')             every row that existed then
 *
 * "As of T" means: the newest version of the row whose commit time is at or before T, exact to the
 * microsecond (commit times are Debezium's `source.ts_us`, PostgreSQL's commit timestamp). A row
 * whose newest version by then is a delete or a TRUNCATE did not exist at T; nor did one first
 * seen after T. Values come back exactly as the change events carried them (NUMERIC as decimal
 * strings, timestamps as ISO strings with microseconds).
 *
 * Read-only; used by `npm run warehouse:as-of` and `npm run warehouse:history`.
 */
import type { Db, Document } from 'mongodb';
import { compareLsn, type Row, type Value } from '../core/change-event.js';
import { fromDocument } from './bson-values.js';
import { TABLE_CATALOG, tableDefinition, type TableCatalog } from './table-catalog.js';
import { CHANGE_LOG } from './warehouse-setup.js';

/** One version of a row as change_log records it. */
export interface RowVersion {
  readonly versionNumber: number;
  readonly op: string;
  readonly lsn: string;
  readonly version: string;
  readonly txId: number | null;
  readonly commitTimeUs: string;
  /** The row after this change; null for a delete or TRUNCATE. */
  readonly row: Row | null;
  /** The row before it (updates, deletes, TRUNCATE). */
  readonly before: Row | null;
  readonly changedFields: readonly string[];
}

export interface AsOf {
  /** Whether the row existed at that time (as far as the warehouse has seen it). */
  readonly exists: boolean;
  readonly row: Row | null;
  /** The version in force at that time; null when the row was not seen yet. */
  readonly version: RowVersion | null;
}

/** `{id: 42}` from 42, or the key itself when it is already a `{column: value}` object. */
export function keyFrom(key: Value | Row, table: string, catalog: TableCatalog = TABLE_CATALOG): Row {
  if (key !== null && typeof key === 'object' && !Array.isArray(key)) return key as Row;
  return { [tableDefinition(catalog, table).primaryKey[0] ?? 'id']: key };
}

/** Every version of the row, oldest first. */
export async function rowHistory(db: Db, table: string, key: Value | Row, catalog: TableCatalog = TABLE_CATALOG): Promise<RowVersion[]> {
  const entries = await db.collection(CHANGE_LOG).find({ table, key: keyFrom(key, table, catalog) } as Document).toArray();
  return entries.sort((a, b) => compareLsn(String(a.version), String(b.version))).map((entry) => versionFrom(entry, table, catalog));
}

/** The row as it was at `at` (any ISO-8601 instant, see parseInstant). */
export async function rowAsOf(db: Db, table: string, key: Value | Row, at: string, catalog: TableCatalog = TABLE_CATALOG): Promise<AsOf> {
  const instant = parseInstant(at);
  const versions = (await rowHistory(db, table, key, catalog)).filter((version) => version.commitTimeUs <= instant);
  const version = versions.at(-1) ?? null;
  return { exists: version?.row != null, row: version?.row ?? null, version };
}

/** Every row of `table` that existed at `at`, ordered by key. */
export async function tableAsOf(db: Db, table: string, at: string, catalog: TableCatalog = TABLE_CATALOG): Promise<Row[]> {
  const instant = parseInstant(at);
  // Fixed-width ISO text and zero-padded versions: string order is time and version order.
  const latest = await db.collection(CHANGE_LOG).aggregate([
    { $match: { table, key: { $ne: null }, commit_time_us: { $lte: instant } } },
    { $sort: { version: 1 } },
    { $group: { _id: '$key', last: { $last: '$$ROOT' } } },
  ]).toArray();
  const rows = latest
    .map((group) => versionFrom(group.last as Document, table, catalog))
    .filter((version) => version.row !== null)
    .map((version) => version.row!);
  const keyColumns = tableDefinition(catalog, table).primaryKey;
  return rows.sort((a, b) => compareKeys(keyColumns.map((c) => a[c] ?? null), keyColumns.map((c) => b[c] ?? null)));
}

/**
 * Instant text -> the canonical form change_log compares with: UTC, six fraction digits
 * ("2026-11-24T10:00:00.000000Z"). Accepts an offset ("+01:00") and 0-9 fraction digits; digits
 * beyond microseconds must be zero (PostgreSQL has no finer commit time).
 */
export function parseInstant(text: string): string {
  const match = /^(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d(?::\d\d)?)(?:\.(\d{1,9}))?(Z|[+-]\d\d:?\d\d)?$/i.exec(text.trim());
  if (!match) throw new RangeError(`"${text}" is not an ISO-8601 time such as 2026-11-24T10:00:00Z or 2026-11-24T10:00:00.123456+01:00`);
  const [, day, clock = '', fraction = '', zone = 'Z'] = match;
  if (/[1-9]/.test(fraction.slice(6))) throw new RangeError(`"${text}": commit times have microsecond precision; drop the digits beyond six`);
  const seconds = clock.length === 5 ? `${clock}:00` : clock;
  const offset = zone.toUpperCase() === 'Z' ? 'Z' : `${zone.slice(0, 3)}:${zone.slice(-2)}`;
  const millis = Date.parse(`${day}T${seconds}${offset}`);
  if (Number.isNaN(millis)) throw new RangeError(`"${text}" is not a valid instant`);
  return `${new Date(millis).toISOString().slice(0, 19)}.${fraction.padEnd(6, '0').slice(0, 6)}Z`;
}

function versionFrom(entry: Document, table: string, catalog: TableCatalog): RowVersion {
  const definition = tableDefinition(catalog, table);
  return {
    versionNumber: Number(entry.version_number),
    op: String(entry.op),
    lsn: String(entry.lsn),
    version: String(entry.version),
    txId: typeof entry.tx_id === 'number' ? entry.tx_id : null,
    commitTimeUs: String(entry.commit_time_us),
    row: entry.after ? fromDocument(entry.after as Document, definition) : null,
    before: entry.before ? fromDocument(entry.before as Document, definition) : null,
    changedFields: Array.isArray(entry.changed_fields) ? (entry.changed_fields as string[]) : [],
  };
}

function compareKeys(a: Value[], b: Value[]): number {
  for (let i = 0; i < a.length; i++) {
    const [x, y] = [a[i], b[i]];
    if (typeof x === 'number' && typeof y === 'number') {
      if (x !== y) return x - y;
    } else {
      const order = String(x).localeCompare(String(y));
      if (order !== 0) return order;
    }
  }
  return 0;
}
