/**
 * Elasticsearch consumer throughput against its raw ceiling, measured in the same run:
 *
 *   npx tsx scripts/bench/elasticsearch-throughput.ts                  (100,000 events, 3 rounds)
 *   BENCH_EVENTS=20000 BENCH_ROUNDS=1 npx tsx scripts/bench/elasticsearch-throughput.ts
 *
 * 1. Pre-fills two fresh topics (3 partitions each) with BENCH_EVENTS real-shaped events, half
 *    products, half orders: copies of real captured Debezium messages
 *    (test/fixtures/debezium/products-create.json and orders-create.json) with new ids, SKUs,
 *    order numbers, names, prices and strictly increasing LSNs. Three in four are INSERTs of a new
 *    row, one in four an UPDATE (op "u", with `before`) of a row inserted earlier. The product
 *    fixture's 19 KB TOAST-test description is replaced by a shop-like ~200-character one.
 * 2. consumer: the Runner (new group, from the beginning, 3 partitions at a time, at most
 *    ES_BULK_MAX_DOCS events per write) drains both topics into an ElasticsearchSink on a fresh
 *    index prefix. Rate = events / (last sink write done - first sink write started): the group
 *    join is printed apart.
 * 3. raw: the same documents, built beforehand (untimed, after the consumer run, so the consumer
 *    never runs with 100k decoded events in its heap) from the same decoded events, bulk-indexed straight
 *    into another fresh prefix with the same external versioning and the same bulk size, 3
 *    ordered streams in parallel (like 3 partitions at a time). No Kafka, no decoding, no planning.
 * 4. runner only (diagnosis): the Runner drains the topics into a sink that writes nothing, so
 *    Kafka fetching and decoding alone set this rate; no sink can make the consumer faster.
 * Each round runs all three; medians of BENCH_ROUNDS rounds and the consumer/raw ratio are printed
 * (target: consumer >= 0.8 x raw). Each run checks the document counts and one exact price. Everything
 * the bench creates (topics, groups, DLQ topic, indexes) is removed at the end.
 *
 * BENCH_COMPRESSION=lz4 (or gzip) stores the topics compressed (the real ones are not, see
 * debezium/README.md); BENCH_FETCH_BYTES sets the runner's fetch size per partition. Each round also prints the
 * CPU accounting: the consumer's own CPU per event against the Elasticsearch engine's CPU per
 * document indexed in the same run (target: ratio <= 1.0), and against the raw run's.
 *
 * BENCH_ISOLATE_ENGINE=1 gives the engine a CPU of its own and everything else the others (native
 * stack only; see cpu-isolation.ts): the deployment shape, where the engine has its own host.
 *
 * Needs Kafka (KAFKA_BROKERS) and Elasticsearch (ELASTICSEARCH_URL); ES_BULK_MAX_DOCS and
 * ES_BULK_MAX_BYTES apply to both sides.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { LosslessNumber, parse as parseLossless, stringify as stringifyLossless } from 'lossless-json';
import type { ChangeEvent } from '../../consumers/core/change-event.js';
import { createLogger } from '../../consumers/core/logger.js';
import { Runner } from '../../consumers/core/runner.js';
import { externalIndexOperation, splitIntoBulks, type BulkOperation } from '../../consumers/elasticsearch/bulk-body.js';
import { loadElasticsearchConfig, type ElasticsearchConfig } from '../../consumers/elasticsearch/elasticsearch-config.js';
import { ElasticsearchSink, sendBulk } from '../../consumers/elasticsearch/elasticsearch-sink.js';
import { deleteIndexes, refresh } from '../../consumers/elasticsearch/index-admin.js';
import { planWrites } from '../../consumers/elasticsearch/write-plan.js';
import { withAdmin } from '../../test/helpers/kafka-admin.js';
import { isolateEngine, isolationRequested } from './cpu-isolation.js';
import { decodeTopics } from './decode-topics.js';
import { noopSink, TimingSink } from './timing-sink.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 100_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PARTITIONS = 3;
const CONCURRENCY = 3;
const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const BASE_CONFIG: ElasticsearchConfig = loadElasticsearchConfig(process.env);
const RUN = `bench-es-${Date.now().toString(36)}`;
const TABLES = ['products', 'orders'] as const;
type Table = (typeof TABLES)[number];
const topicOf = (table: Table) => `${RUN}.public.${table}`;
const FIXTURES = resolve(import.meta.dirname, '../../test/fixtures/debezium');
/** Plain batches, as the connector's producer writes the real topics; BENCH_COMPRESSION=lz4 (or gzip) stores them compressed. */
const COMPRESSION = process.env.BENCH_COMPRESSION ?? 'none';

const logger = createLogger({ consumer: 'elasticsearch-bench', level: 'warn', pretty: false });
const kafka = new Kafka({ clientId: RUN, brokers: BROKERS, logLevel: logLevel.NOTHING });
const log = (message: string) => console.log(`[bench] ${message}`);

type Json = Record<string, unknown>;
interface RawMessage {
  key: string;
  value: string;
}

const WORDS = ['wireless', 'ergonomic', 'stainless', 'organic', 'compact', 'waterproof', 'vintage', 'smart', 'leather', 'bamboo', 'portable', 'ceramic'];
const NOUNS = ['mouse', 'kettle', 'backpack', 'lamp', 'keyboard', 'blender', 'jacket', 'speaker', 'mug', 'charger', 'tent', 'watch'];

/** The i-th event of the run: which table, which row, insert or update. */
function eventShape(i: number): { table: Table; id: number; update: boolean; n: number } {
  const table = TABLES[i % 2]!;
  const n = Math.floor(i / 2);
  const update = n % 4 === 3;
  // An update targets the row inserted three events earlier in this table's sequence.
  return { table, id: 1_000_000 + (update ? n - 3 : n), update, n };
}

function distinctRows(table: Table): number {
  let count = 0;
  for (let i = 0; i < EVENTS; i++) {
    const shape = eventShape(i);
    if (shape.table === table && !shape.update) count++;
  }
  return count;
}

/** Copies of a captured create message, varied per event. */
function messageFactory(table: Table): (i: number) => RawMessage {
  const fixture = JSON.parse(readFileSync(resolve(FIXTURES, `${table}-create.json`), 'utf8')) as { keyRaw: string; valueRaw: string };
  const key = parseLossless(fixture.keyRaw) as Json;
  const value = parseLossless(fixture.valueRaw) as Json;
  const keyPayload = key.payload as Json;
  const payload = value.payload as Json;
  const after = payload.after as Json;
  const source = payload.source as Json;
  const baseLsn = BigInt(String(source.lsn));
  return (i) => {
    const { id, update, n } = eventShape(i);
    const lossless = (x: number | bigint) => new LosslessNumber(String(x));
    keyPayload.id = lossless(id);
    after.id = lossless(id);
    const word = WORDS[n % WORDS.length]!;
    const noun = NOUNS[Math.floor(n / WORDS.length) % NOUNS.length]!;
    if (table === 'products') {
      after.sku = `BENCH-${id}`;
      after.name = `${word} ${noun} ${id}`;
      after.description = `A ${word} ${noun} for everyday use. Model ${id}, made to last, easy to clean, and backed by a two-year warranty. Ships in recyclable packaging.`;
      after.price = `${10 + (n % 990)}.${String(n % 100).padStart(2, '0')}`;
      after.stock_quantity = lossless(update ? n % 7 : 100 + (n % 50));
    } else {
      after.order_number = `BENCH-${id}`;
      after.customer_id = lossless(1 + (n % 40));
      after.total_amount = `${100 + (n % 9000)}.${String(n % 100).padStart(2, '0')}`;
      after.status = update ? 'paid' : 'pending';
    }
    payload.op = update ? 'u' : 'c';
    payload.before = update ? { ...after } : null;
    source.lsn = lossless(baseLsn + BigInt(i + 1) * 64n);
    return { key: stringifyLossless(key)!, value: stringifyLossless(value)! };
  };
}

async function prefill(): Promise<void> {
  await withAdmin(kafka, (admin) => admin.createTopics({
      topics: TABLES.map((table) => ({ topic: topicOf(table), numPartitions: PARTITIONS, configEntries: COMPRESSION === 'none' ? [] : [{ name: 'compression.type', value: COMPRESSION }] })),
      waitForLeaders: true,
    }));
  const makers = { products: messageFactory('products'), orders: messageFactory('orders') };
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    for (let start = 0; start < EVENTS; start += 400) {
      const byTable: Record<Table, RawMessage[]> = { products: [], orders: [] };
      for (let i = start; i < Math.min(EVENTS, start + 400); i++) byTable[eventShape(i).table].push(makers[eventShape(i).table](i));
      await producer.sendBatch({ acks: -1, topicMessages: TABLES.map((table) => ({ topic: topicOf(table), messages: byTable[table] })) });
    }
  } finally {
    await producer.disconnect();
  }
}

/** Every sink made, so that a failed run still drops its indexes. */
const sinksMade: ElasticsearchSink[] = [];
function newSink(prefix: string): ElasticsearchSink {
  const sink = new ElasticsearchSink({ config: { ...BASE_CONFIG, indexPrefix: prefix }, logger });
  sinksMade.push(sink);
  return sink;
}

/** Counts live documents and checks one exact price, then drops the indexes. */
async function verifyAndDrop(sink: ElasticsearchSink, label: string): Promise<void> {
  await refresh(sink.client, sink.indexes.values());
  for (const table of TABLES) {
    const { count } = await sink.client.count({ index: sink.indexes.get(table)!.aliasName });
    if (count !== distinctRows(table)) throw new Error(`${label}: ${count} ${table} documents, expected ${distinctRows(table)}`);
  }
  const sample = await sink.client.get<Json>({ index: sink.indexes.get('products')!.aliasName, id: '1000001' });
  if (sample._source?.price !== '11.01') throw new Error(`${label}: product 1000001 price ${JSON.stringify(sample._source?.price)}, expected "11.01"`);
  await deleteIndexes(sink.client, sink.ownedIndexes());
}

async function consumerRound(round: number, noop = false): Promise<{ rate: number; joinMs: number; writes: number; busy: number; cpu: CpuPerEvent }> {
  const sink = new TimingSink(noop ? noopSink : newSink(`${RUN}-c${round}-`), EVENTS);
  await sink.start();
  const runner = new Runner({
    consumerName: 'elasticsearch-bench',
    brokers: BROKERS,
    groupId: `${RUN}-group-${round}${noop ? '-noop' : ''}`,
    topics: TABLES.map(topicOf),
    fromBeginning: true,
    deadLetterTopic: `${RUN}.dlq`,
    sink,
    logger,
    partitionsConsumedConcurrently: CONCURRENCY,
    maxEventsPerWrite: BASE_CONFIG.bulkMaxDocs,
    fetchMaxBytesPerPartition: process.env.BENCH_FETCH_BYTES ? Number(process.env.BENCH_FETCH_BYTES) : undefined,
  });
  const startedAt = performance.now();
  const cpuStart = cpuNow();
  await runner.start();
  const doneAt = await sink.done;
  const cpu = cpuPerEvent(cpuStart);
  await runner.stop();
  if (sink.okCount !== EVENTS) throw new Error(`consumer round ${round}: ${EVENTS - sink.okCount} events not ok`);
  if (sink.inner instanceof ElasticsearchSink) await verifyAndDrop(sink.inner, `consumer round ${round}`);
  await sink.close();
  const wallMs = doneAt - sink.firstWriteAt;
  return { rate: EVENTS / (wallMs / 1000), joinMs: sink.firstWriteAt - startedAt, writes: sink.writes, busy: sink.writeMs / wallMs, cpu };
}

/** Bulk operations built from the decoded events, one ordered stream per partition number. */
function rawStreams(events: ChangeEvent[], prefix: string): BulkOperation[][] {
  const indexes = newSink(prefix).indexes;
  const streams: BulkOperation[][] = Array.from({ length: CONCURRENCY }, () => []);
  for (const step of planWrites(events, indexes)) {
    if (step.kind !== 'writes') throw new Error(`raw: unexpected ${step.kind} step`);
    const event = events[step.owner]!;
    for (const write of step.writes) streams[event.kafka.partition % CONCURRENCY]!.push(externalIndexOperation(0, write.index, write.id, write.version, write.document));
  }
  return streams;
}

async function rawRound(round: number, events: ChangeEvent[]): Promise<{ rate: number; bulks: number; cpu: CpuPerEvent }> {
  const prefix = `${RUN}-r${round}-`;
  const sink = newSink(prefix);
  await sink.start(); // creates the same indexes; the sink itself does not write below
  const bulksPerStream = rawStreams(events, prefix).map((stream) => splitIntoBulks(stream, { maxDocs: BASE_CONFIG.bulkMaxDocs, maxBytes: BASE_CONFIG.bulkMaxBytes }));
  const startedAt = performance.now();
  const cpuStart = cpuNow();
  await Promise.all(bulksPerStream.map(async (bulks) => {
    for (const bulk of bulks) {
      const results = await sendBulk(sink.client, bulk);
      if (results.some((result) => result.status !== 'ok' || result.stale)) throw new Error(`raw round ${round}: a bulk item was not applied`);
    }
  }));
  const elapsed = performance.now() - startedAt;
  const cpu = cpuPerEvent(cpuStart);
  await verifyAndDrop(sink, `raw round ${round}`);
  await sink.close();
  return { rate: EVENTS / (elapsed / 1000), bulks: bulksPerStream.reduce((sum, bulks) => sum + bulks.length, 0), cpu };
}

/**
 * CPU time (µs) used so far by this process and, when the native stack's pid file is readable, by
 * the Elasticsearch process: the machine's cores are shared, so CPU per event explains the rates.
 */
function cpuNow(): { node: number; es: number | null } {
  const { user, system } = process.cpuUsage();
  let es: number | null = null;
  const pidFile = resolve(import.meta.dirname, '../../.stack/run/elasticsearch.pid');
  try {
    if (existsSync(pidFile)) {
      const fields = readFileSync(`/proc/${readFileSync(pidFile, 'utf8').trim()}/stat`, 'utf8').split(') ')[1]!.split(' ');
      es = (Number(fields[11]) + Number(fields[12])) * 10_000; // utime + stime, in clock ticks of 10 ms
    }
  } catch {
    es = null;
  }
  return { node: user + system, es };
}

interface CpuPerEvent {
  /** µs of this process's CPU per event. */
  node: number;
  /** µs of the Elasticsearch engine's CPU per event (document), null without the native stack. */
  es: number | null;
  text: string;
}

function cpuPerEvent(from: ReturnType<typeof cpuNow>): CpuPerEvent {
  const to = cpuNow();
  const node = (to.node - from.node) / EVENTS;
  const es = from.es !== null && to.es !== null ? (to.es - from.es) / EVENTS : null;
  return { node, es, text: `CPU per event: this process ${Math.round(node)} µs${es === null ? '' : `, Elasticsearch ${Math.round(es)} µs`}` };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const format = (rate: number) => `${Math.round(rate).toLocaleString('en-US')} docs/s`;

async function main(): Promise<void> {
  const restoreCpus = isolationRequested ? isolateEngine('elasticsearch') : () => {};
  log(`${EVENTS} events (products and orders, 3/4 inserts, 1/4 updates), ${ROUNDS} rounds, bulk <= ${BASE_CONFIG.bulkMaxDocs} docs / ${BASE_CONFIG.bulkMaxBytes} bytes, Elasticsearch ${BASE_CONFIG.url}`);
  const consumerRates: number[] = [];
  const rawRates: number[] = [];
  const runnerRates: number[] = [];
  const cpuRatios: { sameRound: number; vsRaw: number; node: number; es: number; esRaw: number }[] = [];
  try {
    const prefillStart = performance.now();
    await prefill();
    log(`pre-filled ${TABLES.map(topicOf).join(', ')} in ${((performance.now() - prefillStart) / 1000).toFixed(1)} s`);
    for (let round = 1; round <= ROUNDS; round++) {
      const consumer = await consumerRound(round);
      consumerRates.push(consumer.rate);
      let events: ChangeEvent[] | null = await decodeTopics(kafka, { groupId: `${RUN}-decode-${round}`, topics: TABLES.map(topicOf), count: EVENTS });
      const raw = await rawRound(round, events);
      events = null; // not in the heap of the next runs
      rawRates.push(raw.rate);
      const runnerOnly = await consumerRound(round, true);
      runnerRates.push(runnerOnly.rate);
      log(`round ${round} CPU: consumer (${consumer.cpu.text}); raw (${raw.cpu.text}); runner only (${runnerOnly.cpu.text})`);
      if (consumer.cpu.es !== null && raw.cpu.es !== null) {
        cpuRatios.push({ sameRound: consumer.cpu.node / consumer.cpu.es, vsRaw: consumer.cpu.node / raw.cpu.es, node: consumer.cpu.node, es: consumer.cpu.es, esRaw: raw.cpu.es });
        log(`round ${round} CPU ratio: consumer ${consumer.cpu.node.toFixed(1)} µs per event / Elasticsearch ${consumer.cpu.es.toFixed(1)} µs per document indexed meanwhile = ${cpuRatios.at(-1)!.sameRound.toFixed(2)} (vs the raw run's ${raw.cpu.es.toFixed(1)} µs: ${cpuRatios.at(-1)!.vsRaw.toFixed(2)})`);
      }
      log(
        `round ${round}: consumer ${format(consumer.rate)} (${consumer.writes} sink writes, avg ${Math.round(EVENTS / consumer.writes)} events, sink busy ${consumer.busy.toFixed(2)} x wall time; group join ${(consumer.joinMs / 1000).toFixed(1)} s, not counted), ` +
          `raw ${format(raw.rate)} (${raw.bulks} bulks), ratio ${(consumer.rate / raw.rate).toFixed(2)}; runner only (no-op sink) ${format(runnerOnly.rate)}`,
      );
    }
  } finally {
    restoreCpus();
    await withAdmin(kafka, async (admin) => {
      const rounds = Array.from({ length: ROUNDS }, (_, i) => `${RUN}-group-${i + 1}`);
      await admin.deleteGroups([...rounds, ...rounds.map((group) => `${group}-noop`), ...rounds.map((_, i) => `${RUN}-decode-${i + 1}`)]).catch(() => undefined);
      await admin.deleteTopics({ topics: [...TABLES.map(topicOf), `${RUN}.dlq`] }).catch(() => undefined);
    });
    for (const sink of sinksMade) {
      await deleteIndexes(sink.client, sink.ownedIndexes()).catch(() => undefined);
      await sink.close();
    }
  }
  const consumerMedian = median(consumerRates);
  const rawMedian = median(rawRates);
  const ratio = consumerMedian / rawMedian;
  if (cpuRatios.length > 0) {
    const m = (pick: (r: (typeof cpuRatios)[number]) => number) => median(cpuRatios.map(pick));
    log(
      `median of ${ROUNDS}: consumer CPU ${m((r) => r.node).toFixed(1)} µs per event, Elasticsearch ${m((r) => r.es).toFixed(1)} µs per document (raw run ${m((r) => r.esRaw).toFixed(1)}), ` +
        `CPU ratio ${m((r) => r.sameRound).toFixed(2)} (vs raw ${m((r) => r.vsRaw).toFixed(2)}; target <= 1.00: ${m((r) => r.sameRound) <= 1 ? 'met' : 'NOT met'}), topics ${COMPRESSION}`,
    );
  }
  log(`median of ${ROUNDS}: consumer ${format(consumerMedian)}, raw ${format(rawMedian)}, ratio ${ratio.toFixed(2)} (target >= 0.80: ${ratio >= 0.8 ? 'met' : 'NOT met'}; ${isolationRequested ? 'engine isolated on its own CPU' : 'every process sharing every CPU'}); runner only ${format(median(runnerRates))} = ${(median(runnerRates) / rawMedian).toFixed(2)} x raw`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error('[bench] failed:', error);
    process.exit(1);
  },
);
