/**
 * Reads the MongoDB warehouse back for `verify`, through the consumer's own conversion code:
 *
 * - current state: one collection per table, `_id` = primary key, values turned back into the
 *   event convention by bson-values.ts `fromDocument` (Decimal128 -> exact decimal text, the
 *   exact microsecond text from `_exact`, longs exact). A document with `_cdc.deleted` is a
 *   soft-deleted row: never extra, but missing if the source still has the row.
 * - change_log, per current source row:
 *     duplicates   two entries for the same (table, key, version) are a 'duplicate';
 *     completeness the row's latest entry (highest version) exists, is not a delete or truncate,
 *                  records the same version as the current-state document, and its `after`
 *                  (through fromDocument) equals the source row, column for column.
 */
import { MongoClient, type Db, type Document } from 'mongodb';
import type { Row, Value } from '../../consumers/core/change-event.js';
import { compareLsn } from '../../consumers/core/change-event.js';
import { fromDocument } from '../../consumers/warehouse/bson-values.js';
import { TABLE_CATALOG, tableDefinition } from '../../consumers/warehouse/table-catalog.js';
import { CHANGE_LOG } from '../../consumers/warehouse/warehouse-setup.js';
import { rowDifferences } from './compare.js';
import type { SinkReader, SinkRow, SkipReason } from './sink-reader.js';
import { keyTextOf, type SourceRow, type TableInfo } from './source-rows.js';
import type { DriftItem } from './verify.js';

const CHUNK = 1000;

/** The latest change_log entry of a row, and how often each version appears. */
interface RowLog {
  latest: { version: string; op: string; after: Record<string, unknown> | null } | null;
  duplicates: string[];
}

export class WarehouseReader implements SinkReader {
  readonly name = 'warehouse' as const;
  private readonly client: MongoClient;
  private db: Db | null = null;
  /** Current-state versions seen by readAll/readKeys, for the change_log check: "table\0key" -> padded version. */
  private readonly stateVersions = new Map<string, string>();
  /** The whole change_log, read once per run by table (for complete checks). */
  private logByTable: Map<string, Map<string, RowLog>> | null = null;

  constructor(url: string, private readonly database: string) {
    this.client = new MongoClient(url, { serverSelectionTimeoutMS: 5_000, connectTimeoutMS: 5_000 });
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
    for (const table of tables) if ((await db.collection(table).countDocuments({}, { limit: 1 })) > 0) return null;
    return { kind: 'empty', reason: `no documents in database ${this.database} (WAREHOUSE_DATABASE)` };
  }

  private sinkRow(table: string, document: Document): SinkRow {
    const cdc = (document._cdc ?? {}) as { deleted?: boolean; lsn?: string; version?: string };
    const key = keyTextOf({ id: document._id as Value });
    if (typeof cdc.version === 'string') this.stateVersions.set(`${table}\u0000${key}`, cdc.version);
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

  private static addEntry(logs: Map<string, RowLog>, entry: Document, seen: Map<string, Set<string>>): void {
    const key = entry.key as Row | null;
    if (!key) return; // a TRUNCATE's table-level entry
    const text = keyTextOf(key);
    let log = logs.get(text);
    if (!log) logs.set(text, (log = { latest: null, duplicates: [] }));
    const version = String(entry.version);
    let versions = seen.get(text);
    if (!versions) seen.set(text, (versions = new Set()));
    if (versions.has(version)) log.duplicates.push(version);
    versions.add(version);
    if (!log.latest || compareLsn(version, log.latest.version) > 0) {
      log.latest = { version, op: String(entry.op), after: (entry.after ?? null) as Record<string, unknown> | null };
    }
  }

  private async changeLog(info: TableInfo, source: ReadonlyMap<string, SourceRow>, complete: boolean): Promise<Map<string, RowLog>> {
    const db = await this.connected();
    const projection = { table: 1, key: 1, version: 1, op: 1, after: 1 };
    if (complete) {
      if (!this.logByTable) {
        // One pass over the whole log for every table: the native server scans for any filter.
        this.logByTable = new Map();
        const seen = new Map<string, Map<string, Set<string>>>();
        for await (const entry of db.collection(CHANGE_LOG).find({}, { projection, batchSize: 5000 })) {
          const table = String(entry.table);
          let logs = this.logByTable.get(table);
          if (!logs) this.logByTable.set(table, (logs = new Map()));
          let tableSeen = seen.get(table);
          if (!tableSeen) seen.set(table, (tableSeen = new Map()));
          WarehouseReader.addEntry(logs, entry, tableSeen);
        }
      }
      return this.logByTable.get(info.table) ?? new Map();
    }
    const logs = new Map<string, RowLog>();
    const seen = new Map<string, Set<string>>();
    const rows = [...source.values()];
    const column = info.primaryKey[0]!;
    for (let start = 0; start < rows.length; start += CHUNK) {
      const filter = info.primaryKey.length === 1
        ? { table: info.table, [`key.${column}`]: { $in: rows.slice(start, start + CHUNK).map((r) => r.key[column]) } }
        : { table: info.table, key: { $in: rows.slice(start, start + CHUNK).map((r) => r.key) } };
      for (const entry of await db.collection(CHANGE_LOG).find(filter as Document, { projection }).toArray()) WarehouseReader.addEntry(logs, entry, seen);
    }
    return logs;
  }

  async derivedChecks(info: TableInfo, source: ReadonlyMap<string, SourceRow>, complete: boolean): Promise<DriftItem[]> {
    const logs = await this.changeLog(info, source, complete);
    const definition = tableDefinition(TABLE_CATALOG, info.table);
    const items: DriftItem[] = [];
    const drift = (key: string, kind: DriftItem['kind'], field: string, sourceValue: unknown, sinkValue: unknown): void => {
      items.push({ sink: 'warehouse', table: info.table, key, kind, field, source: sourceValue, sinkValue });
    };
    const checked = complete ? [...logs.keys()] : [...source.keys()];
    for (const key of checked) for (const version of logs.get(key)?.duplicates ?? []) drift(key, 'duplicate', 'change_log', `one entry for version ${version}`, 'two or more');
    for (const row of source.values()) {
      const log = logs.get(row.keyText)?.latest ?? null;
      if (!log) {
        drift(row.keyText, 'field', 'change_log', 'an entry with this row', 'no entry');
        continue;
      }
      if (log.op === 'delete' || log.op === 'truncate' || !log.after) {
        drift(row.keyText, 'field', 'change_log.op', 'latest entry: a live row', `latest entry: ${log.op} (version ${log.version})`);
        continue;
      }
      const stateVersion = this.stateVersions.get(`${info.table}\u0000${row.keyText}`);
      if (stateVersion !== undefined && stateVersion !== log.version) drift(row.keyText, 'field', 'change_log.version', stateVersion, log.version);
      for (const difference of rowDifferences(row.row, fromDocument(log.after, definition))) {
        drift(row.keyText, 'field', `change_log.after.${difference.field}`, difference.source, difference.sink);
      }
    }
    return items;
  }

  forget(): void {
    this.logByTable = null;
    this.stateVersions.clear();
  }

  async close(): Promise<void> {
    await this.client.close().catch(() => undefined);
  }
}
