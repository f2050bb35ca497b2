/**
 * The runner against real Kafka with a sink that fails transiently (throws, answers `retry` for
 * everything, accepts half then asks to retry the rest): nothing is lost, nothing is reordered,
 * nothing is held twice, and every partition ends fully committed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../consumers/core/logger.js';
import { Metrics } from '../../consumers/core/metrics.js';
import { engines, requireEngines } from '../helpers/engines.js';
import { interleavedUpdates, loadTemplate } from '../helpers/runner-messages.js';
import { TestKafka, waitFor } from '../helpers/runner-kafka.js';
import { FlakySink, StaleAnsweringSink } from '../helpers/test-sinks.js';

const logger = createLogger({ consumer: 'runner-test', level: (process.env.TEST_LOG_LEVEL as 'info' | undefined) ?? 'error' });

const KEYS = 12;
const UPDATES_PER_KEY = 25;
const FAILURES = 7;

describe.runIf(requireEngines('kafka'))('runner retries (real Kafka)', () => {
  let kafka: TestKafka;

  beforeAll(async () => {
    kafka = new TestKafka(engines().kafka);
    await kafka.connect();
  });
  afterAll(async () => {
    await kafka?.cleanup();
  });

  it(`a sink failing transiently ${FAILURES} times loses nothing and reorders nothing`, async () => {
    const s = await kafka.scenario('runner-retry');
    const { topic, groupId } = s;

    // Interleaved keys, LSNs increasing in production order: per key, Kafka order = LSN order.
    const { messages: produced, expected } = interleavedUpdates(loadTemplate(), { keys: KEYS, updatesPerKey: UPDATES_PER_KEY, lsnAfter: 5_000_000n });
    await kafka.produce(topic, produced);

    const sink = new FlakySink(FAILURES);
    const metrics = new Metrics('runner-test', { defaultMetrics: false });
    const runner = kafka.runner(s, { sink, logger, metrics, maxEventsPerWrite: 20, retry: { initialMs: 20, maxMs: 200 } });
    await runner.start();
    try {
      await waitFor(() => kafka.fullyCommitted(groupId, topic), 90_000, () => `every partition committed (sink holds ${sink.events.length}/${produced.length})`);
    } finally {
      await runner.stop();
    }

    expect(sink.failuresLeft).toBe(0);
    expect(new Set(sink.failuresSeen)).toEqual(new Set(['throw', 'retry-all', 'retry-second-half']));

    // Exactly the produced events, each once, in per-key LSN order.
    expect(sink.events).toHaveLength(produced.length);
    const held = new Map<string, string[]>();
    for (const event of sink.events) held.set(event.key, [...(held.get(event.key) ?? []), event.lsn!]);
    expect(held).toEqual(expected);

    // And in Kafka offset order within each partition.
    for (const partition of [0, 1, 2]) {
      const offsets = sink.events.filter((e) => e.partition === partition).map((e) => BigInt(e.offset));
      expect(offsets).toEqual([...offsets].sort((a, b) => (a < b ? -1 : 1)));
      expect(new Set(offsets).size).toBe(offsets.length);
    }

    const retries = (await metrics.retries.get()).values.find((v) => v.labels.stage === 'sink')?.value ?? 0;
    expect(retries).toBe(FAILURES);
    const ok = (await metrics.events.get()).values.filter((v) => v.labels.result === 'ok').reduce((sum, v) => sum + v.value, 0);
    expect(ok).toBe(produced.length);
  });

  it('stale answers settle and commit like ok, are counted per table in cdc_stale_events_total, and stay out of the latency histogram', async () => {
    const s = await kafka.scenario('runner-stale');
    const { messages: produced } = interleavedUpdates(loadTemplate(), { keys: 4, updatesPerKey: 5, lsnAfter: 6_000_000n });
    await kafka.produce(s.topic, produced);
    const isStale = (lsn: string | null) => lsn !== null && BigInt(lsn) % 3n === 0n;
    const sink = new StaleAnsweringSink((event) => event.op !== 'tombstone' && isStale(event.source.lsn));
    const metrics = new Metrics('runner-test', { defaultMetrics: false });
    const runner = kafka.runner(s, { sink, logger, metrics, maxEventsPerWrite: 7 });
    await runner.start();
    try {
      await waitFor(() => kafka.fullyCommitted(s.groupId, s.topic), 60_000, 'every partition committed');
    } finally {
      await runner.stop();
    }
    const staleCount = sink.staleAnswers.length;
    expect(staleCount).toBeGreaterThan(0);
    expect(staleCount + sink.events.length).toBe(produced.length);
    const table = (await metrics.events.get()).values[0]!.labels.table as string;
    expect((await metrics.staleEvents.get()).values).toEqual([expect.objectContaining({ labels: { table }, value: staleCount })]);
    const ok = (await metrics.events.get()).values.filter((v) => v.labels.result === 'ok').reduce((sum, v) => sum + v.value, 0);
    expect(ok).toBe(produced.length);
    const latencyCount = (await metrics.commitToSinkSeconds.get()).values.find((v) => v.metricName === 'cdc_commit_to_sink_seconds_count')?.value;
    expect(latencyCount).toBe(produced.length - staleCount);
  });
});
