import { describe, expect, it } from 'vitest';
import { PermanentError } from '../../consumers/core/errors.js';
import { entityOf, idSegment, keyLayout, valueSegment, viewOf } from '../../consumers/redis/key-layout.js';

describe('Redis key layout', () => {
  it('uses the seed\'s key names with the default prefix', () => {
    const keys = keyLayout();
    expect(keys.row('orders', { id: 1 })).toBe('order:1');
    expect(keys.row('customers', { id: 42 })).toBe('customer:42');
    expect(keys.row('products', { id: 7 })).toBe('product:7');
    expect(keys.row('order_items', { id: 3 })).toBe('order_item:3');
    expect(keys.recentOrders).toBe('recent_orders');
    expect(keys.ordersByCreatedAt).toBe('orders:by_created_at');
    expect(keys.customerOrders(42)).toBe('customer:42:orders');
    expect(keys.orderItems(1)).toBe('order:1:items');
    expect(keys.productStock(7)).toBe('product:7:stock');
    expect(keys.lowStockProducts).toBe('low_stock_products');
    expect(keys.versionHash).toBe('cdc:version');
    expect(keys.truncatedHash).toBe('cdc:truncated');
    expect(keys.deleteMarker('order:1')).toBe('cdc:deleted:order:1');
  });

  it('puts the prefix in front of every key but not in the LSN hash field', () => {
    const keys = keyLayout('test-1:');
    expect(keys.field('orders', { id: 1 })).toBe('order:1');
    expect(keys.row('orders', { id: 1 })).toBe('test-1:order:1');
    expect(keys.recentOrders).toBe('test-1:recent_orders');
    expect(keys.versionHash).toBe('test-1:cdc:version');
    expect(keys.deleteMarker('order:1')).toBe('test-1:cdc:deleted:order:1');
    expect(keys.customerOrders(5)).toBe('test-1:customer:5:orders');
  });

  it.each([
    ['customers', 'customer', ''],
    ['products', 'product', 'product'],
    ['orders', 'order', 'order'],
    ['order_items', 'order_item', 'order_item'],
    ['shipments', 'shipments', ''],
  ])('table %s -> entity %s, view %j', (table, entity, view) => {
    expect(entityOf(table)).toBe(entity);
    expect(viewOf(table)).toBe(view);
  });

  it.each([
    [{ id: 1 }, '1'],
    [{ id: '9007199254740993' }, '9007199254740993'], // int8 beyond 2^53 arrives as a string
    [{ id: 'a"b' }, 'a\\"b'], // JSON escapes kept, the same rule the Lua script applies
    [{ order_id: 5, line: 2 }, '5:2'],
    [{ code: 'SKU-1', active: true }, 'SKU-1:true'],
  ])('id segment of %j is %s', (key, expected) => {
    expect(idSegment(key)).toBe(expected);
  });

  it.each([[{}], [{ id: null }], [{ id: { nested: 1 } }], [{ id: [1] }], [{ id: '' }]])('refuses key %j as permanent', (key) => {
    expect(() => idSegment(key)).toThrow(PermanentError);
  });

  it('formats a view id exactly like JSON writes it', () => {
    expect(valueSegment(12)).toBe('12');
    expect(valueSegment(1.5)).toBe('1.5');
    expect(valueSegment('x')).toBe('x');
  });
});
