/**
 * Real captured Debezium messages (test/fixtures/debezium/) through the core decoder and the
 * Redis script arguments: which keys each kind of change touches and what it stores.
 */
import { describe, expect, it } from 'vitest';
import type { RowChangeEvent } from '../../consumers/core/change-event.js';
import { keyLayout } from '../../consumers/redis/key-layout.js';
import { buildScriptCall, buildTruncateCall, type ScriptSettings } from '../../consumers/redis/script-call.js';
import { fixtureEvent } from '../helpers/fixtures.js';

const settings: ScriptSettings = { keys: keyLayout(''), ttlSecondsByTable: {}, deleteMarkerTtlSeconds: 86_400, recentOrdersLength: 100 };

function rowEvent(name: string): RowChangeEvent {
  const event = fixtureEvent(name);
  if (event.op === 'tombstone' || event.op === 'truncate') throw new Error(`${name} is not a row change`);
  return event;
}

/** The script's ARGV by name (see apply-change-script.ts). */
function named(args: readonly string[]) {
  const [op, version, field, prefix, view, id, rowJson, ttl, markerTtl, recent, a, b, c, toastCount, ...toast] = args;
  return { op, version, field, prefix, view, id, rowJson, ttl, markerTtl, recent, a, b, c, toastCount, toast };
}

describe('captured Debezium messages -> Redis script calls', () => {
  it.each([
    ['orders-create', 'order', 'upsert', 'order'],
    ['orders-update', 'order', 'upsert', 'order'],
    ['order-items-create', 'order_item', 'upsert', 'order_item'],
    ['products-create', 'product', 'upsert', 'product'],
    ['products-snapshot-read', 'product', 'upsert', 'product'],
    ['products-update-unchanged-toast', 'product', 'upsert', 'product'],
    ['customers-create', 'customer', 'upsert', ''],
    ['customers-snapshot-read', 'customer', 'upsert', ''],
    ['customers-update', 'customer', 'upsert', ''],
    ['customers-pk-update-delete', 'customer', 'delete', ''],
    ['customers-pk-update-create', 'customer', 'upsert', ''],
    ['customers-delete', 'customer', 'delete', ''],
  ])('%s writes %s:{id} (%s, view %j) guarded by its LSN', (name, entity, op, view) => {
    const event = rowEvent(name);
    const rowKey = `${entity}:${String(event.key.id)}`;
    const call = buildScriptCall(event, settings);
    const args = named(call.args);
    expect(call.keys).toEqual([rowKey, 'cdc:version', `cdc:deleted:${rowKey}`, 'cdc:truncated']);
    expect(args).toMatchObject({ op, view, field: rowKey, version: event.source.version });
    expect(args.version).toMatch(/^[1-9]\d*$/);
    if (op === 'upsert') expect(JSON.parse(args.rowJson!)).toEqual(event.after);
    else expect(args.rowJson).toBe('');
  });

  it('an order INSERT carries exact values and its view arguments', () => {
    const event = rowEvent('orders-create');
    const args = named(buildScriptCall(event, settings).args);
    const row = JSON.parse(args.rowJson!) as Record<string, unknown>;
    expect(row.total_amount).toBe('25000.00');
    expect(row.created_at).toBe(event.after!.created_at);
    expect(String(row.created_at)).toMatch(/\.\d{6}Z$/);
    expect(args.a).toBe(String(Date.parse(String(event.after!.created_at))));
    expect(args.b).toBe(String(event.after!.customer_id));
  });

  it('an order UPDATE names the customer in `before` for the index move', () => {
    const event = rowEvent('orders-update');
    expect(named(buildScriptCall(event, settings).args).c).toBe(String(event.before!.customer_id));
  });

  it('a product carries stock and threshold for the live-stock views', () => {
    const event = rowEvent('products-snapshot-read');
    const args = named(buildScriptCall(event, settings).args);
    expect(args).toMatchObject({ a: String(event.after!.stock_quantity), b: String(event.after!.low_stock_threshold) });
  });

  it('an order item names its order', () => {
    const event = rowEvent('order-items-create');
    const args = named(buildScriptCall(event, settings).args);
    expect(args).toMatchObject({ a: String(event.after!.order_id), c: '' });
  });

  it('the unchanged-TOAST placeholder becomes a column to keep, never a value', () => {
    const event = rowEvent('toast-unchanged-update');
    expect(event.unavailableColumns.length).toBeGreaterThan(0);
    const args = named(buildScriptCall(event, settings).args);
    expect(args.rowJson).not.toContain('__debezium_unavailable_value');
    expect(Number(args.toastCount)).toBe(event.unavailableColumns.length);
    expect(args.toast.filter((_, i) => i % 2 === 0)).toEqual([...event.unavailableColumns]);
  });

  it('a tombstone is recognised (the sink answers ok without a write)', () => {
    expect(fixtureEvent('customers-tombstone').op).toBe('tombstone');
    expect(fixtureEvent('customers-pk-update-tombstone').op).toBe('tombstone');
  });

  it('a TRUNCATE becomes one truncate-script call for its table', () => {
    const event = fixtureEvent('truncate');
    if (event.op !== 'truncate') throw new Error('expected a truncate');
    const call = buildTruncateCall(event, settings);
    expect(call.keys).toEqual(['cdc:version', 'cdc:truncated']);
    expect(call.args[0]).toBe(event.source.version);
    expect(call.args[2]).toBe(event.table);
  });
});
