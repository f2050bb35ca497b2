/**
 * The comparison `npm run verify` makes is exact: each case here holds two values that a lossy
 * compare (numbers through doubles, timestamps through Date, JSON text equality) would call equal,
 * or equal values that a text compare would call different. Plus the round trips verify relies on
 * to read versions and values back through each sink's own code.
 */
import { describe, expect, it } from 'vitest';
import { rowVersion } from '../../consumers/core/change-event.js';
import { externalVersion } from '../../consumers/elasticsearch/document.js';
import { fromDocument, toDocument } from '../../consumers/warehouse/bson-values.js';
import { TABLE_CATALOG } from '../../consumers/warehouse/table-catalog.js';
import { rowDifferences, sameValue } from '../../scripts/verify/compare.js';
import { lsnFromExternalVersion } from '../../scripts/verify/elasticsearch-reader.js';
import { lsnFromRowVersion } from '../../scripts/verify/redis-reader.js';
import { formatReport } from '../../scripts/verify/report-text.js';
import { lsnToDecimal, sourceValue } from '../../scripts/verify/source-rows.js';
import { compareRows } from '../../scripts/verify/verify.js';

describe('verify: exact value comparison', () => {
  it.each([
    ['NUMERIC scale', '25000.00', '25000.0'],
    ['NUMERIC trailing digit beyond a double', '0.10000000000000000001', '0.1'],
    ['int8 beyond 2^53 (odd)', '9007199254740993', '9007199254740992'],
    ['int8 beyond 2^53 as number vs text', '9007199254740993', 9007199254740992],
    ['microseconds', '2026-11-24T09:15:38.123456Z', '2026-11-24T09:15:38.123000Z'],
    ['microsecond digit 6', '2026-11-24T09:15:38.123456Z', '2026-11-24T09:15:38.123457Z'],
    ['decimal string vs number', '19.99', 19.99],
    ['null vs empty string', null, ''],
    ['jsonb nested number', { a: { b: 1 } }, { a: { b: 1.0000000000000002 } }],
    ['jsonb array order', { tags: ['a', 'b'] }, { tags: ['b', 'a'] }],
    ['jsonb extra key', { a: 1 }, { a: 1, b: null }],
  ] as const)('%s differs', (_name, a, b) => {
    expect(sameValue(a as never, b as never)).toBe(false);
    expect(sameValue(b as never, a as never)).toBe(false);
  });

  it('jsonb objects are equal whatever the key order, deep', () => {
    expect(sameValue({ color: 'red', size: { w: 1, h: 2 }, tags: ['x'] }, { tags: ['x'], size: { h: 2, w: 1 }, color: 'red' })).toBe(true);
  });

  it('PostgreSQL text becomes the contract value exactly', () => {
    expect(sourceValue('int8', '9007199254740993')).toBe('9007199254740993');
    expect(sourceValue('int8', '-9223372036854775808')).toBe('-9223372036854775808');
    expect(sourceValue('int8', '42')).toBe(42);
    expect(sourceValue('numeric', '1.50')).toBe('1.50');
    expect(sourceValue('int4', '7')).toBe(7);
    expect(sourceValue('jsonb', '{"big": 12345678901234567890, "b": 1}')).toEqual({ big: '12345678901234567890', b: 1 });
    expect(sourceValue('timestamptz', '2026-11-24T09:15:38.123456Z')).toBe('2026-11-24T09:15:38.123456Z');
    expect(sourceValue('text', null)).toBeNull();
    expect(lsnToDecimal('16/B374D848')).toBe(((0x16n << 32n) + 0xb374d848n).toString());
  });

  it('rowDifferences names each differing column, and a column the sink lost', () => {
    const source = { id: 1, price: '19.90', at: '2026-01-01T00:00:00.000001Z', attributes: { a: 1, b: 2 }, note: null };
    const sink = { id: 1, price: '19.9', at: '2026-01-01T00:00:00.000001Z', attributes: { b: 2, a: 1 } };
    expect(rowDifferences(source, sink)).toEqual([
      { field: 'price', source: '19.90', sink: '19.9' },
      { field: 'note', source: null, sink: undefined },
    ]);
  });

  it('reads versions back through each sink’s own mapping', () => {
    const lsn = '27329392';
    expect(lsnFromExternalVersion(externalVersion(rowVersion(lsn, false)))).toBe(lsn);
    expect(lsnFromExternalVersion(externalVersion(rowVersion(lsn, true)))).toBe(lsn);
    expect(lsnFromRowVersion(rowVersion(lsn, false))).toBe(lsn);
    expect(lsnFromRowVersion(rowVersion(lsn, true))).toBe(lsn);
  });

  it('a warehouse document read back with fromDocument equals the row, exactly', () => {
    const row = { id: 3, total_amount: '12345678901.10', created_at: '2026-11-24T09:15:38.123456Z', updated_at: '2026-11-24T09:15:38.000001Z', shipping_address: { zip: '1', city: 'X' } };
    const back = fromDocument({ _id: 3, ...toDocument(row, TABLE_CATALOG.orders!, 'orders') }, TABLE_CATALOG.orders!);
    expect(rowDifferences(row, back)).toEqual([]);
  });

  it('compareRows: missing, deleted, extra, field; a deleted sink row without source row is not extra', () => {
    const info = { table: 'orders', primaryKey: ['id'], columns: [{ name: 'id', type: 'int4' }, { name: 'total', type: 'numeric' }] };
    const source = new Map([
      ['1', { keyText: '1', key: { id: 1 }, row: { id: 1, total: '1.00' } }],
      ['2', { keyText: '2', key: { id: 2 }, row: { id: 2, total: '2.00' } }],
      ['3', { keyText: '3', key: { id: 3 }, row: { id: 3, total: '3.00' } }],
    ]);
    const sink = new Map([
      ['1', { values: { id: 1, total: '1.0' }, lsn: '10' }],
      ['2', { values: null, lsn: '11' }],
      ['4', { values: { id: 4, total: '4.00' }, lsn: '12' }],
      ['5', { values: null, lsn: '13' }],
    ]);
    const items = compareRows('warehouse', info, source, sink, true);
    expect(items.map((i) => [i.key, i.kind, i.field ?? null])).toEqual([
      ['1', 'field', 'total'],
      ['2', 'missing', null],
      ['3', 'missing', null],
      ['4', 'extra', null],
    ]);
    const text = formatReport({ ok: false, snapshotLsn: '1', tookMs: 5, summaries: [], drift: items }, 2);
    expect(text).toContain('warehouse  orders  key 1  field total: source "1.00", sink "1.0"');
    expect(text).toContain('... and 2 more');
  });
});
