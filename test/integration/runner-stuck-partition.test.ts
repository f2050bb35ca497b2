/**
 * The runner against real Kafka when the sink keeps refusing (retry) the events of ONE
 * partition: the other partitions of the same broker must go on to their end meanwhile (the
 * retrying partition is paused, the fetch is not held for it), /ready and
 * cdc_lane_stuck_seconds show the stuck lane, and once the sink accepts again the stuck
 * partition catches up with nothing lost or reordered.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChangeEvent } from '../../consumers/core/change-event.js';
import { createLogger } from '../../consumers/core/logger.js';
import { Metrics } from '../../consumers/core/metrics.js';
import { retry, type WriteResult } from '../../consumers/core/sink.js';
import { engines, requireEngines } from '../helpers/engines.js';
import { interleavedUpdates, loadTemplate } from '../helpers/runner-messages.js';
import { TestKafka, waitFor } from '../helpers/runner-kafka.js';
import { RecordingSink } from '../helpers/test-sinks.js';

const logger = createLogger({ consumer: 'runner-test', level: (process.env.TEST_LOG_LEVEL as 'info' | undefined) ?? 'error' });

/** Answers `retry` for every event of `partition` while `blocked`; accepts everything else. */
class PartitionBlockingSink extends RecordingSink {
  blocked = true;
  refusals = 0;
  constructor(private readonly partition: number) {
    super();
  }
  override async write(events: readonly ChangeEvent[]): Promise<WriteResult[]> {
    if (this.blocked && events.some((event) => event.kafka.partition === this.partition)) {
      this.refusals++;
      return events.map(() => retry(new Error(`partition ${this.partition} refused on purpose`)));
    }
    return super.write(events);
  }
}

describe.runIf(requireEngines('kafka'))('runner with one stuck partition (real Kafka)', () => {
  let kafka: TestKafka;

  beforeAll(async () => {
    kafka = new TestKafka(engines().kafka);
    await kafka.connect();
  });
  afterAll(async () => {
    await kafka?.cleanup();
  });

  it('the other partitions of the broker run to their end while one partition retries; it catches up once the sink accepts', async () => {
    const s = await kafka.scenario('runner-stuck');
    const { messages, expected } = interleavedUpdates(loadTemplate(), { keys: 12, updatesPerKey: 12, lsnAfter: 4_000_000n });
    // One record batch per message and 64 KiB fetches: every partition needs several fetches.
    const positions = await kafka.produce(s.topic, messages, 1);
    const stuck = positions[0]!.partition;
    const others = [0, 1, 2].filter((partition) => partition !== stuck);

    const sink = new PartitionBlockingSink(stuck);
    const metrics = new Metrics('runner-test', { defaultMetrics: false });
    const runner = kafka.runner(s, { sink, logger, metrics, fetchMaxBytesPerPartition: 64 * 1024, retry: { initialMs: 100, maxMs: 500 }, stuckAfterMs: 1_000 });
    await runner.start();
    try {
      const end = await kafka.endOffsets(s.topic);
      await waitFor(
        async () => {
          const committed = await kafka.committed(s.groupId, s.topic);
          return others.every((partition) => committed.get(partition) === end.get(partition));
        },
        60_000,
        () => `partitions ${others.join(', ')} committed to their end while ${stuck} retries (sink holds ${sink.events.length}, refused ${sink.refusals} writes)`,
      );
      expect(sink.refusals).toBeGreaterThan(1);
      expect((await kafka.committed(s.groupId, s.topic)).get(stuck)).not.toBe(end.get(stuck));

      await waitFor(() => !runner.isReady(), 10_000, 'the stuck lane to make /ready false');
      expect(runner.stuckLanes().map((lane) => lane.partition)).toEqual([stuck]);
      const gauge = (await metrics.laneStuckSeconds.get()).values.find((v) => v.labels.partition === String(stuck))?.value ?? 0;
      expect(gauge).toBeGreaterThan(0);

      sink.blocked = false;
      await waitFor(() => kafka.fullyCommitted(s.groupId, s.topic), 60_000, 'every partition committed once the sink accepts');
      await waitFor(() => runner.isReady(), 10_000, 'ready again');
    } finally {
      await runner.stop();
    }
    // Nothing lost, nothing reordered, nothing written twice.
    const held = new Map<string, string[]>();
    for (const event of sink.events) held.set(event.key, [...(held.get(event.key) ?? []), event.lsn!]);
    expect(held).toEqual(expected);
  });
});
