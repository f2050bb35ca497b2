/**
 * The whole pipeline under a shop's load: `npm run bench`.
 *
 *   npm run bench                                    28, 280, 1000 orders/s, then the most the box sustains; 60 s each
 *   npm run bench -- --seconds 300                   the acceptance run (5 minutes a step)
 *   npm run bench -- --rates 5,1000 --seconds 120    any rates ("max" = search for the highest sustained)
 *   BENCH_CONSUMERS=redis,elasticsearch npm run bench
 *
 * 1. Starts every consumer that exists (consumer-processes.ts: each in a bench group from the
 *    end of the topics, writing under the prefixes `bench:` in Redis and `bench-` in
 *    Elasticsearch, the warehouse into a database of the run's own, the notification ledger under
 *    `bench:notify:`) and says which ones run; a consumer that is not built yet is left out.
 * 2. Creates the workload's catalogue (500 products, 1,000 customers), waits until every
 *    consumer has it, then warms up for --warmup seconds at 5 orders/s (JIT, connections).
 * 3. Runs each step for --seconds at a fixed rate of new orders (scripts/load/shop-workload.ts:
 *    items, stock, status changes, cancellations, price changes, deletes; ~10 row changes per
 *    order). "max" first steps up by 1.5x from the last sustained rate with shorter --search-seconds
 *    steps until one is not sustained (then once between), and runs the best rate for --seconds.
 * 4. Measures, per step: each consumer's commit->sink histogram (cdc_commit_to_sink_seconds;
 *    also the commit->Kafka part), an independent probe that reads Redis and Elasticsearch
 *    (sink-probe.ts: --probes changes a second, plus one search a second), the consumer groups'
 *    lag every second, and the CPU of every process (engines, consumers, this process).
 * 5. Prints a table, writes bench-results/pipeline-<run>.json and .html (and latest.json/.html).
 *
 * Needs the stack up (./setup.sh); reads the engines' addresses from the environment, .env and
 * .stack/env. The workload's rows stay in the shop database (order numbers BENCH-<run>-n) and
 * their changes in the topics (a full run adds ~1 GB: tests that replay the topics from offset 0
 * get slower; `./setup.sh reset` starts afresh); the bench's consumer groups, Redis keys and
 * Elasticsearch indexes are removed at the end.
 */
import { mkdirSync, writeFileSync, copyFileSync, existsSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Client } from '@elastic/elasticsearch';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { loadDotenv } from '../../consumers/core/config.js';
import { ShopWorkload, type Committed, type StepLoad } from '../load/shop-workload.js';
import { MongoClient } from 'mongodb';
import { CONSUMERS, benchWarehouseDatabase, startConsumers, stopConsumers, type ConsumerName, type RunningConsumer } from './pipeline/consumer-processes.js';
import { stackPids } from './pipeline/process-cpu.js';
import { htmlReport, probeSeries, terminalReport, timeline, type BenchResult } from './pipeline/report.js';
import { Sampler } from './pipeline/sampler.js';
import { SinkProbe, type ProbeTarget } from './pipeline/sink-probe.js';
import { summarizeStep, type StepSummary } from './pipeline/step-summary.js';

const ROOT = resolve(import.meta.dirname, '../..');
loadDotenv(resolve(ROOT, '.env'));
loadDotenv(resolve(ROOT, '.stack/env'));

const { values: args } = parseArgs({
  options: {
    rates: { type: 'string', default: process.env.BENCH_RATES ?? '28,280,1000,max' },
    seconds: { type: 'string', default: process.env.BENCH_STEP_SECONDS ?? '60' },
    warmup: { type: 'string', default: process.env.BENCH_WARMUP_SECONDS ?? '15' },
    'search-seconds': { type: 'string', default: process.env.BENCH_SEARCH_SECONDS ?? '30' },
    probes: { type: 'string', default: process.env.BENCH_PROBES_PER_SECOND ?? '5' },
    out: { type: 'string', default: process.env.BENCH_OUT ?? resolve(ROOT, 'bench-results') },
  },
});
const STEP_SECONDS = Number(args.seconds);
const WARMUP_SECONDS = Number(args.warmup);
const SEARCH_SECONDS = Number(args['search-seconds']);
const PROBES_PER_SECOND = Number(args.probes);
const RATES = args.rates.split(',').map((rate) => rate.trim());
const WANTED = (process.env.BENCH_CONSUMERS ?? CONSUMERS.join(',')).split(',').map((name) => name.trim()) as ConsumerName[];
const RUN = Date.now().toString(36);
const TAG = `BENCH-${RUN.toUpperCase()}`;
const PREFIXES = { redis: 'bench:', elasticsearch: 'bench-' };
const TOPIC_PREFIX = process.env.TOPIC_PREFIX ?? 'ecommerce';
const TOPICS = ['customers', 'products', 'orders', 'order_items'].map((table) => `${TOPIC_PREFIX}.public.${table}`);
const log = (message: string) => process.stdout.write(`[bench] ${message}\n`);

for (const rate of RATES) if (rate !== 'max' && !(Number(rate) > 0)) throw new Error(`--rates: ${JSON.stringify(rate)} is not a positive number or "max"`);
for (const name of WANTED) if (!CONSUMERS.includes(name)) throw new Error(`BENCH_CONSUMERS: unknown consumer ${JSON.stringify(name)} (known: ${CONSUMERS.join(', ')})`);

/** Deletes what an earlier bench run may have left under the bench prefixes. */
async function clearBenchData(redis: Redis, es: Client): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${PREFIXES.redis}*`, 'COUNT', 1000);
    if (keys.length > 0) await redis.unlink(...keys);
    cursor = next;
  } while (cursor !== '0');
  // By name: Elasticsearch refuses wildcard deletes (action.destructive_requires_name).
  const indexes = await es.cat.indices({ index: `${PREFIXES.elasticsearch}*`, format: 'json', h: 'index' }).catch(() => []);
  const names = (indexes as { index?: string }[]).flatMap((row) => (row.index ? [row.index] : []));
  if (names.length > 0) await es.indices.delete({ index: names });
}

/** Drops the run's warehouse database (consumer-processes.ts gives the warehouse one of its own). */
async function dropBenchWarehouse(): Promise<void> {
  const client = new MongoClient(process.env.MONGODB_URL ?? 'mongodb://127.0.0.1:27017', { serverSelectionTimeoutMS: 5_000 });
  try {
    await client.db(benchWarehouseDatabase(RUN)).dropDatabase();
  } finally {
    await client.close();
  }
}

/** A one-line progress bar on a terminal; a line every 10 s otherwise (CI logs). */
class Progress {
  private lastLine = 0;
  constructor(private readonly label: string, private readonly seconds: number) {}
  update(elapsedMs: number, load: StepLoad, sampler: Sampler): void {
    const share = Math.min(1, elapsedMs / (this.seconds * 1000));
    const latest = sampler.latest;
    const lag = latest ? Object.entries(latest.consumers).map(([name, c]) => `${name} ${c.lag}`).join(' ') : '';
    const rate = elapsedMs > 0 ? (load.ordersCommitted / (elapsedMs / 1000)).toFixed(0) : '0';
    const text = `${this.label} ${'#'.repeat(Math.round(share * 30)).padEnd(30, '.')} ${(share * 100).toFixed(0).padStart(3)}%  ${rate} orders/s  lag: ${lag}`;
    if (process.stdout.isTTY) process.stdout.write(`\r${text.slice(0, (process.stdout.columns || 120) - 1).padEnd((process.stdout.columns || 120) - 1)}`);
    else if (elapsedMs - this.lastLine >= 10_000) {
      this.lastLine = elapsedMs;
      log(text);
    }
  }
  done(): void {
    if (process.stdout.isTTY) process.stdout.write('\n');
  }
}

async function waitForLag(sampler: Sampler, limitMs: number): Promise<boolean> {
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    const sample = await sampler.sample();
    if (Object.values(sample.consumers).every((consumer) => consumer.lag === 0)) return true;
    await new Promise((resolveWait) => setTimeout(resolveWait, 1_000));
  }
  return false;
}

async function main(): Promise<void> {
  const benchStartedAt = performance.now();
  const kafka = new Kafka({ clientId: `bench-${RUN}`, brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { lazyConnect: false, maxRetriesPerRequest: 2 });
  const es = new Client({ node: process.env.ELASTICSEARCH_URL ?? 'http://127.0.0.1:9200', maxRetries: 0, requestTimeout: 10_000 });
  const pool = new pg.Pool({ connectionString: process.env.POSTGRES_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432/ecommerce', max: 24 });
  let consumers: RunningConsumer[] = [];
  let missing: { name: string; reason: string }[] = [];
  const steps: StepSummary[] = [];
  let workload: ShopWorkload | null = null;
  let sampler: Sampler | null = null;
  let probe: SinkProbe | null = null;
  try {
    await clearBenchData(redis, es);
    log(`run ${RUN}: starting consumers ${WANTED.join(', ')}`);
    const started = await startConsumers(WANTED, RUN, PREFIXES);
    consumers = started.running;
    missing = started.missing;
    log(`running: ${consumers.map((c) => `${c.name} (pid ${c.pid})`).join(', ') || 'none'}`);
    for (const missing of started.missing) log(`not running: ${missing.name}: ${missing.reason}`);
    if (consumers.length === 0) throw new Error('no consumer came up: nothing to measure');

    const targets: ProbeTarget[] = [];
    const running = new Set(consumers.map((c) => c.name));
    probe = new SinkProbe({
      redis: running.has('redis') ? { client: redis, keyPrefix: PREFIXES.redis } : undefined,
      elasticsearch: running.has('elasticsearch') ? { client: es, indexPrefix: PREFIXES.elasticsearch } : undefined,
    });
    targets.push(...probe.targetNames);
    const pids = stackPids(resolve(ROOT, '.stack/run'));
    const processes = () => {
      const roots = new Map(pids);
      for (const consumer of consumers) if (consumer.process.exitCode === null) roots.set(`consumer:${consumer.name}`, consumer.pid);
      return roots;
    };
    let ordersCommitted = 0;
    sampler = new Sampler(admin, TOPICS, consumers, processes, () => ordersCommitted, benchStartedAt);
    await sampler.sample();
    sampler.start();

    // Probe sampling: PROBES_PER_SECOND commits a second into Redis and the realtime GET, one into search.
    let lastProbe = 0;
    let lastSearchProbe = 0;
    const onCommitted = (committed: Committed) => {
      if (committed.status === 'pending') ordersCommitted++;
      const now = committed.committedAt;
      if (now - lastProbe >= 1000 / PROBES_PER_SECOND) {
        lastProbe = now;
        probe!.watch(committed, targets.filter((target) => target !== 'elasticsearch-search'));
      }
      if (now - lastSearchProbe >= 1000 && targets.includes('elasticsearch-search')) {
        lastSearchProbe = now;
        probe!.watch(committed, ['elasticsearch-search']);
      }
    };

    log('creating the catalogue (500 products, 1,000 customers) and waiting until every consumer holds it');
    sampler.step = 'setup';
    const catalogue = await ShopWorkload.prepare(pool, TAG);
    workload = new ShopWorkload(pool, TAG, catalogue, onCommitted);
    if (!(await waitForLag(sampler, 180_000))) log('warning: the consumers had not caught up with the catalogue after 180 s');

    const runStep = async (label: string, rate: number, seconds: number): Promise<StepSummary> => {
      sampler!.step = label;
      const start = await sampler!.sample();
      const startedAt = performance.now();
      const progress = new Progress(label, seconds);
      const load = await workload!.runStep(rate, seconds, (stepLoad, elapsed) => progress.update(elapsed, stepLoad, sampler!));
      const endedAt = performance.now();
      const end = await sampler!.sample();
      progress.done();
      const summary = summarizeStep({
        label,
        load,
        seconds,
        start,
        end,
        samples: sampler!.samples,
        probes: probe!.samples,
        startedAt,
        endedAt,
        consumerProcesses: consumers.map((c) => `consumer:${c.name}`),
        cpus: availableParallelism(),
      });
      log(`${label}: ${summary.achievedOrdersPerSecond.toFixed(1)} orders/s, ${summary.eventsPerSecond.toFixed(0)} events/s; ${summary.sustained ? 'sustained' : 'NOT sustained'}: ${summary.verdict}`);
      return summary;
    };

    if (WARMUP_SECONDS > 0) {
      await runStep('warm-up', 5, WARMUP_SECONDS);
      await waitForLag(sampler, 60_000);
    }
    let bestSustained = 0;
    for (const rate of RATES) {
      if (rate !== 'max') {
        const summary = await runStep(`${rate}/s`, Number(rate), STEP_SECONDS);
        steps.push(summary);
        if (summary.sustained) bestSustained = Math.max(bestSustained, Number(rate));
        await waitForLag(sampler, 120_000);
        continue;
      }
      // "max": step up until a rate is not sustained, try once between, then run the best one in full.
      let low = bestSustained || 28;
      let high: number | null = null;
      for (let tries = 0; tries < 5; tries++) {
        const rate = Math.round(high === null ? low * 1.5 : Math.sqrt(low * high));
        if (high !== null && rate >= high * 0.95) break;
        const trial = await runStep(`search ${rate}/s`, rate, SEARCH_SECONDS);
        await waitForLag(sampler, 120_000);
        if (trial.sustained) low = rate;
        else if (high === null) high = rate;
        else {
          high = rate;
          break;
        }
        if (high !== null && tries >= 2) break;
      }
      steps.push(await runStep(`max ${low}/s`, low, STEP_SECONDS));
    }
  } finally {
    await workload?.stop();
    await probe?.stop();
    sampler?.stop();
    await stopConsumers(consumers);
    await admin.deleteGroups(consumers.map((c) => c.groupId)).catch(() => undefined);
    await clearBenchData(redis, es).catch(() => undefined);
    if (consumers.some((c) => c.name === 'warehouse')) await dropBenchWarehouse().catch((error: Error) => log(`could not drop ${benchWarehouseDatabase(RUN)}: ${error.message}`));
    await admin.disconnect();
    redis.disconnect();
    await es.close();
    await pool.end();
  }

  const result: BenchResult = {
    run: RUN,
    startedAt: new Date(Date.now() - (performance.now() - benchStartedAt)).toISOString(),
    machine: { cpus: availableParallelism(), node: process.version, load: loadavg() },
    consumers: { running: consumers.map((c) => c.name), missing },
    settings: { rates: RATES.join(','), stepSeconds: String(STEP_SECONDS), warmupSeconds: String(WARMUP_SECONDS), probesPerSecond: String(PROBES_PER_SECOND) },
    steps,
    timeline: timeline(sampler!.samples),
    probes: probeSeries(probe!.samples, benchStartedAt),
  };
  const text = terminalReport(result);
  console.log(`\n${text}\n`);
  mkdirSync(args.out, { recursive: true });
  const base = resolve(args.out, `pipeline-${RUN}`);
  writeFileSync(`${base}.json`, `${JSON.stringify(result, null, 1)}\n`);
  writeFileSync(`${base}.html`, htmlReport(result, text));
  for (const ext of ['json', 'html']) if (existsSync(`${base}.${ext}`)) copyFileSync(`${base}.${ext}`, resolve(args.out, `latest.${ext}`));
  log(`wrote ${base}.json and ${base}.html (also latest.json / latest.html)`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error('[bench] failed:', error);
    process.exit(1);
  },
);
