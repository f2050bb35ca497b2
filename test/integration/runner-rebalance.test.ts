/**
 * Two runners in one consumer group against real Kafka: a second instance joins while the first
 * is mid-stream, partitions move. Across both, every event is held at least once and, per key,
 * every FIRST delivery comes in production order (a replay of something already held is allowed:
 * that is at-least-once after a rebalance; an older event arriving for the first time after a
 * newer one is not).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../consumers/core/logger.js';
import { engines, requireEngines } from '../helpers/engines.js';
import { interleavedUpdates, loadTemplate } from '../helpers/runner-messages.js';
import { TestKafka, waitFor } from '../helpers/runner-kafka.js';
import { RecordingSink, type HeldEvent } from '../helpers/test-sinks.js';

const logger = createLogger({ consumer: 'runner-test', level: (process.env.TEST_LOG_LEVEL as 'info' | undefined) ?? 'warn' });

describe.runIf(requireEngines('kafka'))('runner rebalance (real Kafka)', () => {
  let kafka: TestKafka;

  beforeAll(async () => {
    kafka = new TestKafka(engines().kafka);
    await kafka.connect();
  });
  afterAll(async () => {
    await kafka?.cleanup();
  });

  it('a member joining mid-stream takes partitions over without loss or reordering', async () => {
    const s = await kafka.scenario('runner-rebalance');
    const { topic, groupId } = s;

    const { messages: produced, expected } = interleavedUpdates(loadTemplate(), { keys: 12, updatesPerKey: 200, lsnAfter: 7_000_000n });
    await kafka.produce(topic, produced);

    const log: HeldEvent[] = []; // both sinks append here: the global order of holding
    const first = new RecordingSink({ delayMs: 100, events: log });
    const second = new RecordingSink({ delayMs: 100, events: log });
    const runner = (sink: RecordingSink) => kafka.runner(s, { sink, logger, maxEventsPerWrite: 10, retry: { initialMs: 20, maxMs: 200 } });
    const a = runner(first);
    const b = runner(second);
    await a.start();
    try {
      await waitFor(() => log.length >= 100, 60_000, 'the first member to hold 100 events');
      const heldBeforeJoin = log.length;
      await b.start();
      const keys = () => new Set(log.map((e) => `${e.key}@${e.lsn}`)).size;
      await waitFor(async () => keys() >= produced.length && (await kafka.fullyCommitted(groupId, topic)), 120_000, () => `every event held and committed (${keys()}/${produced.length})`);
      expect(heldBeforeJoin).toBeLessThan(produced.length);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }

    // Both members worked: the partitions really moved.
    expect(first.writeSizes.reduce((sum, n) => sum + n, 0)).toBeGreaterThan(0);
    expect(second.writeSizes.reduce((sum, n) => sum + n, 0)).toBeGreaterThan(0);

    // Per key: first deliveries in production order, replays only of what was already held.
    for (const [key, lsns] of expected) {
      const seen = new Set<string>();
      let next = 0;
      for (const event of log.filter((e) => e.key === key)) {
        if (seen.has(event.lsn!)) continue; // a replay after the rebalance: harmless
        expect(event.lsn, `key ${key}: first delivery #${next}`).toBe(lsns[next]);
        seen.add(event.lsn!);
        next++;
      }
      expect(next, `key ${key} delivered completely`).toBe(lsns.length);
    }
  });
});
