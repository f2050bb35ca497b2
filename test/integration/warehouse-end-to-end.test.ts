/**
 * The whole warehouse path on the real stack: SQL on PostgreSQL -> Debezium -> Kafka -> Runner ->
 * WarehouseSink -> MongoDB (the stack's MongoDB-wire server). Each test runs its own consumer group
 * into its own database, changes rows through real SQL and waits for the warehouse to follow.
 * Then: a replay of every topic from offset 0 leaves current state and change_log identical; time
 * travel reads every past version back exactly; the seed's mongosh commands run verbatim through
 * the real `mongosh` from npm; stopping MongoDB for 30 s while changes continue loses nothing.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Decimal128, Long, MongoClient, type Db, type Document } from 'mongodb';
import { Kafka, logLevel } from 'kafkajs';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChangeEvent } from '../../consumers/core/change-event.js';
import { createLogger } from '../../consumers/core/logger.js';
import { Runner } from '../../consumers/core/runner.js';
import type { Sink, WriteResult } from '../../consumers/core/sink.js';
import { TABLE_CATALOG } from '../../consumers/warehouse/table-catalog.js';
import { rowAsOf, rowHistory, tableAsOf } from '../../consumers/warehouse/time-travel.js';
import { WarehouseSink } from '../../consumers/warehouse/warehouse-sink.js';
import { startEngine, stopEngine } from '../helpers/engine-control.js';
import { engines, requireEngines, uniqueName } from '../helpers/engines.js';
import { deleteGroupsAndTopics } from '../helpers/kafka-admin.js';
import { startPipeline as startRunner, waitForConnector, waitUntilCaughtUp, type Pipeline } from '../helpers/pipeline.js';
import { ShopRows } from '../helpers/shop-rows.js';
import { captureTable } from '../helpers/warehouse-temporary-connector.js';

const run = promisify(execFile);

/** Counts what the sink answered, so a replay can show every event was refused as stale. */
class CountingSink implements Sink {
  readonly name: string;
  stale = 0;
  applied = 0;
  constructor(readonly inner: WarehouseSink) {
    this.name = inner.name;
  }
  start() { return this.inner.start(); }
  isReady() { return this.inner.isReady(); }
  close() { return this.inner.close(); }
  async write(events: readonly ChangeEvent[]): Promise<WriteResult[]> {
    const results = await this.inner.write(events);
    results.forEach((result, i) => {
      if (result.status !== 'ok' || events[i]!.op === 'tombstone') return;
      if (result.stale) this.stale++;
      else this.applied++;
    });
    return results;
  }
}

/** An orders row as the change events carry it, read from PostgreSQL itself. */
const ORDER_AS_EVENT = `SELECT id, customer_id, order_number, total_amount::text AS total_amount, currency, status, payment_method,
  shipping_address, notes,
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at,
  to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS updated_at
  FROM orders WHERE id = $1`;

describe.runIf(requireEngines('postgres', 'kafka', 'connect', 'mongodb'))('Warehouse consumer end to end', () => {
  const logger = createLogger({ consumer: 'warehouse-e2e', level: 'error', pretty: false });
  const runId = uniqueName('wh-e2e');
  const groups: string[] = [];
  const databases: string[] = [];
  const deadLetterTopic = `${runId}.dlq`;
  let db: pg.Client;
  let shop: ShopRows;
  let kafka: Kafka;
  let mongo: MongoClient;

  function startPipeline(database: string): Promise<Pipeline<CountingSink>> {
    if (!databases.includes(database) && database !== 'ecommerce_warehouse') databases.push(database);
    const groupId = `${runId}-group-${groups.length}`;
    groups.push(groupId);
    const sink = new CountingSink(new WarehouseSink({ config: { url: engines().mongodb, database, requestTimeoutMs: 5_000, startupWaitMs: 60_000 }, logger }));
    return startRunner({ consumerName: 'warehouse', sink, groupId, deadLetterTopic, logger });
  }

  const caughtUp = (groupId: string, timeoutMs = 180_000) => waitUntilCaughtUp(kafka, groupId, timeoutMs);
  const current = (warehouse: Db, table: string, id: number) => warehouse.collection(table).findOne({ _id: id as never });
  const entries = (warehouse: Db, table: string, id: number) => warehouse.collection('change_log').find({ table, 'key.id': id }).sort({ version: 1 }).toArray();

  beforeAll(async () => {
    shop = await ShopRows.connect(engines().postgres, 'Warehouse');
    db = shop.db;
    kafka = new Kafka({ clientId: runId, brokers: engines().kafka.split(','), logLevel: logLevel.NOTHING });
    mongo = new MongoClient(engines().mongodb);
    await mongo.connect();
    await waitForConnector();
  });

  afterAll(async () => {
    await shop.close();
    await deleteGroupsAndTopics(kafka, { groups, topics: [deadLetterTopic] });
    for (const name of databases) await mongo.db(name).dropDatabase().catch(() => undefined);
    await mongo.close();
  });

  it('the catalog types exactly the NUMERIC, int8, date and timestamp columns of the live schema', async () => {
    const { rows } = await db.query<{ table_name: string; column_name: string; data_type: string }>(
      `SELECT table_name, column_name, data_type FROM information_schema.columns
       WHERE table_schema = 'public' AND table_name = ANY($1)
         AND data_type IN ('numeric', 'bigint', 'date', 'timestamp with time zone', 'timestamp without time zone')`,
      [Object.keys(TABLE_CATALOG)],
    );
    const kind = (type: string) => (type === 'numeric' ? 'decimal' : type === 'bigint' ? 'int8' : type === 'date' ? 'date' : 'timestamp');
    const live: Record<string, Record<string, string>> = {};
    for (const row of rows) (live[row.table_name] ??= {})[row.column_name] = kind(row.data_type);
    const catalog = Object.fromEntries(Object.entries(TABLE_CATALOG).map(([table, definition]) => [table, { ...definition.columns }]));
    expect(catalog).toEqual(live);
  });

  it('follows inserts, updates, soft deletes, a re-insert, a primary-key change, TOAST, exact money', async () => {
    const database = `${runId}-flow`.replace(/[^A-Za-z0-9_-]/g, '_');
    const pipeline = await startPipeline(database);
    const warehouse = mongo.db(database);
    try {
      const customerId = await shop.insertCustomer(`${runId}-flow`);
      const { rows: [product] } = await db.query<{ id: number }>(
        `INSERT INTO products (sku, name, description, category, price, stock_quantity, low_stock_threshold)
         VALUES ($1, 'Warehouse widget', 'short', 'test', 19.99, 40, 5) RETURNING id`, [`${runId}-P1`]);
      shop.created.products.push(product!.id);
      // The largest numeric(12,2): a double would print 9999999999.99 but sum it wrongly.
      const orderId = await shop.insertOrder(customerId, `${runId}-ORD-1`, '9999999999.99');
      const { rows: [item] } = await db.query<{ id: number }>('INSERT INTO order_items (order_id, product_id, quantity, unit_price) VALUES ($1, $2, 3, 0.10) RETURNING id', [orderId, product!.id]);

      await expect.poll(async () => (await current(warehouse, 'orders', orderId))?.total_amount?.toString(), { timeout: 60_000 }).toBe('9999999999.99');
      const order = (await current(warehouse, 'orders', orderId))!;
      expect(order.total_amount).toBeInstanceOf(Decimal128);
      expect(order.created_at).toBeInstanceOf(Date);
      expect(order._exact.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
      expect(order._cdc).toMatchObject({ version_number: 1, op: 'create', deleted: false });
      await expect.poll(async () => (await current(warehouse, 'order_items', item!.id))?.unit_price?.toString(), { timeout: 30_000 }).toBe('0.10');

      await db.query(`UPDATE orders SET status = 'shipped' WHERE id = $1`, [orderId]);
      await expect.poll(async () => (await current(warehouse, 'orders', orderId))?.status, { timeout: 30_000 }).toBe('shipped');
      const [created, shipped] = await entries(warehouse, 'orders', orderId);
      expect(created).toMatchObject({ op: 'create', version_number: 1, before: null });
      expect(shipped).toMatchObject({ op: 'update', version_number: 2 });
      expect(shipped!.changed_fields).toEqual(expect.arrayContaining(['status', 'updated_at']));
      expect(shipped!.changed_fields).not.toContain('total_amount');
      expect([shipped!.before.status, shipped!.after.status]).toEqual(['pending', 'shipped']);
      expect(typeof shipped!.tx_id).toBe('number');
      expect(shipped!.kafka.topic).toBe('ecommerce.public.orders');

      // TOAST: a long description stored out of line, then an update that leaves it untouched.
      const longText = (await db.query<{ text: string }>(`SELECT string_agg(md5(i::text), ' ') AS text FROM generate_series(1, 400) i`)).rows[0]!.text;
      await db.query('UPDATE products SET description = $2 WHERE id = $1', [product!.id, longText]);
      await expect.poll(async () => (await current(warehouse, 'products', product!.id))?.description, { timeout: 30_000 }).toBe(longText);
      await db.query('UPDATE products SET price = 24.50 WHERE id = $1', [product!.id]);
      await expect.poll(async () => (await current(warehouse, 'products', product!.id))?.price?.toString(), { timeout: 30_000 }).toBe('24.50');
      expect((await current(warehouse, 'products', product!.id))!.description).toBe(longText);
      const priceChange = (await entries(warehouse, 'products', product!.id)).at(-1)!;
      expect(priceChange.after.description).toBe(longText); // history has the full row too
      expect(priceChange.changed_fields).not.toContain('description');

      // Soft delete: the rows stay, marked deleted with the delete's LSN.
      await db.query('DELETE FROM order_items WHERE id = $1', [item!.id]);
      await db.query('DELETE FROM orders WHERE id = $1', [orderId]);
      await expect.poll(async () => (await current(warehouse, 'orders', orderId))?._cdc?.deleted, { timeout: 30_000 }).toBe(true);
      const deleted = (await current(warehouse, 'orders', orderId))!;
      expect(deleted.status).toBe('shipped');
      expect(deleted._cdc.deleted_lsn).toBe(deleted._cdc.lsn);
      expect((await current(warehouse, 'order_items', item!.id))!._cdc.deleted).toBe(true);

      // Re-insert of the same key: revived as a new version.
      await db.query(`INSERT INTO orders (id, customer_id, order_number, total_amount, status, payment_method) VALUES ($1, $2, $3, 5.00, 'pending', 'paypal')`, [orderId, customerId, `${runId}-ORD-1b`]);
      await expect.poll(async () => (await current(warehouse, 'orders', orderId))?._cdc?.deleted, { timeout: 30_000 }).toBe(false);
      const revived = (await current(warehouse, 'orders', orderId))!;
      expect(revived._cdc).toMatchObject({ version_number: 4, op: 'create', deleted_lsn: null });
      expect(revived.order_number).toBe(`${runId}-ORD-1b`);
      expect((await entries(warehouse, 'orders', orderId)).map((entry) => entry.op)).toEqual(['create', 'update', 'delete', 'create']);

      // Primary-key change: Debezium sends delete(old key) + tombstone + create(new key).
      const newId = (await db.query<{ id: number }>(`SELECT nextval(pg_get_serial_sequence('products', 'id'))::int AS id`)).rows[0]!.id;
      await db.query('UPDATE products SET id = $2 WHERE id = $1', [product!.id, newId]);
      shop.created.products.push(newId);
      await expect.poll(async () => (await current(warehouse, 'products', newId))?.sku, { timeout: 30_000 }).toBe(`${runId}-P1`);
      expect((await current(warehouse, 'products', product!.id))!._cdc.deleted).toBe(true);
      expect((await current(warehouse, 'products', newId))!.description).toBe(longText);
    } finally {
      await pipeline.stop();
    }
  });

  it('keeps int8 over its whole range and wide NUMERIC exactly, through a real connector on a scratch table', async () => {
    // The shop schema has no int8 column: a scratch table under a temporary connector (the project's config).
    const table = `wh_types_${runId}`.replace(/[^a-z0-9_]/gi, '_').toLowerCase();
    await db.query(`CREATE TABLE ${table} (id integer PRIMARY KEY, big bigint, amount numeric(32,6), at timestamptz)`);
    await db.query(`ALTER TABLE ${table} REPLICA IDENTITY FULL`);
    await db.query(`INSERT INTO ${table} VALUES (1, 9223372036854775807, 12345678901234567890.123456, '2026-11-24T10:00:00.123456Z')`);
    const connector = await captureTable(db, kafka, runId, table);
    const database = `${runId}-types`.replace(/[^A-Za-z0-9_-]/g, '_');
    databases.push(database);
    const catalog = { ...TABLE_CATALOG, [table]: { primaryKey: ['id'], columns: { big: 'int8', amount: 'decimal', at: 'timestamp' } } } as const;
    const sink = new WarehouseSink({ config: { url: engines().mongodb, database, requestTimeoutMs: 5_000, startupWaitMs: 30_000 }, logger, catalog });
    const groupId = `${runId}-types`;
    groups.push(groupId);
    await sink.start();
    const runner = new Runner({ consumerName: 'warehouse', brokers: engines().kafka.split(','), groupId, topics: [connector.topic], fromBeginning: true, deadLetterTopic, sink, logger, retry: { initialMs: 100, maxMs: 2_000 } });
    await runner.start();
    try {
      await db.query(`INSERT INTO ${table} VALUES (2, -9223372036854775808, 0.000001, '1999-12-31T23:59:59.999999Z')`);
      await db.query(`UPDATE ${table} SET big = 9007199254740993, amount = amount + 0.000001 WHERE id = 1`);
      const read = async (id: number) => mongo.db(database).collection(table).findOne({ _id: id as never }, { promoteLongs: false });
      await expect.poll(async () => (await read(1))?._cdc?.version_number, { timeout: 60_000 }).toBe(2);
      await expect.poll(async () => (await read(2)) !== null, { timeout: 30_000 }).toBe(true);
      const [one, two] = [(await read(1))!, (await read(2))!];
      expect([(one.big as Long).toBigInt(), one.amount.toString()]).toEqual([9007199254740993n, '12345678901234567890.123457']);
      expect([(two.big as Long).toBigInt(), two.amount.toString(), two._exact.at]).toEqual([-9223372036854775808n, '0.000001', '1999-12-31T23:59:59.999999Z']);
      const [snapshot, change] = await mongo.db(database).collection('change_log').find({ table, 'key.id': 1 }, { promoteLongs: false }).sort({ version: 1 }).toArray();
      expect(snapshot!.op).toBe('read');
      expect((snapshot!.after.big as Long).toBigInt()).toBe(9223372036854775807n);
      expect((change!.before.big as Long).toBigInt()).toBe(9223372036854775807n);
      expect(change!.changed_fields).toEqual(['big', 'amount']);
      expect((await rowAsOf(mongo.db(database), table, 1, change!.commit_time_us, catalog)).row).toEqual({ id: 1, big: '9007199254740993', amount: '12345678901234567890.123457', at: '2026-11-24T10:00:00.123456Z' });
    } finally {
      await runner.stop();
      await sink.close();
      await connector.drop();
    }
  }, 240_000);

  it('a replay of every topic from offset 0 leaves current state and change_log identical, every event refused as stale', async () => {
    const database = `${runId}-replay`.replace(/[^A-Za-z0-9_-]/g, '_');
    const customerId = await shop.insertCustomer(`${runId}-replay`);
    for (let i = 0; i < 4; i++) await shop.insertOrder(customerId, `${runId}-R-${i}`, `${100 + i}.25`);
    await db.query(`UPDATE orders SET status = 'paid' WHERE order_number = $1`, [`${runId}-R-2`]);
    await db.query(`DELETE FROM orders WHERE order_number = $1`, [`${runId}-R-3`]);
    const warehouse = mongo.db(database);
    const dump = async () => {
      const out: Record<string, Document[]> = {};
      for (const name of ['customers', 'products', 'orders', 'order_items', 'change_log', 'warehouse_meta']) {
        out[name] = await warehouse.collection(name).find().sort({ _id: 1 }).toArray();
      }
      return out;
    };
    // Other suites may write to the shared database meanwhile: a comparison counts only if no
    // event arrived between the two runs (same high watermarks), so try a few quiet windows.
    for (let attempt = 1; ; attempt++) {
      const first = await startPipeline(database);
      const marks = await caughtUp(first.groupId);
      await first.stop();
      const before = await dump();

      const replay = await startPipeline(database);
      const replayMarks = await caughtUp(replay.groupId);
      await replay.stop();
      const after = await dump();
      if (JSON.stringify([...replayMarks]) !== JSON.stringify([...marks]) && attempt < 3) continue;
      expect(JSON.stringify([...replayMarks])).toBe(JSON.stringify([...marks]));

      expect(before.orders!.length).toBeGreaterThan(300);
      expect(after).toEqual(before);
      expect(replay.sink.applied).toBe(0);
      expect(replay.sink.stale).toBe(first.sink.applied + first.sink.stale);
      // Exactly one change_log entry per Kafka message that changed a row.
      const positions = after.change_log!.filter((entry) => entry.op !== 'truncate').map((entry) => `${entry.kafka.topic}:${entry.kafka.partition}:${entry.kafka.offset}`);
      expect(new Set(positions).size).toBe(positions.length);
      expect(positions.length).toBe(first.sink.applied);
      const r2 = after.orders!.find((row) => row.order_number === `${runId}-R-2`)!;
      expect([r2.status, r2._cdc.version_number]).toEqual(['paid', 2]);
      expect(after.orders!.find((row) => row.order_number === `${runId}-R-3`)!._cdc.deleted).toBe(true);
      break;
    }
  });

  it('time travel reads every past version of a row back exactly, to the microsecond', async () => {
    const database = `${runId}-travel`.replace(/[^A-Za-z0-9_-]/g, '_');
    const pipeline = await startPipeline(database);
    const warehouse = mongo.db(database);
    try {
      const customerId = await shop.insertCustomer(`${runId}-travel`);
      const clock = async () => (await db.query<{ now: string }>(`SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS now`)).rows[0]!.now;
      const pause = () => new Promise((resolve) => setTimeout(resolve, 300));
      /** [time before the change, time after its commit, the row right after] per version. */
      const versions: { before: string; after: string; row: Record<string, unknown> | null }[] = [];
      const change = async (sql: string, params: unknown[]) => {
        const before = await clock();
        const { rows } = await db.query(sql, params);
        const after = await clock();
        const id = (rows[0] as { id?: number } | undefined)?.id ?? (params[0] as number);
        const row = (await db.query(ORDER_AS_EVENT, [id])).rows[0] ?? null;
        versions.push({ before, after, row });
        await pause();
        return id;
      };
      await pause();
      const orderId = await change(`INSERT INTO orders (customer_id, order_number, total_amount, status, payment_method) VALUES ($1, $2, 0.10, 'pending', 'card') RETURNING id`, [customerId, `${runId}-TT`]);
      shop.created.orders.push(orderId);
      await change(`UPDATE orders SET total_amount = 0.30, status = 'paid' WHERE id = $1`, [orderId]);
      await change(`UPDATE orders SET status = 'shipped', notes = 'left at the door' WHERE id = $1`, [orderId]);
      await change(`DELETE FROM orders WHERE id = $1`, [orderId]);
      await expect.poll(async () => (await entries(warehouse, 'orders', orderId)).length, { timeout: 60_000 }).toBe(4);

      const history = await rowHistory(warehouse, 'orders', orderId);
      expect(history.map((v) => v.op)).toEqual(['create', 'update', 'update', 'delete']);
      const beforeAll = versions[0]!.before;
      expect((await rowAsOf(warehouse, 'orders', orderId, beforeAll)).exists).toBe(false);
      for (const [i, version] of versions.entries()) {
        const commit = history[i]!.commitTimeUs;
        // The commit time recorded is PostgreSQL's own, between the clock readings around the statement.
        expect(commit >= version.before && commit <= version.after).toBe(true);
        // Right after the commit, exactly at it, and one microsecond before it.
        const atAfter = await rowAsOf(warehouse, 'orders', orderId, version.after);
        const atCommit = await rowAsOf(warehouse, 'orders', orderId, commit);
        const justBefore = await rowAsOf(warehouse, 'orders', orderId, minusOneMicro(commit));
        expect(atAfter.row).toEqual(version.row);
        expect(atCommit.row).toEqual(version.row);
        expect(atCommit.version?.versionNumber).toBe(i + 1);
        expect(justBefore.row).toEqual(i === 0 ? null : versions[i - 1]!.row);
      }
      // The whole table as of the second version's time holds that version of our order.
      const table = await tableAsOf(warehouse, 'orders', versions[1]!.after);
      expect(table.find((row) => row.id === orderId)).toEqual(versions[1]!.row);
      expect((await tableAsOf(warehouse, 'orders', versions[3]!.after)).find((row) => row.id === orderId)).toBeUndefined();

      // The commands print the same.
      const env = { ...process.env, MONGODB_URL: engines().mongodb, WAREHOUSE_DATABASE: database };
      const asOf = await run('npx', ['tsx', 'scripts/warehouse-as-of.ts', 'orders', String(orderId), versions[2]!.after], { env });
      expect(JSON.parse(asOf.stdout).row).toEqual(versions[2]!.row);
      const gone = await run('npx', ['tsx', 'scripts/warehouse-as-of.ts', 'orders', String(orderId), versions[3]!.after], { env }).catch((error: { code: number; stderr: string }) => error);
      expect((gone as { code: number }).code).toBe(1);
      expect((gone as { stderr: string }).stderr).toContain('did not exist');
      const printed = await run('npx', ['tsx', 'scripts/warehouse-history.ts', 'orders', String(orderId)], { env });
      expect(printed.stdout).toContain(`#2  ${history[1]!.commitTimeUs}  update`);
      expect(printed.stdout).toContain('total_amount: "0.10" -> "0.30"');
      expect(printed.stdout).toContain('#4');
    } finally {
      await pipeline.stop();
    }
  });

  it("the seed's four mongosh commands run verbatim through the real mongosh and print the warehouse", async () => {
    // The consumer's own database, ecommerce_warehouse, written the way `npm run consumer:warehouse` does.
    const pipeline = await startPipeline('ecommerce_warehouse');
    try {
      const customerId = await shop.insertCustomer(`${runId}-seed`);
      const orderId = await shop.insertOrder(customerId, `${runId}-SEED`);
      await caughtUp(pipeline.groupId);
      expect(await mongo.db('ecommerce_warehouse').collection('orders').countDocuments({ _id: orderId as never })).toBe(1);
    } finally {
      await pipeline.stop();
    }
    const url = new URL(engines().mongodb);
    // `mongosh -u admin -p admin123` as the seed has it; a stack on shifted ports also needs its port.
    const args = ['mongosh', '-u', 'admin', '-p', 'admin123', ...(url.port && url.port !== '27017' ? ['--port', url.port] : [])];
    const child = execFile('npx', args, { timeout: 120_000, env: { ...process.env, MONGOSH_NO_TELEMETRY: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk) => (stdout += chunk));
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    child.stdin!.end('use ecommerce_warehouse\ndb.orders.find().pretty()\ndb.change_log.find().sort({timestamp: -1}).limit(10).pretty()\n');
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect({ code, stderr: stderr.replace(/Deprecation warnings[\s\S]*$/, '').trim() }).toEqual({ code: 0, stderr: '' });
    expect(stdout).toContain('Using MongoDB:');
    expect(stdout).toContain('switched to db ecommerce_warehouse');
    // mongosh prints each command's answer after the prompt (piped input is not echoed).
    const [, ordersPart = '', changeLogPart = ''] = stdout.split('ecommerce_warehouse> ');
    // The orders, typed: exact money, dates, bookkeeping.
    expect(ordersPart).toMatch(/total_amount: Decimal128\('\d+\.\d\d'\)/);
    expect(ordersPart).toMatch(/created_at: ISODate\('\d{4}-/);
    expect(ordersPart).toContain('_cdc: {');
    // change_log, newest first: ten entries with table, op and timestamps that never increase.
    const stamps = [...changeLogPart.matchAll(/timestamp: ISODate\('([^']+)'\)/g)].map((match) => match[1]!);
    expect(stamps.length).toBe(10);
    expect([...stamps].sort().reverse()).toEqual(stamps);
    expect(changeLogPart).toMatch(/op: '(create|update|delete|read|truncate)'/);
  }, 240_000);

  describe('with MongoDB down for 30 s', () => {
    it('loses nothing: every change made during the outage is in the warehouse after it comes back', async () => {
      const database = `${runId}-outage`.replace(/[^A-Za-z0-9_-]/g, '_');
      const pipeline = await startPipeline(database);
      const warehouse = mongo.db(database);
      let stopped = false;
      try {
        const customerId = await shop.insertCustomer(`${runId}-outage`);
        const firstOrder = await shop.insertOrder(customerId, `${runId}-O-0`);
        await expect.poll(() => current(warehouse, 'orders', firstOrder), { timeout: 60_000 }).not.toBeNull();

        stopEngine('mongodb');
        stopped = true;
        const outageEnds = Date.now() + 30_000;
        const during: number[] = [];
        for (let i = 1; Date.now() < outageEnds; i++) {
          during.push(await shop.insertOrder(customerId, `${runId}-O-${i}`, `${i}.99`));
          if (i % 2 === 0) await db.query(`UPDATE orders SET status = 'paid' WHERE id = $1`, [during.at(-2)]);
          await new Promise((resolve) => setTimeout(resolve, 1_000));
        }
        await db.query(`UPDATE orders SET status = 'cancelled' WHERE id = $1`, [firstOrder]);
        expect(during.length).toBeGreaterThan(10);
        expect(await pipeline.sink.isReady()).toBe(false);
        startEngine('mongodb');
        stopped = false;

        const all = [firstOrder, ...during];
        const { rows: expected } = await db.query<{ id: number; status: string; total_amount: string }>(
          'SELECT id, status, total_amount::text AS total_amount FROM orders WHERE id = ANY($1) ORDER BY id', [all]);
        const view = async () => {
          const rows = await warehouse.collection('orders').find({ _id: { $in: all } } as Document).sort({ _id: 1 }).toArray();
          return rows.map((row) => ({ id: row._id, status: row.status, total_amount: row.total_amount.toString() }));
        };
        await expect.poll(view, { timeout: 120_000, interval: 1_000 }).toEqual(expected);
        // And every version is in change_log: creates, the paid updates, the cancel.
        const paid = expected.filter((row) => row.status === 'paid').length;
        await expect.poll(() => warehouse.collection('change_log').countDocuments({ table: 'orders', 'key.id': { $in: all } } as Document), { timeout: 30_000 }).toBe(all.length + paid + 1);
      } finally {
        if (stopped) startEngine('mongodb');
        await pipeline.stop();
      }
    }, 300_000);
  });
});

/** An ISO instant with microseconds, one microsecond earlier. */
function minusOneMicro(iso: string): string {
  const millis = Date.parse(`${iso.slice(0, 19)}Z`);
  const micros = BigInt(millis) * 1000n + BigInt(iso.slice(20, 26)) - 1n;
  const seconds = micros / 1_000_000n;
  const fraction = (micros % 1_000_000n).toString().padStart(6, '0');
  return `${new Date(Number(seconds) * 1000).toISOString().slice(0, 19)}.${fraction}Z`;
}
