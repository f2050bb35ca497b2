/**
 * The warehouse's pure parts on real captured Debezium messages (test/fixtures/debezium/): typed
 * values both ways, version strings, the write plan (stale, soft delete, revive, unchanged TOAST,
 * TRUNCATE before and after), time parsing, configuration and the table locks.
 */
import { Decimal128, Long } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { compareLsn, rowVersion, type RowChangeEvent } from '../../consumers/core/change-event.js';
import { ConfigError } from '../../consumers/core/config.js';
import { PermanentError } from '../../consumers/core/errors.js';
import { decimalText, fromDocument, toDocument } from '../../consumers/warehouse/bson-values.js';
import { changeLogId, documentId, paddedVersion } from '../../consumers/warehouse/row-keys.js';
import { TABLE_CATALOG, tableDefinition } from '../../consumers/warehouse/table-catalog.js';
import { TableLocks } from '../../consumers/warehouse/table-locks.js';
import { parseInstant } from '../../consumers/warehouse/time-travel.js';
import { warehouseConfigFromEnv } from '../../consumers/warehouse/warehouse-config.js';
import { planRowChanges, stateDocument, type TruncateRecord } from '../../consumers/warehouse/write-plan.js';
import { create, remove, update } from '../helpers/events.js';
import { fixtureEvent } from '../helpers/fixtures.js';
import { orderRow, productRow } from '../helpers/sink-contract.js';

const orders = tableDefinition(TABLE_CATALOG, 'orders');

function rowEvent(name: string): RowChangeEvent {
  const event = fixtureEvent(name);
  if (event.op === 'tombstone' || event.op === 'truncate') throw new Error(`${name} is not a row change`);
  return event;
}

const plan = (events: RowChangeEvent[], stored: Record<string, unknown>[] = [], truncates: TruncateRecord[] = []) =>
  planRowChanges(
    events.map((event, index) => ({ index, event })),
    new Map([[events[0]!.table, new Map(stored.map((document) => [JSON.stringify(document._id), document]))]]),
    new Map(truncates.length ? [[events[0]!.table, truncates]] : []),
    TABLE_CATALOG,
  );

describe('typed values', () => {
  it.each(['orders-create', 'orders-update', 'products-create', 'customers-create', 'order-items-create'])('%s: typed and back, exactly', (name) => {
    const event = rowEvent(name);
    const table = tableDefinition(TABLE_CATALOG, event.table);
    const document = toDocument(event.after!, table, event.table);
    for (const [column, kind] of Object.entries(table.columns)) {
      if (event.after![column] == null) continue;
      expect(document[column]).toBeInstanceOf(kind === 'decimal' ? Decimal128 : Date);
    }
    expect(fromDocument(document, table)).toEqual(event.after);
  });

  it('NUMERIC stays exact, with its scale; a value that is no decimal is a permanent error', () => {
    const document = toDocument({ total_amount: '0.10', created_at: '2026-01-01T00:00:00.000001Z' }, orders, 'orders');
    expect(decimalText(document.total_amount as Decimal128)).toBe('0.10');
    expect(decimalText(Decimal128.fromString('2.50E+3'))).toBe('2500');
    expect(decimalText(Decimal128.fromString('1.000E-5'))).toBe('0.00001000');
    expect(() => toDocument({ total_amount: 'lots' }, orders, 'orders')).toThrow(PermanentError);
    expect(() => toDocument({ total_amount: '1'.repeat(40) }, orders, 'orders')).toThrow(/34/);
    expect(() => toDocument({ created_at: 'yesterday' }, orders, 'orders')).toThrow(PermanentError);
  });

  it('int8 beyond 2^53 as a BSON long, back as the same decimal string', () => {
    const table = { primaryKey: ['id'], columns: { big: 'int8' as const } };
    const document = toDocument({ big: '9007199254740993', small: 7 }, table, 't');
    expect((document.big as Long).toBigInt()).toBe(9007199254740993n);
    expect(fromDocument(document, table)).toEqual({ big: '9007199254740993', small: 7 });
    expect(() => toDocument({ big: '9223372036854775808' }, table, 't')).toThrow(PermanentError);
  });
});

describe('versions and ids', () => {
  it('padded versions sort as numbers beyond 2^53 and 2^64', () => {
    const versions = ['9', '10', '9007199254740993', rowVersion('5', false), rowVersion('18446744073709551615', false)];
    const padded = versions.map(paddedVersion);
    expect([...padded].sort()).toEqual(padded);
    expect(padded.every((v) => v.length === 20)).toBe(true);
    expect(compareLsn(padded[3]!, versions[3]!)).toBe(0);
    expect(() => paddedVersion('-1')).toThrow(RangeError);
  });

  it('row and change_log ids', () => {
    expect(documentId({ id: 42 }, orders)).toBe(42);
    expect(documentId({ line: 2, order_id: 1 }, { primaryKey: ['order_id', 'line'], columns: {} })).toEqual({ order_id: 1, line: 2 });
    expect(changeLogId('orders', 42, '00000000000000000007')).toBe('orders:42:00000000000000000007');
  });
});

describe('write plan', () => {
  it('a real create then update: two entries, version numbers 1 and 2, changed fields of the update', () => {
    const created = rowEvent('orders-create');
    const updated = { ...rowEvent('orders-update'), key: created.key, before: created.after, after: { ...created.after!, status: 'paid' } };
    const result = plan([created, updated]);
    expect(result.settled.size).toBe(0);
    const [row] = result.rows;
    expect(row!.logs.map((log) => [log.owner, log.document.op, log.document.version_number])).toEqual([[0, 'create', 1], [1, 'update', 2]]);
    expect(row!.logs[1]!.document.changed_fields).toEqual(['status']);
    expect(row!.logs[0]!.document.commit_time_us).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(row!.write!.expectedVersion).toBeNull();
    expect((row!.write!.document._cdc as Record<string, unknown>).version_number).toBe(2);
  });

  it('an unchanged-TOAST update keeps the stored description, in the row and in its change_log entry', () => {
    const toast = rowEvent('toast-unchanged-update');
    const [column] = toast.unavailableColumns;
    expect(column).toBeDefined();
    const table = tableDefinition(TABLE_CATALOG, toast.table);
    const stored = stateDocument(documentId(toast.key, table), {
      values: { ...toast.after!, ...Object.fromEntries(toast.unavailableColumns.map((c) => [c, c === column ? 'the long text' : toast.before?.[c] ?? 'x'])) }, version: paddedVersion('1'), lsn: '1', versionNumber: 1, op: 'create', txId: 1,
      deleted: false, deletedAtUs: null, deletedLsn: null, firstSeenUs: '2026-01-01T00:00:00.000000Z', lastChangedUs: '2026-01-01T00:00:00.000000Z',
    }, table, toast.table);
    const [row] = plan([toast], [stored]).rows;
    expect(row!.write!.document[column!]).toBe('the long text');
    expect((row!.logs[0]!.document.after as Record<string, unknown>)[column!]).toBe('the long text');
    expect(row!.write!.expectedVersion).toBe(paddedVersion('1'));
    expect(row!.unfilled).toEqual([]);
  });

  it('stale events write nothing; a delete is soft and a newer create revives the row', () => {
    const v1 = productRow(1);
    const first = plan([create('products', { id: 1 }, v1, 100), remove('products', { id: 1 }, v1, 200)]);
    const stored = first.rows[0]!.write!.document as Record<string, unknown>;
    expect(stored._cdc).toMatchObject({ deleted: true, deleted_lsn: '200', version_number: 2 });
    expect(stored.name).toBe(v1.name);
    const again = plan([create('products', { id: 1 }, v1, 100), update('products', { id: 1 }, v1, v1, 150), create('products', { id: 1 }, productRow(1, { name: 'back' }), 300)], [stored]);
    expect([...again.settled.entries()].map(([index, result]) => [index, result.status === 'ok' && result.stale])).toEqual([[0, true], [1, true]]);
    expect(again.rows[0]!.write!.document._cdc).toMatchObject({ deleted: false, version_number: 3, op: 'create' });
  });

  it('a TRUNCATE between the stored version and an event applies first; one after the last event applies at the end', () => {
    const truncate = (lsn: string): TruncateRecord => ({ version: paddedVersion(rowVersion(lsn, false)), lsn, commit_time_us: '2026-01-02T00:00:00.000000Z', tx_id: 9, kafka: null });
    const order = orderRow(1);
    const result = plan([create('orders', { id: 1 }, order, 100), update('orders', { id: 1 }, order, orderRow(1, { status: 'paid' }), 300)], [], [truncate('200'), truncate('400')]);
    const ops = result.rows[0]!.logs.map((log) => [log.document.op, log.document.lsn, log.document.version_number]);
    expect(ops).toEqual([['create', '100', 1], ['truncate', '200', 2], ['update', '300', 3], ['truncate', '400', 4]]);
    expect(result.rows[0]!.write!.document._cdc).toMatchObject({ deleted: true, deleted_lsn: '400', op: 'truncate' });
  });

  it('a value that cannot be stored fails alone; the row goes on from the state before it', () => {
    const result = plan([create('products', { id: 1 }, productRow(1), 1), update('products', { id: 1 }, productRow(1), productRow(1, { price: 'lots' }), 2), update('products', { id: 1 }, productRow(1), productRow(1, { price: '3.00' }), 3)]);
    expect(result.settled.get(1)?.status).toBe('failed');
    expect(result.rows[0]!.logs.map((log) => log.document.version_number)).toEqual([1, 2]);
    expect(result.rows[0]!.write!.document.price).toEqual(Decimal128.fromString('3.00'));
  });
});

describe('times, config, locks', () => {
  it('parseInstant: canonical UTC microseconds', () => {
    expect(parseInstant('2026-11-24T10:00:00Z')).toBe('2026-11-24T10:00:00.000000Z');
    expect(parseInstant('2026-11-24T11:00:00.123456+01:00')).toBe('2026-11-24T10:00:00.123456Z');
    expect(parseInstant('2026-11-24 10:00')).toBe('2026-11-24T10:00:00.000000Z');
    expect(parseInstant('2026-11-24T10:00:00.123456000Z')).toBe('2026-11-24T10:00:00.123456Z');
    expect(() => parseInstant('2026-11-24T10:00:00.1234567Z')).toThrow(/microsecond/);
    expect(() => parseInstant('last tuesday')).toThrow(RangeError);
  });

  it('config: defaults, and a bad value names the variable', () => {
    expect(warehouseConfigFromEnv({})).toEqual({ url: 'mongodb://127.0.0.1:27017', database: 'ecommerce_warehouse', requestTimeoutMs: 30_000, startupWaitMs: 120_000 });
    expect(() => warehouseConfigFromEnv({ MONGODB_URL: 'http://x' })).toThrow(ConfigError);
    expect(() => warehouseConfigFromEnv({ WAREHOUSE_DATABASE: 'a.b' })).toThrow(/WAREHOUSE_DATABASE/);
  });

  it('table locks: a TRUNCATE waits for row writes in progress and holds new ones off', async () => {
    const locks = new TableLocks();
    const order: string[] = [];
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const rowsA = locks.shared(['orders'], async () => { order.push('a start'); await sleep(20); order.push('a end'); });
    await sleep(1); // row writes in progress
    const truncate = locks.exclusive('orders', async () => { order.push('truncate start'); await sleep(10); order.push('truncate end'); });
    const rowsB = locks.shared(['orders', 'products'], async () => { order.push('b start'); });
    const other = locks.shared(['customers'], async () => { order.push('customers'); });
    await Promise.all([rowsA, truncate, rowsB, other]);
    expect(order.indexOf('truncate start')).toBeGreaterThan(order.indexOf('a end'));
    expect(order.indexOf('b start')).toBeGreaterThan(order.indexOf('truncate end'));
    expect(order.indexOf('customers')).toBeLessThan(order.indexOf('a end'));
  });
});
