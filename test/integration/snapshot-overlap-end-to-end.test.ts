/**
 * Issue 13, defect 2, on the real stack: a transaction open across a connector snapshot.
 *
 * A transaction updates one product and deletes another, and stays open while a FRESH Debezium
 * connector (its own replication slot, created beforehand so the snapshot does not wait for the
 * transaction, and its own topic prefix) snapshots the products table; then it commits. The
 * snapshot read the old rows at its consistent point; the committed changes are streamed
 * afterwards with LSNs BELOW that point (the test checks that this really happened). Redis and
 * Elasticsearch, each behind a real Runner on the new connector's topic, must end with the
 * committed values: the update applied, the deleted row gone.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Client } from '@elastic/elasticsearch';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../consumers/core/logger.js';
import { Runner } from '../../consumers/core/runner.js';
import type { Sink } from '../../consumers/core/sink.js';
import { loadElasticsearchConfig } from '../../consumers/elasticsearch/elasticsearch-config.js';
import { ElasticsearchSink } from '../../consumers/elasticsearch/elasticsearch-sink.js';
import { deleteIndexes, refresh, searchRows } from '../../consumers/elasticsearch/index-admin.js';
import { deletePrefix } from '../../consumers/redis/cache-dump.js';
import { RedisSink } from '../../consumers/redis/redis-sink.js';
import { engines, requireEngines, uniqueName } from '../helpers/engines.js';
import { deleteGroupsAndTopics, withAdmin } from '../helpers/kafka-admin.js';
import { waitFor } from '../helpers/runner-kafka.js';
import { ShopRows } from '../helpers/shop-rows.js';

const CONFIG_FILE = resolve(import.meta.dirname, '../../debezium/connector-config.json');

describe.runIf(requireEngines('postgres', 'kafka', 'connect', 'redis', 'elasticsearch'))('a transaction open across a connector snapshot (end to end)', () => {
  const logger = createLogger({ consumer: 'snapshot-overlap', level: 'error', pretty: false });
  // Slot names allow [a-z0-9_] only.
  const run = uniqueName('snapovl').replace(/[^a-z0-9]/g, '_');
  const topicPrefix = run.replace(/_/g, '-');
  const topic = `${topicPrefix}.public.products`;
  const connector = `${topicPrefix}-connector`;
  const groups = [`${run}-redis`, `${run}-es`];
  const deadLetterTopics = groups.map((group) => `${group}.dlq`);
  let shop: ShopRows;
  let open: pg.Client;
  let kafka: Kafka;
  let redis: Redis;
  let es: Client;
  const stops: (() => Promise<void>)[] = [];
  let esSink: ElasticsearchSink | null = null;

  async function connect(method: string, path: string, body?: unknown): Promise<Response> {
    return fetch(`${engines().connect}${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  }

  async function startRunner(sink: Sink, groupId: string, deadLetterTopic: string): Promise<void> {
    await sink.start();
    const runner = new Runner({ consumerName: sink.name, brokers: engines().kafka.split(','), groupId, topics: [topic], fromBeginning: true, deadLetterTopic, sink, logger, retry: { initialMs: 100, maxMs: 2_000 } });
    await runner.start();
    stops.push(async () => {
      await runner.stop();
      await sink.close();
    });
  }

  beforeAll(async () => {
    shop = await ShopRows.connect(engines().postgres, 'Snapshot');
    open = new pg.Client({ connectionString: engines().postgres });
    await open.connect();
    kafka = new Kafka({ clientId: run, brokers: engines().kafka.split(','), logLevel: logLevel.NOTHING });
    redis = new Redis(engines().redis);
    es = new Client({ node: engines().elasticsearch });
  });

  afterAll(async () => {
    for (const stop of stops) await stop().catch(() => undefined);
    await open?.query('ROLLBACK').catch(() => undefined);
    await open?.end().catch(() => undefined);
    await connect('DELETE', `/connectors/${connector}`).catch(() => undefined);
    // The slot is released once the connector task has stopped.
    for (let attempt = 0; attempt < 30; attempt++) {
      const dropped = await shop.db.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [run]).then(() => true, () => false);
      const { rowCount } = await shop.db.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [run]);
      if (dropped && rowCount === 0) break;
      await new Promise((r) => setTimeout(r, 1_000));
    }
    await shop?.close();
    await deleteGroupsAndTopics(kafka, { groups, topics: [topic, ...deadLetterTopics] });
    if (esSink) await deleteIndexes(es, esSink.ownedIndexes());
    await deletePrefix(redis, `${run}:`);
    redis?.disconnect();
    await es?.close();
  });

  it('Redis and Elasticsearch end with the committed update and delete, whose LSNs are below the snapshot rows\'', async () => {
    const db = shop.db;
    const insert = async (sku: string) =>
      (await db.query<{ id: number }>(`INSERT INTO products (sku, name, description, category, price, stock_quantity, low_stock_threshold) VALUES ($1, 'Before the snapshot', 'snapshot overlap test', 'test', 10.00, 5, 1) RETURNING id`, [sku])).rows[0]!.id;
    const updated = await insert(`${run}-u`);
    const deleted = await insert(`${run}-d`);
    shop.created.products.push(updated, deleted);

    // The slot exists before the transaction starts: creating it later would wait for the
    // transaction to end, and the snapshot would then already see its changes.
    await db.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [run]);

    await open.query('BEGIN');
    await open.query(`UPDATE products SET name = 'Committed after the snapshot', price = 12.50 WHERE id = $1`, [updated]);
    await open.query('DELETE FROM products WHERE id = $1', [deleted]);
    // Flush the WAL past the transaction's records, so the snapshot's consistent point lies after them.
    await db.query('CHECKPOINT');

    const { config: base } = JSON.parse(readFileSync(CONFIG_FILE, 'utf8')) as { config: Record<string, string> };
    const url = new URL(engines().postgres);
    const config: Record<string, string> = { ...base };
    for (const name of Object.keys(config)) if (name.startsWith('heartbeat.')) delete config[name];
    Object.assign(config, {
      'database.hostname': url.hostname,
      'database.port': url.port || '5432',
      'topic.prefix': topicPrefix,
      'slot.name': run,
      'table.include.list': 'public.products',
      'snapshot.mode': 'initial',
    });
    const put = await connect('PUT', `/connectors/${connector}/config`, config);
    expect(put.status, await put.clone().text()).toBeLessThan(300);

    const redisSink = new RedisSink({ url: engines().redis, keyPrefix: `${run}:`, recentOrdersLength: 100, deleteMarkerTtlSeconds: 86_400, ttlSecondsByTable: {}, commandTimeoutMs: 3_000, logger });
    esSink = new ElasticsearchSink({ config: { ...loadElasticsearchConfig({ ELASTICSEARCH_URL: engines().elasticsearch }), indexPrefix: `${topicPrefix}-`, requestTimeoutMs: 5_000 }, logger });
    const productsAlias = esSink.indexes.get('products')!.aliasName;
    // The topic appears with the snapshot's first row (the runner would otherwise create it empty).
    await waitFor(() => withAdmin(kafka, async (admin) => (await admin.listTopics()).includes(topic)), 90_000, `the snapshot topic ${topic}`);
    await startRunner(redisSink, groups[0]!, deadLetterTopics[0]!);
    await startRunner(esSink, groups[1]!, deadLetterTopics[1]!);

    const redisRow = async (id: number) => {
      const text = await redis.get(`${run}:product:${id}`);
      return text === null ? null : (JSON.parse(text) as Record<string, unknown>);
    };
    const esRows = async () => {
      await refresh(es, esSink!.indexes.values());
      return searchRows(es, productsAlias, { terms: { _id: [String(updated), String(deleted)] } });
    };

    // Both sinks hold the snapshot's view: the old rows.
    await waitFor(async () => (await redisRow(updated))?.name === 'Before the snapshot' && (await redisRow(deleted)) !== null, 90_000, 'Redis to hold the snapshot rows');
    await waitFor(async () => (await esRows()).size === 2, 90_000, 'Elasticsearch to hold the snapshot rows');

    await open.query('COMMIT');

    let lastRedis: unknown;
    let lastEs: unknown;
    await waitFor(
      async () => {
        const [u, d] = [await redisRow(updated), await redisRow(deleted)];
        const rows = await esRows();
        lastRedis = { updated: u?.name, deleted: d?.name ?? null };
        lastEs = { updated: rows.get(String(updated))?.name, deleted: rows.get(String(deleted))?.name ?? null };
        return u?.name === 'Committed after the snapshot' && d === null && rows.get(String(updated))?.name === 'Committed after the snapshot' && !rows.has(String(deleted));
      },
      60_000,
      () => `both sinks to hold the committed values (Redis ${JSON.stringify(lastRedis)}, Elasticsearch ${JSON.stringify(lastEs)})`,
    );
    expect((await redisRow(updated))?.price).toBe('12.50');
    expect((await esRows()).get(String(updated))?.price).toBe('12.50');

    // The scenario really happened: the streamed changes carry LSNs below the snapshot rows'.
    const lsns = await readLsns(kafka, topic, [updated, deleted]);
    expect(lsns.get(`r:${updated}`), 'snapshot row of the updated product').toBeDefined();
    expect(BigInt(lsns.get(`u:${updated}`)!), 'streamed update LSN below its snapshot row LSN').toBeLessThan(BigInt(lsns.get(`r:${updated}`)!));
    expect(BigInt(lsns.get(`d:${deleted}`)!), 'streamed delete LSN below its snapshot row LSN').toBeLessThan(BigInt(lsns.get(`r:${deleted}`)!));
  });
});

/** "op:id" -> source.lsn of every message about `ids` in the topic (read from the beginning). */
async function readLsns(kafka: Kafka, topic: string, ids: number[]): Promise<Map<string, string>> {
  const consumer = kafka.consumer({ groupId: `${topic}-lsn-reader-${Date.now()}` });
  const found = new Map<string, string>();
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (!message.value) return;
        const envelope = JSON.parse(message.value.toString()) as { payload?: Record<string, unknown> } & Record<string, unknown>;
        const payload = (envelope.payload ?? envelope) as { op: string; before?: { id: number } | null; after?: { id: number } | null; source: { lsn: number } };
        const id = (payload.after ?? payload.before)?.id;
        if (id !== undefined && ids.includes(id)) found.set(`${payload.op}:${id}`, String(payload.source.lsn));
      },
    });
    await waitFor(() => ids.every((id) => found.has(`r:${id}`)) && found.has(`u:${ids[0]}`) && found.has(`d:${ids[1]}`), 30_000, () => `the snapshot and streamed messages (found ${[...found.keys()].join(', ')})`);
  } finally {
    await consumer.disconnect();
  }
  return found;
}
