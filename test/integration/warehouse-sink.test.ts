/**
 * WarehouseSink against the real MongoDB-wire server of the stack: the shared sink contract, then
 * what only the warehouse promises — soft deletes and revival, change_log (one entry per change,
 * replays no-ops), exact money and int8 from a real captured message, TRUNCATE in any order
 * against the rows of other partitions, the version guard against a concurrent writer, and every
 * MongoDB feature the warehouse relies on (checked here on the native server; all exist in MongoDB 7).
 */
import { Decimal128, Long, MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowVersion, type Row, type TruncateEvent } from '../../consumers/core/change-event.js';
import { createLogger } from '../../consumers/core/logger.js';
import type { Sink } from '../../consumers/core/sink.js';
import { fromDocument } from '../../consumers/warehouse/bson-values.js';
import { TABLE_CATALOG, tableDefinition, type TableCatalog } from '../../consumers/warehouse/table-catalog.js';
import { WarehouseSink } from '../../consumers/warehouse/warehouse-sink.js';
import { engines, requireEngines, uniqueName } from '../helpers/engines.js';
import { create, remove, tombstone, update, changeEvent } from '../helpers/events.js';
import { fixtureEvent } from '../helpers/fixtures.js';
import { describeSinkContract, orderRow, productRow } from '../helpers/sink-contract.js';

describe.runIf(requireEngines('mongodb'))('WarehouseSink (real MongoDB-wire server)', () => {
  const logger = createLogger({ consumer: 'warehouse-sink-test', level: 'silent', pretty: false });
  const databases: string[] = [];
  const sinks: WarehouseSink[] = [];
  let client: MongoClient;

  beforeAll(async () => {
    client = new MongoClient(engines().mongodb);
    await client.connect();
  });
  afterAll(async () => {
    for (const sink of sinks) await sink.close();
    for (const name of databases) await client.db(name).dropDatabase().catch(() => undefined);
    await client.close();
  });

  async function makeSink(catalog?: TableCatalog): Promise<WarehouseSink> {
    const database = uniqueName('wh').replace(/[^A-Za-z0-9_-]/g, '_');
    databases.push(database);
    const sink = new WarehouseSink({ config: { url: engines().mongodb, database, requestTimeoutMs: 10_000, startupWaitMs: 10_000 }, logger, catalog });
    sinks.push(sink);
    await sink.start();
    return sink;
  }

  /** The live row as the change-event convention has it, or null when absent or soft-deleted. */
  async function readRow(sink: Sink, table: string, key: Row): Promise<Row | null> {
    const document = await (sink as WarehouseSink).collection(table).findOne({ _id: key.id as never });
    if (!document || document._cdc?.deleted) return null;
    return fromDocument(document, tableDefinition(TABLE_CATALOG, table));
  }

  describeSinkContract({
    name: 'warehouse',
    makeSink: () => makeSink(),
    readRow,
    // A NUMERIC column must hold an exact decimal: "lots" can never become a Decimal128.
    poisonEvent: (table, key, lsn) => create(table, key, productRow(Number(key.id), { price: 'lots' }), lsn),
  });

  const statuses = (results: { status: string; stale?: boolean }[]) => results.map((r) => (r.status === 'ok' && r.stale ? 'stale' : r.status));

  it('stores money as Decimal128, timestamps as dates with the exact microsecond text, and bookkeeping', async () => {
    const sink = await makeSink();
    const order = orderRow(1, { total_amount: '9999999999.99' });
    expect(statuses(await sink.write([create('orders', { id: 1 }, order, 1000)]))).toEqual(['ok']);
    const document = await sink.collection('orders').findOne({ _id: 1 as never });
    expect(document!.total_amount).toBeInstanceOf(Decimal128);
    expect(document!.total_amount.toString()).toBe('9999999999.99');
    expect(document!.created_at).toEqual(new Date('2026-03-02T08:00:00.000Z'));
    expect(document!._exact).toEqual({ created_at: '2026-03-02T08:00:00.000001Z', updated_at: '2026-03-02T08:00:00.000001Z' });
    expect(document!.shipping_address).toEqual(order.shipping_address);
    expect(document!._cdc).toMatchObject({ lsn: '1000', version: rowVersion('1000', false).padStart(20, '0'), version_number: 1, op: 'create', deleted: false });
    expect(document!._cdc.first_seen).toBeInstanceOf(Date);
  });

  it('keeps int8 beyond 2^53 and NUMERIC exactly, from a real captured Debezium message', async () => {
    const event = fixtureEvent('types-create');
    if (event.op !== 'create') throw new Error('fixture is not a create');
    expect(event.after!.big).toBe('9007199254740993');
    const catalog: TableCatalog = { ...TABLE_CATALOG, [event.table]: { primaryKey: ['id'], columns: { amount: 'decimal', big: 'int8', ts: 'timestamp', tstz: 'timestamp', day: 'date' } } };
    const sink = await makeSink(catalog);
    expect(statuses(await sink.write([event]))).toEqual(['ok']);
    const document = await sink.collection(event.table).findOne({ _id: event.key.id as never }, { promoteLongs: false });
    expect(document!.big).toBeInstanceOf(Long);
    expect((document!.big as Long).toBigInt()).toBe(9007199254740993n);
    expect(document!.amount.toString()).toBe(event.after!.amount);
    // Everything reads back exactly as the decoder produced it.
    expect(fromDocument(document!, catalog[event.table]!)).toEqual(event.after);
  });

  it('deletes softly, revives a re-inserted key as a new version, and logs one entry per change', async () => {
    const sink = await makeSink();
    const v1 = orderRow(5);
    const v2 = orderRow(5, { status: 'paid' });
    const v3 = orderRow(5, { status: 'pending', notes: 'again' });
    const batch = [create('orders', { id: 5 }, v1, 100), update('orders', { id: 5 }, v1, v2, 110), remove('orders', { id: 5 }, v2, 120), tombstone('orders', { id: 5 })];
    expect(statuses(await sink.write(batch))).toEqual(['ok', 'ok', 'ok', 'ok']);
    const deleted = await sink.collection('orders').findOne({ _id: 5 as never });
    expect(deleted!._cdc).toMatchObject({ deleted: true, deleted_lsn: '120', version_number: 3, op: 'delete' });
    expect(deleted!.status).toBe('paid'); // the last values stay
    expect(deleted!._cdc.deleted_at).toBeInstanceOf(Date);

    expect(statuses(await sink.write([create('orders', { id: 5 }, v3, 130)]))).toEqual(['ok']);
    const revived = await sink.collection('orders').findOne({ _id: 5 as never });
    expect(revived!._cdc).toMatchObject({ deleted: false, deleted_lsn: null, version_number: 4, op: 'create' });

    // A replay of everything is stale and adds nothing to change_log.
    expect(statuses(await sink.write([...batch, create('orders', { id: 5 }, v3, 130)]))).toEqual(['stale', 'stale', 'stale', 'ok', 'stale']);
    const log = await sink.db.collection('change_log').find({ table: 'orders' }).sort({ version: 1 }).toArray();
    expect(log.map((entry) => [entry.op, entry.version_number, entry.lsn])).toEqual([['create', 1, '100'], ['update', 2, '110'], ['delete', 3, '120'], ['create', 4, '130']]);
    expect(log[1]!.changed_fields).toEqual(['status']);
    expect(log[1]!.before.status).toBe('pending');
    expect(log[1]!.after.status).toBe('paid');
    expect(log[2]!.after).toBeNull();
    expect(log.every((entry) => entry.timestamp instanceof Date && typeof entry.commit_time_us === 'string')).toBe(true);
  });

  it('answers stale for a streamed change below a snapshot row only when it really is older', async () => {
    const sink = await makeSink();
    const snap = productRow(9);
    const streamed = productRow(9, { price: '11.00' });
    // The snapshot read at LSN 500 and a change streamed at LSN 400 (a transaction open across the
    // snapshot): the streamed one is newer (2^64 + 400 > 500).
    const read = changeEvent({ table: 'products', op: 'read', key: { id: 9 }, after: snap, lsn: 500 });
    expect(statuses(await sink.write([read, update('products', { id: 9 }, snap, streamed, 400)]))).toEqual(['ok', 'ok']);
    expect(statuses(await sink.write([read]))).toEqual(['stale']);
    expect(await readRow(sink, 'products', { id: 9 })).toEqual(streamed);
  });

  it('a TRUNCATE soft-deletes older rows, keeps newer ones, and catches older rows read after it', async () => {
    const sink = await makeSink();
    const truncate: TruncateEvent = {
      op: 'truncate', table: 'products', schema: 'public', key: {},
      source: { lsn: '2000', version: rowVersion('2000', false), txId: 77, commitTimeMs: Date.parse('2026-03-05T10:00:00Z'), commitTimeUs: '1772704800000123', snapshot: false },
      kafka: { topic: 'ecommerce.public.products', partition: 1, offset: '9' },
    };
    const [a, b, late, after] = [productRow(1), productRow(2), productRow(3), productRow(4)];
    expect(statuses(await sink.write([create('products', { id: 1 }, a, 1000), create('products', { id: 2 }, b, 1100)]))).toEqual(['ok', 'ok']);
    expect(statuses(await sink.write([truncate]))).toEqual(['ok']);
    // From other partitions, read after the TRUNCATE: one change older than it, one newer.
    expect(statuses(await sink.write([create('products', { id: 3 }, late, 1500), create('products', { id: 4 }, after, 2500)]))).toEqual(['ok', 'ok']);

    const rows = await sink.collection('products').find().sort({ _id: 1 }).toArray();
    expect(rows.map((row) => [row._id, row._cdc.deleted, row._cdc.op])).toEqual([[1, true, 'truncate'], [2, true, 'truncate'], [3, true, 'truncate'], [4, false, 'create']]);
    expect(rows[0]!._cdc.deleted_at_us).toBe('2026-03-05T10:00:00.000123Z');
    const log = await sink.db.collection('change_log').find({ table: 'products' }).sort({ _id: 1 }).toArray();
    expect(log.map((entry) => entry._id)).toEqual([
      `products:*:${truncate.source.version.padStart(20, '0')}`,
      `products:1:${rowVersion('1000', false).padStart(20, '0')}`,
      `products:1:${truncate.source.version.padStart(20, '0')}`,
      `products:2:${rowVersion('1100', false).padStart(20, '0')}`,
      `products:2:${truncate.source.version.padStart(20, '0')}`,
      `products:3:${rowVersion('1500', false).padStart(20, '0')}`,
      `products:3:${truncate.source.version.padStart(20, '0')}`,
      `products:4:${rowVersion('2500', false).padStart(20, '0')}`,
    ]);
    // Replaying the TRUNCATE changes nothing.
    expect(statuses(await sink.write([truncate]))).toEqual(['ok']);
    expect(await sink.db.collection('change_log').countDocuments({ table: 'products' })).toBe(8);
  });

  it('refuses to overwrite a row another writer changed after this batch read it (retry, then applies on top)', async () => {
    const sink = await makeSink();
    const v1 = orderRow(3);
    expect(statuses(await sink.write([create('orders', { id: 3 }, v1, 100)]))).toEqual(['ok']);
    // Another process writes version 200 between our read and our write: simulated by changing
    // the stored version right after the sink's read (the guard names the version it read).
    const collection = sink.collection('orders');
    const originalFind = collection.find.bind(collection);
    let interfered = false;
    (collection as { find: unknown }).find = (...args: Parameters<typeof collection.find>) => {
      const cursor = originalFind(...args);
      const toArray = cursor.toArray.bind(cursor);
      (cursor as { toArray: unknown }).toArray = async () => {
        const documents = await toArray();
        if (!interfered) {
          interfered = true;
          await client.db(sink.db.databaseName).collection('orders').updateOne({ _id: 3 as never }, { $set: { '_cdc.version': rowVersion('200', false).padStart(20, '0'), status: 'paid' } });
        }
        return documents;
      };
      return cursor;
    };
    const sinkWithSpy = sink as unknown as { collection(table: string): typeof collection };
    const realCollection = sink.collection.bind(sink);
    sinkWithSpy.collection = (table: string) => (table === 'orders' ? collection : realCollection(table));
    const results = await sink.write([update('orders', { id: 3 }, v1, orderRow(3, { status: 'shipped' }), 300)]);
    expect(results[0]!.status).toBe('retry');
    expect((await collection.findOne({ _id: 3 as never }))!.status).toBe('paid');
    // The runner sends it again: planned against version 200 now, it applies.
    expect(statuses(await sink.write([update('orders', { id: 3 }, v1, orderRow(3, { status: 'shipped' }), 300)]))).toEqual(['ok']);
    expect((await collection.findOne({ _id: 3 as never }))!.status).toBe('shipped');
  });

  it('answers retry while MongoDB cannot be reached, and isReady says so', async () => {
    const sink = new WarehouseSink({ config: { url: 'mongodb://127.0.0.1:1', database: 'nowhere', requestTimeoutMs: 1_000, startupWaitMs: 0 }, logger });
    sinks.push(sink);
    expect(await sink.isReady()).toBe(false);
    const results = await sink.write([create('orders', { id: 1 }, orderRow(1), 1)]);
    expect(results.map((r) => r.status)).toEqual(['retry']);
  }, 30_000);
});
