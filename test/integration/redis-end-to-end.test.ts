/**
 * The whole Redis path on the real stack: SQL on PostgreSQL -> Debezium -> Kafka -> Runner ->
 * RedisSink -> Redis. Each test runs its own consumer group into its own key prefix, changes rows
 * through real SQL and waits for Redis to follow. Then: a replay of every topic from offset 0
 * leaves the cache identical, and a Redis outage of 30 s while SQL changes continue loses nothing.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../consumers/core/logger.js';
import { deletePrefix, dumpCache } from '../../consumers/redis/cache-dump.js';
import { RedisSink } from '../../consumers/redis/redis-sink.js';
import { engines, requireEngines, uniqueName } from '../helpers/engines.js';
import { deleteGroupsAndTopics } from '../helpers/kafka-admin.js';
import { startPipeline as startRunner, waitForConnector, waitUntilCaughtUp, type Pipeline } from '../helpers/pipeline.js';
import { killRedisServer, startRedisServer } from '../helpers/redis-server.js';
import { ShopRows } from '../helpers/shop-rows.js';

describe.runIf(requireEngines('postgres', 'kafka', 'connect', 'redis'))('Redis consumer end to end', () => {
  const logger = createLogger({ consumer: 'redis-e2e', level: 'error', pretty: false });
  const run = uniqueName('redis-e2e');
  const prefixes: { url: string; prefix: string }[] = [];
  const groups: string[] = [];
  const deadLetterTopic = `${run}.dlq`;
  let db: pg.Client;
  let shop: ShopRows;
  let kafka: Kafka;
  let redis: Redis;

  async function startPipeline(options: { prefix: string; redisUrl?: string }): Promise<Pipeline<RedisSink>> {
    const url = options.redisUrl ?? engines().redis;
    if (!prefixes.some((p) => p.url === url && p.prefix === options.prefix)) prefixes.push({ url, prefix: options.prefix });
    const groupId = `${run}-group-${groups.length}`;
    groups.push(groupId);
    const sink = new RedisSink({
      url,
      keyPrefix: options.prefix,
      recentOrdersLength: 100,
      deleteMarkerTtlSeconds: 86_400,
      ttlSecondsByTable: {},
      commandTimeoutMs: 3_000,
      logger,
    });
    return startRunner({ consumerName: 'redis', sink, groupId, deadLetterTopic, logger });
  }

  /** Resolves once the group has committed everything up to the current end of every topic. */
  async function caughtUp(groupId: string, timeoutMs = 120_000): Promise<Map<string, string>> {
    return waitUntilCaughtUp(kafka, groupId, timeoutMs);
  }

  async function getJson(client: Redis, key: string): Promise<Record<string, unknown> | null> {
    const text = await client.get(key);
    return text === null ? null : (JSON.parse(text) as Record<string, unknown>);
  }

  async function insertProduct(tag: string, stock: number, threshold: number, description = 'A product for the Redis end-to-end test'): Promise<number> {
    const { rows } = await db.query<{ id: number }>(
      `INSERT INTO products (sku, name, description, category, price, stock_quantity, low_stock_threshold)
       VALUES ($1, $2, $3, 'test', 19.99, $4, $5) RETURNING id`,
      [tag, `Product ${tag}`, description, stock, threshold],
    );
    shop.created.products.push(rows[0]!.id);
    return rows[0]!.id;
  }

  function expectNoDuplicates(list: string[]): void {
    expect(new Set(list).size).toBe(list.length);
  }

  beforeAll(async () => {
    shop = await ShopRows.connect(engines().postgres, 'Redis');
    db = shop.db;
    kafka = new Kafka({ clientId: run, brokers: engines().kafka.split(','), logLevel: logLevel.NOTHING });
    redis = new Redis(engines().redis);
    // The topics exist once the connector has snapshotted; without it nothing can flow.
    await waitForConnector();
  });

  afterAll(async () => {
    // Rows first (their deletes flow through CDC like any other change), then what we created.
    await shop.close();
    await deleteGroupsAndTopics(kafka, { groups, topics: [deadLetterTopic] });
    for (const { prefix } of prefixes.filter((p) => p.url === engines().redis)) await deletePrefix(redis, prefix);
    await redis.quit();
  });

  it('follows inserts, updates, deletes, stock changes, TOAST and a primary-key change', async () => {
    const prefix = `${run}-flow:`;
    const pipeline = await startPipeline({ prefix });
    try {
      const k = pipeline.sink.keys;
      const customerId = await shop.insertCustomer(`${run}-flow`);
      const productId = await insertProduct(`${run}-P1`, 20, 5);
      const orderId = await shop.insertOrder(customerId, `${run}-ORD-1`);
      const { rows: [item] } = await db.query<{ id: number }>(
        'INSERT INTO order_items (order_id, product_id, quantity, unit_price) VALUES ($1, $2, 2, 19.99) RETURNING id',
        [orderId, productId],
      );

      await expect.poll(() => getJson(redis, k.row('orders', { id: orderId })), { timeout: 30_000 }).toMatchObject({
        id: orderId, customer_id: customerId, order_number: `${run}-ORD-1`, total_amount: '25000.00', status: 'pending', payment_method: 'credit_card',
      });
      expect(await getJson(redis, k.row('customers', { id: customerId }))).toMatchObject({ id: customerId, email: `${run}-flow@example.com` });
      await expect.poll(() => getJson(redis, `${k.prefix}order_item:${item!.id}`), { timeout: 30_000 }).toMatchObject({ order_id: orderId, unit_price: '19.99' });
      expect(await redis.smembers(k.orderItems(orderId))).toEqual([String(item!.id)]);
      expect(await redis.zrevrange(k.customerOrders(customerId), 0, -1)).toEqual([String(orderId)]);
      const recent = await redis.lrange(k.recentOrders, 0, -1);
      expect(recent.indexOf(String(orderId))).toBeGreaterThanOrEqual(0);
      expect(recent.indexOf(String(orderId))).toBeLessThan(10);
      expectNoDuplicates(recent);
      expect(await redis.get(k.productStock(productId))).toBe('20');
      expect(await redis.sismember(k.lowStockProducts, String(productId))).toBe(0);

      // Order status changes: the value follows, the list does not grow a duplicate.
      await db.query(`UPDATE orders SET status = 'shipped' WHERE id = $1`, [orderId]);
      await expect.poll(async () => (await getJson(redis, k.row('orders', { id: orderId })))?.status, { timeout: 30_000 }).toBe('shipped');
      expectNoDuplicates(await redis.lrange(k.recentOrders, 0, -1));

      // Stock falls to the threshold, then is restocked.
      await db.query('UPDATE products SET stock_quantity = 5 WHERE id = $1', [productId]);
      await expect.poll(() => redis.sismember(k.lowStockProducts, String(productId)), { timeout: 30_000 }).toBe(1);
      expect(await redis.get(k.productStock(productId))).toBe('5');
      await db.query('UPDATE products SET stock_quantity = 100 WHERE id = $1', [productId]);
      await expect.poll(() => redis.sismember(k.lowStockProducts, String(productId)), { timeout: 30_000 }).toBe(0);
      expect(await redis.get(k.productStock(productId))).toBe('100');

      // TOAST: a long description stored out of line, then an update that leaves it untouched.
      const longText = (await db.query<{ text: string }>(`SELECT string_agg(md5(i::text), ' ') AS text FROM generate_series(1, 400) i`)).rows[0]!.text;
      await db.query('UPDATE products SET description = $2 WHERE id = $1', [productId, longText]);
      await expect.poll(async () => (await getJson(redis, k.row('products', { id: productId })))?.description, { timeout: 30_000 }).toBe(longText);
      await db.query('UPDATE products SET price = 24.50 WHERE id = $1', [productId]);
      await expect.poll(async () => (await getJson(redis, k.row('products', { id: productId })))?.price, { timeout: 30_000 }).toBe('24.50');
      expect((await getJson(redis, k.row('products', { id: productId })))?.description).toBe(longText);

      // Primary-key change: Debezium sends delete(old key) + tombstone + create(new key).
      const lonely = await insertProduct(`${run}-P2`, 1, 3);
      await expect.poll(() => redis.sismember(k.lowStockProducts, String(lonely)), { timeout: 30_000 }).toBe(1);
      const newId = (await db.query<{ id: number }>(`SELECT nextval(pg_get_serial_sequence('products', 'id'))::int AS id`)).rows[0]!.id;
      await db.query('UPDATE products SET id = $2 WHERE id = $1', [lonely, newId]);
      shop.created.products.push(newId);
      await expect.poll(() => getJson(redis, k.row('products', { id: newId })), { timeout: 30_000 }).toMatchObject({ id: newId, sku: `${run}-P2` });
      expect(await redis.exists(k.row('products', { id: lonely }))).toBe(0);
      expect(await redis.sismember(k.lowStockProducts, String(lonely))).toBe(0);
      expect(await redis.sismember(k.lowStockProducts, String(newId))).toBe(1);
      expect(await redis.get(k.deleteMarker(`product:${lonely}`))).not.toBeNull();

      // Deletes remove the rows and every view entry.
      await db.query('DELETE FROM order_items WHERE order_id = $1', [orderId]);
      await db.query('DELETE FROM orders WHERE id = $1', [orderId]);
      await expect.poll(() => redis.exists(k.row('orders', { id: orderId })), { timeout: 30_000 }).toBe(0);
      expect(await redis.exists(`${k.prefix}order_item:${item!.id}`)).toBe(0);
      expect(await redis.smembers(k.orderItems(orderId))).toEqual([]);
      expect(await redis.zrange(k.customerOrders(customerId), 0, -1)).toEqual([]);
      expect(await redis.lrange(k.recentOrders, 0, -1)).not.toContain(String(orderId));
    } finally {
      await pipeline.stop();
    }
  });

  it('a replay of every topic from offset 0 into the same prefix leaves the cache identical', async () => {
    const prefix = `${run}-replay:`;
    const customerId = await shop.insertCustomer(`${run}-replay`);
    for (let i = 0; i < 5; i++) await shop.insertOrder(customerId, `${run}-R-${i}`, `${100 + i}.25`);
    await db.query(`UPDATE orders SET status = 'paid' WHERE order_number = $1`, [`${run}-R-2`]);
    await db.query(`DELETE FROM orders WHERE order_number = $1`, [`${run}-R-4`]);

    // Other suites may write to the shared database meanwhile; a comparison only counts if no
    // event arrived between the dump and the end of the replay, so try a few quiet windows.
    for (let attempt = 1; ; attempt++) {
      const first = await startPipeline({ prefix });
      const marks = await caughtUp(first.groupId);
      await first.stop();
      const before = await dumpCache(redis, prefix);

      const replay = await startPipeline({ prefix });
      const replayMarks = await caughtUp(replay.groupId);
      await replay.stop();
      const after = await dumpCache(redis, prefix);

      if (JSON.stringify([...replayMarks]) !== JSON.stringify([...marks]) && attempt < 3) continue;
      expect(JSON.stringify([...replayMarks])).toBe(JSON.stringify([...marks]));

      expect(Object.keys(before).length).toBeGreaterThan(10);
      expect(after).toEqual(before);
      const recent = await redis.lrange(`${prefix}recent_orders`, 0, -1);
      expect(recent.length).toBeGreaterThan(0);
      expectNoDuplicates(recent);
      expect(await redis.zcard(`${prefix}customer:${customerId}:orders`)).toBe(4);
      expect((await getJson(redis, `${prefix}order:${shop.created.orders.at(-3)}`))?.status).toBe('paid');
      break;
    }
  });

  describe('with its Redis down for 30 s', () => {
    const port = 6391;
    let dataDir: string | undefined;
    let server: ChildProcess | undefined;

    async function startServer(): Promise<void> {
      dataDir ??= mkdtempSync(join(tmpdir(), 'redis-outage-'));
      // AOF with fsync on every write: what Redis acknowledged survives the kill below.
      server = await startRedisServer(port, ['--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dataDir], 15_000);
    }

    async function killServer(): Promise<void> {
      const running = server;
      server = undefined;
      await killRedisServer(running);
    }

    afterAll(async () => {
      await killServer();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    });

    it('loses nothing: every change made during the outage is in Redis after it comes back', async () => {
      await startServer();
      const url = `redis://127.0.0.1:${port}`;
      const prefix = `${run}-outage:`;
      const pipeline = await startPipeline({ prefix, redisUrl: url });
      const direct = new Redis(port, '127.0.0.1', { retryStrategy: () => 200 });
      direct.on('error', () => {});
      try {
        const k = pipeline.sink.keys;
        const customerId = await shop.insertCustomer(`${run}-outage`);
        const productId = await insertProduct(`${run}-P-outage`, 60, 10);
        const firstOrder = await shop.insertOrder(customerId, `${run}-O-0`);
        await expect.poll(() => getJson(direct, k.row('orders', { id: firstOrder })), { timeout: 60_000 }).not.toBeNull();
        // Written before the kill and never sent again: it survives only if Redis persisted it.
        const customerBefore = await direct.get(k.row('customers', { id: customerId }));
        expect(customerBefore).not.toBeNull();

        await killServer();
        const outageEnds = Date.now() + 30_000;
        const during: number[] = [];
        let stock = 60;
        for (let i = 1; Date.now() < outageEnds; i++) {
          during.push(await shop.insertOrder(customerId, `${run}-O-${i}`, `${i}.99`));
          if (i % 2 === 0) await db.query(`UPDATE orders SET status = 'paid' WHERE id = $1`, [during.at(-2)]);
          stock = Math.max(0, stock - 2);
          await db.query('UPDATE products SET stock_quantity = $2 WHERE id = $1', [productId, stock]);
          await new Promise((resolve) => setTimeout(resolve, 1_000));
        }
        await db.query(`UPDATE orders SET status = 'cancelled' WHERE id = $1`, [firstOrder]);
        expect(during.length).toBeGreaterThan(10);
        expect(await pipeline.sink.isReady()).toBe(false);

        await startServer();
        const allOrders = [firstOrder, ...during];
        const { rows: expected } = await db.query<{ id: number; status: string; total_amount: string; order_number: string }>(
          'SELECT id, status, total_amount::text AS total_amount, order_number FROM orders WHERE id = ANY($1) ORDER BY id',
          [allOrders],
        );
        const redisView = async () => {
          const rows = await Promise.all(allOrders.map((id) => getJson(direct, k.row('orders', { id }))));
          return rows.map((row) => row && { id: row.id, status: row.status, total_amount: row.total_amount, order_number: row.order_number });
        };
        await expect.poll(redisView, { timeout: 90_000, interval: 1_000 }).toEqual(expected);
        expect(await direct.get(k.row('customers', { id: customerId }))).toBe(customerBefore);
        await expect.poll(() => direct.get(k.productStock(productId)), { timeout: 30_000 }).toBe(String(stock));
        expect(await direct.sismember(k.lowStockProducts, String(productId))).toBe(stock <= 10 ? 1 : 0);
        const indexed = await direct.zrange(k.customerOrders(customerId), 0, -1);
        expect(indexed.map(Number).sort((a, b) => a - b)).toEqual([...allOrders].sort((a, b) => a - b));
        const recent = await direct.lrange(k.recentOrders, 0, -1);
        expectNoDuplicates(recent);
        // Newest first: of our orders, those made during the outage lead, latest first (other
        // suites may add orders of their own in between).
        const ours = recent.filter((id) => allOrders.includes(Number(id)));
        expect(ours.slice(0, during.length)).toEqual([...during].reverse().map(String));
      } finally {
        direct.disconnect();
        await pipeline.stop();
      }
    });
  });
});
