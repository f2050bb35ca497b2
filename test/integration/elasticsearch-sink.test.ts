/**
 * ElasticsearchSink against the real Elasticsearch: the shared sink contract, then what only the
 * search index promises — mappings accepted by the server, exact prices with range queries,
 * searches through the filtered alias, deletes that survive Elasticsearch forgetting them,
 * TOAST fills, PK changes, NULLs/unicode/large text, bulk splitting, TRUNCATE, start-up
 * idempotence and `retry` when the cluster is unreachable.
 *
 * Every sink writes into its own index prefix; everything created is deleted at the end.
 */
import { Client, errors } from '@elastic/elasticsearch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowVersion, type Row, type TruncateEvent } from '../../consumers/core/change-event.js';
import { PermanentError } from '../../consumers/core/errors.js';
import { createLogger } from '../../consumers/core/logger.js';
import type { Sink, WriteResult } from '../../consumers/core/sink.js';
import { documentId, rowFromSource } from '../../consumers/elasticsearch/document.js';
import { loadElasticsearchConfig, type ElasticsearchConfig } from '../../consumers/elasticsearch/elasticsearch-config.js';
import { ElasticsearchSink } from '../../consumers/elasticsearch/elasticsearch-sink.js';
import { deleteIndexes, refresh, searchRows } from '../../consumers/elasticsearch/index-admin.js';
import { INDEX_CATALOG, type IndexDefinition } from '../../consumers/elasticsearch/index-catalog.js';
import { engines, requireEngines, uniqueName } from '../helpers/engines.js';
import { create, remove, tombstone, update } from '../helpers/events.js';
import { describeSinkContract, orderRow, productRow } from '../helpers/sink-contract.js';

const logger = createLogger({ consumer: 'elasticsearch-test', level: 'silent' });
const statuses = (results: readonly WriteResult[]) => results.map((result) => result.status);

describe.runIf(requireEngines('elasticsearch'))('ElasticsearchSink (real Elasticsearch)', () => {
  const basePrefix = `${uniqueName('es-sink')}-`;
  let sinkCount = 0;
  let admin: Client;
  const sinks: ElasticsearchSink[] = [];

  beforeAll(() => {
    admin = new Client({ node: engines().elasticsearch });
  });
  afterAll(async () => {
    for (const sink of sinks) {
      await deleteIndexes(admin, sink.ownedIndexes());
      await sink.close();
    }
    await admin.close();
  });

  function config(overrides: Partial<ElasticsearchConfig> = {}): ElasticsearchConfig {
    return { ...loadElasticsearchConfig({ ELASTICSEARCH_URL: engines().elasticsearch }), indexPrefix: `${basePrefix}${sinkCount++}-`, startupWaitMs: 10_000, ...overrides };
  }

  async function makeSink(overrides: Partial<ElasticsearchConfig> = {}, catalog?: readonly IndexDefinition[]): Promise<ElasticsearchSink> {
    const sink = new ElasticsearchSink({ config: config(overrides), logger, ...(catalog ? { catalog } : {}) });
    sinks.push(sink);
    await sink.start();
    return sink;
  }

  function indexOf(sink: ElasticsearchSink, table: string) {
    const index = sink.indexes.get(table);
    if (!index) throw new Error(`no index for ${table}`);
    return index;
  }

  /** The row as GET (realtime) sees it in the concrete index; null if absent or soft-deleted. */
  async function readRow(sink: Sink, table: string, key: Row): Promise<Row | null> {
    const es = sink as ElasticsearchSink;
    try {
      const doc = await admin.get<Record<string, unknown>>({ index: indexOf(es, table).indexName, id: documentId(key) });
      return rowFromSource(doc._source);
    } catch (error) {
      if (error instanceof errors.ResponseError && error.statusCode === 404) return null;
      throw error;
    }
  }

  /** Live rows through the alias after a refresh, as a search user sees them. */
  async function search(sink: ElasticsearchSink, table: string, query?: Record<string, unknown>): Promise<Map<string, Row>> {
    await refresh(admin, sink.indexes.values());
    return searchRows(admin, indexOf(sink, table).aliasName, query);
  }

  describeSinkContract({
    name: 'elasticsearch',
    makeSink: () => makeSink(),
    readRow,
    // created_at is mapped as a date: Elasticsearch refuses the document with a 400 parse error.
    poisonEvent: (table, key, lsn) => create(table, key, productRow(Number(key.id), { created_at: 'yesterday-ish' }), lsn),
  });

  it('the checked-in mappings are accepted by this server and the aliases carry the delete filter', async () => {
    const sink = await makeSink();
    for (const index of sink.indexes.values()) {
      const aliases = await admin.indices.getAlias({ name: index.aliasName });
      expect(Object.keys(aliases)).toEqual([index.indexName]);
      expect(aliases[index.indexName]!.aliases[index.aliasName]!.filter).toEqual({ bool: { must_not: { term: { '_cdc.deleted': true } } } });
      const mapping = await admin.indices.getMapping({ index: index.indexName });
      expect(mapping[index.indexName]!.mappings.properties).toEqual(
        expect.objectContaining(Object.fromEntries(Object.keys(index.body.mappings.properties as object).map((field) => [field, expect.anything()]))),
      );
    }
  });

  it('keeps prices exact to the cent and serves range queries on them', async () => {
    const sink = await makeSink();
    const prices = ['19.99', '25000.00', '0.10', '9999999999.99', '25000.01', '24999.99'];
    const results = await sink.write(prices.map((price, i) => create('products', { id: i + 1 }, productRow(i + 1, { price }), 100 + i)));
    expect(statuses(results).every((s) => s === 'ok')).toBe(true);
    expect(statuses(await sink.write([create('orders', { id: 1 }, orderRow(1, { total_amount: '25000.00' }), 200)]))).toEqual(['ok']);

    const all = await search(sink, 'products');
    expect([...all.values()].map((row) => row.price).sort()).toEqual([...prices].sort());

    const inRange = await search(sink, 'products', { range: { price: { gte: '25000.00', lte: '25000.01' } } });
    expect([...inRange.keys()].sort()).toEqual(['2', '5']);
    const cheap = await search(sink, 'products', { range: { price: { lt: 20 } } });
    expect([...cheap.keys()].sort()).toEqual(['1', '3']);
    const big = await search(sink, 'products', { range: { price: { gt: '9999999999.98' } } });
    expect([...big.values()].map((row) => row.price)).toEqual(['9999999999.99']);

    const orders = await search(sink, 'orders', { range: { total_amount: { gte: 25000, lte: 25000 } } });
    expect(orders.get('1')?.total_amount).toBe('25000.00');
  });

  it('finds products by words, orders by number and status, customers by email', async () => {
    const sink = await makeSink();
    expect(statuses(await sink.write([
      create('products', { id: 1 }, productRow(1, { name: 'Wireless Mouse', description: 'Ergonomic mouse with silent clicks' }), 10),
      create('products', { id: 2 }, productRow(2, { name: 'Mechanical Keyboard', description: 'Hot-swappable switches', sku: 'KB-002' }), 11),
      create('orders', { id: 1 }, orderRow(1, { order_number: 'ORD-TEST-001', status: 'pending' }), 12),
      create('orders', { id: 2 }, orderRow(2, { order_number: 'ORD-TEST-002', status: 'shipped', customer_id: 7 }), 13),
      create('customers', { id: 7 }, { id: 7, email: 'Ada.Lovelace@example.com', first_name: 'Ada', last_name: 'Lovelace', phone: null, push_token: null, created_at: '2026-01-01T00:00:00.000000Z', updated_at: '2026-01-01T00:00:00.000000Z' }, 14),
    ])).every((s) => s === 'ok')).toBe(true);

    expect([...(await search(sink, 'products', { multi_match: { query: 'silent mouse', fields: ['name', 'description'] } })).keys()]).toEqual(['1']);
    expect([...(await search(sink, 'products', { term: { sku: 'kb-002' } })).keys()]).toEqual(['2']);
    expect([...(await search(sink, 'products', { term: { 'name.keyword': 'Mechanical Keyboard' } })).keys()]).toEqual(['2']);
    expect([...(await search(sink, 'orders', { term: { order_number: 'ORD-TEST-002' } })).keys()]).toEqual(['2']);
    expect([...(await search(sink, 'orders', { term: { order_number: 'ord-test-001' } })).keys()]).toEqual(['1']);
    expect([...(await search(sink, 'orders', { term: { status: 'shipped' } })).keys()]).toEqual(['2']);
    expect([...(await search(sink, 'customers', { term: { email: 'ada.lovelace@example.com' } })).keys()]).toEqual(['7']);
    expect([...(await search(sink, 'customers', { match: { full_name: 'ada lovelace' } })).keys()]).toEqual(['7']);
    // copy_to fields are indexed only: the stored row is exactly the database row.
    expect((await search(sink, 'customers')).get('7')).not.toHaveProperty('full_name');
  });

  it('search through the alias never returns deleted rows; GET by id shows the soft-delete marker', async () => {
    const sink = await makeSink();
    await sink.write([create('orders', { id: 1 }, orderRow(1), 100), create('orders', { id: 2 }, orderRow(2), 101)]);
    expect(statuses(await sink.write([remove('orders', { id: 1 }, orderRow(1), 150), tombstone('orders', { id: 1 })]))).toEqual(['ok', 'ok']);
    const alias = indexOf(sink, 'orders').aliasName;
    expect([...(await search(sink, 'orders')).keys()]).toEqual(['2']);
    expect((await admin.count({ index: alias })).count).toBe(1);
    const viaAlias = await admin.get<Record<string, unknown>>({ index: alias, id: '1' });
    expect(viaAlias.found).toBe(true);
    expect(viaAlias._source).toMatchObject({ _cdc: { deleted: true, lsn: '150' } });
    // The delete's external version: a streamed change at 2^62 + LSN (read as text: it is beyond 2^53).
    const raw = await (await fetch(`${engines().elasticsearch}/${alias}/_doc/1?filter_path=_version`)).text();
    expect(raw).toBe(`{"_version":${(1n << 62n) + 150n}}`);
  });

  it('a delete survives Elasticsearch forgetting it (gc_deletes 0s): a replayed older create stays refused', async () => {
    const forgetful = INDEX_CATALOG.map((definition) => ({
      ...definition,
      body: { ...definition.body, settings: { index: { ...(definition.body.settings.index as object), gc_deletes: '0s' } } },
    }));
    const sink = await makeSink({}, forgetful);
    const index = indexOf(sink, 'orders').indexName;
    const settings = await admin.indices.getSettings({ index, name: 'index.gc_deletes' });
    expect(settings[index]!.settings!.index!.gc_deletes).toBe('0s');

    // The hazard is real on this index: a plain external-versioned delete is forgotten at once.
    await admin.index({ index, id: 'hard', version: 600, version_type: 'external', document: { id: 0 } });
    await admin.delete({ index, id: 'hard', version: 700, version_type: 'external' });
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await admin.indices.refresh({ index });
    const resurrected = await admin.index({ index, id: 'hard', version: 600, version_type: 'external', document: { id: 0 } });
    expect(resurrected.result).toBe('created');

    // The sink's soft delete does not depend on ES remembering anything.
    const row = orderRow(10);
    expect(statuses(await sink.write([create('orders', { id: 10 }, row, 600)]))).toEqual(['ok']);
    expect(statuses(await sink.write([remove('orders', { id: 10 }, row, 700), tombstone('orders', { id: 10 })]))).toEqual(['ok', 'ok']);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await admin.indices.refresh({ index });
    expect(statuses(await sink.write([create('orders', { id: 10 }, row, 600), update('orders', { id: 10 }, row, orderRow(10, { status: 'paid' }), 650)]))).toEqual(['ok', 'ok']);
    expect(await readRow(sink, 'orders', { id: 10 })).toBeNull();
    expect((await search(sink, 'orders')).has('10')).toBe(false);
  });

  it('TOAST: fills from the stored document, from the same batch, or indexes without the column when nothing has it', async () => {
    const sink = await makeSink();
    const long = 'Stored out of line by PostgreSQL. '.repeat(200);
    const { description: _d, ...bare } = productRow(1, { description: long });
    expect(statuses(await sink.write([create('products', { id: 1 }, productRow(1, { description: long }), 100)]))).toEqual(['ok']);

    // Stored document, in a later batch, next to other writes.
    expect(statuses(await sink.write([
      create('products', { id: 2 }, productRow(2), 105),
      update('products', { id: 1 }, bare, { ...bare, price: '9.99' }, 110, ['description']),
    ]))).toEqual(['ok', 'ok']);
    expect(await readRow(sink, 'products', { id: 1 })).toEqual({ ...bare, price: '9.99', description: long });

    // Same batch: the update right before it changed the description.
    expect(statuses(await sink.write([
      update('products', { id: 1 }, bare, { ...bare, price: '9.99', description: 'short now' }, 120),
      update('products', { id: 1 }, bare, { ...bare, price: '8.88' }, 130, ['description']),
    ]))).toEqual(['ok', 'ok']);
    expect(await readRow(sink, 'products', { id: 1 })).toEqual({ ...bare, price: '8.88', description: 'short now' });

    // A stale TOAST update is refused by the version check like any other.
    expect(statuses(await sink.write([update('products', { id: 1 }, bare, { ...bare, price: '1.00' }, 125, ['description'])]))).toEqual(['ok']);
    expect((await readRow(sink, 'products', { id: 1 }))?.price).toBe('8.88');

    // Never indexed: the row is indexed without the column rather than not at all.
    const { description: _e, ...bare3 } = productRow(3);
    expect(statuses(await sink.write([update('products', { id: 3 }, bare3, bare3, 140, ['description'])]))).toEqual(['ok']);
    expect(await readRow(sink, 'products', { id: 3 })).toEqual(bare3);
  });

  it('a primary-key change moves the document: old id deleted, new id indexed (both event shapes)', async () => {
    const sink = await makeSink();
    await sink.write([create('orders', { id: 20 }, orderRow(20), 100), create('orders', { id: 30 }, orderRow(30), 101)]);
    // Debezium's shape: delete(old key) + tombstone + create(new key), same transaction.
    expect(statuses(await sink.write([
      remove('orders', { id: 20 }, orderRow(20), 200),
      tombstone('orders', { id: 20 }),
      create('orders', { id: 21 }, orderRow(21, { order_number: 'ORD-TEST-020' }), 201),
    ]))).toEqual(['ok', 'ok', 'ok']);
    // One update whose before has the old key.
    expect(statuses(await sink.write([update('orders', { id: 31 }, orderRow(30), orderRow(31, { order_number: 'ORD-TEST-030' }), 300)]))).toEqual(['ok']);
    expect([...(await search(sink, 'orders')).keys()].sort()).toEqual(['21', '31']);
    expect(await readRow(sink, 'orders', { id: 20 })).toBeNull();
    expect(await readRow(sink, 'orders', { id: 30 })).toBeNull();
    expect((await readRow(sink, 'orders', { id: 31 }))?.order_number).toBe('ORD-TEST-030');
  });

  it('stores NULLs, unicode and a 2 MB text exactly, and finds unicode words', async () => {
    const sink = await makeSink();
    const big = 'Ünïcödé ✓ 日本語のテキスト 🚀 '.repeat(80_000);
    const rows = [
      productRow(1, { description: null, attributes: {} }),
      productRow(2, { name: 'Café crème 日本 🚀', description: 'Ça coûte 12,50 € — naïve façade', attributes: { 'größe': 'XL', nested: { deep: [null, 'ä'] } } }),
      productRow(3, { description: big }),
    ];
    expect(statuses(await sink.write(rows.map((row, i) => create('products', { id: i + 1 }, row, 10 + i))))).toEqual(['ok', 'ok', 'ok']);
    expect(Buffer.byteLength(big)).toBeGreaterThan(2_000_000);
    for (const [i, row] of rows.entries()) expect(await readRow(sink, 'products', { id: i + 1 })).toEqual(row);
    expect([...(await search(sink, 'products', { match: { name: 'café' } })).keys()]).toEqual(['2']);
    expect([...(await search(sink, 'products', { match: { description: 'façade' } })).keys()]).toEqual(['2']);
    expect([...(await search(sink, 'products', { term: { 'attributes.größe': 'XL' } })).keys()]).toEqual(['2']);
    const orderWithNulls = orderRow(1, { payment_method: null, shipping_address: null, notes: null });
    expect(statuses(await sink.write([create('orders', { id: 1 }, orderWithNulls, 20)]))).toEqual(['ok']);
    expect(await readRow(sink, 'orders', { id: 1 })).toEqual(orderWithNulls);
  });

  it('splits bulks by count and bytes and keeps the order of writes to one document across them', async () => {
    const sink = await makeSink({ bulkMaxDocs: 2, bulkMaxBytes: 1024 });
    const events = [];
    for (let i = 1; i <= 5; i++) events.push(create('products', { id: i }, productRow(i), 100 + i));
    // Later versions of product 1, in later bulks; and one document bigger than a whole bulk.
    events.push(update('products', { id: 1 }, productRow(1), productRow(1, { price: '2.00' }), 200));
    events.push(create('products', { id: 6 }, productRow(6, { description: 'x'.repeat(5_000) }), 201));
    events.push(update('products', { id: 1 }, productRow(1), productRow(1, { price: '3.00' }), 202));
    expect(statuses(await sink.write(events)).every((s) => s === 'ok')).toBe(true);
    const rows = await search(sink, 'products');
    expect(rows.size).toBe(6);
    expect(rows.get('1')?.price).toBe('3.00');
    expect((rows.get('6')?.description as string).length).toBe(5_000);
  });

  it('TRUNCATE soft-deletes every row older than it and keeps rows written after it', async () => {
    const sink = await makeSink({ bulkMaxDocs: 2 });
    await sink.write([1, 2, 3, 4, 5].map((id) => create('orders', { id }, orderRow(id), 100 + id)));
    await sink.write([create('orders', { id: 9 }, orderRow(9), 500)]); // written after the truncate in LSN order (replay)
    const truncate: TruncateEvent = {
      op: 'truncate', table: 'orders', schema: 'public', key: {},
      source: { lsn: '300', version: rowVersion('300', false), txId: 1, commitTimeMs: Date.now(), snapshot: false },
      kafka: { topic: 'ecommerce.public.orders', partition: 0, offset: '99' },
    };
    expect(statuses(await sink.write([create('products', { id: 1 }, productRow(1), 290), truncate, create('orders', { id: 7 }, orderRow(7), 310)]))).toEqual(['ok', 'ok', 'ok']);
    expect([...(await search(sink, 'orders')).keys()].sort()).toEqual(['7', '9']);
    expect((await search(sink, 'products')).size).toBe(1);
  });

  function truncateAt(table: string, lsn: number, partition = 0): TruncateEvent {
    return {
      op: 'truncate', table, schema: 'public', key: {},
      source: { lsn: String(lsn), version: rowVersion(String(lsn), false), txId: 1, commitTimeMs: Date.now(), snapshot: false },
      kafka: { topic: `ecommerce.public.${table}`, partition, offset: '99' },
    };
  }
  const answers = (results: readonly WriteResult[]) => results.map((r) => (r.status === 'ok' ? (r.stale ? 'stale' : 'applied') : r.status));

  it('a TRUNCATE keeps out older row events that come later from other partitions or another instance, also across restarts', async () => {
    const first = await makeSink();
    const prefix = first.indexes.get('orders')!.indexName.replace(/orders_v1$/, '');
    await first.write([1, 2, 3].map((id) => create('orders', { id }, orderRow(id), 100 + id)));
    // The truncate lands on partition 0 ...
    expect(answers(await first.write([truncateAt('orders', 300)]))).toEqual(['applied']);
    // ... while older row events of the same table still sit in partitions 1 and 2, handled by
    // another lane or instance (here: another sink on the same indexes, started afterwards).
    const other = new ElasticsearchSink({ config: config({ indexPrefix: prefix }), logger });
    sinks.push(other);
    await other.start();
    expect(answers(await other.write([
      create('orders', { id: 4 }, orderRow(4), 250),
      update('orders', { id: 2 }, orderRow(2), orderRow(2, { status: 'paid' }), 260),
      create('orders', { id: 5 }, orderRow(5), 400),
      create('products', { id: 1 }, productRow(1), 200), // another table: not truncated
    ]))).toEqual(['stale', 'stale', 'applied', 'applied']);
    expect([...(await search(other, 'orders')).keys()]).toEqual(['5']);
    expect((await search(other, 'products')).size).toBe(1);
    // A replayed or older TRUNCATE is stale too, and changes nothing.
    expect(answers(await other.write([truncateAt('orders', 300, 1), truncateAt('orders', 200, 2)]))).toEqual(['stale', 'stale']);
    expect([...(await search(other, 'orders')).keys()]).toEqual(['5']);
  });

  it('older rows written at the same moment as a TRUNCATE by another lane do not survive it', async () => {
    const first = await makeSink({ bulkMaxDocs: 5 });
    const prefix = first.indexes.get('orders')!.indexName.replace(/orders_v1$/, '');
    const other = new ElasticsearchSink({ config: config({ indexPrefix: prefix, bulkMaxDocs: 5 }), logger });
    sinks.push(other);
    await other.start();
    await first.write([1, 2, 3].map((id) => create('orders', { id }, orderRow(id), 100 + id)));
    const old = Array.from({ length: 60 }, (_, i) => create('orders', { id: 100 + i }, orderRow(100 + i), 200 + i));
    // Both lanes at once, in small bulks, so the writes and the truncate's pass interleave.
    const [truncated] = await Promise.all([
      first.write([truncateAt('orders', 300)]),
      (async () => {
        for (let i = 0; i < old.length; i += 5) await other.write(old.slice(i, i + 5));
      })(),
    ]);
    expect(answers(truncated)).toEqual(['applied']);
    expect([...(await search(other, 'orders')).keys()]).toEqual([]);
  });

  it('start() is idempotent, applies added fields, refuses a conflicting mapping and leaves a moved alias alone', async () => {
    const first = await makeSink();
    const prefix = first.indexes.get('orders')!.indexName.replace(/orders_v1$/, '');
    const again = new ElasticsearchSink({ config: config({ indexPrefix: prefix }), logger });
    await again.start();
    await again.close();

    const withNewField = INDEX_CATALOG.map((definition) => definition.table !== 'orders' ? definition : {
      ...definition,
      body: { ...definition.body, mappings: { ...definition.body.mappings, properties: { ...(definition.body.mappings.properties as object), tracking_code: { type: 'keyword' } } } },
    });
    const added = new ElasticsearchSink({ config: config({ indexPrefix: prefix }), logger, catalog: withNewField });
    await added.start();
    await added.close();
    const mapping = await admin.indices.getMapping({ index: `${prefix}orders_v1` });
    expect(mapping[`${prefix}orders_v1`]!.mappings.properties!.tracking_code).toEqual({ type: 'keyword' });

    const conflicting = INDEX_CATALOG.map((definition) => definition.table !== 'orders' ? definition : {
      ...definition,
      body: { ...definition.body, mappings: { ...definition.body.mappings, properties: { ...(definition.body.mappings.properties as object), status: { type: 'long' } } } },
    });
    const refused = new ElasticsearchSink({ config: config({ indexPrefix: prefix }), logger, catalog: conflicting });
    await expect(refused.start()).rejects.toThrow(PermanentError);
    await expect(refused.start()).rejects.toThrow(/conflicts with mappings\/orders_v1.json/);
    await refused.close();

    // A v2 of orders while the alias still points at v1: v2 is created, the alias is left for an operator to swap.
    const v2 = INDEX_CATALOG.map((definition) => definition.table !== 'orders' ? definition : { ...definition, index: 'orders_v2' });
    const rollout = new ElasticsearchSink({ config: config({ indexPrefix: prefix }), logger, catalog: v2 });
    sinks.push(rollout);
    await rollout.start();
    expect(Object.keys(await admin.indices.getAlias({ name: `${prefix}orders` }))).toEqual([`${prefix}orders_v1`]);
    expect((await admin.indices.exists({ index: `${prefix}orders_v2` }))).toBe(true);
  });

  it('refuses to start when a concrete index has the alias name', async () => {
    const prefix = `${basePrefix}${sinkCount++}-`;
    await admin.indices.create({ index: `${prefix}orders` });
    const sink = new ElasticsearchSink({ config: config({ indexPrefix: prefix }), logger });
    sinks.push(sink);
    try {
      await expect(sink.start()).rejects.toThrow(/concrete index with that name exists/);
    } finally {
      await admin.indices.delete({ index: `${prefix}orders` });
    }
  });

  it('answers retry for every event while the cluster is unreachable, and is not ready', async () => {
    // A port nothing listens on: the shared Elasticsearch is stopped only in the end-to-end outage test.
    const sink = new ElasticsearchSink({ config: config({ url: 'http://127.0.0.1:9', requestTimeoutMs: 2_000 }), logger });
    sinks.push(sink);
    const results = await sink.write([create('orders', { id: 1 }, orderRow(1), 1), tombstone('orders', { id: 1 }), create('orders', { id: 2 }, orderRow(2), 2)]);
    expect(statuses(results)).toEqual(['retry', 'ok', 'retry']);
    const { description: _d, ...bare } = productRow(1);
    // Reads before any bulk (truncate versions, stored documents for TOAST) fail as a retry too.
    const [toast] = await sink.write([update('products', { id: 1 }, bare, bare, 5, ['description'])]);
    expect(toast!.status === 'retry' && toast!.error.message).toMatch(/cannot read/);
    expect(await sink.isReady()).toBe(false);
    await expect(new ElasticsearchSink({ config: config({ url: 'http://127.0.0.1:9', startupWaitMs: 0 }), logger }).start()).rejects.toThrow(/did not answer/);
  });
});
