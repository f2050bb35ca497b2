/**
 * `npm run verify` on the real stack: the three sink consumers as real processes (each with its
 * own group and sink namespace, see SINK_ISOLATION), caught up on the shop data from the start of
 * the captured topics; then the real CLI as a child process. Clean sinks exit 0; after drift made
 * by hand in each sink (a deleted Elasticsearch document, a deleted Redis row key, an order total
 * changed in the warehouse, a product price changed in Elasticsearch) it exits 1 and names exactly
 * those rows and fields, in text and in --json. Also: PostgreSQL's exact values as verify reads
 * them, and the exit code 2 cases.
 */
import { execFile } from 'node:child_process';
import { Kafka, logLevel } from 'kafkajs';
import { Decimal128, MongoClient } from 'mongodb';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engines, requireEngines, uniqueName } from '../helpers/engines.js';
import { deleteGroupsAndTopics } from '../helpers/kafka-admin.js';
import { cleanSinks, isolatedRun, ROOT, startConsumer, stopConsumer, waitReady, type ConsumerProcess, type IsolatedRun } from '../helpers/operator-processes.js';
import { waitForConnector, waitUntilCaughtUp } from '../helpers/pipeline.js';
import { ShopRows } from '../helpers/shop-rows.js';
import { sourceValue } from '../../scripts/verify/source-rows.js';
import type { DriftItem, VerifyReport } from '../../scripts/verify/verify.js';

const SINKS = ['elasticsearch', 'redis', 'warehouse'] as const;

interface CliResult { code: number; stdout: string; stderr: string }

function runVerify(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((done) => {
    execFile(process.execPath, ['--import', 'tsx', 'scripts/verify/main.ts', ...args], { cwd: ROOT, env, timeout: 150_000, maxBuffer: 32 * 1024 * 1024 }, (error, stdout, stderr) => {
      done({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

describe.runIf(requireEngines('postgres', 'kafka', 'connect', 'elasticsearch', 'redis', 'mongodb'))('npm run verify against the real sinks', () => {
  const run = uniqueName('verify');
  let isolated: IsolatedRun;
  let kafka: Kafka;
  let db: pg.Client;
  const consumers: ConsumerProcess[] = [];

  beforeAll(async () => {
    await waitForConnector();
    kafka = new Kafka({ clientId: run, brokers: engines().kafka.split(','), logLevel: logLevel.NOTHING });
    isolated = await isolatedRun(run, SINKS, { FROM_BEGINNING: 'true', LOG_LEVEL: 'warn' });
    db = new pg.Client({ connectionString: engines().postgres });
    await db.connect();
    for (const sink of SINKS) consumers.push(startConsumer(sink, isolated.env));
    for (const consumer of consumers) await waitReady(isolated.healthPorts[consumer.name]!, 120_000, consumer);
    for (const sink of SINKS) await waitUntilCaughtUp(kafka, isolated.groups[sink]!, 240_000);
  }, 420_000);

  afterAll(async () => {
    for (const consumer of consumers) await stopConsumer(consumer);
    await db?.end();
    if (isolated) {
      await deleteGroupsAndTopics(kafka, { groups: Object.values(isolated.groups), topics: Object.values(isolated.deadLetterTopics) });
      await cleanSinks(run);
    }
  }, 120_000);

  it('reads PostgreSQL values exactly (the SQL casts verify uses)', async () => {
    const { rows } = await db.query<Record<string, string>>(`
      SELECT (9007199254740993::int8)::text AS big, (1.50::numeric(12,2))::text AS price,
             to_char(timestamptz '2026-11-24 09:15:38.123456+02' AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at,
             ('{"z": 1, "a": 12345678901234567890}'::jsonb)::text AS doc`);
    const row = rows[0]!;
    expect(sourceValue('int8', row.big!)).toBe('9007199254740993');
    expect(sourceValue('numeric', row.price!)).toBe('1.50');
    expect(sourceValue('timestamptz', row.at!)).toBe('2026-11-24T07:15:38.123456Z');
    expect(sourceValue('jsonb', row.doc!)).toEqual({ a: '12345678901234567890', z: 1 });
  });

  it('exits 0 when every sink equals the source, then 0 while changes are in flight, then 1 naming each row and field drifted by hand', async () => {
    const clean = await runVerify([], isolated.env);
    expect(clean.stderr).toBe('');
    expect(clean.code, clean.stdout).toBe(0);
    expect(clean.stdout).toContain('OK: every verified sink equals the source');
    for (const sink of SINKS) for (const table of ['customers', 'products', 'orders', 'order_items']) expect(clean.stdout).toMatch(new RegExp(`${sink}\\s+${table}\\s+[1-9]\\d*\\s+0\\s+0\\s+0\\s+0`));

    // Changes in flight while verify runs are not drift: rows of this test's own, updated in a loop.
    const shop = await ShopRows.connect(engines().postgres, 'Verify');
    try {
      const customerOfRun = await shop.insertCustomer(`${run}-customer`);
      const ordersOfRun = [];
      for (let i = 0; i < 5; i++) ordersOfRun.push(await shop.insertOrder(customerOfRun, `${run}-order-${i}`));
      // A burst of updates that overlaps verify's snapshot and first pass, then stops: verify must
      // wait for the consumers rather than report the rows (under updates that never stop, a row
      // that is always newer in the sink stays unsettled and is reported at the settle timeout).
      const burstEnd = Date.now() + 6_000;
      const updates = (async () => {
        for (let n = 0; Date.now() < burstEnd; n++) {
          await shop.db.query("UPDATE orders SET total_amount = total_amount + 0.01, notes = $2 WHERE id = $1", [ordersOfRun[n % ordersOfRun.length], `in flight ${n}`]);
          await new Promise((done) => setTimeout(done, 20));
        }
      })();
      await new Promise((done) => setTimeout(done, 1_000));
      const inFlight = await runVerify(['--json', '--settle-seconds', '90'], isolated.env);
      await updates;
      expect(inFlight.code, inFlight.stdout.slice(0, 3000) + inFlight.stderr).toBe(0);
      expect((JSON.parse(inFlight.stdout) as VerifyReport).settledBy).toBe('kafka');
    } finally {
      await shop.close();
    }

    // The rows to drift: real shop rows.
    // The deletes of this test's own rows must have reached the sinks before the next runs.
    for (const sink of SINKS) await waitUntilCaughtUp(kafka, isolated.groups[sink]!, 120_000);
    const customer = (await db.query<{ id: number }>('SELECT id FROM customers ORDER BY id LIMIT 1')).rows[0]!.id;
    const orders = (await db.query<{ id: number }>('SELECT id FROM orders ORDER BY id LIMIT 2')).rows.map((r) => r.id);
    const product = (await db.query<{ id: number; price: string }>('SELECT id, price::text AS price FROM products ORDER BY id LIMIT 1')).rows[0]!;
    const [redisOrder, warehouseOrder] = [orders[0]!, orders[1]!];
    const es = engines().elasticsearch.replace(/\/$/, '');
    const esPrefix = isolated.env.ES_INDEX_PREFIX!;
    expect((await fetch(`${es}/${esPrefix}customers_v1/_doc/${customer}?refresh=true`, { method: 'DELETE' })).status).toBe(200);
    const priceChange = await fetch(`${es}/${esPrefix}products_v1/_update/${product.id}?refresh=true`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ doc: { price: '0.01' } }),
    });
    expect(priceChange.status).toBe(200);
    const redis = new Redis(engines().redis);
    try {
      expect(await redis.del(`${isolated.env.REDIS_KEY_PREFIX}order:${redisOrder}`)).toBe(1);
    } finally {
      redis.disconnect();
    }
    const mongo = new MongoClient(engines().mongodb);
    try {
      await mongo.connect();
      const result = await mongo.db(isolated.env.WAREHOUSE_DATABASE).collection('orders').updateOne({ _id: warehouseOrder } as never, { $set: { total_amount: Decimal128.fromString('0.01') } });
      expect(result.modifiedCount).toBe(1);
    } finally {
      await mongo.close();
    }

    const drifted = await runVerify(['--settle-seconds', '60'], isolated.env);
    expect(drifted.code, drifted.stdout + drifted.stderr).toBe(1);
    expect(drifted.stdout).toContain(`elasticsearch  customers  key ${customer}  MISSING`);
    expect(drifted.stdout).toContain(`elasticsearch  products  key ${product.id}  field price: source "${product.price}", sink "0.01"`);
    expect(drifted.stdout).toContain(`redis  orders  key ${redisOrder}  MISSING`);
    expect(drifted.stdout).toMatch(new RegExp(`warehouse  orders  key ${warehouseOrder}  field total_amount: source "[0-9.]+", sink "0.01"`));

    const json = await runVerify(['--json', '--settle-seconds', '60'], isolated.env);
    expect(json.code, json.stderr).toBe(1);
    const report = JSON.parse(json.stdout) as VerifyReport;
    expect(report.ok).toBe(false);
    expect(report.settledBy).toBe('kafka');
    const named = (item: DriftItem) => [item.sink, item.table, item.key, item.kind, item.field ?? null];
    // Exactly the four drifted rows: nothing else cries wolf.
    expect(report.drift.map(named).sort()).toEqual([
      ['elasticsearch', 'customers', String(customer), 'missing', null],
      ['elasticsearch', 'products', String(product.id), 'field', 'price'],
      ['redis', 'orders', String(redisOrder), 'missing', null],
      ['warehouse', 'orders', String(warehouseOrder), 'field', 'total_amount'],
    ].sort());
    const summary = (sink: string, table: string) => report.summaries.find((s) => s.sink === sink && s.table === table)!;
    expect(summary('elasticsearch', 'customers').missing).toBe(1);
    expect(summary('warehouse', 'orders').differing).toBe(1);
  }, 400_000);

  it('exits 2 with a clear message on a usage or connection error', async () => {
    const usage = await runVerify(['--sink', 'kibana'], isolated.env);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('unknown sink kibana');
    const down = await runVerify(['--sink', 'redis'], { ...isolated.env, POSTGRES_URL: 'postgres://postgres:postgres@127.0.0.1:1/ecommerce' });
    expect(down.code).toBe(2);
    expect(down.stderr).toMatch(/PostgreSQL \(postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/ecommerce\) does not answer/);
    const redisDown = await runVerify(['--sink', 'redis'], { ...isolated.env, REDIS_URL: 'redis://127.0.0.1:1' });
    expect(redisDown.code).toBe(2);
    expect(redisDown.stderr).toContain('redis: Redis does not answer');
  }, 120_000);
});
