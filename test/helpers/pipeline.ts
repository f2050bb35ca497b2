/**
 * One consumer pipeline for the end-to-end tests: a real sink behind a real Runner reading the
 * connector's captured topics from the beginning, plus the two waits those tests need (the
 * Debezium connector RUNNING, a group caught up with every topic). The caller names the group and
 * the dead-letter topic and removes them afterwards; `stop()` stops the runner, then closes the
 * sink, and is safe to call twice.
 */
import type { Kafka } from 'kafkajs';
import type { Logger } from '../../consumers/core/logger.js';
import { Runner } from '../../consumers/core/runner.js';
import type { Sink } from '../../consumers/core/sink.js';
import { engines } from './engines.js';
import { withAdmin } from './kafka-admin.js';

export const CONNECTOR = 'ecommerce-postgres-connector';
export const CAPTURED_TABLES = ['customers', 'products', 'orders', 'order_items'];
export const CAPTURED_TOPICS = CAPTURED_TABLES.map((table) => `ecommerce.public.${table}`);

export interface Pipeline<S extends Sink> {
  sink: S;
  runner: Runner;
  groupId: string;
  stop(): Promise<void>;
}

export interface PipelineOptions<S extends Sink> {
  consumerName: string;
  /** Not started yet: startPipeline starts it before the runner. */
  sink: S;
  groupId: string;
  deadLetterTopic: string;
  logger: Logger;
}

/** Starts the sink, then a Runner (3 partitions at a time, short retry backoff) on the captured topics. */
export async function startPipeline<S extends Sink>(options: PipelineOptions<S>): Promise<Pipeline<S>> {
  const { sink, groupId } = options;
  await sink.start();
  const runner = new Runner({
    consumerName: options.consumerName,
    brokers: engines().kafka.split(','),
    groupId,
    topics: CAPTURED_TOPICS,
    fromBeginning: true,
    deadLetterTopic: options.deadLetterTopic,
    sink,
    logger: options.logger,
    partitionsConsumedConcurrently: 3,
    retry: { initialMs: 100, maxMs: 2_000 },
  });
  await runner.start();
  let stopped = false;
  return {
    sink,
    runner,
    groupId,
    async stop() {
      if (stopped) return;
      stopped = true;
      await runner.stop();
      await sink.close();
    },
  };
}

/**
 * Resolves once `groupId` has committed everything up to the current end of every captured
 * topic (empty partitions aside), with the high watermarks it matched ("topic:partition" ->
 * offset). Throws naming the partitions still behind after `timeoutMs`.
 */
export async function waitUntilCaughtUp(kafka: Kafka, groupId: string, timeoutMs: number): Promise<Map<string, string>> {
  const deadline = Date.now() + timeoutMs;
  return withAdmin(kafka, async (admin) => {
    for (;;) {
      const marks = new Map<string, string>();
      for (const topic of CAPTURED_TOPICS) {
        for (const p of await admin.fetchTopicOffsets(topic)) marks.set(`${topic}:${p.partition}`, p.high);
      }
      const committed = new Map<string, string>();
      for (const { topic, partitions } of await admin.fetchOffsets({ groupId, topics: CAPTURED_TOPICS })) {
        for (const p of partitions) committed.set(`${topic}:${p.partition}`, p.offset);
      }
      const behind = [...marks].filter(([at, high]) => high !== '0' && committed.get(at) !== high);
      if (behind.length === 0) return marks;
      if (Date.now() > deadline) throw new Error(`group ${groupId} still behind on ${behind.map(([at]) => at).join(', ')}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  });
}

/** Waits (up to `timeoutMs`) for the Debezium connector to be RUNNING: without it nothing flows. */
export async function waitForConnector(timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let state = 'unknown';
  while (state !== 'RUNNING') {
    if (Date.now() > deadline) throw new Error(`connector ${CONNECTOR} is ${state}, not RUNNING`);
    const response = await fetch(`${engines().connect}/connectors/${CONNECTOR}/status`);
    state = response.ok ? ((await response.json()) as { connector: { state: string } }).connector.state : `HTTP ${response.status}`;
    if (state !== 'RUNNING') await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}
