/**
 * Redis consumer throughput against its raw ceiling, measured in the same run:
 *
 *   npx tsx scripts/bench/redis-throughput.ts            (100,000 events, 3 rounds)
 *   BENCH_EVENTS=20000 BENCH_ROUNDS=1 npx tsx scripts/bench/redis-throughput.ts
 *
 * 1. Pre-fills a fresh topic (3 partitions) with BENCH_EVENTS real-shaped order INSERTs with
 *    scripts/bench/prefill-topic.ts: copies of the captured Debezium message
 *    test/fixtures/debezium/orders-create.json with new ids and strictly increasing LSNs.
 * 2. consumer: the Runner (new group, from the beginning) drains the topic into a RedisSink on a
 *    fresh key prefix. Rate = events / (last sink write done - first sink write started), i.e.
 *    draining speed once the group has joined (the join time is printed apart).
 * 3. raw: the same events, decoded beforehand (untimed, after the consumer run, so the consumer
 *    never runs with 100k decoded events sitting in its heap), sent straight to Redis by the same
 *    sink (same Lua script, same key layout, one pipeline per 500 events, 3 streams like 3
 *    partitions), into another fresh prefix. No Kafka, no decoding.
 * 4. For diagnosis, the same drain into a no-op sink: what the Runner and decoder manage alone.
 * Each round runs all three (odd rounds the consumer first, even rounds raw first); the medians
 * of BENCH_ROUNDS rounds and their ratio are printed (target: consumer >= 0.8 x raw). A warm-up
 * round (BENCH_WARMUP_ROUNDS, default 1) runs first and is printed but not counted: without it
 * the first run alone pays for the JIT and for Redis growing its memory (measured: the first
 * consumer run cost Redis 43-46 us/event, later runs 34-38). Everything the bench creates
 * (topic, groups, DLQ topic, keys) is removed at the end.
 *
 * BENCH_ISOLATE_ENGINE=1 gives the engine a CPU of its own and everything else the others (native
 * stack only; see cpu-isolation.ts): the deployment shape, where the engine has its own host.
 *
 * Needs Kafka (KAFKA_BROKERS) and Redis (REDIS_URL).
 */
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import type { ChangeEvent } from '../../consumers/core/change-event.js';
import { createLogger } from '../../consumers/core/logger.js';
import { Runner } from '../../consumers/core/runner.js';
import { deletePrefix } from '../../consumers/redis/cache-dump.js';
import { RedisSink } from '../../consumers/redis/redis-sink.js';
import { withAdmin } from '../../test/helpers/kafka-admin.js';
import { isolateEngine, isolationRequested } from './cpu-isolation.js';
import { decodeTopics } from './decode-topics.js';
import { prefillTopic } from './prefill-topic.js';
import { noopSink, TimingSink } from './timing-sink.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 100_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WARMUP_ROUNDS = Number(process.env.BENCH_WARMUP_ROUNDS ?? 1);
const PARTITIONS = 3;
const RAW_CHUNK = 500;
const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const RUN = `bench-redis-${Date.now().toString(36)}`;
const TOPIC = `${RUN}.public.orders`;

const logger = createLogger({ consumer: 'redis-bench', level: 'warn', pretty: false });
const kafka = new Kafka({ clientId: RUN, brokers: BROKERS, logLevel: logLevel.NOTHING });
const log = (message: string) => console.log(`[bench] ${message}`);

function newSink(prefix: string): RedisSink {
  return new RedisSink({ url: REDIS_URL, keyPrefix: prefix, recentOrdersLength: 100, deleteMarkerTtlSeconds: 86_400, ttlSecondsByTable: {} });
}

const groups: string[] = [];

/** Checks that every order reached Redis under `prefix`, then deletes the prefix. */
async function verifyAndDrop(prefix: string, label: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    const stored = await redis.zcard(`${prefix}orders:by_created_at`);
    if (stored !== EVENTS) throw new Error(`${label}: ${stored} orders in Redis, expected ${EVENTS}`);
    await deletePrefix(redis, prefix);
  } finally {
    redis.disconnect();
  }
}

async function consumerRound(round: number, kind: 'redis' | 'noop'): Promise<{ rate: number; joinMs: number }> {
  const prefix = `${RUN}:consumer${round}:`;
  const sink = new TimingSink(kind === 'redis' ? newSink(prefix) : noopSink, EVENTS);
  await sink.start();
  const groupId = `${RUN}-group-${kind}-${round}`;
  groups.push(groupId);
  const runner = new Runner({
    consumerName: 'redis-bench',
    brokers: BROKERS,
    groupId,
    topics: [TOPIC],
    fromBeginning: true,
    deadLetterTopic: `${RUN}.dlq`,
    sink,
    logger,
    partitionsConsumedConcurrently: PARTITIONS,
    ...(process.env.BENCH_MAX_EVENTS_PER_WRITE ? { maxEventsPerWrite: Number(process.env.BENCH_MAX_EVENTS_PER_WRITE) } : {}),
    ...(process.env.BENCH_FETCH_BYTES ? { fetchMaxBytesPerPartition: Number(process.env.BENCH_FETCH_BYTES) } : {}),
  });
  const startedAt = performance.now();
  await runner.start();
  const doneAt = await sink.done;
  await runner.stop();
  await sink.close();
  const failed = EVENTS - sink.okCount;
  if (failed > 0) throw new Error(`consumer round ${round}: ${failed} events not applied (failed or stale)`);
  const rate = EVENTS / ((doneAt - sink.firstWriteAt) / 1000);
  const joinMs = sink.firstWriteAt - startedAt;
  if (kind === 'noop') return { rate, joinMs };
  await verifyAndDrop(prefix, `consumer round ${round}`);
  return { rate, joinMs };
}

async function rawRound(round: number, events: ChangeEvent[]): Promise<number> {
  const prefix = `${RUN}:raw${round}:`;
  const sink = newSink(prefix);
  await sink.start();
  // Same split as the topic: one ordered stream per partition, streams in parallel.
  const streams = Array.from({ length: PARTITIONS }, (_, p) => events.filter((event) => event.kafka.partition === p));
  const startedAt = performance.now();
  await Promise.all(streams.map(async (stream) => {
    for (let start = 0; start < stream.length; start += RAW_CHUNK) {
      const results = await sink.write(stream.slice(start, start + RAW_CHUNK));
      if (results.some((result) => result.status !== 'ok' || result.stale)) throw new Error(`raw round ${round}: a write was not applied`);
    }
  }));
  const elapsed = performance.now() - startedAt;
  await sink.close();
  await verifyAndDrop(prefix, `raw round ${round}`);
  return EVENTS / (elapsed / 1000);
}

/** CPU seconds Redis has used so far (user + system), from INFO cpu. */
async function redisCpuSeconds(): Promise<number> {
  const redis = new Redis(REDIS_URL);
  try {
    const info = await redis.info('cpu');
    const read = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? NaN);
    return read('used_cpu_user') + read('used_cpu_sys');
  } finally {
    redis.disconnect();
  }
}

/** Runs `work` and reports CPU microseconds per event spent by this process and by Redis. */
async function withCpu<T>(work: () => Promise<T>): Promise<{ result: T; nodeUs: number; redisUs: number }> {
  const redisBefore = await redisCpuSeconds();
  const nodeBefore = process.cpuUsage();
  const result = await work();
  const node = process.cpuUsage(nodeBefore);
  const redisAfter = await redisCpuSeconds();
  return { result, nodeUs: (node.user + node.system) / EVENTS, redisUs: ((redisAfter - redisBefore) * 1e6) / EVENTS };
}

const cpu = (m: { nodeUs: number; redisUs: number }) => `cpu/event node ${m.nodeUs.toFixed(0)} us, redis ${m.redisUs.toFixed(0)} us`;

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const format = (rate: number) => `${Math.round(rate).toLocaleString('en-US')} events/s`;

async function main(): Promise<void> {
  const restoreCpus = isolationRequested ? isolateEngine('redis') : () => {};
  const consumerRates: number[] = [];
  const rawRates: number[] = [];
  const noopRates: number[] = [];
  const cpuRatios: { node: number; redis: number; ratio: number }[] = [];
  try {
    // Plain batches, as the connector's producer writes the real topics; BENCH_COMPRESSION=lz4 (or gzip) stores them compressed.
    const compression = process.env.BENCH_COMPRESSION ?? 'none';
    const filled = await prefillTopic({ brokers: BROKERS, topic: TOPIC, events: EVENTS, partitions: PARTITIONS, compression: compression === 'none' ? undefined : compression });
    log(`pre-filled ${TOPIC} with ${filled.events} order events (${(filled.bytes / filled.events / 1000).toFixed(1)} kB each) in ${filled.seconds.toFixed(1)} s`);

    // Rounds below 1 are the warm-up (see the header).
    for (let round = 1 - WARMUP_ROUNDS; round <= ROUNDS; round++) {
      const measured = round >= 1;
      // Alternate which of consumer and raw runs first, so neither always gets the warmer engine.
      const rawFirst = round % 2 === 0;
      // The decoded events live only inside this call: never in the heap of the consumer runs.
      const runRaw = async () => {
        groups.push(`${RUN}-decode-${round}`);
        const events = await decodeTopics(kafka, { groupId: `${RUN}-decode-${round}`, topics: [TOPIC], count: EVENTS });
        return withCpu(() => rawRound(round, events));
      };
      const rawBefore = rawFirst ? await runRaw() : null;
      const consumerRun = await withCpu(() => consumerRound(round, 'redis'));
      const rawRun = rawBefore ?? (await runRaw());
      const noopRun = await withCpu(() => consumerRound(round, 'noop'));
      const consumer = consumerRun.result;
      const raw = rawRun.result;
      const label = measured ? `round ${round}` : 'warm-up (not counted)';
      log(`${label}: consumer ${format(consumer.rate)} (group join ${(consumer.joinMs / 1000).toFixed(1)} s, not counted; ${cpu(consumerRun)}), raw ${format(raw)} (${cpu(rawRun)}), ratio ${(consumer.rate / raw).toFixed(2)}${rawFirst ? ', raw ran first' : ''}`);
      log(`${label}: runner+decoder with a no-op sink ${format(noopRun.result.rate)} (${cpu(noopRun)})`);
      if (!measured) continue;
      cpuRatios.push({ node: consumerRun.nodeUs, redis: consumerRun.redisUs, ratio: consumerRun.nodeUs / consumerRun.redisUs });
      consumerRates.push(consumer.rate);
      rawRates.push(raw);
      noopRates.push(noopRun.result.rate);
    }
  } finally {
    restoreCpus();
    await withAdmin(kafka, async (admin) => {
      await admin.deleteGroups(groups).catch(() => undefined);
      await admin.deleteTopics({ topics: [TOPIC, `${RUN}.dlq`] }).catch(() => undefined);
    });
  }
  const consumerMedian = median(consumerRates);
  const rawMedian = median(rawRates);
  const ratio = consumerMedian / rawMedian;
  const m = (pick: (r: (typeof cpuRatios)[number]) => number) => median(cpuRatios.map(pick));
  log(`median of ${ROUNDS}: consumer CPU ${m((r) => r.node).toFixed(1)} µs per event, Redis ${m((r) => r.redis).toFixed(1)} µs per event, CPU ratio ${m((r) => r.ratio).toFixed(2)} (the same accounting as the Elasticsearch bench)`);
  log(`median of ${ROUNDS}: consumer ${format(consumerMedian)}, raw ${format(rawMedian)}, ratio ${ratio.toFixed(2)} (target >= 0.80: ${ratio >= 0.8 ? 'met' : 'NOT met'}; ${isolationRequested ? 'engine isolated on its own CPU' : 'every process sharing every CPU'})`);
  log(`median of ${ROUNDS}: runner+decoder with a no-op sink ${format(median(noopRates))} (the most any sink can get through this runner here)`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error('[bench] failed:', error);
    process.exit(1);
  },
);
