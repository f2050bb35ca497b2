/**
 * kafkajs against @platformatic/kafka on the same topic, in one run (the decision and its
 * numbers: docs/kafka-client.md). A side measurement: @platformatic/kafka needs Node >= 22.22,
 * the project runs on Node 20, so it is not a dependency. To run it:
 *
 *   mkdir /tmp/k && cd /tmp/k && npm install node@22 @platformatic/kafka   (node from npm, as a package)
 *   cd <project> && PLATFORMATIC_KAFKA=/tmp/k/node_modules/@platformatic/kafka/dist/index.js \
 *     /tmp/k/node_modules/.bin/node --import tsx scripts/bench/kafka-client-compare.ts
 *
 * 1. Drain: prefill-topic.ts fills a 3-partition topic with BENCH_EVENTS real-shaped order
 *    INSERTs; each client drains it in a new group from the beginning and decodes every message
 *    with the project's decoder (what the Runner does before the sink). Rate, and this
 *    process's CPU per event, medians of BENCH_ROUNDS, the clients alternating who goes first.
 * 2. Latency: a producer sends one message every 20 ms for BENCH_LATENCY_SECONDS; each client's
 *    consumer, already joined, notes now - the message's timestamp (produce -> handler), p50/p99.
 *    Both consumers fetch with minBytes 1 and a 500 ms max wait, like the Runner.
 */
import { Kafka, logLevel } from 'kafkajs';
import { decodeMessage } from '../../consumers/core/debezium/decode.js';
import { prefillTopic } from './prefill-topic.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 30_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const LATENCY_SECONDS = Number(process.env.BENCH_LATENCY_SECONDS ?? 15);
const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const RUN = `bench-clients-${Date.now().toString(36)}`;
const TOPIC = `${RUN}.public.orders`;
const LATENCY_TOPIC = `${RUN}.latency`;
const groups: string[] = [];

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- loaded at run time from outside the project
const platformatic: any = await import(process.env.PLATFORMATIC_KAFKA ?? '@platformatic/kafka');
const kafka = new Kafka({ clientId: RUN, brokers: BROKERS, logLevel: logLevel.NOTHING });

interface Drain {
  rate: number;
  cpuUs: number;
}

async function until(done: () => boolean): Promise<void> {
  const deadline = Date.now() + 300_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function decode(topic: string, partition: number, offset: string, key: Buffer | null, value: Buffer | null): void {
  decodeMessage({ topic, partition, offset, key, value });
}

async function drainKafkajs(round: number): Promise<Drain> {
  const groupId = `${RUN}-kafkajs-${round}`;
  groups.push(groupId);
  const consumer = kafka.consumer({ groupId, maxBytesPerPartition: 4 * 1024 * 1024, maxBytes: 16 * 1024 * 1024, maxWaitTimeInMs: 500 });
  let count = 0;
  let first = 0;
  let last = 0;
  const cpu = process.cpuUsage();
  await consumer.connect();
  await consumer.subscribe({ topics: [TOPIC], fromBeginning: true });
  await consumer.run({
    partitionsConsumedConcurrently: 3,
    eachBatch: async ({ batch }) => {
      if (first === 0) first = performance.now();
      for (const m of batch.messages) decode(batch.topic, batch.partition, m.offset, m.key, m.value);
      count += batch.messages.length;
      last = performance.now();
    },
  });
  await until(() => count >= EVENTS);
  const used = process.cpuUsage(cpu);
  await consumer.disconnect();
  return { rate: (count / (last - first)) * 1000, cpuUs: (used.user + used.system) / EVENTS };
}

async function drainPlatformatic(round: number): Promise<Drain> {
  const groupId = `${RUN}-platformatic-${round}`;
  groups.push(groupId);
  const consumer = new platformatic.Consumer({ groupId, clientId: `${RUN}-p`, bootstrapBrokers: BROKERS, maxBytesPerPartition: 4 * 1024 * 1024, maxWaitTime: 500 });
  let count = 0;
  let first = 0;
  let last = 0;
  const cpu = process.cpuUsage();
  const stream = await consumer.consume({ topics: [TOPIC], mode: 'earliest', autocommit: false });
  stream.on('data', (m: { topic: string; partition: number; offset: bigint; key: Buffer; value: Buffer }) => {
    if (first === 0) first = performance.now();
    decode(m.topic, m.partition, String(m.offset), m.key, m.value);
    count++;
    last = performance.now();
  });
  await until(() => count >= EVENTS);
  const used = process.cpuUsage(cpu);
  await stream.close();
  await consumer.close(true);
  return { rate: (count / (last - first)) * 1000, cpuUs: (used.user + used.system) / EVENTS };
}

function percentile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

/** Both consumers joined on a fresh topic; one message every 20 ms; produce -> handler, ms. */
async function latency(): Promise<Record<string, number[]>> {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: LATENCY_TOPIC, numPartitions: 3 }], waitForLeaders: true });
  await admin.disconnect();
  const seen: Record<string, number[]> = { kafkajs: [], platformatic: [] };
  const note = (client: string, timestamp: number) => {
    if (timestamp > 0) seen[client]!.push(Date.now() - timestamp);
  };
  const kafkajsGroup = `${RUN}-lat-kafkajs`;
  const platformaticGroup = `${RUN}-lat-platformatic`;
  groups.push(kafkajsGroup, platformaticGroup);
  const k = kafka.consumer({ groupId: kafkajsGroup, maxWaitTimeInMs: 500, minBytes: 1 });
  await k.connect();
  await k.subscribe({ topics: [LATENCY_TOPIC], fromBeginning: true });
  await k.run({ eachMessage: async ({ message }) => note('kafkajs', Number(message.value!.toString())) });
  const p = new platformatic.Consumer({ groupId: platformaticGroup, clientId: `${RUN}-lp`, bootstrapBrokers: BROKERS, maxWaitTime: 500, minBytes: 1 });
  const stream = await p.consume({ topics: [LATENCY_TOPIC], mode: 'earliest', autocommit: false });
  stream.on('data', (m: { value: Buffer }) => note('platformatic', Number(m.value.toString())));
  await new Promise((resolve) => setTimeout(resolve, 5_000)); // both joined and fetching
  const producer = kafka.producer();
  await producer.connect();
  const end = Date.now() + LATENCY_SECONDS * 1000;
  for (let i = 0; Date.now() < end; i++) {
    await producer.send({ topic: LATENCY_TOPIC, acks: 1, messages: [{ key: String(i), value: String(Date.now()) }] });
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  await producer.disconnect();
  await k.disconnect();
  await stream.close();
  await p.close(true);
  return seen;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

try {
  const filled = await prefillTopic({ brokers: BROKERS, topic: TOPIC, events: EVENTS });
  console.log(`[bench] Node ${process.version}; ${filled.events} events (${Math.round(filled.bytes / filled.events)} bytes) in ${TOPIC}`);
  const results: Record<string, Drain[]> = { kafkajs: [], platformatic: [] };
  for (let round = 1; round <= ROUNDS; round++) {
    const order = round % 2 === 1 ? ['kafkajs', 'platformatic'] : ['platformatic', 'kafkajs'];
    for (const client of order) {
      const drain = client === 'kafkajs' ? await drainKafkajs(round) : await drainPlatformatic(round);
      results[client]!.push(drain);
      console.log(`[bench] round ${round} ${client.padEnd(12)} ${Math.round(drain.rate).toLocaleString('en-US')} events/s, ${drain.cpuUs.toFixed(1)} µs CPU per event (fetch + decode)`);
    }
  }
  for (const [client, drains] of Object.entries(results)) {
    console.log(`[bench] median ${client.padEnd(12)} ${Math.round(median(drains.map((d) => d.rate))).toLocaleString('en-US')} events/s, ${median(drains.map((d) => d.cpuUs)).toFixed(1)} µs CPU per event`);
  }
  const seen = await latency();
  for (const [client, values] of Object.entries(seen)) {
    console.log(`[bench] produce -> handler ${client.padEnd(12)} n=${values.length} p50 ${percentile(values, 0.5)} ms, p99 ${percentile(values, 0.99)} ms, max ${Math.max(...values)} ms`);
  }
} finally {
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteGroups(groups).catch(() => undefined);
  await admin.deleteTopics({ topics: [TOPIC, LATENCY_TOPIC] }).catch(() => undefined);
  await admin.disconnect();
}
process.exit(0);
