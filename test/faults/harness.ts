/**
 * What every fault scenario shares: the steady shop write load on PostgreSQL, the wait until each
 * consumer group has committed the end of every captured topic, the judgement by `verify`
 * (scripts/verify/verify.ts: every row of every shop table, in every sink, against a consistent
 * PostgreSQL snapshot), and the helpers of single scenarios (commit->sink latency from the
 * consumers' histograms, the dead letters of a run).
 *
 * Numbers of a scenario (one row of the summary table):
 *   changes made   rows the load generator inserted, updated or deleted during the scenario
 *   lost           verify's missing rows plus rows with a differing field
 *   duplicated     verify's duplicates
 *   drift          every drift item verify found (missing, extra, field, duplicate)
 *   catch-up       from the end of the fault (engine back, last kill restarted...) to verify clean
 */
import { Kafka, logLevel } from 'kafkajs';

type KafkaClient = Kafka;
import pg from 'pg';
import { ShopWorkload, type StepLoad } from '../../scripts/load/shop-workload.js';
import { parseHistogram, quantile, subtract, type Histogram } from '../../scripts/bench/pipeline/prometheus-histogram.js';
import { verify, type VerifyReport } from '../../scripts/verify/verify.js';
import { engines, uniqueName } from '../helpers/engines.js';
import { SINK_ISOLATION, sleep, type IsolatedRun } from '../helpers/operator-processes.js';
import { waitUntilCaughtUp, CAPTURED_TOPICS } from '../helpers/pipeline.js';
import { FAULT_CONSUMERS, type ConsumerFleet, type FaultConsumer } from './consumer-fleet.js';

export function kafkaClient(clientId: string): KafkaClient {
  return new Kafka({ clientId, brokers: engines().kafka.split(','), logLevel: logLevel.NOTHING, retry: { retries: 20, initialRetryTime: 300, maxRetryTime: 5_000 } });
}

/** The shop workload running open-ended until `stop()`; one scenario at a time. */
export class ShopLoad {
  private step: Promise<StepLoad> | null = null;

  private constructor(private readonly workload: ShopWorkload, readonly ordersPerSecond: number) {}

  /** The run's own catalogue (small: it flows through the pipeline too) and a workload over it. */
  static async create(pool: pg.Pool, tag: string, ordersPerSecond: number): Promise<ShopLoad> {
    const catalogue = await ShopWorkload.prepare(pool, tag, { products: 60, customers: 120 });
    return new ShopLoad(new ShopWorkload(pool, tag, catalogue), ordersPerSecond);
  }

  start(): void {
    if (this.step) throw new Error('the load is already running');
    this.step = this.workload.runStep(this.ordersPerSecond, 24 * 3600);
  }

  /** Stops issuing, waits for what is in flight; the scenario's counts. */
  async stop(): Promise<StepLoad> {
    if (!this.step) throw new Error('the load is not running');
    await this.workload.stop();
    const load = await this.step;
    this.step = null;
    return load;
  }

  get running(): boolean {
    return this.step !== null;
  }
}

/**
 * Resolves once every consumer group of the run has committed the end of every captured topic.
 * Broker errors right after a fault (a coordinator still loading its groups) are retried until
 * the deadline.
 */
export async function waitAllCaughtUp(kafka: KafkaClient, isolated: IsolatedRun, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  await Promise.all(
    FAULT_CONSUMERS.map(async (name) => {
      for (;;) {
        try {
          await waitUntilCaughtUp(kafka, isolated.groups[name]!, Math.max(1_000, deadline - Date.now()));
          return;
        } catch (error) {
          if (Date.now() > deadline) throw error;
          await sleep(1_000);
        }
      }
    }),
  );
}

/** Where verify finds each sink of this run (the namespaces SINK_ISOLATION gave the consumers). */
export function verifySinks(run: string) {
  const urls = engines();
  return {
    elasticsearch: { url: urls.elasticsearch, indexPrefix: SINK_ISOLATION.elasticsearch!(run).ES_INDEX_PREFIX! },
    redis: { url: urls.redis, keyPrefix: SINK_ISOLATION.redis!(run).REDIS_KEY_PREFIX! },
    warehouse: { url: urls.mongodb, database: SINK_ISOLATION.warehouse!(run).WAREHOUSE_DATABASE! },
  };
}

export interface Judgement {
  readonly lost: number;
  readonly duplicated: number;
  readonly drift: number;
  readonly report: VerifyReport;
}

/**
 * Runs verify over every shop table in every sink of the run and counts what it found. Every sink
 * is required (an empty or unreachable one is drift or an error, never skipped); verify learns
 * each consumer's progress from the run's groups, so rows in flight settle instead of counting.
 */
export async function judge(run: string, isolated: IsolatedRun, settleTimeoutMs = 60_000): Promise<Judgement> {
  const report = await verify({
    postgresUrl: engines().postgres,
    sinks: verifySinks(run),
    settleTimeoutMs,
    requiredSinks: FAULT_CONSUMERS,
    progress: { kafkaBrokers: engines().kafka.split(','), groups: Object.fromEntries(FAULT_CONSUMERS.map((name) => [name, isolated.groups[name]!])), topics: CAPTURED_TOPICS },
  });
  if (report.skipped && report.skipped.length > 0) throw new Error(`verify skipped sinks: ${report.skipped.map((s) => `${s.sink} (${s.reason})`).join(', ')}`);
  const sum = (pick: (s: VerifyReport['summaries'][number]) => number) => report.summaries.reduce((total, s) => total + pick(s), 0);
  const lost = sum((s) => s.missing + s.differing);
  const duplicated = sum((s) => s.duplicates);
  // The summaries count every item; the drift list may be capped by verify, so take the larger.
  const drift = Math.max(report.drift.length, sum((s) => s.missing + s.extra + s.differing + s.duplicates));
  return { lost, duplicated, drift, report };
}

/** A short text of the first drift items (for the notes and the failure message). */
export function driftSample(report: VerifyReport, count = 5): string {
  return report.drift
    .slice(0, count)
    .map((d) => `${d.sink}/${d.table}/${d.key} ${d.kind}${d.field ? ` ${d.field}` : ''}${d.kind === 'field' ? ` pg=${JSON.stringify(d.source)} sink=${JSON.stringify(d.sinkValue)}` : ''}`)
    .join('; ');
}

/** Each consumer's commit->sink histogram, for a before/after window. */
export async function scrapeLatency(fleet: ConsumerFleet): Promise<Map<FaultConsumer, Histogram>> {
  const histograms = new Map<FaultConsumer, Histogram>();
  for (const name of FAULT_CONSUMERS) histograms.set(name, parseHistogram(await fleet.metrics(name), 'cdc_commit_to_sink_seconds'));
  return histograms;
}

/** p50 (seconds) per consumer of what was observed between two scrapes. */
export function p50Between(earlier: Map<FaultConsumer, Histogram>, later: Map<FaultConsumer, Histogram>): Map<FaultConsumer, number | null> {
  return new Map(FAULT_CONSUMERS.map((name) => [name, quantile(subtract(later.get(name)!, earlier.get(name)!), 0.5)]));
}

export interface DeadLetter {
  readonly topic: string;
  readonly marker: string | undefined;
  readonly error: string | undefined;
  readonly reason: string | undefined;
  readonly consumer: string | undefined;
}

/** Everything in the given dead-letter topics (read from the beginning by a throwaway group). */
export async function readDeadLetters(kafka: KafkaClient, topics: string[], markerHeader: string, timeoutMs = 120_000): Promise<DeadLetter[]> {
  const admin = kafka.admin();
  await admin.connect();
  const existing = new Set(await admin.listTopics());
  const present = topics.filter((topic) => existing.has(topic));
  const ends = new Map<string, bigint>();
  for (const topic of present) {
    for (const p of await admin.fetchTopicOffsets(topic)) if (p.high !== '0') ends.set(`${topic}:${p.partition}`, BigInt(p.high));
  }
  const letters: DeadLetter[] = [];
  if (ends.size > 0) {
    const groupId = uniqueName('faults-dlq-reader');
    const consumer = kafka.consumer({ groupId, sessionTimeout: 30_000 });
    const header = (headers: Record<string, unknown> | undefined, name: string) => {
      const value = headers?.[name];
      return value === undefined ? undefined : String(Array.isArray(value) ? value[0] : value);
    };
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: present, fromBeginning: true });
      const remaining = new Set(ends.keys());
      await consumer.run({
        eachMessage: async ({ topic, partition, message }) => {
          letters.push({
            topic,
            marker: header(message.headers, markerHeader),
            error: header(message.headers, 'dlq.error'),
            reason: header(message.headers, 'dlq.reason'),
            consumer: header(message.headers, 'dlq.consumer'),
          });
          if (BigInt(message.offset) + 1n >= ends.get(`${topic}:${partition}`)!) remaining.delete(`${topic}:${partition}`);
        },
      });
      const deadline = Date.now() + timeoutMs;
      while (remaining.size > 0) {
        if (Date.now() > deadline) throw new Error(`dead-letter topics not read to their end in ${timeoutMs} ms: ${[...remaining].join(', ')}`);
        await sleep(250);
      }
    } finally {
      await consumer.disconnect();
      await admin.deleteGroups([groupId]).catch(() => undefined);
    }
  }
  await admin.disconnect();
  return letters;
}

/**
 * Resets `groupId` to offset 0 on every captured topic. Its consumers must have stopped; the
 * broker may still count a member (one that left during a rebalance) until its session ends, so
 * this waits for the group to be empty, up to `timeoutMs`.
 */
export async function resetGroupToEarliest(kafka: KafkaClient, groupId: string, timeoutMs = 120_000): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const [group] = (await admin.describeGroups([groupId])).groups;
      if (group && (group.state === 'Empty' || group.state === 'Dead')) break;
      if (Date.now() > deadline) throw new Error(`group ${groupId} still ${group?.state} with ${group?.members.length} members after ${timeoutMs} ms`);
      await sleep(1_000);
    }
    for (const topic of CAPTURED_TOPICS) await admin.resetOffsets({ groupId, topic, earliest: true });
  } finally {
    await admin.disconnect();
  }
}

/** An integer in [min, max]. */
export function randomBetween(min: number, max: number): number {
  return min + Math.floor(Math.random() * (max - min + 1));
}
