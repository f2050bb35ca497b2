/**
 * `verify`: proves that every sink holds exactly what PostgreSQL holds (issue 13, item 1).
 *
 * Contract (the library interface; scripts/verify/main.ts is the CLI over it):
 * - Reads a consistent snapshot of the shop tables from PostgreSQL (REPEATABLE READ, with
 *   pg_current_wal_lsn() as `snapshotLsn`), values in the ChangeEvent convention (NUMERIC as
 *   exact decimal strings, int8 beyond 2^53 as strings, timestamps as ISO strings with
 *   microseconds, jsonb parsed), and compares each row with what each configured sink stores,
 *   read back through the sink's own conversion code.
 * - Rows that differ are re-read from the sink until the sink has passed the snapshot (its
 *   stored row version is at or past `snapshotLsn`) or `settleTimeoutMs` passes; only then are
 *   they reported. So a run never cries wolf while changes are in flight.
 * - Never writes to PostgreSQL or to a sink.
 */

import type { Row, Value } from '../../consumers/core/change-event.js';
import { compareLsn } from '../../consumers/core/change-event.js';
import { rowDifferences } from './compare.js';
import { ElasticsearchReader } from './elasticsearch-reader.js';
import { RedisReader } from './redis-reader.js';
import type { SinkReader, SinkRow } from './sink-reader.js';
import { SinkProgress, type ProgressSettings } from './sink-progress.js';
import { SourceSnapshot, type SourceRow, type TableInfo } from './source-rows.js';
import { WarehouseReader } from './warehouse-reader.js';

export type { ProgressSettings };

export type VerifySinkName = 'elasticsearch' | 'redis' | 'warehouse';

export const VERIFY_SINKS: readonly VerifySinkName[] = ['elasticsearch', 'redis', 'warehouse'];
export const DEFAULT_TABLES: readonly string[] = ['customers', 'products', 'orders', 'order_items'];
export const DEFAULT_SETTLE_TIMEOUT_MS = 60_000;

export interface VerifyOptions {
  postgresUrl: string;
  sinks: {
    elasticsearch?: { url: string; indexPrefix: string };
    redis?: { url: string; keyPrefix: string; recentOrdersLength?: number };
    warehouse?: { url: string; database: string; changeLogScan?: boolean };
  };
  /** Default: customers, products, orders, order_items. */
  tables?: readonly string[];
  /** N random rows per table instead of all (extra-row and derived-key checks then cover only those rows). */
  sample?: number;
  /** How long differing rows are re-checked while the sink catches up. Default 60 000. */
  settleTimeoutMs?: number;
  onProgress?: (progress: { sink: VerifySinkName; table: string; done: number; total: number }) => void;
  /**
   * How to tell that a sink's consumer has passed a WAL position (sink-progress.ts): the Kafka
   * brokers, each sink's consumer group and the captured topics. Without it a differing row is
   * re-checked until it matches or the settle timeout passes, and only then reported.
   */
  progress?: ProgressSettings;
  /**
   * Sinks named here must answer: an unreachable one is an error (VerifyError 'connection'),
   * and one without data is verified anyway (everything missing). Other configured sinks are
   * skipped, with the reason in `skipped`, when their engine does not answer or holds no data.
   */
  requiredSinks?: readonly VerifySinkName[];
}

/** A usage or connection problem (the CLI exits 2), as opposed to drift. */
export class VerifyError extends Error {
  override readonly name = 'VerifyError';
  constructor(readonly kind: 'usage' | 'connection', message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface DriftItem {
  sink: VerifySinkName;
  table: string;
  key: string;
  kind: 'missing' | 'extra' | 'field' | 'duplicate';
  field?: string;
  source?: unknown;
  sinkValue?: unknown;
}

export interface SinkTableSummary {
  sink: VerifySinkName;
  table: string;
  rows: number;
  missing: number;
  extra: number;
  differing: number;
  duplicates: number;
}

export interface VerifyReport {
  ok: boolean;
  snapshotLsn: string;
  tookMs: number;
  summaries: SinkTableSummary[];
  drift: DriftItem[];
  /** The snapshot's LSN as PostgreSQL writes it ("0/1A2B3C4"). */
  snapshotLsnText?: string;
  /** Sinks configured but not verified, and why. */
  skipped?: { sink: VerifySinkName; reason: string }[];
  /** How differing rows were settled: 'kafka' (consumer progress checked) or 'timeout' (re-checked until the settle timeout). */
  settledBy?: 'kafka' | 'timeout';
}

export async function verify(options: VerifyOptions): Promise<VerifyReport> {
  const started = Date.now();
  const tables = [...(options.tables ?? DEFAULT_TABLES)];
  const settleTimeoutMs = options.settleTimeoutMs ?? DEFAULT_SETTLE_TIMEOUT_MS;
  if (options.sample !== undefined && (!Number.isInteger(options.sample) || options.sample < 1)) {
    throw new VerifyError('usage', `sample must be a positive integer, got ${options.sample}`);
  }
  const readers = createReaders(options);
  const progress = new SinkProgress(options.postgresUrl, options.progress);
  let snapshot: SourceSnapshot | null = null;
  try {
    snapshot = await openSnapshot(options.postgresUrl);
    const infos = new Map<string, TableInfo>();
    for (const table of tables) {
      try {
        infos.set(table, await snapshot.tableInfo(table));
      } catch (error) {
        throw new VerifyError('usage', (error as Error).message, { cause: error });
      }
    }

    const skipped: { sink: VerifySinkName; reason: string }[] = [];
    const active: SinkReader[] = [];
    for (const reader of readers) {
      const skip = await reader.skipReason(tables);
      const required = options.requiredSinks?.includes(reader.name) ?? false;
      if (skip && required && skip.kind === 'unreachable') throw new VerifyError('connection', `${reader.name}: ${skip.reason}`);
      if (skip && !required) skipped.push({ sink: reader.name, reason: skip.reason });
      else active.push(reader);
    }

    if (active.length === 0) {
      throw new VerifyError('connection', `no sink to verify: ${skipped.map(({ sink, reason }) => `${sink}: ${reason}`).join('; ')}`);
    }

    // First pass: every table of the snapshot against every sink.
    const complete = options.sample === undefined;
    const states = new Map<string, TableState>();
    for (const table of tables) {
      const info = infos.get(table)!;
      const total = complete ? await snapshot.count(table) : Math.min(options.sample!, await snapshot.count(table));
      const source = await snapshot.rows(info, { sample: options.sample });
      for (const reader of active) {
        const report = (done: number) => options.onProgress?.({ sink: reader.name, table, done: Math.min(done, total), total });
        report(0);
        const sinkRows = complete ? await reader.readAll(info, report) : await reader.readKeys(info, [...source.values()].map((r) => r.key));
        const items = compareRows(reader.name, info, source, sinkRows, complete);
        if (reader.derivedChecks) items.push(...(await reader.derivedChecks(info, source, complete)));
        report(total);
        // The first pass counts as the first sighting of each difference (see settle).
        states.set(`${reader.name}\u0000${table}`, { reader, info, rows: source.size, pending: items, previous: new Set(items.map(signature)), confirmed: [] });
      }
    }
    const snapshotLsn = snapshot.lsn;
    const snapshotLsnText = snapshot.lsnText;
    await snapshot.close();
    snapshot = null;

    const settledBy = await settle(options, [...states.values()], progress, settleTimeoutMs);

    const drift: DriftItem[] = [];
    const summaries: SinkTableSummary[] = [];
    for (const state of states.values()) {
      drift.push(...state.confirmed);
      summaries.push(summarise(state.reader.name, state.info.table, state.rows, state.confirmed));
    }
    return { ok: drift.length === 0, snapshotLsn, snapshotLsnText, tookMs: Date.now() - started, summaries, drift, skipped, settledBy };
  } finally {
    await snapshot?.close();
    await progress.close();
    for (const reader of readers) await reader.close();
  }
}

interface TableState {
  readonly reader: SinkReader;
  readonly info: TableInfo;
  readonly rows: number;
  /** Differences not yet confirmed (in flight, or seen once). */
  pending: DriftItem[];
  /** Signatures of the differences seen in the last round. */
  previous: Set<string>;
  readonly confirmed: DriftItem[];
}

function createReaders(options: VerifyOptions): SinkReader[] {
  const { elasticsearch, redis, warehouse } = options.sinks;
  const readers: SinkReader[] = [];
  if (elasticsearch) readers.push(new ElasticsearchReader(elasticsearch.url, elasticsearch.indexPrefix));
  if (redis) readers.push(new RedisReader(redis.url, redis.keyPrefix, redis.recentOrdersLength));
  if (warehouse) readers.push(new WarehouseReader(warehouse.url, warehouse.database, warehouse.changeLogScan));
  if (readers.length === 0) throw new VerifyError('usage', 'no sink to verify: configure at least one of elasticsearch, redis, warehouse');
  return readers;
}

async function openSnapshot(postgresUrl: string): Promise<SourceSnapshot> {
  try {
    return await SourceSnapshot.open(postgresUrl);
  } catch (error) {
    throw new VerifyError('connection', `PostgreSQL (${maskPassword(postgresUrl)}) does not answer: ${(error as Error).message}`, { cause: error });
  }
}

function maskPassword(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

/**
 * Row-by-row comparison of one table. `checkExtras`: the sink rows are the whole table, so a
 * live sink row without a source row is 'extra' (deleted markers never are).
 */
export function compareRows(sink: VerifySinkName, info: TableInfo, source: ReadonlyMap<string, SourceRow>, sinkRows: ReadonlyMap<string, SinkRow>, checkExtras: boolean, only?: ReadonlySet<string>): DriftItem[] {
  const items: DriftItem[] = [];
  const table = info.table;
  for (const [key, row] of source) {
    if (only && !only.has(key)) continue;
    const held = sinkRows.get(key);
    if (!held || held.values === null) {
      items.push({ sink, table, key, kind: 'missing', source: row.row, sinkValue: held ? 'deleted' : undefined });
      continue;
    }
    for (const difference of rowDifferences(row.row, held.values)) {
      items.push({ sink, table, key, kind: 'field', field: difference.field, source: difference.source, sinkValue: difference.sink });
    }
  }
  if (checkExtras) {
    for (const [key, held] of sinkRows) {
      if (only && !only.has(key)) continue;
      if (held.values !== null && !source.has(key)) items.push({ sink, table, key, kind: 'extra', sinkValue: held.values });
    }
  }
  return items;
}

function summarise(sink: VerifySinkName, table: string, rows: number, items: readonly DriftItem[]): SinkTableSummary {
  const keys = (kind: DriftItem['kind']) => new Set(items.filter((item) => item.kind === kind).map((item) => item.key)).size;
  return { sink, table, rows, missing: keys('missing'), extra: keys('extra'), differing: keys('field'), duplicates: items.filter((item) => item.kind === 'duplicate').length };
}

const signature = (item: DriftItem): string => JSON.stringify([item.kind, item.key, item.field ?? null, item.source ?? null, item.sinkValue ?? null]);

/** Items whose re-check needs the whole table (list-level views, members without a source row). */
function needsWholeTable(item: DriftItem): boolean {
  return item.field !== undefined && (item.field.startsWith('recent_orders[') || (item.field === 'orders:by_created_at' && item.source === null));
}

/** The key Row for a key text (single-column keys of integer or text type; JSON for composite keys). */
function keyRow(info: TableInfo, text: string): Row {
  if (info.primaryKey.length > 1) return JSON.parse(text) as Row;
  const column = info.primaryKey[0]!;
  const type = info.columns.find((c) => c.name === column)?.type ?? 'text';
  const value: Value = ['int2', 'int4'].includes(type) || (type === 'int8' && Number.isSafeInteger(Number(text))) ? Number(text) : text;
  return { [column]: value };
}

/**
 * Re-checks every pending difference until it is confirmed or gone. A difference is confirmed
 * when it is seen, identical, in two passes in a row (the first pass counts), the second after the sink's consumer passed
 * a fresh snapshot of the source (SinkProgress) and with the sink's row not newer than that
 * snapshot. Whatever is still pending when the settle timeout passes is reported as it stands.
 */
async function settle(options: VerifyOptions, states: TableState[], progress: SinkProgress, settleTimeoutMs: number): Promise<'kafka' | 'timeout'> {
  const deadline = Date.now() + settleTimeoutMs;
  let settledBy: 'kafka' | 'timeout' = 'kafka';
  for (;;) {
    const open = states.filter((state) => state.pending.length > 0);
    if (open.length === 0) return settledBy;
    if (Date.now() >= deadline) {
      for (const state of open) state.confirmed.push(...state.pending);
      return 'timeout';
    }
    const fresh = await openSnapshot(options.postgresUrl);
    try {
      for (const reader of new Set(open.map((state) => state.reader))) {
        const status = await progress.waitPassed(reader.name, fresh.lsn, deadline);
        if (status !== 'passed') settledBy = 'timeout';
        reader.forget?.();
        for (const state of open.filter((s) => s.reader === reader)) {
          // Past the settle timeout (the consumer did not catch up in time): report what is pending as it stands.
          if (status === 'timeout' || Date.now() >= deadline) {
            state.confirmed.push(...state.pending);
            state.pending = [];
            continue;
          }
          const { info } = state;
          let items: DriftItem[];
          let sinkRows: ReadonlyMap<string, SinkRow>;
          const wholeTable = state.pending.some(needsWholeTable) || state.pending.length > 20_000;
          if (wholeTable && options.sample === undefined) {
            const source = await fresh.rows(info);
            sinkRows = await reader.readAll(info, () => undefined);
            items = compareRows(reader.name, info, source, sinkRows, true);
            if (reader.derivedChecks) items.push(...(await reader.derivedChecks(info, source, true)));
          } else {
            const keyTexts = [...new Set(state.pending.map((item) => item.key))];
            const keys = keyTexts.map((text) => keyRow(info, text));
            const source = await fresh.rows(info, { keys });
            sinkRows = await reader.readKeys(info, keys);
            items = compareRows(reader.name, info, source, sinkRows, true, new Set(keyTexts));
            if (reader.derivedChecks) items.push(...(await reader.derivedChecks(info, source, false)));
          }
          const pending: DriftItem[] = [];
          const seen = new Set<string>();
          for (const item of items) {
            const sig = signature(item);
            seen.add(sig);
            const rowLsn = sinkRows.get(item.key)?.lsn ?? null;
            const newerThanSnapshot = rowLsn !== null && compareLsn(rowLsn, fresh.lsn) >= 0;
            if (status === 'passed' && !newerThanSnapshot && state.previous.has(sig)) state.confirmed.push(item);
            else pending.push(item);
          }
          state.pending = pending;
          state.previous = seen;
        }
      }
    } finally {
      await fresh.close();
    }
    if (states.some((state) => state.pending.length > 0)) await new Promise((done) => setTimeout(done, 500));
  }
}
