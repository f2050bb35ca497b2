/**
 * Fills a fresh topic with real-shaped Debezium order INSERTs: copies of the captured message
 * test/fixtures/debezium/orders-create.json with only the primary key (id), the LSN and the
 * commit time varied (ids 1..N, LSNs strictly increasing), keyed like the connector keys them.
 *
 *   npx tsx scripts/bench/prefill-topic.ts                       (100,000 events, a new topic)
 *   npx tsx scripts/bench/prefill-topic.ts 20000 my-topic        (count, topic)
 *
 * Prints the topic name. The topic has 3 partitions, like the connector's; the caller deletes it.
 * Needs Kafka at KAFKA_BROKERS (default 127.0.0.1:9092).
 */
import { pathToFileURL } from 'node:url';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { loadTemplate, vary } from '../../test/helpers/runner-messages.js';

export interface PrefillResult {
  topic: string;
  events: number;
  bytes: number;
  seconds: number;
}

/**
 * `compression`: the topic's compression.type, so the broker stores (and consumers read) batches
 * compressed that way whatever the producer sent (BENCH_COMPRESSION in the runner bench).
 */
export async function prefillTopic(options: { brokers: string[]; topic: string; events: number; partitions?: number; compression?: string }): Promise<PrefillResult> {
  const template = loadTemplate();
  const kafka = new Kafka({ clientId: 'bench-prefill', brokers: options.brokers, logLevel: logLevel.ERROR });
  const admin = kafka.admin();
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await Promise.all([admin.connect(), producer.connect()]);
  const started = Date.now();
  let bytes = 0;
  try {
    const configEntries = options.compression ? [{ name: 'compression.type', value: options.compression }] : [];
    await admin.createTopics({ topics: [{ topic: options.topic, numPartitions: options.partitions ?? 3, configEntries }], waitForLeaders: true });
    // kafkajs puts a request's messages for one partition into one record batch: stay well under 1 MB.
    const chunk = Math.max(1, Math.floor(600_000 / vary(template, { id: 1, lsn: 1 }).value.length));
    const baseLsn = 100_000_000n;
    const now = Date.now();
    // A few requests in flight keep the broker busy without holding all 100k messages in memory.
    const inFlight: Promise<unknown>[] = [];
    for (let start = 0; start < options.events; start += chunk) {
      const messages = [];
      for (let i = start; i < Math.min(start + chunk, options.events); i++) {
        const message = vary(template, { id: i + 1, lsn: baseLsn + BigInt(i) * 8n, commitTimeMs: now });
        bytes += message.key.length + message.value.length;
        messages.push(message);
      }
      const sending = producer.send({ topic: options.topic, acks: -1, messages });
      sending.catch(() => undefined); // awaited below; this only keeps a failure from being "unhandled" meanwhile
      inFlight.push(sending);
      if (inFlight.length >= 4) await inFlight.shift();
    }
    await Promise.all(inFlight);
  } finally {
    await Promise.all([admin.disconnect(), producer.disconnect()]);
  }
  return { topic: options.topic, events: options.events, bytes, seconds: (Date.now() - started) / 1000 };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const events = Number(process.argv[2] ?? 100_000);
  const topic = process.argv[3] ?? `bench-runner-${Date.now().toString(36)}.public.orders`;
  const result = await prefillTopic({ brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','), topic, events });
  console.log(`${result.topic}: ${result.events} events, ${(result.bytes / 1e6).toFixed(1)} MB in ${result.seconds.toFixed(1)} s`);
}
