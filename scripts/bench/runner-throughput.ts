/**
 * How fast the Runner drains a topic, and what it costs over bare kafkajs, in the same run:
 *
 *   npx tsx scripts/bench/runner-throughput.ts                       (100,000 events, 3 rounds)
 *   BENCH_EVENTS=20000 BENCH_ROUNDS=1 npx tsx scripts/bench/runner-throughput.ts
 *
 * 1. prefill-topic.ts fills a fresh 3-partition topic with BENCH_EVENTS real-shaped order INSERTs.
 * 2. Each round drains the whole topic three ways, each with a new consumer group from the
 *    beginning and 3 partitions consumed concurrently:
 *    - runner:      the Runner (decode, sink.write per chunk of 500, explicit commit per chunk)
 *                   into a no-op sink;
 *    - bare-decode: a plain kafkajs eachBatch loop that decodes every message (auto-resolve and
 *                   kafkajs' default auto-commit);
 *    - bare:        the same loop doing nothing with the messages (Kafka fetching alone).
 *    Rate = events / (last event handled - first batch started): draining speed once the group
 *    has joined (joining takes ~3 s, the broker's initial rebalance delay, and is not counted).
 * 3. Prints the median of BENCH_ROUNDS rounds per mode and the runner's overhead versus
 *    bare-decode (same decoding, so the difference is the runner's bookkeeping, sink calls and
 *    commits). Removes the topic, the dead-letter topic and the groups at the end.
 *
 * BENCH_COMPRESSION=lz4|gzip|zstd|snappy stores the topic compressed (the broker recompresses), to
 * see what reading compressed batches costs the consumers (kafkajs reads gzip and, with the
 * project's codec, lz4).
 *
 * Needs Kafka at KAFKA_BROKERS (default 127.0.0.1:9092).
 */
import { Kafka, logLevel } from 'kafkajs';
import type { ChangeEvent } from '../../consumers/core/change-event.js';
import { decodeMessage } from '../../consumers/core/debezium/decode.js';
import { registerLz4Codec } from '../../consumers/core/kafka-lz4-codec.js';
import { createLogger } from '../../consumers/core/logger.js';
import { Runner } from '../../consumers/core/runner.js';
import { ok, type Sink, type WriteResult } from '../../consumers/core/sink.js';
import { prefillTopic } from './prefill-topic.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 100_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const RUN = `bench-runner-${Date.now().toString(36)}`;
const TOPIC = `${RUN}.public.orders`;
const DLQ = `${RUN}.dlq.bench`;
const TIMEOUT_MS = 600_000;

type Mode = 'runner' | 'bare-decode' | 'bare';

/** Counts events; remembers when the first write started and when the last one finished. */
class NoopSink implements Sink {
  readonly name = 'noop';
  count = 0;
  firstAt = 0;
  lastAt = 0;
  async start(): Promise<void> {}
  async write(events: readonly ChangeEvent[]): Promise<WriteResult[]> {
    if (this.firstAt === 0) this.firstAt = performance.now();
    this.count += events.length;
    this.lastAt = performance.now();
    return events.map(() => ok);
  }
  async isReady(): Promise<boolean> {
    return true;
  }
  async close(): Promise<void> {}
}

const groups: string[] = [];
const logger = createLogger({ consumer: 'bench', level: 'warn' });

async function until(done: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + TIMEOUT_MS;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function drainWithRunner(round: number): Promise<number> {
  const sink = new NoopSink();
  const groupId = `${RUN}-runner-${round}`;
  groups.push(groupId);
  const runner = new Runner({
    consumerName: 'bench',
    brokers: BROKERS,
    groupId,
    topics: [TOPIC],
    fromBeginning: true,
    deadLetterTopic: DLQ,
    sink,
    logger,
    partitionsConsumedConcurrently: 3,
  });
  await runner.start();
  try {
    await until(() => sink.count >= EVENTS, `runner to drain ${EVENTS} events (at ${sink.count})`);
  } finally {
    await runner.stop();
  }
  return (sink.count / (sink.lastAt - sink.firstAt)) * 1000;
}

async function drainBare(round: number, decode: boolean): Promise<number> {
  const kafka = new Kafka({ clientId: 'bench-bare', brokers: BROKERS, logLevel: logLevel.ERROR });
  const groupId = `${RUN}-bare${decode ? '-decode' : ''}-${round}`;
  groups.push(groupId);
  const consumer = kafka.consumer({ groupId });
  let count = 0;
  let firstAt = 0;
  let lastAt = 0;
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [TOPIC], fromBeginning: true });
    await consumer.run({
      partitionsConsumedConcurrently: 3,
      eachBatch: async ({ batch }) => {
        if (firstAt === 0) firstAt = performance.now();
        if (decode) {
          for (const m of batch.messages) decodeMessage({ topic: batch.topic, partition: batch.partition, offset: m.offset, key: m.key, value: m.value });
        }
        count += batch.messages.length;
        lastAt = performance.now();
      },
    });
    await until(() => count >= EVENTS, `bare consumer to drain ${EVENTS} events (at ${count})`);
  } finally {
    await consumer.disconnect();
  }
  return (count / (lastAt - firstAt)) * 1000;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main(): Promise<void> {
  registerLz4Codec();
  console.log(`[bench] prefilling ${TOPIC} with ${EVENTS} events...`);
  const prefill = await prefillTopic({ brokers: BROKERS, topic: TOPIC, events: EVENTS, compression: process.env.BENCH_COMPRESSION === 'none' ? undefined : process.env.BENCH_COMPRESSION });
  console.log(`[bench] ${(prefill.bytes / 1e6).toFixed(1)} MB in ${prefill.seconds.toFixed(1)} s (${Math.round(EVENTS / prefill.seconds)} events/s produced)`);

  const rates: Record<Mode, number[]> = { runner: [], 'bare-decode': [], bare: [] };
  // This process's CPU per event while draining (group join included): what a consumer pays before any sink.
  const cpus: Record<Mode, number[]> = { runner: [], 'bare-decode': [], bare: [] };
  const modes: Mode[] = ['runner', 'bare-decode', 'bare'];
  for (let round = 1; round <= ROUNDS; round++) {
    // Rotate who goes first, so JIT warm-up and page cache favour no mode.
    for (const mode of modes.map((_, i) => modes[(i + round - 1) % modes.length]!)) {
      const cpuBefore = process.cpuUsage();
      const rate = mode === 'runner' ? await drainWithRunner(round) : await drainBare(round, mode === 'bare-decode');
      const cpu = process.cpuUsage(cpuBefore);
      rates[mode].push(rate);
      cpus[mode].push((cpu.user + cpu.system) / EVENTS);
      console.log(`[bench] round ${round} ${mode.padEnd(11)} ${Math.round(rate).toLocaleString('en-US')} events/s, ${cpus[mode].at(-1)!.toFixed(1)} µs CPU per event`);
    }
  }

  const reference = median(rates['bare-decode']);
  console.log(`\n${EVENTS.toLocaleString('en-US')} events of ${Math.round(prefill.bytes / EVENTS)} bytes, 3 partitions, topic compression ${process.env.BENCH_COMPRESSION ?? 'none'}, median of ${ROUNDS}\n`);
  console.log('| mode        | events/s (median) | runs                       | vs bare-decode | CPU µs/event |');
  console.log('|-------------|-------------------|----------------------------|----------------|--------------|');
  for (const mode of ['runner', 'bare-decode', 'bare'] as const) {
    const m = median(rates[mode]);
    const runs = rates[mode].map((r) => Math.round(r).toLocaleString('en-US')).join(', ');
    console.log(`| ${mode.padEnd(11)} | ${Math.round(m).toLocaleString('en-US').padStart(17)} | ${runs.padEnd(26)} | ${`${((m / reference) * 100).toFixed(0)}%`.padStart(14)} | ${median(cpus[mode]).toFixed(1).padStart(12)} |`);
  }
  const overhead = (1 - median(rates.runner) / reference) * 100;
  console.log(`\nrunner overhead versus a bare kafkajs loop that decodes: ${overhead.toFixed(1)}%`);
}

async function cleanup(): Promise<void> {
  const kafka = new Kafka({ clientId: 'bench-cleanup', brokers: BROKERS, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteGroups(groups).catch(() => undefined);
  const topics = (await admin.listTopics()).filter((topic) => topic === TOPIC || topic === DLQ);
  if (topics.length > 0) await admin.deleteTopics({ topics }).catch(() => undefined);
  await admin.disconnect();
}

try {
  await main();
} finally {
  await cleanup();
}
