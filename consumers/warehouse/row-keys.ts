/**
 * Identities in the warehouse: a row's `_id`, the fixed-width version string every write is
 * guarded by, and a change_log entry's `_id`.
 */
import type { Row, Value } from '../core/change-event.js';
import type { TableDefinition } from './table-catalog.js';

/** Digits of the largest row version, 2^65 - 1 (streamed versions are 2^64 + LSN; see rowVersion in core). */
export const VERSION_DIGITS = 20;

/**
 * `source.version` as a fixed-width decimal string, so that string order (MongoDB's `$sort`,
 * `$max`, index order) is numeric order, exactly, beyond 2^53 and 2^64. Code compares with
 * compareLsn; the padding is for MongoDB and for people reading the documents.
 */
export function paddedVersion(version: string): string {
  if (!/^\d+$/.test(version)) throw new RangeError(`row version ${JSON.stringify(version)} is not decimal digits`);
  const digits = BigInt(version).toString();
  if (digits.length > VERSION_DIGITS) throw new RangeError(`row version ${version} has more than ${VERSION_DIGITS} digits`);
  return digits.padStart(VERSION_DIGITS, '0');
}

/** The current-state `_id`: the primary-key value itself, or a sub-document for a composite key. */
export function documentId(key: Row, table: TableDefinition): Value {
  const columns = Object.keys(key);
  if (columns.length === 1) return key[columns[0]!]!;
  const ordered: Row = {};
  // Key order decides sub-document equality in MongoDB: always the catalog's order, then the rest.
  for (const column of [...table.primaryKey.filter((c) => c in key), ...columns.filter((c) => !table.primaryKey.includes(c))]) ordered[column] = key[column]!;
  return ordered;
}

/** Canonical text of a key (its `_id` as JSON), for maps and change_log ids. */
export function keyText(id: Value): string {
  return JSON.stringify(id);
}

/** `orders:42:000…version`: one change_log entry per (table, row, version), so a replay inserts nothing new. */
export function changeLogId(table: string, id: Value, version: string): string {
  return `${table}:${keyText(id)}:${version}`;
}

/** The change_log `_id` of a TRUNCATE of the whole table. */
export function truncateLogId(table: string, version: string): string {
  return `${table}:*:${version}`;
}
