/**
 * `npm run consumer:warehouse` as users run it (consumers/warehouse/main.ts, a real process on the
 * real stack): it starts, reports ready on its health port, writes a new order into MongoDB, and on
 * SIGTERM finishes, commits and exits 0. A bad variable stops it at start-up naming the variable.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { MongoClient } from 'mongodb';
import { afterAll, describe, expect, it } from 'vitest';
import { engines, requireEngines, uniqueName } from '../helpers/engines.js';
import { deleteGroupsAndTopics } from '../helpers/kafka-admin.js';
import { waitForConnector } from '../helpers/pipeline.js';
import { ShopRows } from '../helpers/shop-rows.js';

const ROOT = resolve(import.meta.dirname, '../..');

describe.runIf(requireEngines('postgres', 'kafka', 'connect', 'mongodb'))('npm run consumer:warehouse (real process)', () => {
  const run = uniqueName('wh-process');
  const database = run.replace(/[^A-Za-z0-9_-]/g, '_');
  const groupId = `${run}-group`;
  const dlq = `${run}.dlq`;

  afterAll(async () => {
    const kafka = new Kafka({ clientId: run, brokers: engines().kafka.split(','), logLevel: logLevel.NOTHING });
    await deleteGroupsAndTopics(kafka, { groups: [groupId], topics: [dlq] });
    const mongo = new MongoClient(engines().mongodb);
    await mongo.db(database).dropDatabase().catch(() => undefined);
    await mongo.close();
  });

  function start(extraEnv: Record<string, string>) {
    // What `npm run consumer:warehouse` runs; without npm in between, the signal and the exit code are the consumer's own.
    const script = JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8')).scripts['consumer:warehouse'] as string;
    const [command, ...args] = script.split(' ');
    const child = spawn(resolve(ROOT, 'node_modules/.bin', command!), args, {
      cwd: ROOT,
      env: {
        ...process.env,
        KAFKA_BROKERS: engines().kafka,
        MONGODB_URL: engines().mongodb,
        WAREHOUSE_DATABASE: database,
        WAREHOUSE_CONSUMER_GROUP: groupId,
        WAREHOUSE_DLQ_TOPIC: dlq,
        WAREHOUSE_HEALTH_PORT: '0',
        LOG_LEVEL: 'info',
        ...extraEnv,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const exited = new Promise<number | null>((resolvePromise) => child.on('exit', (code) => resolvePromise(code)));
    return { child, exited, output: () => output };
  }

  it('starts, is ready, writes a new order, and exits 0 on SIGTERM', async () => {
    await waitForConnector();
    const shop = await ShopRows.connect(engines().postgres, 'Warehouse');
    const consumer = start({});
    const mongo = new MongoClient(engines().mongodb);
    try {
      await expect.poll(() => /consumer:warehouse running/.test(consumer.output()), { timeout: 120_000 }).toBe(true);
      const port = Number(/"healthPort":(\d+)/.exec(consumer.output())?.[1]);
      await expect.poll(async () => (await fetch(`http://127.0.0.1:${port}/ready`).catch(() => null))?.status, { timeout: 60_000 }).toBe(200);
      const customerId = await shop.insertCustomer(`${run}`);
      const orderId = await shop.insertOrder(customerId, `${run}-ORD`, '25000.00');
      await expect.poll(async () => (await mongo.db(database).collection('orders').findOne({ _id: orderId as never }))?.total_amount?.toString(), { timeout: 120_000 }).toBe('25000.00');
      consumer.child.kill('SIGTERM');
      expect(await consumer.exited).toBe(0);
    } finally {
      if (consumer.child.exitCode === null) consumer.child.kill('SIGKILL');
      await mongo.close();
      await shop.close();
    }
  }, 300_000);

  it('a bad variable stops it at start-up, naming the variable', async () => {
    const consumer = start({ WAREHOUSE_DATABASE: 'not.allowed' });
    expect(await consumer.exited).toBe(1);
    expect(consumer.output()).toContain('WAREHOUSE_DATABASE');
  }, 60_000);
});
