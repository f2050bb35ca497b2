/**
 * RedisSink against a real Redis: the shared sink contract, then what only the cache promises —
 * recent_orders (capped, newest first, never duplicated), the per-customer index, order items,
 * live stock and the low-stock set, TTLs, exact values, and `retry` while Redis is down.
 */
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowVersion, type Row, type TruncateEvent } from '../../consumers/core/change-event.js';
import type { Sink } from '../../consumers/core/sink.js';
import { deletePrefix, dumpCache } from '../../consumers/redis/cache-dump.js';
import { redisConfigFromEnv } from '../../consumers/redis/redis-config.js';
import { EVENTS_PER_CALL, RedisSink, type RedisSinkOptions } from '../../consumers/redis/redis-sink.js';
import { engines, requireEngines, uniqueName } from '../helpers/engines.js';
import { create, remove, tombstone, update } from '../helpers/events.js';
import { killRedisServer, startRedisServer } from '../helpers/redis-server.js';
import { describeSinkContract, orderRow, productRow } from '../helpers/sink-contract.js';

describe.runIf(requireEngines('redis'))('RedisSink (real Redis)', () => {
  const basePrefix = `${uniqueName('redis-sink')}:`;
  let sinkCount = 0;
  let reader: Redis;
  const sinks: RedisSink[] = [];

  beforeAll(() => {
    reader = new Redis(engines().redis);
  });
  afterAll(async () => {
    for (const sink of sinks) await sink.close();
    await deletePrefix(reader, basePrefix);
    await reader.quit();
  });

  async function makeSink(overrides: Partial<RedisSinkOptions> = {}): Promise<RedisSink> {
    const sink = new RedisSink({
      url: engines().redis,
      keyPrefix: `${basePrefix}${sinkCount++}:`,
      recentOrdersLength: 100,
      deleteMarkerTtlSeconds: 86_400,
      ttlSecondsByTable: {},
      ...overrides,
    });
    sinks.push(sink);
    await sink.start();
    return sink;
  }

  async function readRow(sink: Sink, table: string, key: Row): Promise<Row | null> {
    const text = await reader.get((sink as RedisSink).keys.row(table, key));
    return text === null ? null : (JSON.parse(text) as Row);
  }

  describeSinkContract({
    name: 'redis',
    makeSink: () => makeSink(),
    readRow,
    // Stock must be an integer for the live-stock views; the script refuses it before writing.
    poisonEvent: (table, key, lsn) => create(table, key, productRow(Number(key.id), { stock_quantity: 'lots' }), lsn),
  });

  /** Order `id` created at `minute` past 10:00 on 2026-03-02. */
  function orderAt(id: number, minute: number, overrides: Row = {}): Row {
    const createdAt = `2026-03-02T10:${String(minute).padStart(2, '0')}:00.000000Z`;
    return orderRow(id, { created_at: createdAt, updated_at: createdAt, ...overrides });
  }

  it('keeps recent_orders capped, newest first by created_at, ties by id, each order once', async () => {
    const sink = await makeSink({ recentOrdersLength: 3 });
    const k = sink.keys;
    // Created out of id order; orders 9 and 10 share a millisecond (one bulk INSERT).
    const events = [
      create('orders', { id: 1 }, orderAt(1, 1), 100),
      create('orders', { id: 2 }, orderAt(2, 5), 101),
      create('orders', { id: 3 }, orderAt(3, 3), 102),
      create('orders', { id: 9 }, orderAt(9, 7), 103),
      create('orders', { id: 10 }, orderAt(10, 7), 104),
    ];
    expect((await sink.write(events)).every((r) => r.status === 'ok')).toBe(true);
    expect(await reader.lrange(k.recentOrders, 0, -1)).toEqual(['10', '9', '2']);

    // A status change is not a new order: no duplicate, same order.
    const shipped = update('orders', { id: 9 }, orderAt(9, 7), orderAt(9, 7, { status: 'shipped' }), 105);
    await sink.write([shipped]);
    expect(await reader.lrange(k.recentOrders, 0, -1)).toEqual(['10', '9', '2']);

    // Replaying everything changes nothing.
    const before = await dumpCache(reader, k.prefix);
    expect((await sink.write([...events, shipped])).every((r) => r.status === 'ok')).toBe(true);
    expect(await dumpCache(reader, k.prefix)).toEqual(before);

    // Deleting a listed order pulls the next newest in from the sorted set.
    await sink.write([remove('orders', { id: 10 }, orderAt(10, 7), 106), tombstone('orders', { id: 10 })]);
    expect(await reader.lrange(k.recentOrders, 0, -1)).toEqual(['9', '2', '3']);

    // An older order does not enter a full list; a newer one pushes the oldest out.
    await sink.write([create('orders', { id: 11 }, orderAt(11, 0), 107)]);
    expect(await reader.lrange(k.recentOrders, 0, -1)).toEqual(['9', '2', '3']);
    await sink.write([create('orders', { id: 12 }, orderAt(12, 30), 108)]);
    expect(await reader.lrange(k.recentOrders, 0, -1)).toEqual(['12', '9', '2']);
    expect(await reader.zcard(k.ordersByCreatedAt)).toBe(6);
  });

  it('indexes orders per customer by created_at and moves them when the customer changes', async () => {
    const sink = await makeSink();
    const k = sink.keys;
    await sink.write([
      create('orders', { id: 1 }, orderAt(1, 10, { customer_id: 1 }), 200),
      create('orders', { id: 2 }, orderAt(2, 20, { customer_id: 1 }), 201),
      create('orders', { id: 3 }, orderAt(3, 15, { customer_id: 2 }), 202),
    ]);
    const epoch = (minute: number) => String(Date.parse(`2026-03-02T10:${minute}:00Z`));
    expect(await reader.zrange(k.customerOrders(1), 0, -1, 'WITHSCORES')).toEqual(['1', epoch(10), '2', epoch(20)]);
    expect(await reader.zrevrange(k.customerOrders(2), 0, -1)).toEqual(['3']);

    // The order changes hands (the cached row says who had it).
    await sink.write([update('orders', { id: 2 }, orderAt(2, 20, { customer_id: 1 }), orderAt(2, 20, { customer_id: 2 }), 203)]);
    expect(await reader.zrevrange(k.customerOrders(1), 0, -1)).toEqual(['1']);
    expect(await reader.zrevrange(k.customerOrders(2), 0, -1)).toEqual(['2', '3']);

    await sink.write([remove('orders', { id: 3 }, orderAt(3, 15, { customer_id: 2 }), 204)]);
    expect(await reader.zrevrange(k.customerOrders(2), 0, -1)).toEqual(['2']);
  });

  it('keeps order items in a set per order', async () => {
    const sink = await makeSink();
    const k = sink.keys;
    const item = (id: number, orderId: number): Row => ({ id, order_id: orderId, product_id: 5, quantity: 2, unit_price: '12.50' });
    await sink.write([create('order_items', { id: 1 }, item(1, 7), 300), create('order_items', { id: 2 }, item(2, 7), 301)]);
    expect((await reader.smembers(k.orderItems(7))).sort()).toEqual(['1', '2']);
    expect(JSON.parse((await reader.get(`${k.prefix}order_item:1`))!)).toEqual(item(1, 7));

    await sink.write([update('order_items', { id: 2 }, item(2, 7), item(2, 8), 302), remove('order_items', { id: 1 }, item(1, 7), 303)]);
    expect(await reader.smembers(k.orderItems(7))).toEqual([]);
    expect(await reader.smembers(k.orderItems(8))).toEqual(['2']);
  });

  it('tracks live stock and the low-stock set both ways', async () => {
    const sink = await makeSink();
    const k = sink.keys;
    const base = productRow(1, { stock_quantity: 50, low_stock_threshold: 10 });
    await sink.write([create('products', { id: 1 }, base, 400)]);
    expect(await reader.get(k.productStock(1))).toBe('50');
    expect(await reader.sismember(k.lowStockProducts, '1')).toBe(0);

    const atThreshold = productRow(1, { stock_quantity: 10, low_stock_threshold: 10 });
    await sink.write([update('products', { id: 1 }, base, atThreshold, 401)]);
    expect(await reader.get(k.productStock(1))).toBe('10');
    expect(await reader.sismember(k.lowStockProducts, '1')).toBe(1);

    const restocked = productRow(1, { stock_quantity: 200, low_stock_threshold: 10 });
    await sink.write([update('products', { id: 1 }, atThreshold, restocked, 402)]);
    expect(await reader.get(k.productStock(1))).toBe('200');
    expect(await reader.sismember(k.lowStockProducts, '1')).toBe(0);

    // A stale redelivery of the low-stock update does not put it back.
    await sink.write([update('products', { id: 1 }, base, atThreshold, 401)]);
    expect(await reader.sismember(k.lowStockProducts, '1')).toBe(0);

    const empty = productRow(1, { stock_quantity: 0, low_stock_threshold: 10 });
    await sink.write([update('products', { id: 1 }, restocked, empty, 403)]);
    expect(await reader.sismember(k.lowStockProducts, '1')).toBe(1);
    await sink.write([remove('products', { id: 1 }, empty, 404)]);
    expect(await reader.exists(k.productStock(1))).toBe(0);
    expect(await reader.sismember(k.lowStockProducts, '1')).toBe(0);
  });

  it('by default keeps a delete marker for good: a replay of an older event, however late, cannot resurrect the row', async () => {
    const sink = await makeSink({ deleteMarkerTtlSeconds: redisConfigFromEnv({}).deleteMarkerTtlSeconds });
    const k = sink.keys;
    await sink.write([create('orders', { id: 1 }, orderAt(1, 1), 500), remove('orders', { id: 1 }, orderAt(1, 1), 510)]);
    expect(await reader.ttl(k.deleteMarker('order:1'))).toBe(-1); // no expiry
    expect((await sink.write([create('orders', { id: 1 }, orderAt(1, 1), 500)])).map((r) => r.status === 'ok' && r.stale)).toEqual([true]);
    expect(await reader.exists(k.row('orders', { id: 1 }))).toBe(0);
  });

  it('applies per-table TTLs and leaves a delete marker that expires', async () => {
    const sink = await makeSink({ ttlSecondsByTable: { customers: 120 }, deleteMarkerTtlSeconds: 60 });
    const k = sink.keys;
    const customer: Row = { id: 1, email: 'ana@example.com', first_name: 'Ana', last_name: 'Silva', phone: '+15550100', push_token: null, created_at: '2026-03-01T00:00:00.000000Z', updated_at: '2026-03-01T00:00:00.000000Z' };
    await sink.write([create('customers', { id: 1 }, customer, 500), create('orders', { id: 1 }, orderAt(1, 1), 501)]);
    const customerTtl = await reader.ttl(k.row('customers', { id: 1 }));
    expect(customerTtl).toBeGreaterThan(100);
    expect(customerTtl).toBeLessThanOrEqual(120);
    expect(await reader.ttl(k.row('orders', { id: 1 }))).toBe(-1);
    expect(await reader.hget(k.versionHash, 'order:1')).toBe('18446744073709552117'); // 2^64 + LSN: a streamed change

    await sink.write([remove('orders', { id: 1 }, orderAt(1, 1), 502)]);
    const marker = k.deleteMarker('order:1');
    expect(await reader.get(marker)).toBe('18446744073709552118');
    const markerTtl = await reader.ttl(marker);
    expect(markerTtl).toBeGreaterThan(0);
    expect(markerTtl).toBeLessThanOrEqual(60);
    expect(await reader.hexists(k.versionHash, 'order:1')).toBe(0);
  });

  it('stores values exactly: the raw JSON is what the decoder produced, TOAST jsonb included', async () => {
    const sink = await makeSink();
    const key = { id: 9 };
    // Numbers cjson would round (it keeps 14 significant digits) and an int8 kept as a string.
    const row = productRow(9, { attributes: { weight_kg: 1234567.891234, serial: 9007199254740991, ratio: 0.1 }, price: '123456789012.34' });
    await sink.write([create('products', key, row, 600)]);
    expect(await reader.get(sink.keys.row('products', key))).toBe(JSON.stringify(row));

    const { attributes: _attributes, ...rest } = row;
    const after: Row = { ...rest, stock_quantity: 1 };
    await sink.write([update('products', key, rest, after, 601, ['attributes'])]);
    expect(await readRow(sink, 'products', key)).toEqual({ ...after, attributes: row.attributes });
  });

  it('fills an unchanged-TOAST column from `before` when the cache has no row yet', async () => {
    const sink = await makeSink();
    const row = productRow(10);
    const { description: _description, ...after } = row;
    await sink.write([update('products', { id: 10 }, row, { ...after, price: '9.99' }, 700, ['description'])]);
    expect(await readRow(sink, 'products', { id: 10 })).toEqual({ ...after, price: '9.99', description: row.description });
  });

  function truncate(table: string, lsn: number): TruncateEvent {
    return {
      op: 'truncate', table, schema: 'public', key: {},
      source: { lsn: String(lsn), version: rowVersion(String(lsn), false), txId: null, commitTimeMs: Date.now(), snapshot: false },
      kafka: { topic: `ecommerce.public.${table}`, partition: 0, offset: '0' },
    };
  }

  it('applies a TRUNCATE: older rows and their view entries go, newer rows stay, late older events are refused', async () => {
    const sink = await makeSink();
    const k = sink.keys;
    const item: Row = { id: 1, order_id: 1, product_id: 1, quantity: 1, unit_price: '5.00' };
    await sink.write([
      create('orders', { id: 1 }, orderAt(1, 1), 100),
      create('orders', { id: 2 }, orderAt(2, 2), 101),
      create('orders', { id: 3 }, orderAt(3, 3), 102),
      create('products', { id: 1 }, productRow(1, { stock_quantity: 1 }), 103),
      create('order_items', { id: 1 }, item, 104),
      // A change after the truncate, delivered before it (another partition).
      create('orders', { id: 4 }, orderAt(4, 4), 300),
    ]);

    const results = await sink.write([truncate('order_items', 199), truncate('orders', 200)]);
    expect(results.map((r) => r.status)).toEqual(['ok', 'ok']);
    for (const id of [1, 2, 3]) expect(await reader.exists(k.row('orders', { id }))).toBe(0);
    expect(await readRow(sink, 'orders', { id: 4 })).toEqual(orderAt(4, 4));
    expect(await reader.lrange(k.recentOrders, 0, -1)).toEqual(['4']);
    expect(await reader.zrange(k.customerOrders(1), 0, -1)).toEqual(['4']);
    expect(await reader.zcard(k.ordersByCreatedAt)).toBe(1);
    expect(await reader.exists(`${k.prefix}order_item:1`)).toBe(0);
    expect(await reader.smembers(k.orderItems(1))).toEqual([]);
    expect(await readRow(sink, 'products', { id: 1 })).not.toBeNull(); // other tables untouched

    // Late older events cannot bring truncated rows back; newer ones are applied.
    await sink.write([update('orders', { id: 2 }, orderAt(2, 2), orderAt(2, 2, { status: 'paid' }), 150), create('orders', { id: 5 }, orderAt(5, 5), 250)]);
    expect(await reader.exists(k.row('orders', { id: 2 }))).toBe(0);
    expect(await reader.lrange(k.recentOrders, 0, -1)).toEqual(['5', '4']);

    // Replaying the truncate changes nothing.
    const before = await dumpCache(reader, k.prefix);
    expect((await sink.write([truncate('orders', 200)])).map((r) => r.status)).toEqual(['ok']);
    expect(await dumpCache(reader, k.prefix)).toEqual(before);

    await sink.write([truncate('products', 400)]);
    expect(await reader.exists(k.row('products', { id: 1 }))).toBe(0);
    expect(await reader.exists(k.productStock(1))).toBe(0);
    expect(await reader.smembers(k.lowStockProducts)).toEqual([]);
  });

  it('fails events it can never store, with a reason, and writes nothing for them', async () => {
    const sink = await makeSink();
    const results = await sink.write([
      create('orders', { id: 1 }, orderAt(1, 1, { created_at: 'yesterday' }), 800),
      create('orders', { id: { nested: true } }, orderAt(1, 1), 801),
      { ...create('orders', { id: 2 }, orderAt(2, 2), 1), source: { lsn: '0x1F', version: '0x1F', txId: null, commitTimeMs: 0, snapshot: false } },
      create('orders', { id: 3 }, orderAt(3, 3), 803),
    ]);
    expect(results.map((r) => r.status)).toEqual(['failed', 'failed', 'failed', 'ok']);
    for (const result of results.slice(0, 3)) {
      expect(result.status === 'failed' && result.error.name).toBe('PermanentError');
    }
    expect(Object.keys(await dumpCache(reader, sink.keys.prefix)).sort()).toEqual(
      ['cdc:version', 'customer:1:orders', 'order:3', 'orders:by_created_at', 'recent_orders'].map((key) => sink.keys.prefix + key),
    );
  });

  it(`splits a large batch into script calls of ${EVENTS_PER_CALL} events, in order, each event on its own`, async () => {
    const sink = await makeSink({ recentOrdersLength: 1000 });
    const k = sink.keys;
    // A key of the wrong type makes Redis itself refuse one event (WRONGTYPE) inside a call.
    await reader.set(k.lowStockProducts, 'not a set');
    const count = EVENTS_PER_CALL * 2 + 50;
    const events = [];
    for (let id = 1; id <= count; id++) {
      // The last event of the first call: refused by the script (BADEVENT); the first of the second: WRONGTYPE.
      if (id === EVENTS_PER_CALL) events.push(create('products', { id: 1 }, productRow(1, { stock_quantity: 'lots' }), 1000 + 2 * id));
      else if (id === EVENTS_PER_CALL + 1) events.push(create('products', { id: 2 }, productRow(2), 1000 + 2 * id));
      else events.push(create('orders', { id }, orderAt(id, id % 60), 1000 + 2 * id));
      if (id === 150) events.push(truncate('orders', 1301)); // between two calls' worth of rows: orders 1..150 go
    }
    const results = await sink.write(events);
    const statusOf = (id: number) => results[id <= 150 ? id - 1 : id]!.status;
    expect(results).toHaveLength(count + 1);
    expect(statusOf(EVENTS_PER_CALL)).toBe('failed');
    expect(statusOf(EVENTS_PER_CALL + 1)).toBe('failed');
    expect(results.flatMap((r, i) => (r.status === 'ok' ? [] : [`${i}: ${r.error.message}`]))).toEqual([
      expect.stringMatching(/^99: .*BADEVENT stock_quantity/),
      expect.stringMatching(/^100: .*WRONGTYPE/),
    ]);
    expect(results[150]!.status).toBe('ok'); // the truncate
    // Every order before the truncate is gone, every one after it is there, in the views too.
    expect(await reader.exists(k.row('orders', { id: 1 }), k.row('orders', { id: 150 }))).toBe(0);
    expect(await reader.exists(k.row('orders', { id: 151 }), k.row('orders', { id: count }))).toBe(2);
    expect(await reader.zcard(k.ordersByCreatedAt)).toBe(count - 150);
    expect(new Set(await reader.lrange(k.recentOrders, 0, -1)).size).toBe(count - 150);
    // The script checks everything before its first write, the types of the derived keys too:
    // neither refused event left a trace (no row, no version, no stock key).
    expect(await reader.exists(k.row('products', { id: 1 }), k.productStock(1))).toBe(0);
    expect(await reader.exists(k.row('products', { id: 2 }), k.productStock(2))).toBe(0);
    expect(await reader.hget(k.versionHash, 'product:2')).toBeNull();
  });

  describe('maxmemory-policy at start-up', () => {
    let server: ChildProcess | undefined;
    afterAll(() => killRedisServer(server));

    /** A private redis-server with `policy`, on a port the OS says is free. */
    async function serverWith(policy: string): Promise<string> {
      await killRedisServer(server);
      const port = await freePort();
      server = await startRedisServer(port, ['--save', '', '--appendonly', 'no', '--maxmemory', '64mb', '--maxmemory-policy', policy], 10_000);
      return `redis://127.0.0.1:${port}`;
    }

    it.each(['allkeys-lru', 'allkeys-lfu', 'allkeys-random'])('refuses to start under %s, saying why', async (policy) => {
      const sink = new RedisSink({ url: await serverWith(policy), keyPrefix: 'p:', recentOrdersLength: 100, deleteMarkerTtlSeconds: 0, ttlSecondsByTable: {} });
      sinks.push(sink);
      await expect(sink.start()).rejects.toThrow(new RegExp(`maxmemory-policy is ${policy}.*evict.*noeviction`));
    });

    it('starts under noeviction and volatile-* (which only evicts keys with a TTL)', async () => {
      for (const policy of ['noeviction', 'volatile-lru']) {
        const sink = new RedisSink({ url: await serverWith(policy), keyPrefix: 'p:', recentOrdersLength: 100, deleteMarkerTtlSeconds: 0, ttlSecondsByTable: {} });
        sinks.push(sink);
        await expect(sink.start()).resolves.toBeUndefined();
        await sink.close();
      }
    });
  });

  describe('while Redis is down', () => {
    const port = 6392 + (process.pid % 50);
    let server: ChildProcess | undefined;

    async function startServer(): Promise<void> {
      server = await startRedisServer(port, ['--save', '', '--appendonly', 'no'], 10_000);
    }
    async function stopServer(): Promise<void> {
      const running = server;
      server = undefined;
      await killRedisServer(running);
    }
    afterAll(stopServer);

    it('answers retry for every event, then writes them once Redis is back', async () => {
      await startServer();
      const sink = await makeSink({ url: `redis://127.0.0.1:${port}`, commandTimeoutMs: 2000 });
      const batch = [create('orders', { id: 1 }, orderAt(1, 1), 900), tombstone('orders', { id: 5 }), create('orders', { id: 2 }, orderAt(2, 2), 901)];
      expect((await sink.write(batch)).map((r) => r.status)).toEqual(['ok', 'ok', 'ok']);

      await stopServer();
      const down = await sink.write(batch);
      expect(down.map((r) => r.status)).toEqual(['retry', 'ok', 'retry']);
      expect(await sink.isReady()).toBe(false);

      // A fresh, empty server (no persistence here): the same batch lands once it is reachable.
      await startServer();
      await expect.poll(() => sink.isReady(), { timeout: 30_000, interval: 200 }).toBe(true);
      expect((await sink.write(batch)).map((r) => r.status)).toEqual(['ok', 'ok', 'ok']);
      const direct = new Redis(port, '127.0.0.1');
      try {
        expect(await direct.lrange(`${sink.keys.prefix}recent_orders`, 0, -1)).toEqual(['2', '1']);
      } finally {
        direct.disconnect();
      }
    });
  });
});

/** A TCP port nothing listens on right now (the OS picks it). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}
