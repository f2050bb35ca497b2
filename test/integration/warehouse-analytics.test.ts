/**
 * The README's analytics (consumers/warehouse/analytics.ts) on the stack's MongoDB-wire server,
 * over rows written by the real WarehouseSink: every stage and operator they use ($match with
 * $expr, $group with $sum/$min/$max, $dateToString, $multiply, $lookup, $unwind, $project with
 * $concat, $sort, $limit) answers there as MongoDB 7 does, and money sums are exact Decimal128
 * (0.10 + 0.20 is 0.30, not 0.30000000000000004). Soft-deleted rows and cancelled orders do not count.
 */
import { Decimal128, MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../consumers/core/logger.js';
import { ANALYTICS } from '../../consumers/warehouse/analytics.js';
import { WarehouseSink } from '../../consumers/warehouse/warehouse-sink.js';
import { engines, requireEngines, uniqueName } from '../helpers/engines.js';
import { create, remove } from '../helpers/events.js';
import { orderRow, productRow } from '../helpers/sink-contract.js';

describe.runIf(requireEngines('mongodb'))('warehouse analytics (real MongoDB-wire server)', () => {
  const database = uniqueName('wh-analytics').replace(/[^A-Za-z0-9_-]/g, '_');
  let client: MongoClient;
  let sink: WarehouseSink;
  const run = async (name: string) => {
    const analysis = ANALYTICS[name]!;
    const rows = await client.db(database).collection(analysis.collection).aggregate(analysis.pipeline).toArray();
    return JSON.parse(JSON.stringify(rows, function (this: Record<string, unknown>, key: string, value: unknown) {
      const original = this[key];
      return original instanceof Decimal128 ? `D${original.toString()}` : value;
    }));
  };

  beforeAll(async () => {
    client = new MongoClient(engines().mongodb);
    await client.connect();
    sink = new WarehouseSink({ config: { url: engines().mongodb, database, requestTimeoutMs: 10_000, startupWaitMs: 10_000 }, logger: createLogger({ consumer: 'analytics-test', level: 'silent', pretty: false }) });
    await sink.start();
    let lsn = 100;
    const day = (d: number, id: number) => `2026-11-2${d}T10:00:00.00000${id % 10}Z`;
    const events = [
      create('customers', { id: 1 }, { id: 1, email: 'emma@example.com', first_name: 'Emma', last_name: 'Johnson', phone: null, push_token: null, created_at: day(1, 1), updated_at: day(1, 1) }, lsn++),
      create('customers', { id: 2 }, { id: 2, email: 'liam@example.com', first_name: 'Liam', last_name: 'Smith', phone: null, push_token: null, created_at: day(1, 2), updated_at: day(1, 2) }, lsn++),
      create('products', { id: 1 }, productRow(1, { stock_quantity: 3, low_stock_threshold: 5 }), lsn++),
      create('products', { id: 2 }, productRow(2, { stock_quantity: 50, low_stock_threshold: 5, price: '0.20' }), lsn++),
      create('products', { id: 3 }, productRow(3, { stock_quantity: 0, low_stock_threshold: 5 }), lsn++),
      create('orders', { id: 1 }, orderRow(1, { customer_id: 1, total_amount: '0.10', status: 'paid', created_at: day(3, 1) }), lsn++),
      create('orders', { id: 2 }, orderRow(2, { customer_id: 1, total_amount: '0.20', status: 'shipped', created_at: day(3, 2) }), lsn++),
      create('orders', { id: 3 }, orderRow(3, { customer_id: 2, total_amount: '9999999999.99', status: 'pending', created_at: day(4, 3) }), lsn++),
      create('orders', { id: 4 }, orderRow(4, { customer_id: 2, total_amount: '500.00', status: 'cancelled', created_at: day(4, 4) }), lsn++),
      create('orders', { id: 5 }, orderRow(5, { customer_id: 2, total_amount: '7.00', status: 'paid', created_at: day(4, 5) }), lsn++),
      create('order_items', { id: 1 }, { id: 1, order_id: 1, product_id: 2, quantity: 3, unit_price: '0.10' }, lsn++),
      create('order_items', { id: 2 }, { id: 2, order_id: 2, product_id: 1, quantity: 1, unit_price: '19.99' }, lsn++),
      create('order_items', { id: 3 }, { id: 3, order_id: 3, product_id: 2, quantity: 2, unit_price: '0.20' }, lsn++),
    ];
    expect((await sink.write(events)).every((result) => result.status === 'ok')).toBe(true);
    // Soft-deleted: order 5 and its revenue must not count, nor product 3's low stock.
    expect((await sink.write([remove('orders', { id: 5 }, orderRow(5), lsn++), remove('products', { id: 3 }, productRow(3), lsn++)])).every((r) => r.status === 'ok')).toBe(true);
  });
  afterAll(async () => {
    await sink.close();
    await client.db(database).dropDatabase();
    await client.close();
  });

  it('daily revenue: exact Decimal128 per day, cancelled and deleted orders left out', async () => {
    expect(await run('daily-revenue')).toEqual([
      { _id: '2026-11-23', revenue: 'D0.30', orders: 2 },
      { _id: '2026-11-24', revenue: 'D9999999999.99', orders: 1 },
    ]);
  });

  it('orders by status', async () => {
    expect(await run('orders-by-status')).toEqual([
      { _id: 'cancelled', orders: 1, total: 'D500.00' },
      { _id: 'paid', orders: 1, total: 'D0.10' },
      { _id: 'pending', orders: 1, total: 'D9999999999.99' },
      { _id: 'shipped', orders: 1, total: 'D0.20' },
    ]);
  });

  it('top products by revenue and units, with their names', async () => {
    expect(await run('top-products')).toEqual([
      { _id: 1, revenue: 'D19.99', units: 1, sku: 'SKU-00001', name: 'Wireless Mouse 1' },
      { _id: 2, revenue: 'D0.70', units: 5, sku: 'SKU-00002', name: 'Wireless Mouse 2' },
    ]);
  });

  it('customer lifetime value', async () => {
    const rows = await run('customer-lifetime-value');
    expect(rows.map((row: Record<string, unknown>) => [row._id, row.email, row.name, row.lifetime_value, row.orders])).toEqual([
      [2, 'liam@example.com', 'Liam Smith', 'D9999999999.99', 1],
      [1, 'emma@example.com', 'Emma Johnson', 'D0.30', 2],
    ]);
    expect(rows[1].first_order).toBe('2026-11-23T10:00:00.000Z');
    expect(rows[1].last_order).toBe('2026-11-23T10:00:00.000Z');
  });

  it('low-stock products (live ones only)', async () => {
    expect(await run('low-stock')).toEqual([{ _id: 1, sku: 'SKU-00001', name: 'Wireless Mouse 1', stock_quantity: 3, low_stock_threshold: 5 }]);
  });
});
