/**
 * The warehouse's collections and indexes, created at start-up (idempotent: existing indexes with
 * the same definition are left alone).
 *
 * - one current-state collection per table (`orders`, ...), `_id` = primary key: only the `_id`
 *   index is needed for writing (every write names `_id`, see warehouse-sink.ts); `_cdc.deleted`
 *   helps a TRUNCATE find the live rows.
 * - `change_log`: `_id` = (table, key, version) is the unique index that makes a replay a no-op;
 *   `row_history` (table, key, version) serves "every version of one row" and time travel;
 *   `commit_time` serves "changes in a time range"; `timestamp` the seed's newest-first listing.
 * - `warehouse_meta`: one document per table with its TRUNCATEs (`_id` = table).
 *
 * The native server (mongo-java-server) keeps secondary indexes as no-ops, and answers those
 * queries by scanning; real MongoDB uses them. Writes never depend on them.
 */
import type { Db } from 'mongodb';
import type { TableCatalog } from './table-catalog.js';

export const CHANGE_LOG = 'change_log';
export const META_COLLECTION = 'warehouse_meta';

export async function ensureWarehouse(db: Db, catalog: TableCatalog): Promise<void> {
  const changeLog = db.collection(CHANGE_LOG);
  await changeLog.createIndex({ table: 1, key: 1, version: 1 }, { name: 'row_history' });
  await changeLog.createIndex({ commit_time: 1 }, { name: 'commit_time' });
  await changeLog.createIndex({ timestamp: -1 }, { name: 'timestamp' });
  for (const table of Object.keys(catalog)) {
    await db.collection(table).createIndex({ '_cdc.deleted': 1 }, { name: 'cdc_deleted' });
  }
}
