/**
 * The runner against real Kafka when commits fail the way they do in production (a request that
 * times out, with or without the broker having applied it; a coordinator answering that the
 * group is rebalancing when no rebalance follows). The broker is real; only the batch payload's
 * commit function is wrapped, so chosen commits throw.
 *
 * What must hold: the partition never stops for good (a failed commit is retried; a batch that
 * gives up while the partition is still ours is read again from the last commit and the lane goes
 * on), nothing is lost, first deliveries per key stay in order, and `/ready` (Runner.isReady) and
 * `cdc_lane_stuck_seconds` show a lane that cannot make progress.
 */
import { KafkaJSProtocolError, KafkaJSRequestTimeoutError, type EachBatchPayload } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../consumers/core/logger.js';
import { Metrics } from '../../consumers/core/metrics.js';
import { engines, requireEngines } from '../helpers/engines.js';
import { interleavedUpdates, loadTemplate } from '../helpers/runner-messages.js';
import { TestKafka, waitFor } from '../helpers/runner-kafka.js';
import { RecordingSink, type HeldEvent } from '../helpers/test-sinks.js';

const logger = createLogger({ consumer: 'runner-test', level: (process.env.TEST_LOG_LEVEL as 'info' | undefined) ?? 'error' });

type Decision = 'pass' | 'timeout-before' | 'timeout-after' | 'rebalancing';

/** Wraps each batch payload so that chosen commits throw; counts what it did. */
class CommitFaults {
  commits = 0;
  readonly injected: Decision[] = [];

  constructor(private readonly decide: (commitNumber: number, partition: number) => Decision) {}

  readonly wrap = (payload: EachBatchPayload): EachBatchPayload => ({
    ...payload,
    commitOffsetsIfNecessary: async (offsets) => {
      const number = ++this.commits;
      const decision = this.decide(number, offsets?.topics[0]?.partitions[0]?.partition ?? -1);
      if (decision !== 'pass') this.injected.push(decision);
      // What kafkajs throws when the broker does not answer within the request timeout...
      const timeout = () => new KafkaJSRequestTimeoutError('Request OffsetCommit(key: 8, version: 5) timed out');
      if (decision === 'timeout-before') throw timeout();
      // ...and what the coordinator answers while it thinks the group is rebalancing.
      if (decision === 'rebalancing') {
        throw new KafkaJSProtocolError({ message: 'The group is rebalancing, so a rejoin is needed', type: 'REBALANCE_IN_PROGRESS', code: 27, retriable: false } as unknown as Error);
      }
      await payload.commitOffsetsIfNecessary(offsets);
      if (decision === 'timeout-after') throw timeout(); // applied by the broker, the answer lost
    },
  });
}

/** Per key: every event held, first deliveries in production order (replays of held ones allowed). */
function expectCompleteAndOrdered(log: readonly HeldEvent[], expected: Map<string, string[]>): void {
  for (const [key, lsns] of expected) {
    const seen = new Set<string>();
    let next = 0;
    for (const event of log.filter((e) => e.key === key)) {
      if (seen.has(event.lsn!)) continue;
      expect(event.lsn, `key ${key}: first delivery #${next}`).toBe(lsns[next]);
      seen.add(event.lsn!);
      next++;
    }
    expect(next, `key ${key} delivered completely`).toBe(lsns.length);
  }
}

async function metricValue(metrics: Metrics, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const metric = metrics.registry.getSingleMetric(name);
  if (!metric) return undefined;
  const values = (await metric.get()).values;
  return values.find((v) => Object.entries(labels).every(([label, value]) => String(v.labels[label]) === value))?.value;
}

describe.runIf(requireEngines('kafka'))('runner commit failures (real Kafka)', () => {
  let kafka: TestKafka;

  beforeAll(async () => {
    kafka = new TestKafka(engines().kafka);
    await kafka.connect();
  });
  afterAll(async () => {
    await kafka?.cleanup();
  });

  it('one commit in ten timing out (before or after the broker applied it) stops nothing: every event is written and committed', async () => {
    const s = await kafka.scenario('runner-commit-timeout');
    const { messages, expected } = interleavedUpdates(loadTemplate(), { keys: 12, updatesPerKey: 25, lsnAfter: 9_000_000n });
    await kafka.produce(s.topic, messages);

    const faults = new CommitFaults((n) => (n % 10 === 0 ? (n % 20 === 0 ? 'timeout-after' : 'timeout-before') : 'pass'));
    const sink = new RecordingSink();
    const metrics = new Metrics('runner-test', { defaultMetrics: false });
    const runner = kafka.runner(s, { sink, logger, metrics, maxEventsPerWrite: 10, retry: { initialMs: 20, maxMs: 200 }, wrapPayload: faults.wrap });
    await runner.start();
    try {
      await waitFor(() => kafka.fullyCommitted(s.groupId, s.topic), 60_000, () => `every partition committed (sink holds ${sink.events.length}/${messages.length}, ${faults.injected.length} commits failed)`);
    } finally {
      await runner.stop();
    }
    expect(faults.injected.filter((d) => d === 'timeout-before').length).toBeGreaterThanOrEqual(1);
    expect(faults.injected.filter((d) => d === 'timeout-after').length).toBeGreaterThanOrEqual(1);
    expectCompleteAndOrdered(sink.events, expected);
    // The failed commits were retried, not given up: nothing had to be read twice.
    expect(sink.events).toHaveLength(messages.length);
    expect(await metricValue(metrics, 'cdc_retries_total', { stage: 'commit' })).toBe(faults.injected.length);
  });

  it('a batch that gives up while the partition stays ours (a rebalance answer that no rebalance follows) is read again and the lane goes on', async () => {
    const s = await kafka.scenario('runner-commit-giveup');
    const { messages, expected } = interleavedUpdates(loadTemplate(), { keys: 12, updatesPerKey: 25, lsnAfter: 9_500_000n });
    await kafka.produce(s.topic, messages);

    const faults = new CommitFaults((n) => (n % 7 === 0 ? 'rebalancing' : 'pass'));
    const sink = new RecordingSink();
    const runner = kafka.runner(s, { sink, logger, maxEventsPerWrite: 10, retry: { initialMs: 20, maxMs: 200 }, wrapPayload: faults.wrap });
    await runner.start();
    try {
      await waitFor(() => kafka.fullyCommitted(s.groupId, s.topic), 60_000, () => `every partition committed (sink holds ${sink.events.length}/${messages.length}, ${faults.injected.length} commits refused)`);
    } finally {
      await runner.stop();
    }
    expect(faults.injected.length).toBeGreaterThanOrEqual(3);
    expectCompleteAndOrdered(sink.events, expected);
  });

  it('a lane whose commits keep failing makes /ready false and shows in cdc_lane_stuck_seconds; both recover once commits pass', async () => {
    const s = await kafka.scenario('runner-commit-stuck');
    const { messages } = interleavedUpdates(loadTemplate(), { keys: 12, updatesPerKey: 5, lsnAfter: 9_800_000n });
    const positions = await kafka.produce(s.topic, messages);
    const stuckPartition = positions[0]!.partition;

    let healed = false;
    const faults = new CommitFaults((_n, partition) => (!healed && partition === stuckPartition ? 'timeout-before' : 'pass'));
    const sink = new RecordingSink();
    const metrics = new Metrics('runner-test', { defaultMetrics: false });
    const runner = kafka.runner(s, {
      sink,
      logger,
      metrics,
      retry: { initialMs: 50, maxMs: 200 },
      wrapPayload: faults.wrap,
      stuckAfterMs: 1_000,
    });
    await runner.start();
    try {
      const stuck = () => metricValue(metrics, 'cdc_lane_stuck_seconds', { topic: s.topic, partition: String(stuckPartition) });
      let gauge: number | undefined;
      await waitFor(async () => faults.injected.length >= 3 && ((gauge = await stuck()) ?? 0) >= 1, 30_000, () => `the lane to be stuck for 1 s (cdc_lane_stuck_seconds ${gauge}, ${faults.injected.length} commits failed)`);
      expect(runner.isReady()).toBe(false);
      // The other partitions are not stuck.
      for (const partition of [0, 1, 2].filter((p) => p !== stuckPartition)) {
        expect(await metricValue(metrics, 'cdc_lane_stuck_seconds', { topic: s.topic, partition: String(partition) }) ?? 0).toBe(0);
      }

      healed = true;
      await waitFor(() => kafka.fullyCommitted(s.groupId, s.topic), 30_000, 'every partition committed once commits pass');
      await waitFor(() => runner.isReady(), 10_000, 'ready again');
      expect(await stuck()).toBe(0);
    } finally {
      await runner.stop();
    }
  });
});
