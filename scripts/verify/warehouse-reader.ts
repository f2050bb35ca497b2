/**
 * Reads the MongoDB warehouse back for `verify`, through the consumer's own conversion code:
 *
 * - current state: one collection per table, `_id` = primary key, values turned back into the
 *   event convention by bson-values.ts `fromDocument` (Decimal128 -> exact decimal text, the
 *   exact microsecond text from `_exact`, longs exact). A document with `_cdc.deleted` is a
 *   soft-deleted row: never extra, but missing if the source still has the row.
 * - change_log completeness, per current source row whose current-state document is live: the
 *   entry of the document's version (`_id` = changeLogId(table, _id, _cdc.version), as the sink
 *   writes it) exists, is not a delete or truncate, and its `after` (through fromDocument) equals
 *   the source row, column for column. These are `_id` lookups in chunks, so memory stays bounded
 *   on any server.
 * - change_log duplicates (`changeLogScan`): one pass over the table's entries (projection
 *   table/key/version only) finds two entries for the same (table, key, version) under different
 *   `_id`s (the same `_id` twice cannot exist: it is the collection's unique key), and entries
 *   newer than the current-state document. Opt-in: the native stack's mongo-java-server
 *   materialises a whole query result in its heap and runs out of memory on a change_log of a few
 *   hundred thousand entries; real MongoDB streams it.
 */
import { MongoClient, type Db, type Document } from 'mongodb';
import type { Row, Value } from '../../consumers/core/change-event.js';
import { compareLsn } from '../../consumers/core/change-event.js';
import { fromDocument } from '../../consumers/warehouse/bson-values.js';
import { changeLogId, documentId } from '../../consumers/warehouse/row-keys.js';
import { TABLE_CATALOG, tableDefinition } from '../../consumers/warehouse/table-catalog.js';
import { CHANGE_LOG } from '../../consumers/warehouse/warehouse-setup.js';
import { rowDifferences } from './compare.js';
import type { SinkReader, SinkRow, SkipReason } from './sink-reader.js';
import { keyTextOf, type SourceRow, type TableInfo } from './source-rows.js';
import type { DriftItem } from './verify.js';

const CHUNK = 1000;

export class WarehouseReader implements SinkReader {
  readonly name = 'warehouse' as const;
  private readonly client: MongoClient;
  private db: Db | null = null;
  /** Current-state versions seen by readAll/readKeys, for the change_log check: "table\0key" -> padded version. */
  private readonly stateVersions = new Map<string, string>();

  constructor(url: string, private readonly database: string, private readonly changeLogScan = false) {
    // Generous timeouts: the native server answers slowly while it scans a large collection.
    this.client = new MongoClient(url, { serverSelectionTimeoutMS: 30_000, connectTimeoutMS: 30_000, socketTimeoutMS: 0 });
  }

  private async connected(): Promise<Db> {
    if (!this.db) {
      await this.client.connect();
      this.db = this.client.db(this.database);
    }
    return this.db;
  }

  async skipReason(tables: readonly string[]): Promise<SkipReason | null> {
    let db: Db;
    try {
      db = await this.connected();
      await db.command({ ping: 1 });
    } catch (error) {
      return { kind: 'unreachable', reason: `MongoDB does not answer (${(error as Error).message})` };
    }
    // findOne, not countDocuments: the native server answers a count by materialising the collection.
    for (const table of tables) if ((await db.collection(table).findOne({}, { projection: { _id: 1 } })) !== null) return null;
    return { kind: 'empty', reason: `no documents in database ${this.database} (WAREHOUSE_DATABASE)` };
  }

  private sinkRow(table: string, document: Document): SinkRow {
    const cdc = (document._cdc ?? {}) as { deleted?: boolean; lsn?: string; version?: string };
    const key = keyTextOf({ id: document._id as Value });
    if (typeof cdc.version === 'string' && cdc.deleted !== true) this.stateVersions.set(`${table}\u0000${key}`, cdc.version);
    return {
      values: cdc.deleted === true ? null : fromDocument(document, tableDefinition(TABLE_CATALOG, table)),
      lsn: typeof cdc.lsn === 'string' ? cdc.lsn : null,
    };
  }

  /** The report's key text of a current-state `_id` (a sub-document for a composite key). */
  private keyOf(id: unknown): string {
    return id !== null && typeof id === 'object' && !Array.isArray(id) ? JSON.stringify(id) : String(id);
  }

  async readAll(info: TableInfo, onProgress: (done: number) => void): Promise<Map<string, SinkRow>> {
    const db = await this.connected();
    const out = new Map<string, SinkRow>();
    for await (const document of db.collection(info.table).find({}, { batchSize: 5000 })) {
      out.set(this.keyOf(document._id), this.sinkRow(info.table, document));
      if (out.size % 5000 === 0) onProgress(out.size);
    }
    onProgress(out.size);
    return out;
  }

  async readKeys(info: TableInfo, keys: readonly Row[]): Promise<Map<string, SinkRow>> {
    const db = await this.connected();
    const out = new Map<string, SinkRow>();
    const ids = keys.map((key) => (info.primaryKey.length === 1 ? key[info.primaryKey[0]!] : key));
    for (let start = 0; start < ids.length; start += CHUNK) {
      const documents = await db.collection(info.table).find({ _id: { $in: ids.slice(start, start + CHUNK) } } as Document).toArray();
      for (const document of documents) out.set(this.keyOf(document._id), this.sinkRow(info.table, document));
    }
    return out;
  }

  async derivedChecks(info: TableInfo, source: ReadonlyMap<string, SourceRow>, complete: boolean): Promise<DriftItem[]> {
    const db = await this.connected();
    const definition = tableDefinition(TABLE_CATALOG, info.table);
    const items: DriftItem[] = [];
    const drift = (key: string, kind: DriftItem['kind'], field: string, sourceValue: unknown, sinkValue: unknown): void => {
      items.push({ sink: 'warehouse', table: info.table, key, kind, field, source: sourceValue, sinkValue });
    };
    // Completeness: the entry of each live row's current version.
    const wanted: { row: SourceRow; logId: string; version: string }[] = [];
    for (const row of source.values()) {
      const version = this.stateVersions.get(`${info.table}\u0000${row.keyText}`);
      if (version !== undefined) wanted.push({ row, version, logId: changeLogId(info.table, documentId(row.key, definition), version) });
    }
    for (let start = 0; start < wanted.length; start += CHUNK) {
      const chunk = wanted.slice(start, start + CHUNK);
      const found = new Map<string, Document>();
      const entries = await db.collection(CHANGE_LOG).find({ _id: { $in: chunk.map((w) => w.logId) } } as Document, { projection: { op: 1, after: 1 } }).toArray();
      for (const entry of entries) found.set(String(entry._id), entry);
      for (const { row, logId, version } of chunk) {
        const entry = found.get(logId);
        if (!entry) drift(row.keyText, 'field', 'change_log', `an entry for version ${version}`, 'no entry');
        else if (entry.op === 'delete' || entry.op === 'truncate' || !entry.after) drift(row.keyText, 'field', 'change_log.op', 'a live row', `${String(entry.op)} (version ${version})`);
        else for (const difference of rowDifferences(row.row, fromDocument(entry.after as Record<string, unknown>, definition))) {
          drift(row.keyText, 'field', `change_log.after.${difference.field}`, difference.source, difference.sink);
        }
      }
    }
    if (this.changeLogScan && complete) items.push(...(await this.scanChangeLog(db, info)));
    return items;
  }

  /** Duplicates per (table, key, version), and rows whose latest entry is newer than their current state. */
  private async scanChangeLog(db: Db, info: TableInfo): Promise<DriftItem[]> {
    const items: DriftItem[] = [];
    const versions = new Map<string, Set<string>>();
    const latest = new Map<string, string>();
    for await (const entry of db.collection(CHANGE_LOG).find({ table: info.table }, { projection: { key: 1, version: 1 }, batchSize: 5000 })) {
      if (!entry.key) continue; // a TRUNCATE's table-level entry
      const key = keyTextOf(entry.key as Row);
      const version = String(entry.version);
      let seen = versions.get(key);
      if (!seen) versions.set(key, (seen = new Set()));
      if (seen.has(version)) items.push({ sink: 'warehouse', table: info.table, key, kind: 'duplicate', field: 'change_log', source: `one entry for version ${version}`, sinkValue: 'two or more' });
      seen.add(version);
      const before = latest.get(key);
      if (before === undefined || compareLsn(version, before) > 0) latest.set(key, version);
    }
    for (const [key, version] of latest) {
      const state = this.stateVersions.get(`${info.table}\u0000${key}`);
      if (state !== undefined && compareLsn(version, state) > 0) items.push({ sink: 'warehouse', table: info.table, key, kind: 'field', field: '_cdc.version', source: `the latest change_log version ${version}`, sinkValue: state });
    }
    return items;
  }

  forget(): void {
    this.stateVersions.clear();
  }

  async close(): Promise<void> {
    await this.client.close().catch(() => undefined);
  }
}
