/**
 * How fast `npm run verify` checks a large table, per sink (`npm run bench:verify`).
 *
 *   npm run bench:verify                       (100,000 products)
 *   BENCH_VERIFY_ROWS=20000 npm run bench:verify
 *   BENCH_VERIFY_KEEP=1 npm run bench:verify   (keeps the rows and namespaces, printed, for profiling;
 *                                              clean up with BENCH_VERIFY_CLEAN=<run> npm run bench:verify)
 *
 * 1. Inserts BENCH_VERIFY_ROWS products into the stack's `ecommerce` database in one statement
 *    (sku `bench-verify-<run>-<n>`), so they flow through Debezium like any change.
 * 2. Starts the three sink consumers as processes (npm run consumer:<name>), each in a group of
 *    its own that reads the captured topics from the beginning, into a namespace of its own
 *    (ES_INDEX_PREFIX, REDIS_KEY_PREFIX, WAREHOUSE_DATABASE), and waits until each has passed the
 *    WAL position after the insert (the same check verify's settle step uses, sink-progress.ts).
 * 3. Stops the consumers (so they do not share the 2 cores with verify), then runs verify on the
 *    products table for each sink alone and prints rows, seconds and rows/s (target: 100k rows per
 *    sink in under 30 s), and that the result was clean.
 * 4. Cleans up whatever happens: deletes the inserted products (their deletes flow through CDC
 *    like any other), the consumers' groups and dead-letter topics, and the run's namespaces.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import pg from 'pg';
import { consumerEnvPrefix, loadConfig, loadDotenv } from '../../consumers/core/config.js';
import { deletePrefix } from '../../consumers/redis/cache-dump.js';
import { SinkProgress } from '../verify/sink-progress.js';
import { lsnToDecimal } from '../verify/source-rows.js';
import { verify, type VerifySinkName } from '../verify/verify.js';
import { freePort } from './pipeline/consumer-processes.js';

const ROOT = resolve(import.meta.dirname, '../..');
const ROWS = Number(process.env.BENCH_VERIFY_ROWS ?? 100_000);
const SINKS: VerifySinkName[] = ['elasticsearch', 'redis', 'warehouse'];
const TARGET_SECONDS = 30;

loadDotenv(resolve(ROOT, '.env'));
const env = process.env;
const postgresUrl = env.POSTGRES_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432/ecommerce';
const brokers = (env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const esUrl = (env.ELASTICSEARCH_URL ?? 'http://127.0.0.1:9200').replace(/\/$/, '');
const redisUrl = env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const mongoUrl = env.MONGODB_URL ?? 'mongodb://127.0.0.1:27017';

const KEEP = process.env.BENCH_VERIFY_KEEP === '1';
const run = process.env.BENCH_VERIFY_CLEAN || `bench-verify-${Date.now().toString(36)}`;
const namespaces = { ES_INDEX_PREFIX: `${run}-`, REDIS_KEY_PREFIX: `${run}:`, WAREHOUSE_DATABASE: run.replace(/-/g, '_') };
const groups = Object.fromEntries(SINKS.map((sink) => [sink, `${run}-${sink}`])) as Record<VerifySinkName, string>;
const topics = loadConfig('redis', env).topics;

function log(message: string): void {
  process.stderr.write(`[bench:verify] ${message}\n`);
}

async function main(): Promise<void> {
  const db = new pg.Client({ connectionString: postgresUrl });
  await db.connect();
  if (process.env.BENCH_VERIFY_CLEAN) {
    log(`cleaning up ${run} only`);
    await db.query("DELETE FROM products WHERE sku LIKE $1 || '-%'", [run]);
    await db.end();
    await cleanup();
    return;
  }
  const children: ChildProcess[] = [];
  try {
    log(`inserting ${ROWS} products (sku ${run}-*)`);
    const insertStart = Date.now();
    await db.query(
      `INSERT INTO products (sku, name, description, category, price, stock_quantity, low_stock_threshold, attributes)
       SELECT $1 || '-' || g, 'Bench product ' || g, 'A product for the verify benchmark, number ' || g, 'bench',
              (g % 100000)::numeric / 100 + 0.01, g % 50, 10, jsonb_build_object('n', g, 'big', 9007199254740993 + g, 'tags', jsonb_build_array('a', g % 7))
         FROM generate_series(1, $2::int) AS g`,
      [run, ROWS],
    );
    const afterInsert = lsnToDecimal((await db.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn);
    log(`inserted in ${((Date.now() - insertStart) / 1000).toFixed(1)} s; starting the consumers (from the beginning of the topics)`);

    for (const sink of SINKS) {
      const upper = consumerEnvPrefix(sink);
      const child = spawn(process.execPath, ['--import', 'tsx', resolve(ROOT, `consumers/${sink}/main.ts`)], {
        cwd: ROOT,
        env: {
          ...env,
          ...namespaces,
          [`${upper}_CONSUMER_GROUP`]: groups[sink],
          [`${upper}_DLQ_TOPIC`]: `${run}.dlq.${sink}`,
          [`${upper}_HEALTH_PORT`]: String(await freePort()),
          FROM_BEGINNING: 'true',
          LOG_LEVEL: 'warn',
        },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      children.push(child);
    }
    const progress = new SinkProgress(postgresUrl, { kafkaBrokers: brokers, groups, topics });
    const catchUpStart = Date.now();
    try {
      for (const sink of SINKS) {
        const status = await progress.waitPassed(sink, afterInsert, Date.now() + 20 * 60_000);
        if (status !== 'passed') throw new Error(`consumer:${sink} did not catch up (${status})`);
        log(`consumer:${sink} caught up after ${((Date.now() - catchUpStart) / 1000).toFixed(0)} s`);
      }
    } finally {
      await progress.close();
    }
    await stopAll(children);

    const rows = Number((await db.query<{ n: string }>('SELECT count(*)::text AS n FROM products')).rows[0]!.n);
    const results: { sink: string; rows: number; seconds: number; ok: boolean }[] = [];
    for (const sink of SINKS) {
      const started = Date.now();
      const report = await verify({
        postgresUrl,
        sinks: {
          [sink]: sink === 'elasticsearch' ? { url: esUrl, indexPrefix: namespaces.ES_INDEX_PREFIX } : sink === 'redis' ? { url: redisUrl, keyPrefix: namespaces.REDIS_KEY_PREFIX } : { url: mongoUrl, database: namespaces.WAREHOUSE_DATABASE },
        },
        tables: ['products'],
        requiredSinks: [sink],
        settleTimeoutMs: 30_000,
        progress: { kafkaBrokers: brokers, groups, topics },
      });
      const seconds = (Date.now() - started) / 1000;
      results.push({ sink, rows, seconds, ok: report.ok });
      if (!report.ok) log(`${sink}: ${report.drift.length} differences, e.g. ${JSON.stringify(report.drift.slice(0, 3))}`);
    }
    console.log(`verify on products (${rows} rows), one sink at a time:`);
    console.log('sink           rows     seconds  rows/s   clean  target (< 30 s per 100k rows)');
    for (const r of results) {
      const per100k = (r.seconds * 100_000) / r.rows;
      console.log(`${r.sink.padEnd(13)}  ${String(r.rows).padStart(7)}  ${r.seconds.toFixed(1).padStart(7)}  ${String(Math.round(r.rows / r.seconds)).padStart(7)}  ${r.ok ? 'yes' : 'NO '}    ${per100k < TARGET_SECONDS ? 'met' : 'MISSED'} (${per100k.toFixed(1)} s per 100k)`);
    }
  } finally {
    await stopAll(children);
    if (KEEP) {
      log(`kept (BENCH_VERIFY_KEEP=1): ${JSON.stringify(namespaces)}; clean up with BENCH_VERIFY_CLEAN=${run} npm run bench:verify`);
      await db.end();
      return;
    }
    log('cleaning up');
    await db.query("DELETE FROM products WHERE sku LIKE $1 || '-%'", [run]).catch((error) => log(`delete failed: ${String(error)}`));
    await db.end();
    await cleanup();
  }
}

async function stopAll(children: ChildProcess[]): Promise<void> {
  await Promise.all(children.map((child) => new Promise<void>((done) => {
    if (child.exitCode !== null || child.signalCode !== null) return done();
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', () => { clearTimeout(timer); done(); });
    child.kill('SIGTERM');
  })));
}

async function cleanup(): Promise<void> {
  const kafka = new Kafka({ clientId: run, brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect().then(async () => {
    await admin.deleteGroups(Object.values(groups)).catch(() => undefined);
    await admin.deleteTopics({ topics: SINKS.map((sink) => `${run}.dlq.${sink}`) }).catch(() => undefined);
    await admin.disconnect();
  }).catch(() => undefined);
  const redis = new Redis(redisUrl);
  await deletePrefix(redis, namespaces.REDIS_KEY_PREFIX).catch(() => undefined);
  redis.disconnect();
  const mongo = new MongoClient(mongoUrl);
  await mongo.connect().then(() => mongo.db(namespaces.WAREHOUSE_DATABASE).dropDatabase()).catch(() => undefined);
  await mongo.close();
  const response = await fetch(`${esUrl}/_cat/indices/${namespaces.ES_INDEX_PREFIX}*?format=json`).catch(() => null);
  if (response?.ok) {
    const indices = (await response.json()) as { index: string }[];
    if (indices.length > 0) await fetch(`${esUrl}/${indices.map((i) => i.index).join(',')}`, { method: 'DELETE' }).catch(() => undefined);
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
