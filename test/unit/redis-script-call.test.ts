import { describe, expect, it } from 'vitest';
import { rowVersion, type Row } from '../../consumers/core/change-event.js';
import { PermanentError } from '../../consumers/core/errors.js';
import { keyLayout } from '../../consumers/redis/key-layout.js';
import { buildScriptCall, buildTruncateCall, epochMillis, type ScriptSettings } from '../../consumers/redis/script-call.js';
import { changeEvent, create, remove, update } from '../helpers/events.js';
import { orderRow, productRow } from '../helpers/sink-contract.js';

const settings: ScriptSettings = {
  keys: keyLayout('p:'),
  ttlSecondsByTable: { customers: 3600 },
  deleteMarkerTtlSeconds: 86_400,
  recentOrdersLength: 100,
};

/** The script's ARGV by name (see apply-change-script.ts). */
function named(args: readonly string[]) {
  const [op, version, field, prefix, view, id, rowJson, ttl, markerTtl, recent, a, b, c, toastCount, ...toast] = args;
  return { op, version, field, prefix, view, id, rowJson, ttl, markerTtl, recent, a, b, c, toastCount, toast };
}

describe('buildScriptCall', () => {
  it('encodes an order create with its view arguments', () => {
    const row = orderRow(7, { customer_id: 3, created_at: '2026-03-02T08:00:00.123456Z' });
    const call = buildScriptCall(create('orders', { id: 7 }, row, '33554432'), settings);
    expect(call.keys).toEqual(['p:order:7', 'p:cdc:version', 'p:cdc:deleted:order:7', 'p:cdc:truncated']);
    expect(named(call.args)).toEqual({
      op: 'upsert', version: '18446744073743106048', // a streamed change: 2^64 + LSN
      field: 'order:7', prefix: 'p:', view: 'order', id: '7',
      rowJson: JSON.stringify(row), ttl: '0', markerTtl: '86400', recent: '100',
      a: String(Date.UTC(2026, 2, 2, 8, 0, 0, 123)), b: '3', c: '', toastCount: '0', toast: [],
    });
  });

  it('encodes an order delete with the old customer from `before`', () => {
    const row = orderRow(7, { customer_id: 3 });
    const args = named(buildScriptCall(remove('orders', { id: 7 }, row, 99), settings).args);
    expect(args).toMatchObject({ op: 'delete', rowJson: '', a: '', b: '', c: '3' });
  });

  it('passes stock figures through for the script to judge', () => {
    const args = named(buildScriptCall(create('products', { id: 1 }, productRow(1, { stock_quantity: 4, low_stock_threshold: null }), 5), settings).args);
    expect(args).toMatchObject({ view: 'product', a: '4', b: '' });
    const bad = named(buildScriptCall(create('products', { id: 1 }, productRow(1, { stock_quantity: 'lots' }), 5), settings).args);
    expect(bad.a).toBe('lots');
  });

  it('encodes an order item move with both orders', () => {
    const before: Row = { id: 2, order_id: 7, product_id: 1, quantity: 1, unit_price: '5.00' };
    const args = named(buildScriptCall(update('order_items', { id: 2 }, before, { ...before, order_id: 8 }, 6), settings).args);
    expect(args).toMatchObject({ view: 'order_item', a: '8', b: '', c: '7' });
  });

  it('lists unchanged-TOAST columns with the raw JSON of `before` as fallback', () => {
    const before = productRow(1);
    const { description: _d, attributes, ...after } = before;
    const call = buildScriptCall(update('products', { id: 1 }, { ...after, attributes: attributes! }, after, 8, ['description', 'attributes']), settings);
    const args = named(call.args);
    expect(args.toastCount).toBe('2');
    expect(args.toast).toEqual(['description', '', 'attributes', JSON.stringify(before.attributes)]);
    expect(JSON.parse(args.rowJson!)).toEqual(after);
  });

  it('applies the table TTL', () => {
    const call = buildScriptCall(create('customers', { id: 1 }, { id: 1, email: 'a@example.com' }, 1), settings);
    expect(named(call.args).ttl).toBe('3600');
  });

  it('treats a snapshot read as an upsert, guarded by its LSN alone (below every streamed version)', () => {
    const event = changeEvent({ table: 'customers', op: 'read', key: { id: 1 }, after: { id: 1 }, lsn: 10 });
    expect(named(buildScriptCall(event, settings).args)).toMatchObject({ op: 'upsert', version: '10' });
  });

  it.each(['0x10', '-1', '01', '', '1.5', '1e9'])('refuses row version %j as permanent', (lsn) => {
    const event = changeEvent({ table: 'customers', op: 'create', key: { id: 1 }, after: { id: 1 }, lsn: 1 });
    expect(() => buildScriptCall({ ...event, source: { ...event.source, lsn, version: lsn } }, settings)).toThrow(PermanentError);
  });

  it('refuses an order whose created_at is not a timestamp, and a create without a row', () => {
    expect(() => buildScriptCall(create('orders', { id: 1 }, orderRow(1, { created_at: 'soon' }), 1), settings)).toThrow(PermanentError);
    expect(() => buildScriptCall(create('orders', { id: 1 }, orderRow(1, { created_at: 1700000000000 }), 1), settings)).toThrow(PermanentError);
    const noRow = changeEvent({ table: 'orders', op: 'create', key: { id: 1 }, after: null, lsn: 1 });
    expect(() => buildScriptCall(noRow, settings)).toThrow(PermanentError);
  });
});

describe('buildTruncateCall', () => {
  it('names the table\'s entity and view', () => {
    const call = buildTruncateCall({
      op: 'truncate', table: 'orders', schema: 'public', key: {},
      source: { lsn: '500', version: rowVersion('500', false), txId: 7, commitTimeMs: 0, snapshot: false },
      kafka: { topic: 'ecommerce.public.orders', partition: 1, offset: '9' },
    }, settings);
    expect(call.keys).toEqual(['p:cdc:version', 'p:cdc:truncated']);
    expect(call.args).toEqual([rowVersion('500', false), 'p:', 'order', 'order', '100']);
  });
});

describe('epochMillis', () => {
  it.each([
    ['2026-03-02T08:00:00.123456Z', Date.UTC(2026, 2, 2, 8, 0, 0, 123)],
    ['2026-03-02T10:00:00.5+02:00', Date.UTC(2026, 2, 2, 8, 0, 0, 500)],
    ['2026-03-02T08:00:00.999999', Date.UTC(2026, 2, 2, 8, 0, 0, 999)], // timestamp without zone: UTC
    ['2026-03-02', Date.UTC(2026, 2, 2)],
  ])('%s -> %d', (iso, ms) => {
    expect(epochMillis(iso, 'created_at')).toBe(String(ms));
  });

  it('is empty for null or absent', () => {
    expect(epochMillis(null, 'created_at')).toBe('');
    expect(epochMillis(undefined, 'created_at')).toBe('');
  });
});
