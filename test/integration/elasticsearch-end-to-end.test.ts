/**
 * The whole search path on the real stack: SQL on PostgreSQL -> Debezium -> Kafka -> Runner ->
 * ElasticsearchSink -> Elasticsearch. Each pipeline runs its own consumer group into its own
 * index prefix; rows change through real SQL and the test waits for SEARCH (through the aliases,
 * after a refresh) to follow. Then: replaying every topic from offset 0 (a fresh group) into the
 * same indexes — and into fresh ones — gives identical search results, and stopping the shared
 * Elasticsearch for 30 s while SQL changes continue loses nothing.
 */
import { Client } from '@elastic/elasticsearch';
import { Kafka, logLevel } from 'kafkajs';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Row } from '../../consumers/core/change-event.js';
import { createLogger } from '../../consumers/core/logger.js';
import { loadElasticsearchConfig } from '../../consumers/elasticsearch/elasticsearch-config.js';
import { ElasticsearchSink } from '../../consumers/elasticsearch/elasticsearch-sink.js';
import { deleteIndexes, dumpAlias, refresh, searchRows } from '../../consumers/elasticsearch/index-admin.js';
import type { ResolvedIndex } from '../../consumers/elasticsearch/index-catalog.js';
import { startEngine, stopEngine } from '../helpers/engine-control.js';
import { engines, requireEngines, uniqueName } from '../helpers/engines.js';
import { deleteGroupsAndTopics, withAdmin } from '../helpers/kafka-admin.js';
import { startPipeline as startRunner, waitForConnector, waitUntilCaughtUp, type Pipeline } from '../helpers/pipeline.js';
import { ShopRows } from '../helpers/shop-rows.js';

describe.runIf(requireEngines('postgres', 'kafka', 'connect', 'elasticsearch'))('Elasticsearch consumer end to end', () => {
  const logger = createLogger({ consumer: 'elasticsearch-e2e', level: 'error', pretty: false });
  const run = uniqueName('es-e2e');
  const groups: string[] = [];
  const namespaces = new Map<string, ResolvedIndex[]>();
  /** Every concrete index a pipeline's sink owns (table indexes and truncate state), for clean-up. */
  const owned: string[] = [];
  const deadLetterTopic = `${run}.dlq`;
  let db: pg.Client;
  let shop: ShopRows;
  let kafka: Kafka;
  let es: Client;

  async function startPipeline(prefix: string): Promise<Pipeline<ElasticsearchSink>> {
    const groupId = `${run}-group-${groups.length}`;
    groups.push(groupId);
    const config = { ...loadElasticsearchConfig({ ELASTICSEARCH_URL: engines().elasticsearch }), indexPrefix: prefix, requestTimeoutMs: 5_000 };
    const sink = new ElasticsearchSink({ config, logger });
    namespaces.set(prefix, [...sink.indexes.values()]);
    owned.push(...sink.ownedIndexes());
    return startRunner({ consumerName: 'elasticsearch', sink, groupId, deadLetterTopic, logger });
  }

  /** Resolves once the group has committed everything up to the current end of every topic. */
  async function caughtUp(groupId: string, timeoutMs = 180_000): Promise<string> {
    return JSON.stringify([...(await waitUntilCaughtUp(kafka, groupId, timeoutMs))].sort());
  }

  /** Live rows of `table` matching `query`, through the alias, as search users see them. */
  async function search(sink: ElasticsearchSink, table: string, query?: Record<string, unknown>): Promise<Map<string, Row>> {
    await refresh(es, sink.indexes.values());
    return searchRows(es, sink.indexes.get(table)!.aliasName, query);
  }

  const idsOf = (rows: Map<string, Row>) => [...rows.keys()].map(Number).sort((a, b) => a - b);

  async function insertProduct(sku: string, name: string, price: string, description = 'A product for the search end-to-end test'): Promise<number> {
    const { rows } = await db.query<{ id: number }>(
      `INSERT INTO products (sku, name, description, category, price, stock_quantity, low_stock_threshold)
       VALUES ($1, $2, $3, 'test', $4, 50, 5) RETURNING id`,
      [sku, name, description, price],
    );
    shop.created.products.push(rows[0]!.id);
    return rows[0]!.id;
  }

  beforeAll(async () => {
    shop = await ShopRows.connect(engines().postgres, 'Search');
    db = shop.db;
    kafka = new Kafka({ clientId: run, brokers: engines().kafka.split(','), logLevel: logLevel.NOTHING });
    es = new Client({ node: engines().elasticsearch });
    await waitForConnector();
  });

  afterAll(async () => {
    await shop.close();
    await deleteGroupsAndTopics(kafka, { groups, topics: [deadLetterTopic] });
    await deleteIndexes(es, new Set(owned));
    await es.close();
  });

  it('search follows inserts, updates, deletes, TOAST and a primary-key change', async () => {
    const pipeline = await startPipeline(`${run}-flow-`);
    const { sink } = pipeline;
    try {
      const customerId = await shop.insertCustomer(`${run}-flow`);
      const productId = await insertProduct(`${run}-SKU-1`, 'Trailblazer Hiking Boots', '129.95', 'Waterproof leather boots with a grippy sole');
      const orderNumber = `${run}-ORD-1`.toUpperCase();
      const orderId = await shop.insertOrder(customerId, orderNumber);
      const { rows: [item] } = await db.query<{ id: number }>(
        'INSERT INTO order_items (order_id, product_id, quantity, unit_price) VALUES ($1, $2, 2, 129.95) RETURNING id',
        [orderId, productId],
      );

      // By order number (case-insensitive keyword), exact money.
      await expect.poll(async () => idsOf(await search(sink, 'orders', { term: { order_number: orderNumber.toLowerCase() } })), { timeout: 60_000 }).toEqual([orderId]);
      const order = (await search(sink, 'orders', { term: { order_number: orderNumber } })).get(String(orderId))!;
      expect(order).toMatchObject({ id: orderId, customer_id: customerId, total_amount: '25000.00', status: 'pending', payment_method: 'credit_card' });
      // By product words, by customer email, order items by order.
      await expect.poll(async () => idsOf(await search(sink, 'products', { bool: { must: [{ match: { name: 'hiking boots' } }, { term: { sku: `${run}-SKU-1` } }] } })), { timeout: 30_000 }).toEqual([productId]);
      await expect.poll(async () => idsOf(await search(sink, 'customers', { term: { email: `${run}-FLOW@EXAMPLE.COM` } })), { timeout: 30_000 }).toEqual([customerId]);
      await expect.poll(async () => idsOf(await search(sink, 'order_items', { term: { order_id: orderId } })), { timeout: 30_000 }).toEqual([item!.id]);
      expect((await search(sink, 'order_items', { term: { order_id: orderId } })).get(String(item!.id))?.unit_price).toBe('129.95');

      // Status change: found by the new status, not the old one.
      await db.query(`UPDATE orders SET status = 'shipped' WHERE id = $1`, [orderId]);
      const byStatus = (status: string) => search(sink, 'orders', { bool: { filter: [{ term: { status } }, { term: { customer_id: customerId } }] } });
      await expect.poll(async () => idsOf(await byStatus('shipped')), { timeout: 30_000 }).toEqual([orderId]);
      expect(idsOf(await byStatus('pending'))).toEqual([]);

      // Price change: range queries see the new price, _source keeps the exact string.
      await db.query('UPDATE products SET price = 99.90 WHERE id = $1', [productId]);
      const inRange = () => search(sink, 'products', { bool: { filter: [{ range: { price: { gte: 99.9, lte: 99.9 } } }, { term: { sku: `${run}-SKU-1` } }] } });
      await expect.poll(async () => idsOf(await inRange()), { timeout: 30_000 }).toEqual([productId]);
      expect((await inRange()).get(String(productId))?.price).toBe('99.90');

      // TOAST: a long description stored out of line, then an update that leaves it untouched.
      const longText = (await db.query<{ text: string }>(`SELECT 'Alpine ' || string_agg(md5(i::text), ' ') AS text FROM generate_series(1, 400) i`)).rows[0]!.text;
      await db.query('UPDATE products SET description = $2 WHERE id = $1', [productId, longText]);
      await expect.poll(async () => (await search(sink, 'products', { ids: { values: [String(productId)] } })).get(String(productId))?.description, { timeout: 30_000 }).toBe(longText);
      await db.query('UPDATE products SET stock_quantity = 7 WHERE id = $1', [productId]);
      await expect.poll(async () => (await search(sink, 'products', { ids: { values: [String(productId)] } })).get(String(productId))?.stock_quantity, { timeout: 30_000 }).toBe(7);
      expect(idsOf(await search(sink, 'products', { bool: { must: [{ match: { description: 'alpine' } }, { term: { sku: `${run}-SKU-1` } }] } }))).toEqual([productId]);
      expect((await search(sink, 'products', { ids: { values: [String(productId)] } })).get(String(productId))?.description).toBe(longText);

      // Primary-key change: Debezium sends delete(old key) + tombstone + create(new key).
      const movable = await insertProduct(`${run}-SKU-2`, 'Movable Lamp', '15.00');
      await expect.poll(async () => idsOf(await search(sink, 'products', { term: { sku: `${run}-SKU-2` } })), { timeout: 30_000 }).toEqual([movable]);
      const newId = (await db.query<{ id: number }>(`SELECT nextval(pg_get_serial_sequence('products', 'id'))::int AS id`)).rows[0]!.id;
      await db.query('UPDATE products SET id = $2 WHERE id = $1', [movable, newId]);
      shop.created.products.push(newId);
      await expect.poll(async () => idsOf(await search(sink, 'products', { term: { sku: `${run}-SKU-2` } })), { timeout: 30_000 }).toEqual([newId]);

      // Deletes: gone from search (the order and its item).
      await db.query('DELETE FROM order_items WHERE order_id = $1', [orderId]);
      await db.query('DELETE FROM orders WHERE id = $1', [orderId]);
      await expect.poll(async () => idsOf(await search(sink, 'orders', { term: { order_number: orderNumber } })), { timeout: 30_000 }).toEqual([]);
      expect(idsOf(await search(sink, 'order_items', { term: { order_id: orderId } }))).toEqual([]);
      expect(idsOf(await search(sink, 'orders', { term: { customer_id: customerId } }))).toEqual([]);
    } finally {
      await pipeline.stop();
    }
  }, 300_000);

  it('a replay of every topic from offset 0 gives identical search results (same indexes, and a rebuild into fresh ones)', async () => {
    const customerId = await shop.insertCustomer(`${run}-replay`);
    for (let i = 0; i < 5; i++) await shop.insertOrder(customerId, `${run}-R-${i}`, `${100 + i}.25`);
    await db.query(`UPDATE orders SET status = 'paid' WHERE order_number = $1`, [`${run}-R-2`]);
    await db.query(`DELETE FROM orders WHERE order_number = $1`, [`${run}-R-4`]);

    const dumpAll = async (prefix: string) => {
      const indexes = namespaces.get(prefix)!;
      await refresh(es, indexes);
      return Object.fromEntries(await Promise.all(indexes.map(async (index) => [index.table, await dumpAlias(es, index.aliasName)] as const)));
    };

    // Other suites may write to the shared database meanwhile; a comparison only counts if no
    // event arrived between the first drain and the end of the replays, so try a few quiet windows.
    for (let attempt = 1; ; attempt++) {
      const prefix = `${run}-replay${attempt}-`;
      const rebuildPrefix = `${run}-rebuild${attempt}-`;
      const first = await startPipeline(prefix);
      const marks = await caughtUp(first.groupId);
      await first.stop();
      const before = await dumpAll(prefix);

      const replay = await startPipeline(prefix);
      const replayMarks = await caughtUp(replay.groupId);
      await replay.stop();
      const after = await dumpAll(prefix);

      const rebuild = await startPipeline(rebuildPrefix);
      const rebuildMarks = await caughtUp(rebuild.groupId);
      await rebuild.stop();
      const rebuilt = await dumpAll(rebuildPrefix);

      const quiet = replayMarks === marks && rebuildMarks === marks;
      if (!quiet && attempt < 3) continue;
      expect(replayMarks).toBe(marks);
      expect(rebuildMarks).toBe(marks);

      expect(before.orders!.length).toBeGreaterThan(10);
      expect(after).toEqual(before);
      expect(rebuilt).toEqual(before);
      const ours = before.orders!.filter((doc) => doc.row.customer_id === customerId);
      expect(ours.map((doc) => doc.row.order_number).sort()).toEqual([0, 1, 2, 3].map((i) => `${run}-R-${i}`));
      expect(ours.find((doc) => doc.row.order_number === `${run}-R-2`)?.row.status).toBe('paid');
      expect(ours.find((doc) => doc.row.order_number === `${run}-R-3`)?.row.total_amount).toBe('103.25');
      break;
    }
  }, 600_000);

  it('loses nothing when the shared Elasticsearch is stopped for 30 s while SQL changes continue', async () => {
    const pipeline = await startPipeline(`${run}-outage-`);
    const { sink } = pipeline;
    let esStopped = false;
    try {
      const customerId = await shop.insertCustomer(`${run}-outage`);
      const productId = await insertProduct(`${run}-SKU-OUT`, 'Outage Kettle', '30.00');
      const firstOrder = await shop.insertOrder(customerId, `${run}-O-0`);
      await expect.poll(async () => idsOf(await search(sink, 'orders', { term: { customer_id: customerId } })), { timeout: 60_000 }).toEqual([firstOrder]);

      esStopped = true; // from here on, `finally` starts it again whatever happens
      try {
        stopEngine('elasticsearch');
      } catch (error) {
        // What counts is that the engine is down (checked next), not the stop command's exit code.
        console.warn(`[es-e2e] stopping elasticsearch reported: ${(error as Error).message}`);
      }
      await expect(fetch(`${engines().elasticsearch}/_cluster/health`, { signal: AbortSignal.timeout(2_000) })).rejects.toThrow();
      expect(await sink.isReady()).toBe(false);
      const outageEnds = Date.now() + 30_000;
      const during: number[] = [];
      let stock = 60;
      for (let i = 1; Date.now() < outageEnds; i++) {
        during.push(await shop.insertOrder(customerId, `${run}-O-${i}`, `${i}.99`));
        if (i % 2 === 0) await db.query(`UPDATE orders SET status = 'paid' WHERE id = $1`, [during.at(-2)]);
        stock = Math.max(0, stock - 2);
        await db.query('UPDATE products SET stock_quantity = $2, price = $3 WHERE id = $1', [productId, stock, `${30 + i}.01`]);
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
      await db.query(`UPDATE orders SET status = 'cancelled' WHERE id = $1`, [firstOrder]);
      const removed = during[0]!;
      await db.query('DELETE FROM orders WHERE id = $1', [removed]);
      expect(during.length).toBeGreaterThan(10);

      startEngine('elasticsearch');
      esStopped = false;
      const { rows: expected } = await db.query<{ id: number; status: string; total_amount: string; order_number: string }>(
        'SELECT id, status, total_amount::text AS total_amount, order_number FROM orders WHERE customer_id = $1 ORDER BY id',
        [customerId],
      );
      expect(expected.map((row) => row.id)).not.toContain(removed);
      const searchView = async () => {
        const rows = await search(sink, 'orders', { term: { customer_id: customerId } });
        return [...rows.values()]
          .map((row) => ({ id: row.id, status: row.status, total_amount: row.total_amount, order_number: row.order_number }))
          .sort((a, b) => Number(a.id) - Number(b.id));
      };
      await expect.poll(searchView, { timeout: 180_000, interval: 2_000 }).toEqual(expected);
      const { rows: [product] } = await db.query<{ price: string; stock_quantity: number }>('SELECT price::text AS price, stock_quantity FROM products WHERE id = $1', [productId]);
      await expect.poll(async () => (await search(sink, 'products', { ids: { values: [String(productId)] } })).get(String(productId)), { timeout: 60_000 })
        .toMatchObject({ price: product!.price, stock_quantity: product!.stock_quantity });
      expect(await sink.isReady()).toBe(true);
      // Nothing was dead-lettered: every change waited for Elasticsearch instead.
      const dlq = await withAdmin(kafka, (admin) => admin.fetchTopicOffsets(deadLetterTopic));
      expect(dlq.every((partition) => partition.high === '0')).toBe(true);
    } finally {
      if (esStopped) startEngine('elasticsearch');
      await pipeline.stop();
    }
  }, 600_000);
});
